"""The ResNet feature extractor of the scene-text-recognition benchmark (Baek et al., ICCV 2019),
which NVIDIA TAO's OCRNet calls ``backbone: ResNet``.

Basic blocks in four stages of [1, 2, 5, 3], each stage followed by a 3×3 conv. The height halves
five times (32 → 1) but the width only twice; the padded pooling and 2×2 convs at the end add one
column net, so a 32×W line becomes a 1×(⌊W/4⌋ + 1) feature row: 26 time steps for a 100-px width.
"""
from __future__ import annotations

from typing import Optional

import paddle
import paddle.nn as nn

from ppocr.utils.registry import BACKBONES, ConfigError

_STAGE_DEPTHS = (1, 2, 5, 3)


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int = 3, stride=1, padding=1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias_attr=False),
        nn.BatchNorm2D(out_channels),
        nn.ReLU(),
    )


class BasicBlock(nn.Layer):
    """Two 3×3 convs with an identity (or 1×1 projection) shortcut; stride is always 1 here."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2D(in_channels, out_channels, 3, padding=1, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(out_channels)
        self.conv2 = nn.Conv2D(out_channels, out_channels, 3, padding=1, bias_attr=False)
        self.bn2 = nn.BatchNorm2D(out_channels)
        self.relu = nn.ReLU()
        self.shortcut: Optional[nn.Layer] = None
        if in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2D(in_channels, out_channels, 1, bias_attr=False), nn.BatchNorm2D(out_channels))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        residual = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


def _stage(in_channels: int, out_channels: int, depth: int) -> nn.Sequential:
    blocks = [BasicBlock(in_channels, out_channels)]
    blocks += [BasicBlock(out_channels, out_channels) for _ in range(depth - 1)]
    return nn.Sequential(*blocks)


@BACKBONES.register()
class ResNetSTR(nn.Layer):
    """STR-benchmark ResNet; ``feature_channel`` (TAO's name) is the output width, stage widths scale with it.

    Output N×feature_channel×1×(⌊W/4⌋ + 1) for 32-pixel-high input (1 or 3 channels).
    """

    def __init__(self, in_channels: int = 1, feature_channel: int = 512):
        super().__init__()
        if feature_channel < 16 or feature_channel % 16:
            raise ConfigError(f"key 'feature_channel' of backbone ResNetSTR must be a multiple of 16, "
                              f"got {feature_channel}")
        c = feature_channel
        widths = (c // 4, c // 2, c, c)
        self.stem = nn.Sequential(_conv_bn(in_channels, c // 16), _conv_bn(c // 16, c // 8),
                                  nn.MaxPool2D(2, 2))
        self.stage1 = _stage(c // 8, widths[0], _STAGE_DEPTHS[0])
        self.conv1 = _conv_bn(widths[0], widths[0])
        self.pool1 = nn.MaxPool2D(2, 2)
        self.stage2 = _stage(widths[0], widths[1], _STAGE_DEPTHS[1])
        self.conv2 = _conv_bn(widths[1], widths[1])
        # height halves, width keeps its size (+1 from the padding)
        self.pool2 = nn.MaxPool2D(2, stride=(2, 1), padding=(0, 1))
        self.stage3 = _stage(widths[1], widths[2], _STAGE_DEPTHS[2])
        self.conv3 = _conv_bn(widths[2], widths[2])
        self.stage4 = _stage(widths[2], widths[3], _STAGE_DEPTHS[3])
        self.conv4_1 = _conv_bn(widths[3], widths[3], kernel_size=2, stride=(2, 1), padding=(0, 1))
        self.conv4_2 = _conv_bn(widths[3], widths[3], kernel_size=2, stride=1, padding=0)
        self.out_channels = widths[3]

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.stem(x)
        x = self.pool1(self.conv1(self.stage1(x)))
        x = self.pool2(self.conv2(self.stage2(x)))
        x = self.conv3(self.stage3(x))
        x = self.conv4_2(self.conv4_1(self.stage4(x)))
        return x
