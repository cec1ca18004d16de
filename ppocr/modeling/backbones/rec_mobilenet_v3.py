"""MobileNetV3 adapted to text lines (PP-OCR's recognition backbone).

Text lines are short and wide, so after the stem every downsampling halves only the height:
a 32×W line becomes a 1×W/4 feature row, one column per time step for CTC.
"""
from __future__ import annotations

from typing import List, Optional

import paddle
import paddle.nn as nn

from ppocr.modeling.backbones.mobilenet_v3_blocks import (
    SUPPORTED_SCALES,
    ConvBNLayer,
    ResidualUnit,
    make_divisible,
)
from ppocr.utils.registry import BACKBONES, ConfigError

_STEM_CHANNELS = 16


def _check_strides(key: str, strides: List[int]) -> None:
    if not isinstance(strides, (list, tuple)) or len(strides) != 4:
        raise ConfigError(f"key '{key}' of backbone MobileNetV3 must be a list of 4 ints, got {strides!r}")
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in strides):
        raise ConfigError(f"key '{key}' of backbone MobileNetV3 must hold positive ints, got {strides!r}")


def _large_blocks(strides: List[int]) -> list:
    """Rows of (kernel, expand, out, se, act, stride) for MobileNetV3-large."""
    return [
        (3, 16, 16, False, "relu", strides[0]),
        (3, 64, 24, False, "relu", (strides[1], 1)),
        (3, 72, 24, False, "relu", 1),
        (5, 72, 40, True, "relu", (strides[2], 1)),
        (5, 120, 40, True, "relu", 1),
        (5, 120, 40, True, "relu", 1),
        (3, 240, 80, False, "hardswish", 1),
        (3, 200, 80, False, "hardswish", 1),
        (3, 184, 80, False, "hardswish", 1),
        (3, 184, 80, False, "hardswish", 1),
        (3, 480, 112, True, "hardswish", 1),
        (3, 672, 112, True, "hardswish", 1),
        (5, 672, 160, True, "hardswish", (strides[3], 1)),
        (5, 960, 160, True, "hardswish", 1),
        (5, 960, 160, True, "hardswish", 1),
    ]


def _small_blocks(strides: List[int]) -> list:
    """Rows of (kernel, expand, out, se, act, stride) for MobileNetV3-small."""
    return [
        (3, 16, 16, True, "relu", (strides[0], 1)),
        (3, 72, 24, False, "relu", (strides[1], 1)),
        (3, 88, 24, False, "relu", 1),
        (5, 96, 40, True, "hardswish", (strides[2], 1)),
        (5, 240, 40, True, "hardswish", 1),
        (5, 240, 40, True, "hardswish", 1),
        (5, 120, 48, True, "hardswish", 1),
        (5, 144, 48, True, "hardswish", 1),
        (5, 288, 96, True, "hardswish", (strides[3], 1)),
        (5, 576, 96, True, "hardswish", 1),
        (5, 576, 96, True, "hardswish", 1),
    ]


# model_name -> (block table, channels of the last 1×1 conv, default strides)
_VARIANTS = {
    "large": (_large_blocks, 960, [1, 2, 2, 2]),
    "small": (_small_blocks, 576, [2, 2, 2, 2]),
}


@BACKBONES.register()
class MobileNetV3(nn.Layer):
    """Recognition MobileNetV3; output N×C×1×W/4 for 32- or 48-pixel-high lines.

    ``small_stride``/``large_stride`` hold the strides of the first block and of the three
    stages that downsample; stage strides act on height only. For ``small`` the first entry
    also acts on height only; for ``large`` it acts on both axes, as in PaddleOCR.
    """

    def __init__(
        self,
        model_name: str = "small",
        scale: float = 0.5,
        large_stride: Optional[list] = None,
        small_stride: Optional[list] = None,
        disable_se: bool = False,
        in_channels: int = 3,
    ):
        super().__init__()
        if model_name not in _VARIANTS:
            raise ConfigError(
                f"key 'model_name' of backbone MobileNetV3 must be one of {sorted(_VARIANTS)}, got {model_name!r}"
            )
        if scale not in SUPPORTED_SCALES:
            raise ConfigError(
                f"key 'scale' of backbone MobileNetV3 must be one of {list(SUPPORTED_SCALES)}, got {scale!r}"
            )
        table, last_channels, default_strides = _VARIANTS[model_name]
        key = f"{model_name}_stride"
        strides = {"large": large_stride, "small": small_stride}[model_name]
        strides = list(default_strides) if strides is None else list(strides)
        _check_strides(key, strides)

        channels = make_divisible(_STEM_CHANNELS * scale)
        self.conv1 = ConvBNLayer(in_channels, channels, 3, stride=2, act="hardswish")
        blocks = []
        for kernel, expand, out, use_se, act, stride in table(strides):
            out_channels = make_divisible(scale * out)
            blocks.append(
                ResidualUnit(
                    in_channels=channels,
                    mid_channels=make_divisible(scale * expand),
                    out_channels=out_channels,
                    kernel_size=kernel,
                    stride=stride,
                    use_se=use_se and not disable_se,
                    act=act,
                )
            )
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = make_divisible(scale * last_channels)
        self.conv2 = ConvBNLayer(channels, self.out_channels, 1, act="hardswish")
        self.pool = nn.MaxPool2D(kernel_size=2, stride=2, padding=0)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.conv1(x)
        x = self.blocks(x)
        x = self.conv2(x)
        return self.pool(x)
