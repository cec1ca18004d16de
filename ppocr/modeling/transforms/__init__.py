from ppocr.utils.registry import TRANSFORMS, import_submodules

import_submodules(__name__)

__all__ = ["TRANSFORMS"]
