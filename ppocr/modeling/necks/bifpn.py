"""BiFPN (EfficientDet): levels P3-P7 fused top-down then bottom-up, repeated ``num_layers`` times.

Each fusion node adds its inputs with learned non-negative weights normalised to sum to one ("fast
normalised fusion": ``sum(relu(w_i) * x_i) / (sum(relu(w_i)) + eps)``), then applies the activation, a
depthwise-separable 3×3 conv and batch norm. Inputs narrower or wider than the BiFPN width get a 1×1 conv +
BN; P6 and P7 come from P5 by 1×1 conv and ``SAME`` max pooling, as in the EfficientDet paper.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import paddle
import paddle.nn.functional as F
from paddle import nn

from ppocr.modeling.necks.db_fpn import upsample_nearest
from ppocr.utils.registry import NECKS, ConfigError, prefixed_model_name

# compound coefficient → (BiFPN width, BiFPN layers, class/box net depth, input size), EfficientDet Table 1
# and the Lite variants of the official implementation
COMPOUND: Dict[str, Tuple[int, int, int, int]] = {
    "efficientdet-d0": (64, 3, 3, 512),
    "efficientdet-d1": (88, 4, 3, 640),
    "efficientdet-d2": (112, 5, 3, 768),
    "efficientdet-d3": (160, 6, 4, 896),
    "efficientdet-lite0": (64, 3, 3, 320),
    "efficientdet-lite1": (88, 4, 3, 384),
    "efficientdet-lite2": (112, 5, 3, 448),
}
# Running statistics start at mean 0, variance 1 while the BiFPN and head activations have variances near 0.02:
# with TensorFlow's 0.99 the start value still dominated them after ~400 steps (a BCCD fine-tune), so evaluation
# and export saw mis-scaled features and every score collapsed to background. 0.9 forgets it within ~50 steps.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-3
FUSION_EPSILON = 1e-4
ACTIVATIONS = ("swish", "relu6", "relu")
WEIGHT_METHODS = ("fastattn", "sum")


def make_activation(name: str) -> nn.Layer:
    if name not in ACTIVATIONS:
        raise ConfigError(f"must be one of {', '.join(ACTIVATIONS)}, got {name!r}", "act")
    return {"swish": nn.Swish, "relu6": nn.ReLU6, "relu": nn.ReLU}[name]()


def batch_norm(channels: int) -> nn.BatchNorm2D:
    return nn.BatchNorm2D(channels, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


def max_pool_same(x: paddle.Tensor) -> paddle.Tensor:
    """3×3 stride-2 max pooling with TensorFlow ``SAME`` padding (an odd side rounds up)."""
    pads = []
    for side in x.shape[2:]:
        total = max((-(-side // 2) - 1) * 2 + 3 - side, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(x, 3, stride=2, padding=pads)


def resize_to(x: paddle.Tensor, shape: Sequence[int]) -> paddle.Tensor:
    """Nearest ×2 upsampling cropped to ``shape`` (a level is at most one pixel short of twice the next)."""
    up = upsample_nearest(x, 2)
    if list(up.shape[2:]) != list(shape):
        up = up[:, :, : shape[0], : shape[1]]
    return up


class SeparableConvBN(nn.Layer):
    """Depthwise 3×3 then pointwise 1×1 (with bias) and batch norm."""

    def __init__(self, channels: int, out_channels: int = None, norm: bool = True):
        super().__init__()
        out_channels = out_channels or channels
        self.depthwise = nn.Conv2D(channels, channels, 3, padding=1, groups=channels, bias_attr=False)
        self.pointwise = nn.Conv2D(channels, out_channels, 1)
        self.norm = batch_norm(out_channels) if norm else None

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.pointwise(self.depthwise(x))
        return self.norm(x) if self.norm is not None else x


class FusionNode(nn.Layer):
    """One BiFPN node: weighted sum of same-shaped inputs → activation → separable conv + BN.

    ``prune_channelwise`` tells the pruning tracer that the node's own weights are per input, not per
    channel: channels pass through the sum unmixed, so the inputs' channels stay prunable together.
    """

    prune_channelwise = True

    def __init__(self, num_inputs: int, channels: int, act: str, weight_method: str):
        super().__init__()
        self.weight_method = weight_method
        self.fusion_weight = self.create_parameter([num_inputs], default_initializer=nn.initializer.Constant(1.0))
        self.act = make_activation(act)
        self.conv = SeparableConvBN(channels)

    def forward(self, inputs: List[paddle.Tensor]) -> paddle.Tensor:
        if self.weight_method == "fastattn":
            weights = F.relu(self.fusion_weight)
            weights = weights / (paddle.sum(weights) + FUSION_EPSILON)
            fused = paddle.add_n([inputs[i] * weights[i] for i in range(len(inputs))])
        else:
            fused = paddle.add_n(list(inputs))
        return self.conv(self.act(fused))


class Resample(nn.Layer):
    """1×1 conv + BN to the BiFPN width."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, channels, 1)
        self.norm = batch_norm(channels)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.norm(self.conv(x))


class BiFPNLayer(nn.Layer):
    """One top-down + bottom-up pass over ``num_levels`` same-width levels (finest first)."""

    def __init__(self, num_levels: int, channels: int, act: str, weight_method: str):
        super().__init__()
        self.num_levels = num_levels
        self.top_down = nn.LayerList([FusionNode(2, channels, act, weight_method) for _ in range(num_levels - 1)])
        self.bottom_up = nn.LayerList([FusionNode(3 if i < num_levels - 2 else 2, channels, act, weight_method)
                                       for i in range(num_levels - 1)])

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        n = self.num_levels
        td = [None] * n
        td[n - 1] = feats[n - 1]
        for k, level in enumerate(range(n - 2, -1, -1)):
            up = resize_to(td[level + 1], feats[level].shape[2:])
            td[level] = self.top_down[k]([feats[level], up])
        outs = [td[0]]
        for level in range(1, n):
            down = max_pool_same(outs[-1])
            parts = [feats[level], td[level], down] if level < n - 1 else [feats[level], down]
            outs.append(self.bottom_up[level - 1](parts))
        return outs


@NECKS.register()
class BiFPN(nn.Layer):
    """BiFPN over backbone features at strides 8, 16, 32 (``in_channels``), output ``min_level``..``max_level``.

    ``model_name`` (efficientdet-d0 ... d3, lite0 ... lite2) sets ``num_channels`` and ``num_layers`` unless they
    are given; Lite models default to ReLU6.
    """

    def __init__(self, in_channels: List[int], model_name: str = "efficientdet-d0", num_channels: int = None,
                 num_layers: int = None, min_level: int = 3, max_level: int = 7, act: str = None,
                 weight_method: str = "fastattn"):
        super().__init__()
        name = compound_name(model_name)
        width, depth, _, _ = COMPOUND[name]
        self.channels = int(num_channels or width)
        num_layers = int(num_layers or depth)
        if (min_level, max_level) != (3, 7):
            raise ConfigError(f"only levels 3 to 7 are supported (as in TAO), got {min_level} to {max_level}",
                              "min_level")
        if len(in_channels) != 3:
            raise ConfigError(f"needs the backbone's stride 8, 16 and 32 features, got {len(in_channels)} inputs",
                              "in_channels")
        if weight_method not in WEIGHT_METHODS:
            raise ConfigError(f"must be one of {', '.join(WEIGHT_METHODS)}, got {weight_method!r}", "weight_method")
        act = act or ("relu6" if "lite" in name else "swish")
        make_activation(act)
        self.inputs = nn.LayerList([Resample(c, self.channels) for c in in_channels])
        self.p6 = Resample(in_channels[-1], self.channels)
        self.layers = nn.LayerList([BiFPNLayer(max_level - min_level + 1, self.channels, act, weight_method)
                                    for _ in range(num_layers)])
        self.out_channels = self.channels

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        p6 = max_pool_same(self.p6(feats[-1]))
        levels = [resample(f) for resample, f in zip(self.inputs, feats)] + [p6, max_pool_same(p6)]
        for layer in self.layers:
            levels = layer(levels)
        return levels


def compound_name(name: str) -> str:
    """``efficientdet-d0``, ``efficientdet_d0`` and ``d0`` all name D0."""
    return prefixed_model_name(name, "efficientdet-", COMPOUND, "EfficientDet model")
