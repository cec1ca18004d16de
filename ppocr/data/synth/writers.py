"""Whole synthetic datasets on disk, in the label formats PaddleOCR's loaders read.

Sample ``i`` of a dataset is drawn from its own generator seeded with ``(seed, i)``, so a dataset is reproducible
sample by sample and growing ``num`` keeps the samples already made.
"""
from __future__ import annotations

import json
import logging
import os
import string
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from tqdm import tqdm

from ppocr.data.lmdb_writer import write_lmdb
from ppocr.data.synth.corpus import TextSampler, load_charset
from ppocr.data.synth.fonts import fonts_for_charset
from ppocr.data.synth.pages import IGNORE_TEXT, default_page_sampler, render_page
from ppocr.data.synth.text_line import random_text_line
from ppocr.utils.io import atomic_write

logger = logging.getLogger(__name__)

REC_LABEL_FILE = "rec_gt.txt"
CLS_LABEL_FILE = "cls_gt.txt"
DET_LABEL_FILE = "det_gt.txt"
IMAGE_DIR = "images"
LMDB_DIR = "lmdb"
CLS_CHARSET = string.ascii_letters + string.digits + " .,:-'!?"
Summary = Dict[str, Union[int, str]]


def sample_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def encode_image(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, buffer = cv2.imencode(ext, image, [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == ".jpg" else [])
    if not ok:
        raise RuntimeError(f"could not encode a {image.shape} image as {ext}")
    return buffer.tobytes()


def _check_common(num: int, seed: int, fmt: str, formats: Tuple[str, ...]) -> None:
    if not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"num: expected a positive integer, got {num!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    if fmt not in formats:
        raise ValueError(f"fmt: expected one of {formats}, got {fmt!r}")


def _write_samples(out_dir: str, samples: Iterator[Tuple[str, np.ndarray, str]], fmt: str, label_file: str,
                   num: int, desc: str, progress: bool) -> Summary:
    """Store ``(file name, image, label)`` samples as image files plus a label file, or as one LMDB."""
    bar = tqdm(samples, total=num, desc=desc, unit="img", disable=not progress)
    if fmt == "lmdb":
        path = os.path.join(out_dir, LMDB_DIR)
        count = write_lmdb(path, ((encode_image(image), label) for _, image, label in bar))
        logger.info("wrote %d samples to %s", count, path)
        return {"count": count, "lmdb": path}
    os.makedirs(os.path.join(out_dir, IMAGE_DIR), exist_ok=True)
    lines: List[str] = []
    for name, image, label in bar:
        relative = f"{IMAGE_DIR}/{name}"
        with open(os.path.join(out_dir, relative), "wb") as f:
            f.write(encode_image(image, os.path.splitext(name)[1]))
        lines.append(f"{relative}\t{label}\n")
    path = os.path.join(out_dir, label_file)
    with atomic_write(path) as f:
        f.writelines(lines)
    logger.info("wrote %d samples and %s", len(lines), path)
    return {"count": len(lines), "label_file": path}


def make_rec_dataset(out_dir: str, num: int, charset: Union[str, Sequence[str], None] = None,
                     fonts: Optional[Sequence[str]] = None, seed: int = 0, height: int = 32, fmt: str = "files",
                     length: Tuple[int, int] = (3, 10), words: Tuple[int, int] = (1, 1),
                     progress: bool = False) -> Summary:
    """Recognition crops labelled with their text: ``images/word_000001.png`` + ``rec_gt.txt`` (fmt "files")
    or ``<out_dir>/lmdb`` (fmt "lmdb"). ``charset``: characters, a dict file or a packaged dict name."""
    _check_common(num, seed, fmt, ("files", "lmdb"))
    sampler = TextSampler(charset, length=length, words=words)
    usable = fonts_for_charset(sampler.chars, fonts)

    def samples() -> Iterator[Tuple[str, np.ndarray, str]]:
        for index in range(num):
            rng = sample_rng(seed, index)
            text = sampler(rng)
            yield f"word_{index + 1:06d}.png", random_text_line(text, usable, rng, height), text

    return _write_samples(out_dir, samples(), fmt, REC_LABEL_FILE, num, "rec", progress)


def make_cls_dataset(out_dir: str, num: int, charset: Union[str, Sequence[str], None] = CLS_CHARSET,
                     fonts: Optional[Sequence[str]] = None, seed: int = 0, height: int = 48, fmt: str = "files",
                     progress: bool = False) -> Summary:
    """Direction-classifier crops: each text line upright (label "0") followed by the same crop turned
    180° (label "180"), so both classes are balanced and differ only in orientation."""
    _check_common(num, seed, fmt, ("files", "lmdb"))
    chars = load_charset(charset)
    sampler = TextSampler(chars, length=(2, 8), words=(1, 3) if " " in chars else (1, 1))
    usable = fonts_for_charset(sampler.chars, fonts)

    def samples() -> Iterator[Tuple[str, np.ndarray, str]]:
        for index in range(num):
            if index % 2 == 0:
                rng = sample_rng(seed, index // 2)
                upright = random_text_line(sampler(rng), usable, rng, height)
                image, label = upright, "0"
            else:
                image, label = cv2.rotate(upright, cv2.ROTATE_180), "180"
            yield f"cls_{index + 1:06d}.png", image, label

    return _write_samples(out_dir, samples(), fmt, CLS_LABEL_FILE, num, "cls", progress)


def make_det_dataset(out_dir: str, num: int, seed: int = 0, size: Union[int, Tuple[int, int]] = (640, 640),
                     fmt: str = "jpg", num_lines: Tuple[int, int] = (3, 10), fonts: Optional[Sequence[str]] = None,
                     ignore_ratio: float = 0.1, progress: bool = False) -> Summary:
    """Detection pages as ``images/img_000001.jpg`` (fmt "jpg" or "png") plus ``det_gt.txt`` with PaddleOCR's
    ``path<TAB>[{"transcription": ..., "points": [[x, y] * 4]}]`` lines."""
    _check_common(num, seed, fmt, ("jpg", "png"))
    page_size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    sampler = default_page_sampler()
    usable = fonts_for_charset(sampler.chars, fonts)
    totals = {"lines": 0, "ignored": 0}

    def samples() -> Iterator[Tuple[str, np.ndarray, str]]:
        for index in range(num):
            image, annotations = render_page(sample_rng(seed, index), size=page_size, num_lines=num_lines,
                                             fonts=usable, sampler=sampler, ignore_ratio=ignore_ratio)
            totals["lines"] += len(annotations)
            totals["ignored"] += sum(a["transcription"] == IGNORE_TEXT for a in annotations)
            yield f"img_{index + 1:06d}.{fmt}", image, json.dumps(annotations, ensure_ascii=False)

    summary = _write_samples(out_dir, samples(), "files", DET_LABEL_FILE, num, "det", progress)
    summary.update(totals)
    return summary
