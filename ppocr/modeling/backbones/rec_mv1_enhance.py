"""PP-LCNet (``MobileNetV1Enhance``): PP-OCRv2's recognition backbone.

MobileNetV1's depthwise-separable stack with PP-LCNet's changes: hard-swish everywhere except the SE
gate, 5×5 depthwise kernels in the last stage and SE in its last two blocks. For text lines the
downsampling after the stem halves only the height, so a 32×W line becomes a 1×W/4 feature row.

Sub-layer names (``conv1``, ``block_list``, ``_depthwise_conv``, ``_pointwise_conv``, ``_se``,
``_conv``, ``_batch_norm``) follow PaddleOCR so its pretrained ``.pdparams`` load by key.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import BACKBONES, ConfigError

Stride = Union[int, Tuple[int, int]]

POOL_TYPES = ("max", "avg")
_STEM_CHANNELS = 32

# (in_channels, out_channels, stride, depthwise kernel, SE) before scaling; depthwise convs keep in_channels.
# The last row's stride is ``last_conv_stride``.
_BLOCKS: List[Tuple[int, int, Optional[Stride], int, bool]] = [
    (32, 64, 1, 3, False),
    (64, 128, 1, 3, False),
    (128, 128, 1, 3, False),
    (128, 256, (2, 1), 3, False),
    (256, 256, 1, 3, False),
    (256, 512, (2, 1), 3, False),
    *[(512, 512, 1, 5, False)] * 5,
    (512, 1024, (2, 1), 5, True),
    (1024, 1024, None, 5, True),
]


class ConvBNLayer(nn.Layer):
    """Bias-free convolution, batch norm without weight decay, hard-swish."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: Stride = 1, groups: int = 1):
        super().__init__()
        self._conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingNormal()),
            bias_attr=False,
        )
        no_decay = paddle.regularizer.L2Decay(0.0)
        self._batch_norm = nn.BatchNorm2D(
            out_channels,
            weight_attr=paddle.ParamAttr(regularizer=no_decay),
            bias_attr=paddle.ParamAttr(regularizer=no_decay),
        )
        self._act = nn.Hardswish()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self._act(self._batch_norm(self._conv(x)))


class SEModule(nn.Layer):
    """Squeeze-and-excitation with PP-LCNet's gate (ReLU, then the standard hard sigmoid x/6 + 0.5)."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        # A fixed output size of 1 keeps the exported graph valid for any input width.
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channels, channels // reduction, kernel_size=1)
        self.conv2 = nn.Conv2D(channels // reduction, channels, kernel_size=1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        gate = F.relu(self.conv1(self.avg_pool(x)))
        return x * F.hardsigmoid(self.conv2(gate))


class DepthwiseSeparable(nn.Layer):
    """k×k depthwise conv (strided), optional SE, 1×1 pointwise conv."""

    def __init__(self, in_channels: int, out_channels: int, stride: Stride, dw_size: int, use_se: bool):
        super().__init__()
        self._depthwise_conv = ConvBNLayer(in_channels, in_channels, dw_size, stride=stride, groups=in_channels)
        self.use_se = use_se
        if use_se:
            self._se = SEModule(in_channels)
        self._pointwise_conv = ConvBNLayer(in_channels, out_channels, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self._depthwise_conv(x)
        if self.use_se:
            x = self._se(x)
        return self._pointwise_conv(x)


def _as_stride(value: Union[int, Sequence[int]], key: str) -> Stride:
    if isinstance(value, bool):
        raise ConfigError(f"key '{key}' of backbone MobileNetV1Enhance must be an int or [h, w], got {value!r}")
    if isinstance(value, int) and value >= 1:
        return value
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        return (value[0], value[1])
    raise ConfigError(f"key '{key}' of backbone MobileNetV1Enhance must be a positive int or [h, w], got {value!r}")


@BACKBONES.register()
class MobileNetV1Enhance(nn.Layer):
    """``scale`` multiplies every channel count (0.5 in PP-OCRv2: 512 output channels).

    ``last_conv_stride`` is the stride of the last block ([1, 2] in PP-OCRv3 halves the sequence);
    ``last_pool_type`` max or avg with a fixed ``last_pool_kernel_size`` window (stride = window),
    so the exported graph accepts any input width.
    """

    def __init__(
        self,
        in_channels: int = 3,
        scale: float = 0.5,
        last_conv_stride: Union[int, List[int]] = 1,
        last_pool_type: str = "max",
        last_pool_kernel_size: List[int] = (2, 2),
    ):
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
            raise ConfigError(f"key 'scale' of backbone MobileNetV1Enhance must be a positive number, got {scale!r}")
        if last_pool_type not in POOL_TYPES:
            raise ConfigError(f"key 'last_pool_type' of backbone MobileNetV1Enhance must be one of {POOL_TYPES}, "
                              f"got {last_pool_type!r}")
        last_stride = _as_stride(last_conv_stride, "last_conv_stride")
        pool_kernel = _as_stride(last_pool_kernel_size, "last_pool_kernel_size")

        def width(channels: int) -> int:
            return max(1, int(channels * scale))

        self.conv1 = ConvBNLayer(in_channels, width(_STEM_CHANNELS), 3, stride=2)
        blocks = []
        for block_in, block_out, stride, dw_size, use_se in _BLOCKS:
            stride = last_stride if stride is None else stride
            blocks.append(DepthwiseSeparable(width(block_in), width(block_out), stride, dw_size, use_se))
        self.block_list = nn.Sequential(*blocks)
        pool = nn.MaxPool2D if last_pool_type == "max" else nn.AvgPool2D
        self.pool = pool(kernel_size=pool_kernel, stride=pool_kernel, padding=0)
        self.out_channels = width(_BLOCKS[-1][1])

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.pool(self.block_list(self.conv1(x)))
