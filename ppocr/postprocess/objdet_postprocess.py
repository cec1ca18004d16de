"""EfficientDet postprocess: decoded boxes + class probabilities → per-class NMS → detections in source pixels.

Pure numpy/OpenCV (no paddle import), so exported models decode the same way under any backend.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import cv2
import numpy as np

from ppocr.utils.arrays import as_numpy
from ppocr.utils.registry import POSTPROCESS, ConfigError


def nms_per_class(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float,
                  max_keep: int) -> np.ndarray:
    """Indices kept by NMS run separately for each class, best score first, at most ``max_keep``."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    rects = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    keep = cv2.dnn.NMSBoxesBatched(rects.astype(np.float64).tolist(), scores.astype(np.float32).tolist(),
                                   classes.astype(np.int32).tolist(), 0.0, float(iou_threshold))
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    return keep[:max_keep]


def shape_rows(shape_info: Any, count: int) -> np.ndarray:
    """``[N, 4]`` rows ``(src_h, src_w, scale_y, scale_x)``; a whole batch (images first, as the trainer passes
    it) gives its second field."""
    if isinstance(shape_info, (list, tuple)) and len(shape_info) > 1 and np.ndim(shape_info[0]) == 4:
        shape_info = shape_info[1]
    rows = np.asarray(as_numpy(shape_info), dtype=np.float64).reshape(-1, 4)
    if len(rows) != count:
        raise ValueError(f"shape info has {len(rows)} rows for {count} images")
    return rows


@POSTPROCESS.register()
class EfficientDetPostProcess:
    """Keeps detections scoring at least ``min_score_thresh`` after per-class NMS (IoU ``nms_iou_threshold``),
    at most ``max_detections_per_image``, mapped back to the source image and clipped to it.

    Returns one dict per image: ``boxes`` (``[K, 4]`` x1y1x2y2), ``scores``, ``classes`` (category ids, i.e.
    output channel + 1) and ``labels`` (names from ``label_list`` when given).
    """

    def __init__(self, min_score_thresh: float = 0.05, max_detections_per_image: int = 100,
                 nms_iou_threshold: float = 0.5, pre_nms_topk: int = 5000, label_list: Optional[list] = None):
        if not 0.0 <= min_score_thresh < 1.0:
            raise ConfigError(f"min_score_thresh must be in [0, 1), got {min_score_thresh}", "PostProcess")
        if not isinstance(max_detections_per_image, int) or max_detections_per_image < 1:
            raise ConfigError(f"max_detections_per_image must be a positive integer, got {max_detections_per_image!r}",
                              "PostProcess")
        if not 0.0 < nms_iou_threshold <= 1.0:
            raise ConfigError(f"nms_iou_threshold must be in (0, 1], got {nms_iou_threshold}", "PostProcess")
        self.min_score_thresh = float(min_score_thresh)
        self.max_detections = max_detections_per_image
        self.nms_iou_threshold = float(nms_iou_threshold)
        self.pre_nms_topk = int(pre_nms_topk)
        self.label_list = list(label_list) if label_list else None

    def __call__(self, preds: Any, shape_info: Any = None) -> List[Dict[str, Any]]:
        preds = np.asarray(as_numpy(preds), dtype=np.float32)
        if preds.ndim != 3 or preds.shape[-1] < 5:
            raise ValueError(f"expected predictions [N, anchors, 4 + classes], got shape {preds.shape}")
        rows = shape_rows(shape_info, len(preds)) if shape_info is not None else None
        return [self.decode_image(p, None if rows is None else rows[i]) for i, p in enumerate(preds)]

    def decode_image(self, pred: np.ndarray, shape_row: Optional[Sequence[float]] = None) -> Dict[str, Any]:
        boxes, probs = pred[:, :4], pred[:, 4:]
        flat = probs.reshape(-1)
        candidates = np.flatnonzero(flat >= self.min_score_thresh)
        if len(candidates) > self.pre_nms_topk:
            top = np.argpartition(-flat[candidates], self.pre_nms_topk - 1)[: self.pre_nms_topk]
            candidates = candidates[top]
        anchor_idx, class_idx = np.divmod(candidates, probs.shape[1])
        cand_boxes, cand_scores = boxes[anchor_idx].astype(np.float64), flat[candidates]
        keep = nms_per_class(cand_boxes, cand_scores, class_idx, self.nms_iou_threshold, self.max_detections)
        out_boxes = cand_boxes[keep]
        if shape_row is not None:
            src_h, src_w, scale_y, scale_x = shape_row
            out_boxes = out_boxes / np.array([scale_x, scale_y, scale_x, scale_y])
            out_boxes = np.clip(out_boxes, 0, [src_w, src_h, src_w, src_h])
        classes = class_idx[keep] + 1
        result = {"boxes": out_boxes.astype(np.float32), "scores": cand_scores[keep].astype(np.float32),
                  "classes": classes.astype(np.int64)}
        if self.label_list:
            result["labels"] = [self.label_list[c - 1] if c - 1 < len(self.label_list) else str(c) for c in classes]
        return result
