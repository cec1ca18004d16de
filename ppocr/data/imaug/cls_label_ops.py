"""Direction-classifier label encoder: angle label text ("0", "180") → class index."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

import numpy as np

from ppocr.utils.registry import OPERATORS, ConfigError

logger = logging.getLogger(__name__)


def checked_label_list(label_list: Any, where: str) -> List[str]:
    """Labels as strings (label files hold text, YAML may give numbers); empty or repeated lists are errors."""
    if not isinstance(label_list, (list, tuple)) or not label_list:
        raise ConfigError(f"must be a non-empty list such as ['0', '180'], got {label_list!r}", f"{where}.label_list")
    labels = [str(v) for v in label_list]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"has repeated labels: {labels}", f"{where}.label_list")
    return labels


@OPERATORS.register()
class ClsLabelEncode:
    """`label` text → int64 index into `label_list`.

    An item whose label is not in the list is dropped (returns None) and counted in `dropped`:
    guessing a class for it would teach the model a wrong orientation.
    """

    def __init__(self, label_list: list):
        self.label_list = checked_label_list(label_list, "ClsLabelEncode")
        self.label_to_id = {label: index for index, label in enumerate(self.label_list)}
        self.dropped = 0

    def __call__(self, data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        if "label" not in data:
            raise KeyError(f"ClsLabelEncode needs key 'label'; present keys: {', '.join(sorted(data))}")
        label = str(data["label"]).strip()
        index = self.label_to_id.get(label)
        if index is None:
            self.dropped += 1
            logger.debug("dropping label %r: not in label_list %s", label, self.label_list)
            return None
        data["label"] = np.array(index, dtype=np.int64)
        return data
