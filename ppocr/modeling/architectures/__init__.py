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
    as PaddleOCR does, unless the config sets it; a DistillationModel's sub-model heads get it too."""
    config = copy.deepcopy(config)
    classes = getattr(post_process, "character", None) or getattr(post_process, "label_list", None)
    if classes is None:
        return config
    models = config.get("Models")
    sections = [config] + (list(models.values()) if isinstance(models, dict) else [])
    for section in sections:
        head = section.get("Head") if isinstance(section, dict) else None
        if isinstance(head, dict) and head.get("out_channels") is None:
            head["out_channels"] = len(classes)
    return config
