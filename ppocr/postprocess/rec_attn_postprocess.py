"""Turn attention-decoder outputs (and AttnLabelEncode labels) into text.

Classes follow ``AttnLabelEncode``: 0 = ``sos``, then the dict characters, last = ``eos``. The
decoder always runs a fixed number of steps; a prediction ends at its first ``eos``.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ppocr.data.imaug.rec_attn_label_ops import attention_character_list
from ppocr.utils.arrays import as_numpy
from ppocr.utils.character import load_character_list
from ppocr.utils.registry import POSTPROCESS


def _ids_to_text(ids: np.ndarray, character: Sequence[str]) -> Tuple[str, np.ndarray]:
    """Text of ``ids`` up to the first eos (sos ids skipped), and the positions kept."""
    eos = len(character) - 1
    stops = np.flatnonzero(ids == eos)
    end = int(stops[0]) if stops.size else len(ids)
    kept = np.flatnonzero(ids[:end] != 0)
    return "".join(character[i] for i in ids[kept]), kept


def attention_greedy_decode(probs: np.ndarray, character: Sequence[str]) -> List[Tuple[str, float]]:
    """N×S×C step probabilities → ``(text, score)``; score = mean probability of the kept characters
    (0.0 for an empty text)."""
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"expected attention probabilities of shape N×S×C, got shape {probs.shape}")
    if probs.shape[2] != len(character):
        raise ValueError(
            f"predictions have {probs.shape[2]} classes but the character list has {len(character)} "
            "(sos + dict + eos); check character_dict_path and use_space_char against the trained model")
    ids = probs.argmax(axis=2)
    best = np.take_along_axis(probs, ids[..., None], axis=2)[..., 0]
    results = []
    for row_ids, row_best in zip(ids, best):
        text, kept = _ids_to_text(row_ids, character)
        results.append((text, float(row_best[kept].mean()) if kept.size else 0.0))
    return results


def decode_attention_labels(label_ids: np.ndarray, character: Sequence[str]) -> List[Tuple[str, float]]:
    """N×L AttnLabelEncode labels (``sos`` text ``eos`` padding) → ``(text, 1.0)``."""
    label_ids = np.asarray(label_ids)
    if label_ids.ndim != 2:
        raise ValueError(f"expected label ids of shape N×L, got shape {label_ids.shape}")
    if label_ids.size and (label_ids.min() < 0 or label_ids.max() >= len(character)):
        raise ValueError(
            f"label ids must be in [0, {len(character) - 1}], got range [{label_ids.min()}, {label_ids.max()}]; "
            "was the label encoded with another dict?")
    return [(_ids_to_text(row[1:], character)[0], 1.0) for row in label_ids]


@POSTPROCESS.register()
class AttnLabelDecode:
    """Greedy attention decoding for ``PostProcess: {name: AttnLabelDecode}``.

    ``character`` is ``["sos"] + dict characters + ["eos"]``, the encoder's list; its length is
    the head's class count. ``dict_character`` (without sos/eos) is what an exported model records.
    """

    def __init__(self, character_dict_path: Optional[str] = None, use_space_char: bool = False):
        self.dict_character = load_character_list(character_dict_path, use_space_char)
        self.character = attention_character_list(self.dict_character)

    @staticmethod
    def _probabilities(preds: Any) -> np.ndarray:
        if isinstance(preds, dict):
            if "head_out" not in preds:
                raise ValueError(f"AttnLabelDecode needs 'head_out' in dict predictions, got keys {list(preds)}")
            preds = preds["head_out"]
        return as_numpy(preds)

    def __call__(self, preds: Any, batch: Optional[Sequence[Any]] = None):
        """``list[(text, score)]``, or ``(predictions, labels)`` when ``batch[1]`` holds label ids."""
        texts = attention_greedy_decode(self._probabilities(preds), self.character)
        if batch is None:
            return texts
        return texts, decode_attention_labels(as_numpy(batch[1]), self.character)
