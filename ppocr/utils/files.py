"""Turning a user's ``--image_dir``/``infer_img`` argument into a list of input files."""
from __future__ import annotations

import os
from typing import List

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pdf")


def list_inputs(path: str, extensions=IMAGE_EXTENSIONS) -> List[str]:
    """A file, a folder (recursive, sorted) or a ``.txt`` list file (one path per line,
    relative paths resolved against the list's folder)."""
    if os.path.isdir(path):
        found = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith(extensions):
                    found.append(os.path.join(root, name))
        return found
    if os.path.isfile(path):
        if path.lower().endswith(".txt"):
            base = os.path.dirname(os.path.abspath(path))
            with open(path, encoding="utf-8") as f:
                lines = [line.strip().split("\t")[0] for line in f if line.strip()]
            return [line if os.path.isabs(line) else os.path.join(base, line) for line in lines]
        return [path]
    raise FileNotFoundError(f"input '{path}' is neither a file nor a folder")
