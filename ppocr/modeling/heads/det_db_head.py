"""DBNet head: probability and threshold maps, fused by differentiable binarization in training."""
from __future__ import annotations

import math
from typing import Dict, Optional

import paddle
import paddle.nn.functional as F
from paddle import nn

from ppocr.utils.registry import HEADS


def _uniform_bias(fan_in: int) -> paddle.ParamAttr:
    bound = 1.0 / math.sqrt(fan_in)
    return paddle.ParamAttr(initializer=nn.initializer.Uniform(-bound, bound))


class _MapBranch(nn.Layer):
    """conv-bn-relu at 1/4, then two ×2 transposed convs back to input resolution, sigmoid.

    Sub-layer names match PaddleOCR's DB head so its pretrained weights load by key.
    """

    def __init__(self, in_channels: int):
        super().__init__()
        mid = in_channels // 4
        self.conv1 = nn.Conv2D(in_channels, mid, 3, padding=1, bias_attr=False)
        self.conv_bn1 = nn.BatchNorm2D(mid)
        self.conv2 = nn.Conv2DTranspose(mid, mid, 2, stride=2, bias_attr=_uniform_bias(mid * 4))
        self.conv_bn2 = nn.BatchNorm2D(mid)
        self.conv3 = nn.Conv2DTranspose(mid, 1, 2, stride=2, bias_attr=_uniform_bias(mid * 4))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = F.relu(self.conv_bn1(self.conv1(x)))
        x = F.relu(self.conv_bn2(self.conv2(x)))
        return F.sigmoid(self.conv3(x))


@HEADS.register()
class DBHead(nn.Layer):
    """Train: ``{"maps": [shrink, threshold, binary]}`` (N×3×H×W); eval: ``{"maps": shrink}`` (N×1×H×W).

    binary = 1 / (1 + exp(-k (P - T))), the differentiable stand-in for thresholding P at T.
    Only the shrink map is needed at inference, so the threshold branch is skipped there.
    """

    def __init__(self, in_channels: int, k: int = 50):
        super().__init__()
        self.k = k
        self.out_channels = 1
        self.binarize = _MapBranch(in_channels)
        self.thresh = _MapBranch(in_channels)

    def forward(self, x: paddle.Tensor, targets: Optional[dict] = None) -> Dict[str, paddle.Tensor]:
        shrink_maps = self.binarize(x)
        if not self.training:
            return {"maps": shrink_maps}
        threshold_maps = self.thresh(x)
        binary_maps = F.sigmoid(self.k * (shrink_maps - threshold_maps))
        return {"maps": paddle.concat([shrink_maps, threshold_maps, binary_maps], axis=1)}
