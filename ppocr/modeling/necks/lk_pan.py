"""LKPAN: the large-kernel path-aggregation DB neck of the PP-OCRv3/v4 detection teachers."""
from __future__ import annotations

from typing import List

import paddle
import paddle.nn.functional as F
from paddle import nn

from ppocr.modeling.necks.rse_fpn import check_levels, concat_at_quarter, kaiming_conv, top_down_fuse
from ppocr.utils.registry import NECKS, ConfigError

MODES = ("large", "lite")
_KERNEL = 9


class DSConv(nn.Layer):
    """``lite`` mode's stand-in for a 9×9 conv: depthwise k×k + BN, 1×1 expansion ×4 + BN + ReLU, 1×1
    projection, plus a 1×1 shortcut when the channel count changes."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.conv1 = nn.Conv2D(in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels,
                               bias_attr=False)
        self.bn1 = nn.BatchNorm2D(in_channels)
        self.conv2 = nn.Conv2D(in_channels, in_channels * 4, 1, bias_attr=False)
        self.bn2 = nn.BatchNorm2D(in_channels * 4)
        self.conv3 = nn.Conv2D(in_channels * 4, out_channels, 1, bias_attr=False)
        self.changes_width = in_channels != out_channels
        if self.changes_width:
            self.conv_end = nn.Conv2D(in_channels, out_channels, 1, bias_attr=False)

    def forward(self, inputs: paddle.Tensor) -> paddle.Tensor:
        x = self.bn1(self.conv1(inputs))
        x = self.conv3(F.relu(self.bn2(self.conv2(x))))
        return x + self.conv_end(inputs) if self.changes_width else x


@NECKS.register()
class LKPAN(nn.Layer):
    """FPN top-down pass with 9×9 smoothing (``mode: lite`` uses :class:`DSConv`), then a bottom-up path
    (3×3 stride-2 convs added into the next level) and 9×9 lateral convs; levels concatenated at 1/4."""

    def __init__(self, in_channels: list, out_channels: int, mode: str = "large"):
        super().__init__()
        check_levels("LKPAN", in_channels, out_channels)
        if str(mode).lower() not in MODES:
            raise ConfigError(f"key 'mode' of neck LKPAN must be one of {MODES}, got {mode!r}")
        self.out_channels = out_channels
        quarter = out_channels // 4

        def large_kernel(cin: int, cout: int) -> nn.Layer:
            return DSConv(cin, cout, _KERNEL) if str(mode).lower() == "lite" else kaiming_conv(cin, cout, _KERNEL)

        self.ins_conv = nn.LayerList([kaiming_conv(c, out_channels, 1) for c in in_channels])
        self.inp_conv = nn.LayerList([large_kernel(out_channels, quarter) for _ in in_channels])
        self.pan_head_conv = nn.LayerList([kaiming_conv(quarter, quarter, 3, stride=2) for _ in in_channels[1:]])
        self.pan_lat_conv = nn.LayerList([large_kernel(quarter, quarter) for _ in in_channels])

    def forward(self, features: List[paddle.Tensor]) -> paddle.Tensor:
        f2, f3, f4, f5 = top_down_fuse(self.ins_conv, self.inp_conv, features)
        pan3 = f3 + self.pan_head_conv[0](f2)
        pan4 = f4 + self.pan_head_conv[1](pan3)
        pan5 = f5 + self.pan_head_conv[2](pan4)
        levels = [lateral(level) for lateral, level in zip(self.pan_lat_conv, (f2, pan3, pan4, pan5))]
        return concat_at_quarter(levels)
