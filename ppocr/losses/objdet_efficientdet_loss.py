"""EfficientDet loss: sigmoid focal loss on every anchor plus Huber loss on the positives' box deltas.

Anchors are matched to the ground truth here (numpy, no gradient) from the batch's ``gt_boxes`` and
``gt_classes`` (category ids 1..num_classes; 0 and negative entries are padding). Both terms are normalised by
the number of positive anchors in the batch (+1), the box term also by 4, as in the EfficientDet paper.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ppocr.modeling.heads.objdet_anchors import assign_targets
from ppocr.utils.registry import LOSSES, ConfigError


def sigmoid_focal_loss(logits: paddle.Tensor, targets: paddle.Tensor, alpha: float = 0.25,
                       gamma: float = 1.5) -> paddle.Tensor:
    """Element-wise focal loss ``alpha_t * (1 - p_t)**gamma * BCE`` (not reduced)."""
    prob = F.sigmoid(logits)
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = targets * prob + (1 - targets) * (1 - prob)
    alpha_t = targets * alpha + (1 - targets) * (1 - alpha)
    return alpha_t * paddle.pow(1 - p_t, gamma) * bce


def huber_loss(pred: paddle.Tensor, target: paddle.Tensor, delta: float = 0.1) -> paddle.Tensor:
    """Element-wise Huber loss: quadratic below ``delta``, linear above (not reduced)."""
    diff = paddle.abs(pred - target)
    return paddle.where(diff <= delta, 0.5 * diff * diff, delta * (diff - 0.5 * delta))


def _as_numpy(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, paddle.Tensor) else np.asarray(value)


def per_image(field: Any, count: int) -> List[np.ndarray]:
    """A batch field as one array per image: stacked arrays split, lists (ragged) kept."""
    if isinstance(field, (list, tuple)):
        items = [_as_numpy(v) for v in field]
    else:
        array = _as_numpy(field)
        items = [array[i] for i in range(array.shape[0])]
    if len(items) != count:
        raise ValueError(f"batch field has {len(items)} entries for {count} images")
    return items


@LOSSES.register()
class EfficientDetLoss(nn.Layer):
    """``loss = focal + box_loss_weight * huber``; the batch holds ``[image, shape, gt_boxes, gt_classes, ...]``
    (``gt_boxes_index``/``gt_classes_index`` say otherwise)."""

    def __init__(self, alpha: float = 0.25, gamma: float = 1.5, delta: float = 0.1, box_loss_weight: float = 50.0,
                 match_threshold: float = 0.5, gt_boxes_index: int = 2, gt_classes_index: int = 3):
        super().__init__()
        if not 0 < alpha < 1:
            raise ConfigError(f"alpha must be in (0, 1), got {alpha}", "Loss")
        if gamma < 0 or delta <= 0 or box_loss_weight < 0:
            raise ConfigError("gamma and box_loss_weight must be >= 0 and delta > 0", "Loss")
        self.alpha, self.gamma, self.delta = alpha, gamma, delta
        self.box_loss_weight = box_loss_weight
        self.match_threshold = match_threshold
        self.gt_boxes_index, self.gt_classes_index = gt_boxes_index, gt_classes_index

    def targets(self, anchors: np.ndarray, batch: Sequence[Any], count: int, num_classes: int):
        boxes = per_image(batch[self.gt_boxes_index], count)
        classes = per_image(batch[self.gt_classes_index], count)
        labels, deltas = [], []
        for gt_boxes, gt_classes in zip(boxes, classes):
            gt_boxes = gt_boxes.reshape(-1, 4).astype(np.float64)
            gt_classes = gt_classes.reshape(-1).astype(np.int64)
            valid = gt_classes > 0
            if np.any(gt_classes[valid] > num_classes):
                raise ConfigError(f"a ground-truth category id {int(gt_classes.max())} exceeds the head's "
                                  f"num_classes {num_classes} (category ids must be 1..num_classes)",
                                  "Architecture.Head.num_classes")
            image_labels, image_deltas = assign_targets(anchors, gt_boxes[valid], gt_classes[valid],
                                                        self.match_threshold)
            labels.append(image_labels)
            deltas.append(image_deltas)
        return np.stack(labels), np.stack(deltas)

    def forward(self, preds: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        cls_logits, box_deltas = preds["cls_logits"], preds["box_deltas"]
        count, _, num_classes = cls_logits.shape
        labels, deltas = self.targets(preds["anchors"], batch, count, num_classes)
        labels_t = paddle.to_tensor(labels)
        valid = paddle.cast(labels_t >= 0, cls_logits.dtype).unsqueeze(-1)
        positive = paddle.cast(labels_t > 0, cls_logits.dtype)
        one_hot = F.one_hot(paddle.clip(labels_t, min=0), num_classes + 1)[:, :, 1:]
        normaliser = float((labels > 0).sum()) + 1.0
        cls_loss = paddle.sum(sigmoid_focal_loss(cls_logits, one_hot.astype(cls_logits.dtype), self.alpha,
                                                 self.gamma) * valid) / normaliser
        box = huber_loss(box_deltas, paddle.to_tensor(deltas), self.delta) * positive.unsqueeze(-1)
        box_loss = paddle.sum(box) / (normaliser * 4.0)
        loss = cls_loss + self.box_loss_weight * box_loss
        return {"loss": loss, "cls_loss": cls_loss, "box_loss": box_loss}
