from ppocr.utils.registry import NECKS, import_submodules

import_submodules(__name__)

__all__ = ["NECKS"]
