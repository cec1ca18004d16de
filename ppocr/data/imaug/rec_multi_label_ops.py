"""Label encoders of PP-OCRv3/v4's multi-head recognisers: one text → CTC labels and SAR or NRTR labels."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from ppocr.data.imaug.rec_label_ops import BaseRecLabelEncode, CTCLabelEncode
from ppocr.utils.registry import OPERATORS, ConfigError

NRTR_SPECIALS = ["blank", "<unk>", "<s>", "</s>"]
NRTR_START, NRTR_END = 2, 3
SAR_UNKNOWN, SAR_BOUNDARY, SAR_PADDING = "<UKN>", "<BOS/EOS>", "<PAD>"


class _BoundedEncode(BaseRecLabelEncode):
    """Start + text + end must fit in ``max_text_length`` ids: longer texts are dropped (counted as too_long)."""

    def _ids(self, data: Dict[str, Any], owner: str) -> Optional[List[int]]:
        if "label" not in data:
            raise KeyError(f"{owner} needs key 'label'; present keys: {', '.join(sorted(data))}")
        ids = self.encode(data["label"])
        if ids is not None and len(ids) >= self.max_text_len - 1:
            self._drop("too_long", data["label"])
            return None
        return ids


@OPERATORS.register()
class SARLabelEncode(_BoundedEncode):
    """Ids over ``characters + [<UKN>, <BOS/EOS>, <PAD>]``: ``[boundary] + text + [boundary]``, padded with
    ``<PAD>`` to ``max_text_length``; ``length`` is the text length."""

    def __init__(self, max_text_length: int, character_dict_path: Optional[str] = None,
                 use_space_char: bool = False, lower: Optional[bool] = None):
        super().__init__(max_text_length, character_dict_path, use_space_char, lower)

    def add_special_char(self, dict_character: List[str]) -> List[str]:
        return dict_character + [SAR_UNKNOWN, SAR_BOUNDARY, SAR_PADDING]

    def __call__(self, data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        ids = self._ids(data, type(self).__name__)
        if ids is None:
            return None
        boundary, padding = len(self.character) - 2, len(self.character) - 1
        label = np.full(self.max_text_len, padding, dtype=np.int64)
        label[: len(ids) + 2] = [boundary] + ids + [boundary]
        data["label"] = label
        data["length"] = np.array(len(ids), dtype=np.int64)
        return data


@OPERATORS.register()
class NRTRLabelEncode(_BoundedEncode):
    """Ids over ``[blank, <unk>, <s>, </s>] + characters``: ``[<s>] + text + [</s>]``, padded with 0 to
    ``max_text_length``; ``length`` is the text length."""

    def __init__(self, max_text_length: int, character_dict_path: Optional[str] = None,
                 use_space_char: bool = False, lower: Optional[bool] = None):
        super().__init__(max_text_length, character_dict_path, use_space_char, lower)

    def add_special_char(self, dict_character: List[str]) -> List[str]:
        return NRTR_SPECIALS + dict_character

    def __call__(self, data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        ids = self._ids(data, type(self).__name__)
        if ids is None:
            return None
        label = np.zeros(self.max_text_len, dtype=np.int64)
        label[: len(ids) + 2] = [NRTR_START] + ids + [NRTR_END]
        data["label"] = label
        data["length"] = np.array(len(ids), dtype=np.int64)
        return data


_GTC_ENCODERS = {"SARLabelEncode": SARLabelEncode, "NRTRLabelEncode": NRTRLabelEncode}


@OPERATORS.register()
class MultiLabelEncode:
    """``label`` → ``label_ctc`` (CTCLabelEncode) plus ``label_sar`` (SARLabelEncode, the default) or
    ``label_gtc`` (``gtc_encode: NRTRLabelEncode``); ``length`` is the CTC length. A text either encoder
    rejects drops the sample. Keys other than ``label`` pass through."""

    def __init__(self, max_text_length: int, character_dict_path: Optional[str] = None,
                 use_space_char: bool = False, gtc_encode: Optional[str] = None, lower: Optional[bool] = None):
        if gtc_encode is not None and gtc_encode not in _GTC_ENCODERS:
            raise ConfigError(f"key 'gtc_encode' of MultiLabelEncode must be one of {sorted(_GTC_ENCODERS)} or "
                              f"null (SAR), got {gtc_encode!r}")
        self.ctc_encode = CTCLabelEncode(max_text_length, character_dict_path, use_space_char, lower)
        encoder = _GTC_ENCODERS[gtc_encode or "SARLabelEncode"]
        self.gtc_encode = encoder(max_text_length, character_dict_path, use_space_char, lower)
        self.gtc_key = "label_sar" if gtc_encode is None else "label_gtc"

    @property
    def dropped(self) -> Dict[str, int]:
        merged = dict(self.ctc_encode.dropped)
        for reason, count in self.gtc_encode.dropped.items():
            merged[reason] = merged.get(reason, 0) + count
        return merged

    def __call__(self, data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        if "label" not in data:
            raise KeyError(f"MultiLabelEncode needs key 'label'; present keys: {', '.join(sorted(data))}")
        text = data["label"]
        ctc = self.ctc_encode({"label": text})
        if ctc is None:
            return None
        gtc = self.gtc_encode({"label": text})
        if gtc is None:
            return None
        out = {key: value for key, value in data.items() if key != "label"}
        out["label_ctc"] = ctc["label"]
        out[self.gtc_key] = gtc["label"]
        out["length"] = ctc["length"]
        return out
