"""The character list a recogniser predicts over, shared by label encoders and decoders."""
from __future__ import annotations

import os
from typing import List, Optional

DEFAULT_CHARACTERS = "0123456789abcdefghijklmnopqrstuvwxyz"
UTILS_DIR = os.path.dirname(os.path.abspath(__file__))
DICT_DIR = os.path.join(UTILS_DIR, "dicts")
PACKAGE_DIR = os.path.dirname(UTILS_DIR)


def packaged_dicts() -> List[str]:
    """Dicts shipped with ppocr, as paths relative to the package (PaddleOCR's at its own paths)."""
    names = [f"ppocr/utils/{n}" for n in sorted(os.listdir(UTILS_DIR)) if n.endswith(".txt")]
    return names + [f"ppocr/utils/dicts/{n}" for n in sorted(os.listdir(DICT_DIR)) if n.endswith(".txt")]


def resolve_dict_path(path: str) -> str:
    """Find a dict given as written; else a PaddleOCR path (``ppocr/utils/...``) inside this package, from
    any working directory; else by its file name among ``ppocr/utils/dicts``."""
    if os.path.isfile(path):
        return path
    normalized = path.replace("\\", "/")
    if "ppocr/" in normalized:
        inside = os.path.join(PACKAGE_DIR, *normalized.split("ppocr/", 1)[1].split("/"))
        if os.path.isfile(inside):
            return inside
    packaged = os.path.join(DICT_DIR, os.path.basename(path))
    if os.path.isfile(packaged):
        return packaged
    raise FileNotFoundError(f"character dict '{path}' not found; ppocr ships {', '.join(packaged_dicts())}")


def load_character_list(character_dict_path: Optional[str] = None, use_space_char: bool = False) -> List[str]:
    """Characters in dict order. Without a dict: digits and lower-case letters (case-insensitive training).

    One character per line; a line holding only a space counts as the space character. Duplicates in
    the file are an error because they would make two class ids decode to the same text.
    """
    if not character_dict_path:
        chars = list(DEFAULT_CHARACTERS)
    else:
        path = resolve_dict_path(character_dict_path)
        chars = []
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    continue
                if len(line) != 1:
                    raise ValueError(f"{path}:{number}: expected one character per line, got {line!r}")
                chars.append(line)
        seen = set()
        for number, ch in enumerate(chars, 1):
            if ch in seen:
                raise ValueError(f"{path}: character {ch!r} appears twice")
            seen.add(ch)
    if use_space_char:
        # appended even when the dict has a space (PaddleOCR's en_dict.txt does): class counts match PaddleOCR's
        chars.append(" ")
    return chars
