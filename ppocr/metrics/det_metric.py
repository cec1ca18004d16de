"""Detection metric for the eval loop: ICDAR 2015 precision / recall / hmean over a dataset."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

from ppocr.metrics.iou_matching import match_detections, summarize
from ppocr.utils.registry import METRICS


def _to_numpy(value: Any) -> Any:
    return value.numpy() if hasattr(value, "numpy") else value


@METRICS.register()
class DetMetric:
    """Accumulates matched / care-GT / care-detection counts; ``get_metric`` divides and resets.

    ``preds`` is DBPostProcess output (one ``{"points": ...}`` per image); ``batch`` the det eval
    KeepKeys order ``[image, shape_list, polys, ignore_tags]``.
    """

    def __init__(self, main_indicator: str = "hmean"):
        self.main_indicator = main_indicator
        self.reset()

    def reset(self) -> None:
        self.matched = 0
        self.gt_care = 0
        self.det_care = 0

    def __call__(self, preds: List[Dict[str, Any]], batch: Sequence[Any]) -> None:
        if len(batch) < 4:
            raise ValueError(
                f"DetMetric: batch must be [image, shape_list, polys, ignore_tags], got {len(batch)} item(s)"
            )
        gt_batch, ignore_batch = _to_numpy(batch[2]), _to_numpy(batch[3])
        if not (len(preds) == len(gt_batch) == len(ignore_batch)):
            raise ValueError(
                f"DetMetric: {len(preds)} predictions, {len(gt_batch)} polygon sets, "
                f"{len(ignore_batch)} ignore-tag sets"
            )
        for pred, gt_polys, ignore_tags in zip(preds, gt_batch, ignore_batch):
            ignore = np.asarray(ignore_tags).reshape(-1).tolist()
            result = match_detections(list(gt_polys), list(pred["points"]), ignore)
            self.matched += result.matched
            self.gt_care += result.gt_care
            self.det_care += result.det_care

    def get_metric(self) -> Dict[str, float]:
        figures = summarize(self.matched, self.gt_care, self.det_care)
        self.reset()
        return figures
