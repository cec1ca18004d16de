"""COCO box AP for the eval loop, computed by pycocotools from the detections and ground truth of each batch.

The ground truth comes with the batch (so COCO json folders and LMDB shards evaluate alike): KeepKeys order
``[image, shape, gt_boxes, gt_classes, gt_crowd, image_id]``; boxes are mapped back to source pixels with the
shape rows, exactly as the postprocess maps detections, and box area is ``w * h`` (what a detector-only COCO
json records).
"""
from __future__ import annotations

import contextlib
import io
import logging
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ppocr.postprocess.objdet_postprocess import shape_rows
from ppocr.utils.arrays import as_numpy
from ppocr.utils.registry import METRICS, ConfigError

logger = logging.getLogger(__name__)

SUMMARY_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "ARmax1", "ARmax10", "ARmax100", "ARs", "ARm", "ARl")


def per_image(field: Any, count: int) -> List[np.ndarray]:
    if isinstance(field, (list, tuple)):
        items = [np.asarray(as_numpy(v)) for v in field]
    else:
        array = np.asarray(as_numpy(field))
        items = [array[i] for i in range(array.shape[0])]
    if len(items) != count:
        raise ValueError(f"batch field has {len(items)} entries for {count} images")
    return items


def coco_evaluate(gt: Dict[str, Any], detections: List[Dict[str, Any]],
                  class_names: Optional[Dict[int, str]] = None) -> Dict[str, float]:
    """Run pycocotools' COCOeval (bbox) on an in-memory ground-truth dict and result list.

    Returns the 12 summary figures and ``AP/<class>`` per category present in the ground truth
    (pycocotools' stdout goes to the debug log).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not gt["annotations"]:
        logger.warning("COCO evaluation: no ground-truth boxes; every figure is 0")
        return {key: 0.0 for key in SUMMARY_KEYS}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(detections) if detections else COCO()
        if not detections:
            coco_dt.dataset = {"images": gt["images"], "annotations": [], "categories": gt["categories"]}
            coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    logger.debug("pycocotools:\n%s", printed.getvalue())
    figures = {key: float(max(value, 0.0)) for key, value in zip(SUMMARY_KEYS, evaluator.stats)}
    precision = evaluator.eval["precision"]  # [iou, recall, class, area, max dets]
    for k, cat_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        if values.size:  # categories without ground truth have no AP
            figures[f"AP/{(class_names or {}).get(cat_id, str(cat_id))}"] = float(values.mean())
    return figures


@METRICS.register()
class COCODetMetric:
    """Accumulates detections (``EfficientDetPostProcess`` output) and ground truth; ``get_metric`` runs COCOeval.

    ``class_names`` lists category names in id order (id 1 first) for the per-class figures.
    """

    def __init__(self, main_indicator: str = "AP", class_names: Optional[List[str]] = None):
        if main_indicator not in SUMMARY_KEYS:
            raise ConfigError(f"main_indicator must be one of {', '.join(SUMMARY_KEYS)}, got {main_indicator!r}",
                              "Metric")
        self.main_indicator = main_indicator
        self.class_names = {i + 1: str(n) for i, n in enumerate(class_names or [])}
        self.reset()

    def reset(self) -> None:
        self.images: List[Dict[str, Any]] = []
        self.annotations: List[Dict[str, Any]] = []
        self.detections: List[Dict[str, Any]] = []
        self.seen_ids: set = set()

    def __call__(self, preds: List[Dict[str, Any]], batch: Sequence[Any]) -> None:
        if len(batch) < 4:
            raise ValueError("COCODetMetric: batch must be [image, shape, gt_boxes, gt_classes, gt_crowd, image_id], "
                             f"got {len(batch)} field(s)")
        count = len(preds)
        rows = shape_rows(batch[1], count)
        boxes = per_image(batch[2], count)
        classes = per_image(batch[3], count)
        crowd = per_image(batch[4], count) if len(batch) > 4 else [None] * count
        ids = per_image(batch[5], count) if len(batch) > 5 else [None] * count
        for pred, row, gt_boxes, gt_classes, gt_crowd, image_id in zip(preds, rows, boxes, classes, crowd, ids):
            self.add_image(pred, row, gt_boxes, gt_classes, gt_crowd, image_id)

    def add_image(self, pred: Dict[str, Any], row: Sequence[float], gt_boxes: np.ndarray, gt_classes: np.ndarray,
                  gt_crowd: Optional[np.ndarray], image_id: Any) -> None:
        image_id = int(np.asarray(image_id).reshape(-1)[0]) if image_id is not None else len(self.images) + 1
        if image_id in self.seen_ids:
            raise ValueError(f"COCODetMetric: image id {image_id} appears twice in one evaluation")
        self.seen_ids.add(image_id)
        src_h, src_w, scale_y, scale_x = [float(v) for v in row]
        self.images.append({"id": image_id, "height": src_h, "width": src_w})
        gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4) / [scale_x, scale_y, scale_x, scale_y]
        gt_classes = np.asarray(gt_classes).reshape(-1)
        gt_crowd = np.zeros(len(gt_classes)) if gt_crowd is None else np.asarray(gt_crowd).reshape(-1)
        for box, cls, is_crowd in zip(gt_boxes, gt_classes, gt_crowd):
            if cls <= 0:
                continue
            w, h = box[2] - box[0], box[3] - box[1]
            self.annotations.append({"id": len(self.annotations) + 1, "image_id": image_id, "category_id": int(cls),
                                     "bbox": [float(box[0]), float(box[1]), float(w), float(h)],
                                     "area": float(w * h), "iscrowd": int(is_crowd)})
        for box, score, cls in zip(pred["boxes"], pred["scores"], pred["classes"]):
            self.detections.append({"image_id": image_id, "category_id": int(cls), "score": float(score),
                                    "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]),
                                             float(box[3] - box[1])]})

    def get_metric(self) -> Dict[str, float]:
        cat_ids = sorted({a["category_id"] for a in self.annotations} | set(self.class_names))
        gt = {"images": self.images, "annotations": self.annotations,
              "categories": [{"id": c, "name": self.class_names.get(c, str(c))} for c in cat_ids]}
        figures = coco_evaluate(gt, self.detections, self.class_names)
        self.reset()
        return figures
