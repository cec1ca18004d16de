"""The character list a recogniser predicts over, shared by label encoders and decoders."""
from __future__ import annotations

import codecs
import os
from typing import Dict, List, Optional

from ppocr.utils.errors import CharacterDictError

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

    One character per line; a line holding only a space counts as the space character and empty lines
    are skipped. A bad file raises CharacterDictError naming the file and line: duplicates would make two
    class ids decode to the same text, and a line of two characters would be one class that never matches.
    """
    if not character_dict_path:
        chars = list(DEFAULT_CHARACTERS)
    else:
        chars = read_character_dict(resolve_dict_path(character_dict_path))
    if use_space_char:
        # appended even when the dict has a space (PaddleOCR's en_dict.txt does): class counts match PaddleOCR's
        chars.append(" ")
    return chars


def read_character_dict(path: str) -> List[str]:
    """The characters of a dict file, checked line by line (a UTF-8 byte-order mark is allowed)."""
    first_line: Dict[str, int] = {}
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise CharacterDictError(f"character dict {path}:{number}: not UTF-8 (byte 0x{raw[err.start]:02x} "
                                         f"at byte {err.start + 1} of the line)") from None
            if line == "":
                continue
            if len(line) != 1:
                raise CharacterDictError(f"character dict {path}:{number}: expected one character per line, "
                                         f"got {line!r}")
            if line in first_line:
                raise CharacterDictError(f"character dict {path}:{number}: character {line!r} appears twice "
                                         f"(first on line {first_line[line]})")
            first_line[line] = number
    if not first_line:
        raise CharacterDictError(f"character dict {path} has no characters")
    return list(first_line)
