"""Recognition label encoders: text → padded class-id array the losses consume."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

import numpy as np

from ppocr.utils.character import load_character_list
from ppocr.utils.registry import OPERATORS

logger = logging.getLogger(__name__)


class BaseRecLabelEncode:
    """Character table and text → id mapping shared by CTC and attention label encoders.

    Subclasses choose the special tokens through `add_special_char`; ids follow the order of
    `self.character`. Without a dict the text is lower-cased (the default table has no capitals),
    as PaddleOCR does; `lower` overrides that either way. Texts that cannot be encoded faithfully
    (empty, longer than `max_text_length`, or holding a character outside the table) are dropped
    and counted in `self.dropped`, because training on a silently altered label teaches wrong text.
    """

    def __init__(self, max_text_length: int, character_dict_path: Optional[str] = None,
                 use_space_char: bool = False, lower: Optional[bool] = None):
        if max_text_length < 1:
            raise ValueError(f"max_text_length must be at least 1, got {max_text_length}")
        self.max_text_len = max_text_length
        self.lower = (not character_dict_path) if lower is None else lower
        self.dict_character = load_character_list(character_dict_path, use_space_char)
        self.character = self.add_special_char(list(self.dict_character))
        known = set(self.dict_character)
        self.char_to_id = {ch: index for index, ch in enumerate(self.character) if ch in known}
        self.dropped = {"too_long": 0, "unknown_char": 0, "empty": 0}

    def add_special_char(self, dict_character: List[str]) -> List[str]:
        return dict_character

    @property
    def num_classes(self) -> int:
        return len(self.character)

    def _drop(self, reason: str, text: str) -> None:
        self.dropped[reason] += 1
        logger.debug("dropping label %r: %s", text, reason.replace("_", " "))

    def encode(self, text: str) -> Optional[List[int]]:
        """Class ids of `text`, or None (counted in `dropped`) when it cannot be encoded exactly."""
        if not isinstance(text, str):
            raise TypeError(f"label must be a str, got {type(text).__name__} {text!r}")
        if len(text) == 0:
            self._drop("empty", text)
            return None
        if len(text) > self.max_text_len:
            self._drop("too_long", text)
            return None
        if self.lower:
            text = text.lower()
        ids = [self.char_to_id.get(ch) for ch in text]
        if None in ids:
            self._drop("unknown_char", text)
            return None
        return ids


@OPERATORS.register()
class CTCLabelEncode(BaseRecLabelEncode):
    """`label` text → int64 ids padded with blank (0) to max_text_length; `length` = text length.

    Id 0 is the CTC blank and dict characters are 1..N, so decoders use `["blank"] + chars`.
    `label_ace` counts each class in the padded label (the blank slot counts the padding), the
    target of the ACE loss (PaddleOCR's key, so its configs can keep it in KeepKeys).
    """

    def __init__(self, max_text_length: int, character_dict_path: Optional[str] = None,
                 use_space_char: bool = False, lower: Optional[bool] = None):
        super().__init__(max_text_length, character_dict_path, use_space_char, lower)

    def add_special_char(self, dict_character: List[str]) -> List[str]:
        return ["blank"] + dict_character

    def __call__(self, data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        if "label" not in data:
            raise KeyError(f"CTCLabelEncode needs key 'label'; present keys: {', '.join(sorted(data))}")
        ids = self.encode(data["label"])
        if ids is None:
            return None
        label = np.zeros(self.max_text_len, dtype=np.int64)
        label[: len(ids)] = ids
        data["label"] = label
        data["length"] = np.array(len(ids), dtype=np.int64)
        data["label_ace"] = np.bincount(label, minlength=self.num_classes).astype(np.int64)
        return data
