"""Direction-classifier accuracy."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ppocr.utils.registry import METRICS


@METRICS.register()
class ClsMetric:
    """Share of crops whose predicted label equals the true one; accumulates until ``get_metric()``."""

    def __init__(self, main_indicator: str = "acc"):
        self.main_indicator = main_indicator
        self.reset()

    def __call__(self, post_result: Tuple[List[Tuple[Any, float]], List[Tuple[Any, float]]],
                 batch: Optional[Sequence[Any]] = None) -> Dict[str, float]:
        """Add a batch of ``(predictions, labels)``; returns this batch's accuracy."""
        if not isinstance(post_result, (tuple, list)) or len(post_result) != 2:
            raise ValueError("ClsMetric needs (predictions, labels) from a postprocess given the label batch")
        preds, labels = post_result
        if len(preds) != len(labels):
            raise ValueError(f"ClsMetric got {len(preds)} predictions for {len(labels)} labels")
        correct = sum(pred == label for (pred, _), (label, _) in zip(preds, labels))
        self.correct_num += correct
        self.all_num += len(preds)
        return {"acc": correct / len(preds) if preds else 0.0}

    def get_metric(self) -> Dict[str, float]:
        figures = {"acc": self.correct_num / self.all_num if self.all_num else 0.0}
        self.reset()
        return figures

    def reset(self) -> None:
        self.correct_num = 0
        self.all_num = 0
