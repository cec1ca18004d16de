"""PaddleOCR's character dicts, made from their sources so ppocr can ship them at the paths PaddleOCR
configs name (``ppocr/utils/ppocr_keys_v1.txt`` ...).

- ``ppocr_keys_v1.txt``: the PP-OCR Chinese list, recorded in the packaged PP-OCRv4 rec model's ONNX
  metadata (key ``character``);
- ``en_dict.txt``: printable ASCII in PaddleOCR's order ('0'..'~', then '!'..'/', then the space);
- ``ic15_dict.txt``: digits and lower-case letters.

``tools/make_paddleocr_dicts.py`` writes them; the order matters, since class ids follow it.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, List

UTILS_DIR = os.path.dirname(os.path.abspath(__file__))


def ppocr_keys_v1() -> List[str]:
    """The characters of the packaged PP-OCRv4 recogniser (rapidocr_onnxruntime wheel), in class order."""
    import onnxruntime as ort

    from ppocr.infer.presets import default_model_paths

    path = default_model_paths("PP-OCRv4")["rec"]
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    text = session.get_modelmeta().custom_metadata_map.get("character")
    if not text:
        raise ValueError(f"{path} has no 'character' metadata")
    return text.split("\n")


def en_dict() -> List[str]:
    return [chr(code) for code in range(ord("0"), ord("~") + 1)] + \
        [chr(code) for code in range(ord("!"), ord("/") + 1)] + [" "]


def ic15_dict() -> List[str]:
    return [chr(code) for code in range(ord("0"), ord("9") + 1)] + \
        [chr(code) for code in range(ord("a"), ord("z") + 1)]


DICTS: Dict[str, Callable[[], List[str]]] = {
    "ppocr_keys_v1.txt": ppocr_keys_v1,
    "en_dict.txt": en_dict,
    "ic15_dict.txt": ic15_dict,
}


def write_dicts(out_dir: str = UTILS_DIR) -> List[str]:
    """Write every dict (one character per line, newline-terminated) to ``out_dir``; returns the paths."""
    from ppocr.utils.io import atomic_write

    written = []
    for name, make in DICTS.items():
        path = os.path.join(out_dir, name)
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write("\n".join(make()) + "\n")
        written.append(path)
    return written
