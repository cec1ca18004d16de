"""ICDAR 2015 ground truth (``gt_img_N.txt``: ``x1,y1,...,x4,y4,text`` per line) → PaddleOCR det labels."""
from __future__ import annotations

import json
import logging
import os
import re
from typing import Dict, List, Tuple

from ppocr.data.errors import DataError
from ppocr.utils.files import IMAGE_EXTENSIONS
from ppocr.utils.io import atomic_write

logger = logging.getLogger(__name__)

_GT_NAME = re.compile(r"^gt_(.+)\.txt$")


def read_icdar2015_gt(path: str) -> List[Dict]:
    """Annotations of one GT file; the text may itself contain commas. ``###`` marks don't-care."""
    annotations = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(",", 8)
            if len(parts) < 9:
                raise DataError(f"{path}:{number}: expected 8 coordinates and a text, got {line!r}")
            try:
                coords = [int(round(float(v))) for v in parts[:8]]
            except ValueError:
                raise DataError(f"{path}:{number}: coordinates must be numbers, got {parts[:8]}") from None
            points = [[coords[i], coords[i + 1]] for i in range(0, 8, 2)]
            annotations.append({"transcription": parts[8], "points": points})
    return annotations


def _find_image(image_dir: str, stem: str) -> str:
    for ext in IMAGE_EXTENSIONS:
        for candidate in (stem + ext, stem + ext.upper()):
            if os.path.isfile(os.path.join(image_dir, candidate)):
                return candidate
    return ""


def convert_icdar2015(gt_dir: str, image_dir: str, out_file: str, image_prefix: str = "") -> Tuple[int, int]:
    """Write one label line per image that has a GT file. Returns (images written, GT files without image)."""
    if not os.path.isdir(gt_dir):
        raise DataError(f"GT folder '{gt_dir}' not found")
    if not os.path.isdir(image_dir):
        raise DataError(f"image folder '{image_dir}' not found")
    names = sorted(n for n in os.listdir(gt_dir) if _GT_NAME.match(n))
    if not names:
        raise DataError(f"no gt_*.txt files in '{gt_dir}'")
    written = missing = 0
    with atomic_write(out_file) as out:
        for name in names:
            stem = _GT_NAME.match(name).group(1)
            image = _find_image(image_dir, stem)
            if not image:
                logger.warning("no image for %s in %s; skipped", name, image_dir)
                missing += 1
                continue
            annotations = read_icdar2015_gt(os.path.join(gt_dir, name))
            out.write(f"{image_prefix}{image}\t{json.dumps(annotations, ensure_ascii=False)}\n")
            written += 1
    return written, missing
