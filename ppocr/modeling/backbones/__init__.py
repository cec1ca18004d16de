from ppocr.utils.registry import BACKBONES, import_submodules

import_submodules(__name__)

__all__ = ["BACKBONES"]
