"""ResNet-vd for detection: four feature stages at strides 4, 8, 16 and 32 for an FPN neck."""
from __future__ import annotations

from typing import List

import paddle
from paddle import nn

from ppocr.modeling.backbones.resnet_vd_blocks import BasicBlock, BottleneckBlock, ConvBNLayer
from ppocr.utils.registry import BACKBONES, ConfigError

# depth → blocks per stage; 50 and deeper use bottleneck blocks.
_DEPTHS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
_STAGE_WIDTHS = [64, 128, 256, 512]


@BACKBONES.register()
class ResNet_vd(nn.Layer):
    """Three-conv stem and max-pool (stride 4), then four residual stages; returns all four outputs.

    ``out_channels`` is [64, 128, 256, 512] for 18/34 and 4× that for 50 and deeper. Blocks are
    registered as ``bb_<stage>_<index>`` (PaddleOCR's keys, so its pretrained weights load).
    """

    def __init__(self, in_channels: int = 3, layers: int = 50):
        super().__init__()
        if layers not in _DEPTHS:
            raise ConfigError(f"ResNet_vd layers must be one of {sorted(_DEPTHS)}, got {layers!r}")
        block_type = BottleneckBlock if layers >= 50 else BasicBlock
        self.conv1_1 = ConvBNLayer(in_channels, 32, 3, stride=2, act="relu")
        self.conv1_2 = ConvBNLayer(32, 32, 3, act="relu")
        self.conv1_3 = ConvBNLayer(32, 64, 3, act="relu")
        self.pool2d_max = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)

        self.out_channels: List[int] = []
        self.stage_blocks: List[List[nn.Layer]] = []
        channels = 64
        for stage, (count, width) in enumerate(zip(_DEPTHS[layers], _STAGE_WIDTHS)):
            blocks = []
            for index in range(count):
                block = block_type(
                    channels,
                    width,
                    stride=2 if index == 0 and stage != 0 else 1,
                    shortcut=index > 0,
                    is_first=stage == index == 0,
                )
                blocks.append(self.add_sublayer(f"bb_{stage}_{index}", block))
                channels = width * block_type.expansion
            self.stage_blocks.append(blocks)
            self.out_channels.append(channels)

    def forward(self, x: paddle.Tensor) -> List[paddle.Tensor]:
        x = self.pool2d_max(self.conv1_3(self.conv1_2(self.conv1_1(x))))
        features = []
        for blocks in self.stage_blocks:
            for block in blocks:
                x = block(x)
            features.append(x)
        return features
