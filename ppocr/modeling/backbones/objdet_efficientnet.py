"""EfficientNet B0-B3 and EfficientNet-Lite0-Lite2: the EfficientDet backbones, returning strides 8, 16, 32.

B models use swish and squeeze-and-excitation; Lite models use ReLU6, no SE and an unscaled stem and head
(easier to quantise). Convolutions pad like TensorFlow's ``SAME`` (more padding after than before on strided
convs), which ImageNet weights trained in TensorFlow expect. Sub-layer names follow the widely used PyTorch
port (``conv_stem``, ``blocks.N.expand_conv``...), so its checkpoints convert by renaming only
(``ppocr.modeling.backbones.efficientnet_weights``).
"""
from __future__ import annotations

import math
from typing import Dict, List, NamedTuple, Sequence

import paddle
import paddle.nn.functional as F
from paddle import nn

from ppocr.utils.registry import BACKBONES, ConfigError, prefixed_model_name


class Stage(NamedTuple):
    repeats: int
    kernel: int
    stride: int
    expand: int
    in_filters: int
    out_filters: int


# The EfficientNet-B0 stages; larger models scale widths and repeats.
BASE_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
# name → (width multiplier, depth multiplier, ImageNet resolution, dropout)
MODELS: Dict[str, tuple] = {
    "efficientnet-b0": (1.0, 1.0, 224, 0.2),
    "efficientnet-b1": (1.0, 1.1, 240, 0.2),
    "efficientnet-b2": (1.1, 1.2, 260, 0.3),
    "efficientnet-b3": (1.2, 1.4, 300, 0.3),
    "efficientnet-lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet-lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet-lite2": (1.1, 1.2, 260, 0.3),
}
# stages whose last block gives the stride-8, 16 and 32 features
FEATURE_STAGES = (2, 4, 6)
SE_RATIO = 0.25
BN_MOMENTUM = 0.9  # as in the BiFPN (see there): short fine-tunes must leave running statistics that fit
BN_EPSILON = 1e-3
HEAD_FILTERS = 1280


def canonical_name(name: str) -> str:
    """``efficientnet-b0``, ``efficientnet_b0`` and ``b0`` all name EfficientNet-B0."""
    return prefixed_model_name(name, "efficientnet-", MODELS, "EfficientNet model")


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a width, rounded to a multiple of ``divisor`` and never more than 10 % below the scaled value."""
    if width == 1.0:
        return filters
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    return int(math.ceil(depth * repeats))


def same_padding(kernel: int, stride: int) -> List[int]:
    """TensorFlow ``SAME`` padding for even input sides, as [top, bottom, left, right]."""
    total = max(kernel - stride, 0)
    before = total // 2
    return [before, total - before, before, total - before]


def batch_norm(channels: int) -> nn.BatchNorm2D:
    return nn.BatchNorm2D(channels, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


def activation(lite: bool) -> nn.Layer:
    return nn.ReLU6() if lite else nn.Swish()


class DropConnect(nn.Dropout):
    """Drop whole residual branches per sample (stochastic depth), rescaling the kept ones.

    A kind of dropout, so tools that switch dropout off (pruning's channel tracer) treat it as one.
    """

    def __init__(self, rate: float):
        super().__init__(p=rate)
        self.rate = rate

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if not self.training or self.rate <= 0.0:
            return x
        keep = 1.0 - self.rate
        mask = paddle.floor(keep + paddle.rand([x.shape[0], 1, 1, 1], dtype=x.dtype))
        return x / keep * mask


class MBConvBlock(nn.Layer):
    """Inverted residual: 1×1 expand, k×k depthwise, optional SE, 1×1 project, identity skip when shapes allow."""

    def __init__(self, in_filters: int, out_filters: int, kernel: int, stride: int, expand: int,
                 use_se: bool, lite: bool, drop_rate: float):
        super().__init__()
        mid = in_filters * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self.expand_conv = nn.Conv2D(in_filters, mid, 1, bias_attr=False)
            self.bn0 = batch_norm(mid)
        self.depthwise_conv = nn.Conv2D(mid, mid, kernel, stride=stride, padding=same_padding(kernel, stride),
                                        groups=mid, bias_attr=False)
        self.bn1 = batch_norm(mid)
        self.has_se = use_se
        if use_se:
            squeezed = max(1, int(in_filters * SE_RATIO))
            self.se_reduce = nn.Conv2D(mid, squeezed, 1)
            self.se_expand = nn.Conv2D(squeezed, mid, 1)
        self.project_conv = nn.Conv2D(mid, out_filters, 1, bias_attr=False)
        self.bn2 = batch_norm(out_filters)
        self.act = activation(lite)
        self.residual = stride == 1 and in_filters == out_filters
        self.drop_connect = DropConnect(drop_rate) if self.residual else None

    def forward(self, inputs: paddle.Tensor) -> paddle.Tensor:
        x = inputs
        if self.has_expand:
            x = self.act(self.bn0(self.expand_conv(x)))
        x = self.act(self.bn1(self.depthwise_conv(x)))
        if self.has_se:
            gate = F.adaptive_avg_pool2d(x, 1)
            gate = self.se_expand(self.act(self.se_reduce(gate)))
            x = F.sigmoid(gate) * x
        x = self.bn2(self.project_conv(x))
        if self.residual:
            x = self.drop_connect(x) + inputs
        return x


@BACKBONES.register()
class EfficientNet(nn.Layer):
    """Feature extractor returning the stride-8, 16 and 32 maps (``out_channels`` lists their widths).

    ``drop_connect_rate`` grows linearly over the blocks up to the given rate (0.2 in EfficientDet).
    ``with_classifier`` adds the ImageNet head (1×1 conv to 1280, pool, fc) used by :meth:`classify`, so
    imported ImageNet weights can be checked; detection leaves it out.
    """

    def __init__(self, in_channels: int = 3, model_name: str = "efficientnet-b0", drop_connect_rate: float = 0.2,
                 with_classifier: bool = False, num_classes: int = 1000):
        super().__init__()
        self.model_name = canonical_name(model_name)
        width, depth, self.resolution, dropout = MODELS[self.model_name]
        self.lite = "lite" in self.model_name
        if not 0.0 <= drop_connect_rate < 1.0:
            raise ConfigError(f"must be in [0, 1), got {drop_connect_rate}", "drop_connect_rate")
        stem = 32 if self.lite else round_filters(32, width)
        self.conv_stem = nn.Conv2D(in_channels, stem, 3, stride=2, padding=same_padding(3, 2), bias_attr=False)
        self.bn0 = batch_norm(stem)
        self.act = activation(self.lite)
        stages = self._scaled_stages(width, depth, stem)
        total = sum(stage.repeats for stage in stages)
        blocks, self.feature_blocks, channels = [], [], []
        for index, stage in enumerate(stages):
            for repeat in range(stage.repeats):
                rate = drop_connect_rate * len(blocks) / total
                blocks.append(MBConvBlock(stage.in_filters if repeat == 0 else stage.out_filters, stage.out_filters,
                                          stage.kernel, stage.stride if repeat == 0 else 1, stage.expand,
                                          use_se=not self.lite, lite=self.lite, drop_rate=rate))
            if index in FEATURE_STAGES:
                self.feature_blocks.append(len(blocks) - 1)
                channels.append(stage.out_filters)
        self.blocks = nn.LayerList(blocks)
        self.out_channels = channels
        self.with_classifier = with_classifier
        if with_classifier:
            head = HEAD_FILTERS if self.lite else round_filters(HEAD_FILTERS, width)
            self.conv_head = nn.Conv2D(stages[-1].out_filters, head, 1, bias_attr=False)
            self.bn1 = batch_norm(head)
            self.dropout = nn.Dropout(dropout)
            self.fc = nn.Linear(head, num_classes)

    def _scaled_stages(self, width: float, depth: float, stem: int) -> List[Stage]:
        last = len(BASE_STAGES) - 1
        stages = []
        for index, stage in enumerate(BASE_STAGES):
            fixed = self.lite and index in (0, last)  # Lite keeps the first and last stage's repeats
            stages.append(stage._replace(
                repeats=stage.repeats if fixed else round_repeats(stage.repeats, depth),
                in_filters=stem if index == 0 else round_filters(stage.in_filters, width),
                out_filters=round_filters(stage.out_filters, width)))
        return stages

    def forward(self, x: paddle.Tensor) -> List[paddle.Tensor]:
        x = self.act(self.bn0(self.conv_stem(x)))
        features = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.feature_blocks:
                features.append(x)
        return features

    def classify(self, x: paddle.Tensor) -> paddle.Tensor:
        """ImageNet logits (needs ``with_classifier``)."""
        if not self.with_classifier:
            raise RuntimeError("this EfficientNet was built without the classifier (with_classifier=False)")
        x = self.forward(x)[-1]
        x = self.act(self.bn1(self.conv_head(x)))
        x = paddle.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.dropout(x))


def feature_widths(model_name: str) -> Sequence[int]:
    """The stride-8/16/32 widths of a model without building it (for tests and docs)."""
    width = MODELS[canonical_name(model_name)][0]
    return [round_filters(BASE_STAGES[i].out_filters, width) for i in FEATURE_STAGES]


