import copy
from typing import Any, Dict

from ppocr.utils.registry import ARCHITECTURES, import_submodules

import_submodules(__name__)


def build_model(config: Dict[str, Any]):
    """Build the Architecture section; without a ``name`` it is a plain BaseModel."""
    config = copy.deepcopy(config)
    config.setdefault("name", "BaseModel")
    return ARCHITECTURES.build(config, where="Architecture")


def with_class_count(config: Dict[str, Any], post_process: Any) -> Dict[str, Any]:
    """Give a recognition/classification head its class count from the postprocess character list,
    as PaddleOCR does, unless the config sets it."""
    config = copy.deepcopy(config)
    head = config.get("Head")
    classes = getattr(post_process, "character", None) or getattr(post_process, "label_list", None)
    if isinstance(head, dict) and classes is not None and head.get("out_channels") is None:
        head["out_channels"] = len(classes)
    return config
