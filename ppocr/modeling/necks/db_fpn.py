"""DBNet's light feature pyramid: fuses four backbone stages into one 1/4-resolution map."""
from __future__ import annotations

from typing import List

import paddle
from paddle import nn

from ppocr.utils.registry import NECKS, ConfigError


def _conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2D:
    return nn.Conv2D(
        in_channels,
        out_channels,
        kernel_size,
        padding=kernel_size // 2,
        weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingUniform()),
        bias_attr=False,
    )


def upsample_nearest(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """Nearest-neighbour ×factor upsampling built from unsqueeze/expand/flatten.

    Same values as ``F.interpolate(mode="nearest")``, but Paddle 3.3's exported interp op runs
    neither under Paddle Inference with oneDNN nor through paddle2onnx (its float-array
    ``scale`` attribute is unsupported there); these ops export everywhere with dynamic H, W.
    """
    return x.unsqueeze([3, 5]).expand([-1, -1, -1, factor, -1, factor]).flatten(2, 3).flatten(3, 4)


@NECKS.register()
class DBFPN(nn.Layer):
    """1×1 laterals to ``out_channels``, top-down nearest upsample + add, 3×3 smoothing to
    ``out_channels // 4`` per level, then all levels upsampled to 1/4 and concatenated.

    Stage strides must be 4, 8, 16, 32 (input sides a multiple of 32, as DetResizeForTest makes).
    """

    def __init__(self, in_channels: list, out_channels: int):
        super().__init__()
        if len(in_channels) != 4:
            raise ConfigError(f"DBFPN needs the 4 backbone stage channel counts, got in_channels={in_channels!r}")
        if out_channels % 4:
            raise ConfigError(f"DBFPN out_channels must be divisible by 4, got {out_channels}")
        self.out_channels = out_channels
        # Level names (in2..in5 laterals, p2..p5 smoothing) match PaddleOCR's, so its weights load by key.
        self.in2_conv, self.in3_conv, self.in4_conv, self.in5_conv = (_conv(c, out_channels, 1) for c in in_channels)
        self.p2_conv, self.p3_conv, self.p4_conv, self.p5_conv = (
            _conv(out_channels, out_channels // 4, 3) for _ in range(4)
        )

    def forward(self, features: List[paddle.Tensor]) -> paddle.Tensor:
        c2, c3, c4, c5 = features
        in5 = self.in5_conv(c5)
        out4 = self.in4_conv(c4) + upsample_nearest(in5, 2)
        out3 = self.in3_conv(c3) + upsample_nearest(out4, 2)
        out2 = self.in2_conv(c2) + upsample_nearest(out3, 2)
        p5 = upsample_nearest(self.p5_conv(in5), 8)
        p4 = upsample_nearest(self.p4_conv(out4), 4)
        p3 = upsample_nearest(self.p3_conv(out3), 2)
        p2 = self.p2_conv(out2)
        return paddle.concat([p5, p4, p3, p2], axis=1)
