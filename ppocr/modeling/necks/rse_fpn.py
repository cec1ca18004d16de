"""RSEFPN: PP-OCRv3/v4 mobile DB neck, a DBFPN whose convolutions carry a residual squeeze-and-excitation gate."""
from __future__ import annotations

from typing import List

import paddle
from paddle import nn

from ppocr.modeling.backbones.mobilenet_v3_blocks import SEModule
from ppocr.modeling.necks.db_fpn import upsample_nearest
from ppocr.utils.registry import NECKS, ConfigError


def top_down_fuse(laterals: List[nn.Layer], smooth: List[nn.Layer], features: List[paddle.Tensor]) -> List[paddle.Tensor]:
    """The FPN top-down pass shared by RSEFPN and LKPAN: laterals of (c2..c5), ×2 nearest upsample + add from
    the top, then each level through its ``smooth`` layer; returns the smoothed levels (p2..p5)."""
    c2, c3, c4, c5 = features
    in5 = laterals[3](c5)
    out4 = laterals[2](c4) + upsample_nearest(in5, 2)
    out3 = laterals[1](c3) + upsample_nearest(out4, 2)
    out2 = laterals[0](c2) + upsample_nearest(out3, 2)
    p5, p4, p3, p2 = smooth[3](in5), smooth[2](out4), smooth[1](out3), smooth[0](out2)
    return [p2, p3, p4, p5]


def concat_at_quarter(levels: List[paddle.Tensor]) -> paddle.Tensor:
    """Upsample p3..p5 to p2's 1/4 resolution and concatenate as (p5, p4, p3, p2)."""
    p2, p3, p4, p5 = levels
    return paddle.concat([upsample_nearest(p5, 8), upsample_nearest(p4, 4), upsample_nearest(p3, 2), p2], axis=1)


def check_levels(name: str, in_channels: list, out_channels: int) -> None:
    if not isinstance(in_channels, (list, tuple)) or len(in_channels) != 4:
        raise ConfigError(f"{name} needs the 4 backbone stage channel counts, got in_channels={in_channels!r}")
    if out_channels % 4:
        raise ConfigError(f"{name} out_channels must be divisible by 4, got {out_channels}")


def kaiming_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2D:
    return nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                     weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingUniform()), bias_attr=False)


class RSELayer(nn.Layer):
    """conv, then ``x + se(x)`` (``shortcut``) or ``se(x)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, shortcut: bool = True):
        super().__init__()
        self.out_channels = out_channels
        self.in_conv = kaiming_conv(in_channels, out_channels, kernel_size)
        self.se_block = SEModule(out_channels)
        self.shortcut = shortcut

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.in_conv(x)
        return x + self.se_block(x) if self.shortcut else self.se_block(x)


@NECKS.register()
class RSEFPN(nn.Layer):
    """1×1 RSE laterals to ``out_channels``, top-down add, 3×3 RSE smoothing to ``out_channels // 4`` per
    level, all levels at 1/4 resolution concatenated (``out_channels`` maps). Input sides: multiples of 32."""

    def __init__(self, in_channels: list, out_channels: int, shortcut: bool = True):
        super().__init__()
        check_levels("RSEFPN", in_channels, out_channels)
        self.out_channels = out_channels
        self.ins_conv = nn.LayerList([RSELayer(c, out_channels, 1, shortcut) for c in in_channels])
        self.inp_conv = nn.LayerList([RSELayer(out_channels, out_channels // 4, 3, shortcut) for _ in in_channels])

    def forward(self, features: List[paddle.Tensor]) -> paddle.Tensor:
        return concat_at_quarter(top_down_fuse(self.ins_conv, self.inp_conv, features))
