"""MobileNetV3 building blocks shared by the recognition and detection backbones.

Sub-layer names (``conv``/``bn``, ``expand_conv``/``bottleneck_conv``/``mid_se``/``linear_conv``,
``conv1``/``conv2`` in SE) follow PaddleOCR so its pretrained ``.pdparams`` load by key.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

Stride = Union[int, Tuple[int, int]]

SUPPORTED_SCALES = (0.35, 0.5, 0.75, 1.0, 1.25)

# PaddleOCR's SE gate uses a hard sigmoid with these constants; keeping them keeps its weights valid.
_SE_SLOPE = 0.2
_SE_OFFSET = 0.5


def make_divisible(value: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Round a scaled channel count to a multiple of ``divisor``, never dropping more than 10%."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _activation(name: Optional[str]) -> nn.Layer:
    if name is None:
        return nn.Identity()
    if name == "relu":
        return nn.ReLU()
    if name == "hardswish":
        return nn.Hardswish()
    raise ValueError(f"unsupported activation '{name}'; expected relu, hardswish or None")


class ConvBNLayer(nn.Layer):
    """Bias-free convolution, batch norm and an optional activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: Stride = 1,
        padding: Optional[int] = None,
        groups: int = 1,
        act: Optional[str] = None,
    ):
        super().__init__()
        if padding is None:
            padding = (kernel_size - 1) // 2
        self.conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            groups=groups,
            bias_attr=False,
        )
        self.bn = nn.BatchNorm2D(out_channels)
        self.act = _activation(act)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.act(self.bn(self.conv(x)))


class SEModule(nn.Layer):
    """Squeeze-and-excitation: re-weights channels from their global average."""

    def __init__(self, in_channels: int, reduction: int = 4):
        super().__init__()
        # A fixed output size of 1 keeps the exported graph valid for any input width.
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(in_channels, in_channels // reduction, kernel_size=1)
        self.conv2 = nn.Conv2D(in_channels // reduction, in_channels, kernel_size=1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        gate = F.relu(self.conv1(self.avg_pool(x)))
        gate = F.hardsigmoid(self.conv2(gate), slope=_SE_SLOPE, offset=_SE_OFFSET)
        return x * gate


class ResidualUnit(nn.Layer):
    """Inverted residual: 1×1 expand, k×k depthwise (strided), optional SE, 1×1 project."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: Stride,
        use_se: bool,
        act: str,
    ):
        super().__init__()
        self.use_shortcut = stride in (1, (1, 1), [1, 1]) and in_channels == out_channels
        self.expand_conv = ConvBNLayer(in_channels, mid_channels, 1, act=act)
        self.bottleneck_conv = ConvBNLayer(
            mid_channels, mid_channels, kernel_size, stride=stride, groups=mid_channels, act=act
        )
        self.use_se = use_se
        if use_se:
            self.mid_se = SEModule(mid_channels)
        self.linear_conv = ConvBNLayer(mid_channels, out_channels, 1, act=None)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = self.bottleneck_conv(self.expand_conv(x))
        if self.use_se:
            y = self.mid_se(y)
        y = self.linear_conv(y)
        if self.use_shortcut:
            y = x + y
        return y
