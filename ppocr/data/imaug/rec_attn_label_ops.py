"""Label encoder for attention decoders: text → [sos, characters..., eos, padding]."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from ppocr.data.imaug.rec_label_ops import BaseRecLabelEncode
from ppocr.utils.registry import OPERATORS

SOS = "sos"
EOS = "eos"


def attention_character_list(dict_character: List[str]) -> List[str]:
    """Class list of attention models: ``sos`` (id 0, also the padding), the characters, ``eos`` (last id)."""
    return [SOS] + list(dict_character) + [EOS]


@OPERATORS.register()
class AttnLabelEncode(BaseRecLabelEncode):
    """`label` → int64 array of width max_text_length + 2: ``sos``, the text's ids, ``eos``, then 0s.

    `length` is the text length without the special tokens. Texts longer than max_text_length,
    empty or with characters outside the dict are dropped (counted in `dropped`).
    """

    def __init__(self, max_text_length: int, character_dict_path: Optional[str] = None,
                 use_space_char: bool = False, lower: Optional[bool] = None):
        super().__init__(max_text_length, character_dict_path, use_space_char, lower)

    def add_special_char(self, dict_character: List[str]) -> List[str]:
        return attention_character_list(dict_character)

    @property
    def eos_id(self) -> int:
        return len(self.character) - 1

    def __call__(self, data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        if "label" not in data:
            raise KeyError(f"AttnLabelEncode needs key 'label'; present keys: {', '.join(sorted(data))}")
        ids = self.encode(data["label"])
        if ids is None:
            return None
        label = np.zeros(self.max_text_len + 2, dtype=np.int64)
        label[1: len(ids) + 1] = ids
        label[len(ids) + 1] = self.eos_id
        data["label"] = label
        data["length"] = np.array(len(ids), dtype=np.int64)
        return data
