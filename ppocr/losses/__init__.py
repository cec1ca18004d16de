from typing import Any, Dict

from ppocr.utils.registry import LOSSES, import_submodules

import_submodules(__name__)


def build_loss(config: Dict[str, Any]):
    return LOSSES.build(config, where="Loss")
