from typing import Any, Dict

from ppocr.utils.registry import METRICS, import_submodules

import_submodules(__name__)


def build_metric(config: Dict[str, Any]):
    return METRICS.build(config, where="Metric")
