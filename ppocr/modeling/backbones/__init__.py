import copy
from typing import Any, Dict, Optional

from ppocr.utils.registry import BACKBONES, import_submodules

import_submodules(__name__)

# PaddleOCR names its detection and recognition MobileNetV3 alike and tells them apart by model_type;
# here they are separate classes, and a det/cls config naming "MobileNetV3" means the detection one.
_DET_NAMES = {"MobileNetV3": "MobileNetV3Det"}


def resolve_backbone(model_type: str, config: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The Backbone section with PaddleOCR's det backbone name mapped to ours."""
    if not isinstance(config, dict) or model_type != "det" or config.get("name") not in _DET_NAMES:
        return config
    config = copy.deepcopy(config)
    config["name"] = _DET_NAMES[config["name"]]
    return config


__all__ = ["BACKBONES", "resolve_backbone"]
