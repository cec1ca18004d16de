from ppocr.utils.registry import HEADS, import_submodules

import_submodules(__name__)

__all__ = ["HEADS"]
