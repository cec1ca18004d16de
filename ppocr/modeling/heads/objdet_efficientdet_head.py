"""EfficientDet's class and box nets: one set of separable convs shared by every level, batch norm per level.

Training returns raw outputs (the loss assigns anchors to targets); evaluation and export return one tensor
``[N, anchors, 4 + num_classes]``: decoded ``x1y1x2y2`` boxes in input pixels followed by class
probabilities, ready for per-class NMS (``EfficientDetPostProcess``).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Tuple, Union

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ppocr.modeling.heads.objdet_anchors import (
    BBOX_XFORM_CLIP,
    DEFAULT_ASPECT_RATIOS,
    generate_anchors,
    parse_aspect_ratios,
)
from ppocr.modeling.necks.bifpn import COMPOUND, batch_norm, compound_name, make_activation
from ppocr.utils.registry import HEADS, ConfigError

PRIOR_PROBABILITY = 0.01


class SharedNet(nn.Layer):
    """``depth`` separable convs (weights shared across levels, BN per level) and a separable predictor."""

    def __init__(self, channels: int, outputs: int, depth: int, num_levels: int, act: str, bias_init: float):
        super().__init__()
        self.depthwise = nn.LayerList([nn.Conv2D(channels, channels, 3, padding=1, groups=channels,
                                                 bias_attr=False) for _ in range(depth)])
        self.pointwise = nn.LayerList([nn.Conv2D(channels, channels, 1) for _ in range(depth)])
        self.norms = nn.LayerList([nn.LayerList([batch_norm(channels) for _ in range(depth)])
                                   for _ in range(num_levels)])
        self.act = make_activation(act)
        self.predict_depthwise = nn.Conv2D(channels, channels, 3, padding=1, groups=channels, bias_attr=False)
        self.predict_pointwise = nn.Conv2D(
            channels, outputs, 1,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.Normal(std=0.01)),
            bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(bias_init)))

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        outs = []
        for level, x in enumerate(feats):
            for i in range(len(self.depthwise)):
                x = self.act(self.norms[level][i](self.pointwise[i](self.depthwise[i](x))))
            outs.append(self.predict_pointwise(self.predict_depthwise(x)))
        return outs


@HEADS.register()
class EfficientDetHead(nn.Layer):
    """Class net (``num_classes`` sigmoid outputs per anchor) and box net (4 deltas per anchor).

    Anchors follow the input size (read from the finest level, stride ``2**min_level``), so one model runs at
    the size it is given; ``num_scales``, ``aspect_ratios`` (TAO's string form accepted) and ``anchor_scale``
    shape them. ``model_name`` sets the net depth (``box_class_repeats``) unless given.
    """

    def __init__(self, in_channels: int, num_classes: int, model_name: str = "efficientdet-d0",
                 box_class_repeats: int = None, num_scales: int = 3,
                 aspect_ratios: Union[str, list] = DEFAULT_ASPECT_RATIOS, anchor_scale: float = 4.0,
                 min_level: int = 3, max_level: int = 7, act: str = None, out_channels: int = None):
        super().__init__()
        name = compound_name(model_name)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ConfigError(f"must be a positive integer (object classes, without background), got {num_classes!r}",
                              "num_classes")
        if out_channels is not None and out_channels != num_classes:
            raise ConfigError(f"out_channels {out_channels} differs from num_classes {num_classes}", "out_channels")
        if not isinstance(num_scales, int) or num_scales < 1:
            raise ConfigError(f"must be a positive integer, got {num_scales!r}", "num_scales")
        if not anchor_scale > 0:
            raise ConfigError(f"must be > 0, got {anchor_scale!r}", "anchor_scale")
        self.num_classes = num_classes
        self.num_scales = num_scales
        self.aspect_ratios = parse_aspect_ratios(aspect_ratios)
        self.anchor_scale = float(anchor_scale)
        self.min_level, self.max_level = min_level, max_level
        self.num_anchors = num_scales * len(self.aspect_ratios)
        depth = int(box_class_repeats or COMPOUND[name][2])
        act = act or ("relu6" if "lite" in name else "swish")
        levels = max_level - min_level + 1
        prior = -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)
        self.class_net = SharedNet(in_channels, self.num_anchors * num_classes, depth, levels, act, prior)
        self.box_net = SharedNet(in_channels, self.num_anchors * 4, depth, levels, act, 0.0)
        self.out_channels = num_classes
        self._anchor_cache: Dict[Tuple, np.ndarray] = {}

    def anchors_for(self, feature_shapes: List[Tuple[int, int]]) -> np.ndarray:
        """Anchors ``[A, 4]`` for the given level sizes (the image size is the finest level times its stride)."""
        key = tuple(feature_shapes)
        if key not in self._anchor_cache:
            stride = 2 ** self.min_level
            image_size = (feature_shapes[0][0] * stride, feature_shapes[0][1] * stride)
            self._anchor_cache[key] = generate_anchors(image_size, feature_shapes, self.num_scales,
                                                       self.aspect_ratios, self.anchor_scale)
        return self._anchor_cache[key]

    def _flatten(self, outs: List[paddle.Tensor], per_anchor: int) -> paddle.Tensor:
        flat = [paddle.reshape(paddle.transpose(o, [0, 2, 3, 1]), [0, -1, per_anchor]) for o in outs]
        return paddle.concat(flat, axis=1)

    def forward(self, feats: List[paddle.Tensor], targets: Any = None) -> Any:
        if len(feats) != self.max_level - self.min_level + 1:
            raise ValueError(f"EfficientDetHead expects {self.max_level - self.min_level + 1} levels, got {len(feats)}")
        shapes = [(int(f.shape[2]), int(f.shape[3])) for f in feats]
        anchors = self.anchors_for(shapes)
        cls_logits = self._flatten(self.class_net(feats), self.num_classes)
        box_deltas = self._flatten(self.box_net(feats), 4)
        if self.training:
            return {"cls_logits": cls_logits, "box_deltas": box_deltas, "anchors": anchors}
        boxes = decode(box_deltas, paddle.to_tensor(anchors))
        return paddle.concat([boxes, F.sigmoid(cls_logits)], axis=-1)


def decode(deltas: paddle.Tensor, anchors: paddle.Tensor) -> paddle.Tensor:
    """Box deltas ``[N, A, 4]`` → ``x1y1x2y2`` boxes (Paddle ops, so it is part of the exported graph)."""
    aw = anchors[:, 2] - anchors[:, 0]
    ah = anchors[:, 3] - anchors[:, 1]
    acx = anchors[:, 0] + 0.5 * aw
    acy = anchors[:, 1] + 0.5 * ah
    cx = deltas[:, :, 0] * aw + acx
    cy = deltas[:, :, 1] * ah + acy
    w = paddle.exp(paddle.clip(deltas[:, :, 2], max=BBOX_XFORM_CLIP)) * aw
    h = paddle.exp(paddle.clip(deltas[:, :, 3], max=BBOX_XFORM_CLIP)) * ah
    return paddle.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)
