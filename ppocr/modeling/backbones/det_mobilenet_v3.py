"""MobileNetV3 for detection: four feature stages at strides 4, 8, 16 and 32 for an FPN neck.

PaddleOCR configs call this ``MobileNetV3`` (with ``model_type: det``); here it is registered as
``MobileNetV3Det`` because the recognition variant owns that name.
"""
from __future__ import annotations

from typing import List

import paddle
from paddle import nn

from ppocr.modeling.backbones.mobilenet_v3_blocks import (
    SUPPORTED_SCALES,
    ConvBNLayer,
    ResidualUnit,
    make_divisible,
)
from ppocr.utils.registry import BACKBONES, ConfigError

# (kernel, expansion channels, output channels, SE, activation, stride) — the MobileNetV3 paper's tables.
_LARGE = [
    (3, 16, 16, False, "relu", 1),
    (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1),
    (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 2),
    (3, 200, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1),
    (3, 480, 112, True, "hardswish", 1),
    (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", 2),
    (5, 960, 160, True, "hardswish", 1),
    (5, 960, 160, True, "hardswish", 1),
]
_SMALL = [
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hardswish", 2),
    (5, 240, 40, True, "hardswish", 1),
    (5, 240, 40, True, "hardswish", 1),
    (5, 120, 48, True, "hardswish", 1),
    (5, 144, 48, True, "hardswish", 1),
    (5, 288, 96, True, "hardswish", 2),
    (5, 576, 96, True, "hardswish", 1),
    (5, 576, 96, True, "hardswish", 1),
]
# model name → (block table, last 1×1 conv width, index of the last block that still belongs to stage 1)
_MODELS = {"large": (_LARGE, 960, 2), "small": (_SMALL, 576, 0)}
_STEM_CHANNELS = 16


@BACKBONES.register()
class MobileNetV3Det(nn.Layer):
    """Returns the four stage outputs; ``out_channels`` lists their widths.

    large ×0.5 on 640×640 gives 16×160², 24×80², 56×40², 480×20². A new stage starts at every
    stride-2 block after the stem stage; the last stage ends with a 1×1 conv widening the features.
    ``disable_se`` drops the squeeze-excite gates (costly at detection resolutions, little gain).
    """

    def __init__(
        self,
        in_channels: int = 3,
        model_name: str = "large",
        scale: float = 0.5,
        disable_se: bool = False,
    ):
        super().__init__()
        if model_name not in _MODELS:
            raise ConfigError(f"MobileNetV3Det model_name must be one of {sorted(_MODELS)}, got {model_name!r}")
        if scale not in SUPPORTED_SCALES:
            raise ConfigError(f"MobileNetV3Det scale must be one of {SUPPORTED_SCALES}, got {scale!r}")
        table, last_channels, first_stage_end = _MODELS[model_name]

        channels = make_divisible(_STEM_CHANNELS * scale)
        # Attribute names (conv, stage0..) match PaddleOCR's so its pretrained weights load by key.
        self.conv = ConvBNLayer(in_channels, channels, 3, stride=2, act="hardswish")
        self.out_channels: List[int] = []
        stages: List[List[nn.Layer]] = [[]]
        for index, (kernel, expansion, width, use_se, act, stride) in enumerate(table):
            if stride == 2 and index > first_stage_end:
                self.out_channels.append(channels)
                stages.append([])
            out = make_divisible(scale * width)
            stages[-1].append(
                ResidualUnit(
                    channels,
                    make_divisible(scale * expansion),
                    out,
                    kernel,
                    stride,
                    use_se=use_se and not disable_se,
                    act=act,
                )
            )
            channels = out
        last = make_divisible(scale * last_channels)
        stages[-1].append(ConvBNLayer(channels, last, 1, act="hardswish"))
        self.out_channels.append(last)
        # registered as stage0..stage3, PaddleOCR's parameter names, so checkpoints load both ways
        self.stages = [self.add_sublayer(f"stage{index}", nn.Sequential(*blocks)) for index, blocks in enumerate(stages)]

    def forward(self, x: paddle.Tensor) -> List[paddle.Tensor]:
        x = self.conv(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
