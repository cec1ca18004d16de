"""Turn CTC recognizer outputs (and padded label ids) into text.

Class 0 is the CTC blank and dict characters are classes 1..N, the same order ``CTCLabelEncode``
writes. The decoding functions are plain numpy so inference can use them without paddle.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ppocr.utils.arrays import as_numpy
from ppocr.utils.character import load_character_list
from ppocr.utils.registry import POSTPROCESS

BLANK = "blank"


def ctc_greedy_decode(probs: np.ndarray, character: Sequence[str]) -> List[Tuple[str, float]]:
    """Best-path decoding of N×T×C class probabilities: argmax, merge repeats, drop blanks.

    The score is the mean probability of the kept characters (0.0 for an empty result), so a
    confident blank-only line does not look like a confident word.
    """
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"expected CTC probabilities of shape N×T×C, got shape {probs.shape}")
    if probs.shape[2] != len(character):
        raise ValueError(
            f"predictions have {probs.shape[2]} classes but the character list has {len(character)} "
            "(blank + dict); check character_dict_path and use_space_char against the trained model"
        )
    ids = probs.argmax(axis=2)
    best = np.take_along_axis(probs, ids[..., None], axis=2)[..., 0]
    keep = ids != 0
    keep[:, 1:] &= ids[:, 1:] != ids[:, :-1]
    results = []
    for row_ids, row_best, row_keep in zip(ids, best, keep):
        kept = row_ids[row_keep]
        text = "".join(character[i] for i in kept)
        score = float(row_best[row_keep].mean()) if kept.size else 0.0
        results.append((text, score))
    return results


def decode_label_ids(label_ids: np.ndarray, character: Sequence[str]) -> List[Tuple[str, float]]:
    """N×L padded label ids (0 = padding) to ``(text, 1.0)``; repeats are real characters here."""
    label_ids = np.asarray(label_ids)
    if label_ids.ndim != 2:
        raise ValueError(f"expected label ids of shape N×L, got shape {label_ids.shape}")
    if label_ids.size and (label_ids.min() < 0 or label_ids.max() >= len(character)):
        raise ValueError(
            f"label ids must be in [0, {len(character) - 1}], got range "
            f"[{label_ids.min()}, {label_ids.max()}]; was the label encoded with another dict?"
        )
    return [("".join(character[i] for i in row[row != 0]), 1.0) for row in label_ids]


@POSTPROCESS.register()
class CTCLabelDecode:
    """Greedy CTC decoding for ``PostProcess: {name: CTCLabelDecode}``.

    ``character`` is ``["blank"] + dict characters``; its length is the head's class count.
    """

    def __init__(self, character_dict_path: Optional[str] = None, use_space_char: bool = False):
        self.character = [BLANK] + load_character_list(character_dict_path, use_space_char)

    @staticmethod
    def _probabilities(preds: Any) -> np.ndarray:
        if isinstance(preds, dict) and "head_out" in preds:
            preds = preds["head_out"]
        if isinstance(preds, dict) and "ctc" in preds:  # MultiHead while training
            preds = preds["ctc"]
        if isinstance(preds, dict):
            raise ValueError(f"CTCLabelDecode needs 'head_out' or 'ctc' in dict predictions, got keys {list(preds)}")
        if isinstance(preds, (tuple, list)):
            preds = preds[-1]
        return as_numpy(preds)

    def __call__(self, preds: Any, batch: Optional[Sequence[Any]] = None):
        """``list[(text, score)]``, or ``(predictions, labels)`` when ``batch[1]`` holds label ids."""
        texts = ctc_greedy_decode(self._probabilities(preds), self.character)
        if batch is None:
            return texts
        return texts, decode_label_ids(as_numpy(batch[1]), self.character)
