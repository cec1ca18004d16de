"""The character list a recogniser predicts over, shared by label encoders and decoders."""
from __future__ import annotations

import os
from typing import List, Optional

DEFAULT_CHARACTERS = "0123456789abcdefghijklmnopqrstuvwxyz"
DICT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dicts")


def resolve_dict_path(path: str) -> str:
    """Find a dict given as written, or by its file name among the packaged dicts."""
    if os.path.isfile(path):
        return path
    packaged = os.path.join(DICT_DIR, os.path.basename(path))
    if os.path.isfile(packaged):
        return packaged
    raise FileNotFoundError(f"character dict '{path}' not found (packaged dicts are in {DICT_DIR})")


def load_character_list(character_dict_path: Optional[str] = None, use_space_char: bool = False) -> List[str]:
    """Characters in dict order. Without a dict: digits and lower-case letters (case-insensitive training).

    One character per line; a line holding only a space counts as the space character. Duplicates
    are an error because they would make two class ids decode to the same text.
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
    if use_space_char and " " not in chars:
        chars.append(" ")
    return chars
