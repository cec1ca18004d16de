"""EfficientDet anchors and box coding (numpy): generation per level, IoU matching to targets, encode/decode.

Boxes are ``[x1, y1, x2, y2]`` in input pixels. At level ``l`` with a feature map of ``h × w`` cells the
stride is ``image_size / feature size``; every cell centre ``(stride/2 + i*stride)`` carries
``num_scales × len(aspect_ratios)`` anchors of side ``anchor_scale * stride * 2**(octave / num_scales)``
stretched by the aspect pair ``(ax, ay)``. Anchors are ordered level, row, column, octave, aspect — the
order the class and box nets flatten their outputs in.
"""
from __future__ import annotations

import ast
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ppocr.utils.registry import ConfigError

AspectRatios = List[Tuple[float, float]]
DEFAULT_ASPECT_RATIOS = "[(1.0, 1.0), (1.4, 0.7), (0.7, 1.4)]"
# box regression targets use the Faster R-CNN parameterisation without scale factors, as EfficientDet does
BBOX_XFORM_CLIP = float(np.log(1000.0 / 16.0))


def parse_aspect_ratios(value: Union[str, Sequence], where: str = "aspect_ratios") -> AspectRatios:
    """TAO's string ``"[(1.0, 1.0), (1.4, 0.7), (0.7, 1.4)]"``, a list of pairs, or a list of single ratios
    ``r`` (meaning ``(sqrt(r), 1/sqrt(r))``) → a list of ``(x, y)`` stretch pairs."""
    parsed = value
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise ConfigError(f"must look like \"[(1.0, 1.0), (1.4, 0.7), (0.7, 1.4)]\", got {value!r}", where) \
                from None
    if isinstance(parsed, tuple) and parsed and all(isinstance(v, (tuple, list)) for v in parsed):
        parsed = list(parsed)
    if not isinstance(parsed, (list, tuple)) or not parsed:
        raise ConfigError(f"must be a non-empty list of (x, y) pairs, got {value!r}", where)
    ratios = []
    for item in parsed:
        if isinstance(item, (int, float)) and not isinstance(item, bool) and item > 0:
            ratios.append((float(np.sqrt(item)), float(1.0 / np.sqrt(item))))
        elif (isinstance(item, (list, tuple)) and len(item) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in item)):
            ratios.append((float(item[0]), float(item[1])))
        else:
            raise ConfigError(f"each entry must be a positive (x, y) pair or a positive ratio, got {item!r}", where)
    return ratios


def level_anchors(image_size: Tuple[int, int], feature_size: Tuple[int, int], num_scales: int,
                  aspect_ratios: AspectRatios, anchor_scale: float) -> np.ndarray:
    """Anchors ``[h * w * num_scales * len(aspect_ratios), 4]`` of one level."""
    img_h, img_w = image_size
    feat_h, feat_w = feature_size
    stride_y, stride_x = img_h / feat_h, img_w / feat_w
    ys = stride_y / 2 + stride_y * np.arange(feat_h)
    xs = stride_x / 2 + stride_x * np.arange(feat_w)
    cx, cy = np.meshgrid(xs, ys)
    half_sizes = []
    for octave in range(num_scales):
        factor = anchor_scale * 2.0 ** (octave / num_scales)
        for ax, ay in aspect_ratios:
            half_sizes.append((factor * stride_x * ax / 2.0, factor * stride_y * ay / 2.0))
    half = np.asarray(half_sizes)  # [k, 2]
    centers = np.stack([cx.reshape(-1), cy.reshape(-1)], axis=1)[:, None, :]  # [hw, 1, 2]
    boxes = np.concatenate([centers - half[None], centers + half[None]], axis=2)  # [hw, k, 4]
    return boxes.reshape(-1, 4)


def generate_anchors(image_size: Tuple[int, int], feature_sizes: Sequence[Tuple[int, int]], num_scales: int,
                     aspect_ratios: AspectRatios, anchor_scale: float) -> np.ndarray:
    """All levels' anchors, finest level first, as float32 ``[N, 4]``."""
    return np.concatenate([level_anchors(image_size, size, num_scales, aspect_ratios, anchor_scale)
                           for size in feature_sizes]).astype(np.float32)


def feature_sizes(image_size: Tuple[int, int], min_level: int = 3, max_level: int = 7) -> List[Tuple[int, int]]:
    """Feature map sizes of levels ``min_level``..``max_level`` (each halving rounds up, like ``SAME`` padding)."""
    h, w = image_size
    sizes = []
    for level in range(1, max_level + 1):
        h, w = (h + 1) // 2, (w + 1) // 2
        if level >= min_level:
            sizes.append((h, w))
    return sizes


def box_iou(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU matrix ``[len(boxes), len(others)]`` of ``x1y1x2y2`` boxes."""
    area_a = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    area_b = np.clip(others[:, 2] - others[:, 0], 0, None) * np.clip(others[:, 3] - others[:, 1], 0, None)
    lt = np.maximum(boxes[:, None, :2], others[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _centers(boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


def encode_boxes(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Regression targets ``(tx, ty, tw, th)`` of ``boxes`` relative to same-length ``anchors``."""
    cx, cy, w, h = _centers(boxes.astype(np.float64))
    acx, acy, aw, ah = _centers(anchors.astype(np.float64))
    w, h = np.maximum(w, 1e-8), np.maximum(h, 1e-8)
    return np.stack([(cx - acx) / aw, (cy - acy) / ah, np.log(w / aw), np.log(h / ah)], axis=-1).astype(np.float32)


def decode_boxes(deltas: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_boxes` (numpy; the head has the same in Paddle ops)."""
    acx, acy, aw, ah = _centers(anchors)
    tw = np.minimum(deltas[..., 2], BBOX_XFORM_CLIP)
    th = np.minimum(deltas[..., 3], BBOX_XFORM_CLIP)
    cx, cy = deltas[..., 0] * aw + acx, deltas[..., 1] * ah + acy
    w, h = np.exp(tw) * aw, np.exp(th) * ah
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def assign_targets(anchors: np.ndarray, gt_boxes: np.ndarray, gt_labels: np.ndarray,
                   match_threshold: float = 0.5, ignore: Optional[np.ndarray] = None
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """Per anchor: class label (0 background, -1 ignored, else the gt label) and box targets.

    An anchor matches the gt it overlaps most when that IoU reaches ``match_threshold``; every gt also keeps
    its best anchor (so small objects are never left without one). ``ignore`` marks gts (e.g. crowd regions)
    whose matched anchors are ignored rather than trained as positives.
    """
    labels = np.zeros(len(anchors), dtype=np.int64)
    targets = np.zeros((len(anchors), 4), dtype=np.float32)
    if len(gt_boxes) == 0:
        return labels, targets
    iou = box_iou(anchors, gt_boxes)
    best_gt = iou.argmax(axis=1)
    best_iou = iou[np.arange(len(anchors)), best_gt]
    matched = best_iou >= match_threshold
    best_anchor = iou.argmax(axis=0)
    has_overlap = iou[best_anchor, np.arange(len(gt_boxes))] > 0
    best_gt[best_anchor[has_overlap]] = np.flatnonzero(has_overlap)
    matched[best_anchor[has_overlap]] = True
    labels[matched] = gt_labels[best_gt[matched]]
    if ignore is not None and ignore.any():
        labels[matched & ignore[best_gt]] = -1
    positive = labels > 0
    targets[positive] = encode_boxes(gt_boxes[best_gt[positive]], anchors[positive])
    return labels, targets
