"""Direction-classifier output → (label, score) per crop. Plain numpy, so inference needs no paddle here."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

from ppocr.data.imaug.cls_label_ops import checked_label_list
from ppocr.utils.arrays import as_numpy
from ppocr.utils.registry import POSTPROCESS

Label = Union[str, int]


@POSTPROCESS.register()
class ClsPostProcess:
    """Argmax class and its probability.

    ``label_list`` names the classes in head order; its length sets the head's class count. Without
    it the labels are the class indices (as PaddleOCR), and the head takes its count from class_dim.
    """

    def __init__(self, label_list: Optional[list] = None):
        self.label_list = None if label_list is None else checked_label_list(label_list, "PostProcess")

    def _label(self, index: int) -> Label:
        return self.label_list[index] if self.label_list is not None else index

    def __call__(self, preds: Any, batch: Optional[Sequence[Any]] = None):
        """``list[(label, score)]``, or ``(predictions, labels)`` when ``batch[1]`` holds class indices."""
        if isinstance(preds, dict):
            if "head_out" not in preds:
                raise ValueError(f"ClsPostProcess needs 'head_out' in dict predictions, got keys {list(preds)}")
            preds = preds["head_out"]
        probs = as_numpy(preds)
        if probs.ndim != 2:
            raise ValueError(f"expected class probabilities of shape N×C, got shape {probs.shape}")
        if self.label_list is not None and probs.shape[1] != len(self.label_list):
            raise ValueError(f"predictions have {probs.shape[1]} classes but label_list has {len(self.label_list)} "
                             f"({self.label_list}); check it against the trained model")
        ids = probs.argmax(axis=1)
        results: List[Tuple[Label, float]] = [(self._label(int(i)), float(probs[n, i])) for n, i in enumerate(ids)]
        if batch is None:
            return results
        label_ids = as_numpy(batch[1]).reshape(-1)
        if label_ids.size and (label_ids.min() < 0 or label_ids.max() >= probs.shape[1]):
            raise ValueError(f"label indices must be in [0, {probs.shape[1] - 1}], got range "
                             f"[{label_ids.min()}, {label_ids.max()}]")
        return results, [(self._label(int(i)), 1.0) for i in label_ids]
