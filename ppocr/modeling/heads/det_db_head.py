"""DBNet head: probability and threshold maps, fused by differentiable binarization in training."""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import paddle
import paddle.nn.functional as F
from paddle import nn

from ppocr.utils.registry import HEADS, ConfigError


def _uniform_bias(fan_in: int) -> paddle.ParamAttr:
    bound = 1.0 / math.sqrt(fan_in)
    return paddle.ParamAttr(initializer=nn.initializer.Uniform(-bound, bound))


def _zero_nan(x: paddle.Tensor) -> paddle.Tensor:
    return paddle.where(paddle.isnan(x), paddle.zeros_like(x), x)


class _MapBranch(nn.Layer):
    """conv-bn-relu at 1/4, then two ×2 transposed convs back to input resolution, sigmoid.

    ``kernel_list`` gives the three kernel sizes (the first conv is padded to keep the size; the transposed
    convs have stride 2). ``fix_nan`` zeroes NaNs after each batch norm while training, so one bad batch
    (fp16 overflow) does not poison the weights. Sub-layer names match PaddleOCR's DB head so its weights load.
    """

    def __init__(self, in_channels: int, kernel_list: List[int], fix_nan: bool = False):
        super().__init__()
        mid = in_channels // 4
        self.fix_nan = fix_nan
        self.conv1 = nn.Conv2D(in_channels, mid, kernel_list[0], padding=kernel_list[0] // 2, bias_attr=False)
        self.conv_bn1 = nn.BatchNorm2D(mid)
        self.conv2 = nn.Conv2DTranspose(mid, mid, kernel_list[1], stride=2, bias_attr=_uniform_bias(mid * 4))
        self.conv_bn2 = nn.BatchNorm2D(mid)
        self.conv3 = nn.Conv2DTranspose(mid, 1, kernel_list[2], stride=2, bias_attr=_uniform_bias(mid * 4))

    def _guard(self, x: paddle.Tensor) -> paddle.Tensor:
        return _zero_nan(x) if self.fix_nan and self.training else x

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self._guard(F.relu(self.conv_bn1(self.conv1(x))))
        x = self._guard(F.relu(self.conv_bn2(self.conv2(x))))
        return F.sigmoid(self.conv3(x))


@HEADS.register()
class DBHead(nn.Layer):
    """Train: ``{"maps": [shrink, threshold, binary]}`` (N×3×H×W); eval: ``{"maps": shrink}`` (N×1×H×W).

    binary = 1 / (1 + exp(-k (P - T))), the differentiable stand-in for thresholding P at T.
    Only the shrink map is needed at inference, so the threshold branch is skipped there.
    """

    def __init__(self, in_channels: int, k: int = 50, kernel_list: List[int] = (3, 2, 2), fix_nan: bool = False):
        super().__init__()
        if (not isinstance(kernel_list, (list, tuple)) or len(kernel_list) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in kernel_list)):
            raise ConfigError(f"key 'kernel_list' of head DBHead must be 3 positive kernel sizes, got {kernel_list!r}")
        self.k = k
        self.out_channels = 1
        self.binarize = _MapBranch(in_channels, list(kernel_list), fix_nan)
        self.thresh = _MapBranch(in_channels, list(kernel_list), fix_nan)

    def forward(self, x: paddle.Tensor, targets: Optional[dict] = None) -> Dict[str, paddle.Tensor]:
        shrink_maps = self.binarize(x)
        if not self.training:
            return {"maps": shrink_maps}
        threshold_maps = self.thresh(x)
        binary_maps = F.sigmoid(self.k * (shrink_maps - threshold_maps))
        return {"maps": paddle.concat([shrink_maps, threshold_maps, binary_maps], axis=1)}
