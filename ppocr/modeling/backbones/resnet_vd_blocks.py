"""ResNet-vd building blocks shared by the recognition and detection backbones.

"vd" = the ResNet-D tweaks: a three-conv stem, and downsampling shortcuts that average-pool
before their 1×1 conv instead of striding it, so no input pixel is ignored. Sub-layer names
(``_conv``/``_batch_norm``, ``conv0``…``conv2``/``short``) follow PaddleOCR so its pretrained
``.pdparams`` load by key. Strides may be ints or (h, w) pairs; recognition uses (2, 1).
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

Stride = Union[int, Tuple[int, int]]


def is_downsampling(stride: Stride) -> bool:
    if isinstance(stride, int):
        return stride != 1
    return any(s != 1 for s in stride)


class ConvBNLayer(nn.Layer):
    """Bias-free conv + batch norm + optional ReLU; ``avg_down`` pools first and convolves at stride 1."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: Stride = 1,
        groups: int = 1,
        avg_down: bool = False,
        act: Optional[str] = None,
    ):
        super().__init__()
        if act not in (None, "relu"):
            raise ValueError(f"unsupported activation '{act}'; expected relu or None")
        self.avg_down = avg_down
        if avg_down:
            self._pool2d_avg = nn.AvgPool2D(kernel_size=stride, stride=stride, padding=0, ceil_mode=True)
        self._conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            stride=1 if avg_down else stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            bias_attr=False,
        )
        self._batch_norm = nn.BatchNorm2D(out_channels)
        self.use_relu = act == "relu"

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.avg_down:
            x = self._pool2d_avg(x)
        x = self._batch_norm(self._conv(x))
        return F.relu(x) if self.use_relu else x


def _shortcut(in_channels: int, out_channels: int, stride: Stride, is_first: bool) -> ConvBNLayer:
    # The very first block of the network has nothing to pool away yet, so it keeps a plain 1×1 conv.
    return ConvBNLayer(
        in_channels,
        out_channels,
        1,
        stride=stride,
        avg_down=not is_first and is_downsampling(stride),
    )


class BasicBlock(nn.Layer):
    """Two 3×3 convs (ResNet-18/34); ``shortcut=False`` adds a projection on the identity path."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: Stride,
        shortcut: bool = True,
        is_first: bool = False,
    ):
        super().__init__()
        self.conv0 = ConvBNLayer(in_channels, out_channels, 3, stride=stride, act="relu")
        self.conv1 = ConvBNLayer(out_channels, out_channels, 3)
        self.shortcut = shortcut
        if not shortcut:
            self.short = _shortcut(in_channels, out_channels, stride, is_first)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = self.conv1(self.conv0(x))
        identity = x if self.shortcut else self.short(x)
        return F.relu(identity + y)


class BottleneckBlock(nn.Layer):
    """1×1 reduce, 3×3 (strided), 1×1 expand ×4 (ResNet-50 and deeper)."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: Stride,
        shortcut: bool = True,
        is_first: bool = False,
    ):
        super().__init__()
        self.conv0 = ConvBNLayer(in_channels, out_channels, 1, act="relu")
        self.conv1 = ConvBNLayer(out_channels, out_channels, 3, stride=stride, act="relu")
        self.conv2 = ConvBNLayer(out_channels, out_channels * self.expansion, 1)
        self.shortcut = shortcut
        if not shortcut:
            self.short = _shortcut(in_channels, out_channels * self.expansion, stride, is_first)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = self.conv2(self.conv1(self.conv0(x)))
        identity = x if self.shortcut else self.short(x)
        return F.relu(identity + y)
