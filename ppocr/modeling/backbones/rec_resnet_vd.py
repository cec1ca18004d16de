"""ResNet-vd adapted to text lines (the "server" CRNN backbone of PaddleOCR).

Stages after the first halve only the height (stride (2, 1)), so a 32×W line ends as a
1×W/4 feature row: one column per CTC time step.
"""
from __future__ import annotations

from typing import List

import paddle
import paddle.nn as nn

from ppocr.modeling.backbones.resnet_vd_blocks import BasicBlock, BottleneckBlock, ConvBNLayer
from ppocr.utils.registry import BACKBONES, ConfigError

_DEPTHS = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
    200: [3, 12, 48, 3],
}
_STAGE_CHANNELS = [64, 128, 256, 512]


@BACKBONES.register()
class ResNet(nn.Layer):
    """Recognition ResNet-vd; output N×C×1×W/4 for 32-pixel-high lines (C=512, or 2048 from 50 layers)."""

    def __init__(self, layers: int = 34, in_channels: int = 3):
        super().__init__()
        if layers not in _DEPTHS:
            raise ConfigError(f"key 'layers' of backbone ResNet must be one of {sorted(_DEPTHS)}, got {layers!r}")
        block_type = BottleneckBlock if layers >= 50 else BasicBlock

        self.conv1_1 = ConvBNLayer(in_channels, 32, 3, act="relu")
        self.conv1_2 = ConvBNLayer(32, 32, 3, act="relu")
        self.conv1_3 = ConvBNLayer(32, 64, 3, act="relu")
        self.pool2d_max = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)

        self.block_list: List[nn.Layer] = []
        channels = 64
        for stage, depth in enumerate(_DEPTHS[layers]):
            for index in range(depth):
                stride = (2, 1) if index == 0 and stage > 0 else (1, 1)
                block = block_type(
                    channels,
                    _STAGE_CHANNELS[stage],
                    stride=stride,
                    shortcut=index > 0,
                    is_first=stage == 0 and index == 0,
                )
                self.block_list.append(self.add_sublayer(f"bb_{stage}_{index}", block))
                channels = _STAGE_CHANNELS[stage] * block_type.expansion
        self.out_channels = channels
        self.out_pool = nn.MaxPool2D(kernel_size=2, stride=2, padding=0)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.conv1_3(self.conv1_2(self.conv1_1(x)))
        x = self.pool2d_max(x)
        for block in self.block_list:
            x = block(x)
        return self.out_pool(x)
