"""Recognition accuracy: exact-match rate and 1 - mean normalised edit distance."""
from __future__ import annotations

import string
from typing import Any, Dict, List, Optional, Sequence, Tuple

from rapidfuzz.distance import Levenshtein

from ppocr.utils.registry import METRICS

_ALNUM = frozenset(string.digits + string.ascii_letters)


@METRICS.register()
class RecMetric:
    """Accumulates over batches; ``get_metric()`` reports and starts a new accumulation.

    ``is_filter`` compares only ASCII letters and digits, case-insensitively (the usual protocol
    for English benchmarks); ``ignore_space`` drops spaces before comparing.
    """

    def __init__(self, main_indicator: str = "acc", is_filter: bool = False, ignore_space: bool = True):
        self.main_indicator = main_indicator
        self.is_filter = is_filter
        self.ignore_space = ignore_space
        self.reset()

    def _normalize(self, text: str) -> str:
        if self.ignore_space:
            text = text.replace(" ", "")
        if self.is_filter:
            text = "".join(ch for ch in text if ch in _ALNUM).lower()
        return text

    @staticmethod
    def _figures(correct: int, edit_distance: float, count: int) -> Dict[str, float]:
        if count == 0:
            return {"acc": 0.0, "norm_edit_dis": 0.0}
        return {"acc": correct / count, "norm_edit_dis": 1.0 - edit_distance / count}

    def __call__(
        self,
        post_result: Tuple[List[Tuple[str, float]], List[Tuple[str, float]]],
        batch: Optional[Sequence[Any]] = None,
    ) -> Dict[str, float]:
        """Add a batch of ``(predictions, labels)`` and return the figures of this batch alone."""
        if not isinstance(post_result, (tuple, list)) or len(post_result) != 2:
            raise ValueError("RecMetric needs (predictions, labels) from a postprocess given the label batch")
        preds, labels = post_result
        if len(preds) != len(labels):
            raise ValueError(f"RecMetric got {len(preds)} predictions for {len(labels)} labels")
        correct, distance = 0, 0.0
        for (pred, _), (label, _) in zip(preds, labels):
            pred, label = self._normalize(pred), self._normalize(label)
            distance += Levenshtein.normalized_distance(pred, label)
            correct += pred == label
        self.correct_num += correct
        self.edit_distance += distance
        self.all_num += len(preds)
        return self._figures(correct, distance, len(preds))

    def get_metric(self) -> Dict[str, float]:
        figures = self._figures(self.correct_num, self.edit_distance, self.all_num)
        self.reset()
        return figures

    def reset(self) -> None:
        self.correct_num = 0
        self.edit_distance = 0.0
        self.all_num = 0
