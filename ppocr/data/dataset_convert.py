"""Recognition datasets → LMDB (TAO OCRNet's ``dataset_convert``), with a report of every rejected line.

Two inputs are understood:

* a TAO folder: ``images/``, ``gt_list.txt`` with ``image_name label`` per line (split at the first
  tab, else the first space, so labels may hold spaces) and ``characters_list.txt``, one character
  per line;
* a PaddleOCR recognition label file, ``image_path\\tlabel`` per line, paths relative to ``data_dir``.

The LMDB (``<results_dir>/<tag>``, PaddleOCR layout, read by ``LMDBDataSet``) keeps each image's
original bytes. Lines that would not train as written are left out and listed in
``<results_dir>/<tag>_warnings.json``: missing or undecodable images, empty labels, labels with
characters outside the character list, labels longer than ``max_label_length``, and lines without
a label; each such line is listed once, under the first problem found (labels are checked before
the image is read). Both outputs appear only when complete.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Dict, Iterator, List, Optional, Tuple

from ppocr.data.errors import DataError
from ppocr.data.imaug.operators import decode_image_bytes
from ppocr.data.lmdb_writer import write_lmdb
from ppocr.utils.character import load_character_list
from ppocr.utils.io import atomic_write, ensure_output_dir

logger = logging.getLogger(__name__)

TAO_IMAGE_DIR = "images"
TAO_GT_FILE = "gt_list.txt"
TAO_CHARACTER_FILE = "characters_list.txt"
WARNING_KINDS = ("malformed_line", "missing_image", "unreadable_image", "empty_label", "unknown_char", "too_long")


@dataclasses.dataclass
class LabelLine:
    """One non-blank line of a label file; ``image`` is None when the line has no label separator."""

    number: int
    text: str
    image: Optional[str]
    label: str


@dataclasses.dataclass
class ConvertResult:
    lmdb_dir: str
    warnings_file: str
    written: int
    skipped: Dict[str, int]


def _require_file(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise DataError(f"{what} '{path}' not found")


def _require_dir(path: str, what: str) -> None:
    if not os.path.isdir(path):
        raise DataError(f"{what} '{path}' not found")


def read_label_lines(path: str, tab_only: bool) -> Iterator[LabelLine]:
    """Lines of a label file: split at the first tab, or (``tab_only=False``) else the first space."""
    with open(path, encoding="utf-8-sig") as f:
        for number, raw in enumerate(f, 1):
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            sep = "\t" if "\t" in text or tab_only else " "
            image, found, label = text.partition(sep)
            yield LabelLine(number, text, image if found and image else None, label)


class _Warnings:
    def __init__(self):
        self.items: Dict[str, List[dict]] = {kind: [] for kind in WARNING_KINDS}

    def add(self, kind: str, line: LabelLine, **details) -> None:
        if kind == "malformed_line":
            self.items[kind].append({"line": line.number, "text": line.text})
        else:
            self.items[kind].append({"line": line.number, "image": line.image, "label": line.label, **details})

    def counts(self) -> Dict[str, int]:
        return {kind: len(entries) for kind, entries in self.items.items()}


def _check_label(label: str, charset: Optional[set], max_label_length: int) -> Tuple[Optional[str], dict]:
    if not label:
        return "empty_label", {}
    if charset is not None:
        unknown = sorted({ch for ch in label if ch not in charset})
        if unknown:
            return "unknown_char", {"chars": unknown}
    if len(label) > max_label_length:
        return "too_long", {"length": len(label), "max_label_length": max_label_length}
    return None, {}


def _read_image(path: str) -> Tuple[Optional[bytes], Optional[str], dict]:
    """``(bytes, None, {})`` for a decodable image, else ``(None, warning kind, details)``."""
    if not os.path.isfile(path):
        return None, "missing_image", {"path": path}
    with open(path, "rb") as f:
        data = f.read()
    try:
        decode_image_bytes(data, "BGR")
    except ValueError as err:
        return None, "unreadable_image", {"path": path, "error": str(err)}
    return data, None, {}


def convert_label_lines(lines: List[LabelLine], image_root: str, results_dir: str, tag: str,
                        characters: Optional[List[str]], max_label_length: int,
                        source: str, show_progress: bool = True) -> ConvertResult:
    """Write the usable lines to ``<results_dir>/<tag>`` and every rejected one to the warnings file."""
    from tqdm import tqdm

    if max_label_length < 1:
        raise DataError(f"max_label_length must be at least 1, got {max_label_length}")
    ensure_output_dir(results_dir, "results_dir")
    lmdb_dir = os.path.join(results_dir, tag)
    warnings_file = os.path.join(results_dir, f"{tag}_warnings.json")
    charset = set(characters) if characters is not None else None
    warnings = _Warnings()

    def samples() -> Iterator[Tuple[bytes, str]]:
        written = 0
        for line in tqdm(lines, desc=f"dataset_convert {tag}", unit="img", disable=not show_progress):
            if line.image is None:
                warnings.add("malformed_line", line)
                continue
            kind, details = _check_label(line.label, charset, max_label_length)
            if kind is None:
                data, kind, details = _read_image(os.path.join(image_root, line.image))
            if kind is not None:
                warnings.add(kind, line, **details)
                continue
            written += 1
            yield data, line.label
        if not written:
            # aborts the LMDB write, so no empty database replaces an earlier one
            raise DataError(f"no usable sample in {source} ({len(lines)} lines); see {warnings_file}")

    try:
        written = write_lmdb(lmdb_dir, samples())
    except DataError:
        _write_warnings(warnings_file, source, lmdb_dir, len(lines), 0, warnings)
        raise
    _write_warnings(warnings_file, source, lmdb_dir, len(lines), written, warnings)
    counts = warnings.counts()
    skipped = sum(counts.values())
    if skipped:
        logger.warning("%s: left out %d of %d lines (%s); listed in %s", source, skipped, len(lines),
                       ", ".join(f"{k}: {v}" for k, v in counts.items() if v), warnings_file)
    logger.info("wrote %d samples to %s", written, lmdb_dir)
    return ConvertResult(lmdb_dir, warnings_file, written, counts)


def _write_warnings(path: str, source: str, lmdb_dir: str, lines: int, written: int, warnings: _Warnings) -> None:
    counts = warnings.counts()
    report = {"source": source, "output": lmdb_dir, "lines": lines, "written": written,
              "skipped": sum(counts.values()), "counts": counts, "items": warnings.items}
    with atomic_write(path) as f:
        json.dump(report, f, ensure_ascii=False, indent=1)


def convert_tao_dataset(results_dir: str, dataset_dir: Optional[str] = None, input_img_dir: Optional[str] = None,
                        gt_file: Optional[str] = None, character_list_file: Optional[str] = None,
                        max_label_length: int = 25, tag: Optional[str] = None,
                        show_progress: bool = True) -> ConvertResult:
    """A TAO OCRNet dataset → LMDB. ``dataset_dir`` supplies ``images/``, ``gt_list.txt`` and
    ``characters_list.txt``; ``input_img_dir``/``gt_file``/``character_list_file`` (TAO's
    dataset_convert keys) override them. Without any character list the characters are not checked.
    The tag defaults to the name of the folder holding the gt file."""
    if dataset_dir is not None:
        _require_dir(dataset_dir, "dataset folder")
        input_img_dir = input_img_dir or os.path.join(dataset_dir, TAO_IMAGE_DIR)
        gt_file = gt_file or os.path.join(dataset_dir, TAO_GT_FILE)
        default_chars = os.path.join(dataset_dir, TAO_CHARACTER_FILE)
        if character_list_file is None and os.path.isfile(default_chars):
            character_list_file = default_chars
    if not input_img_dir or not gt_file:
        raise DataError("give a TAO dataset folder, or both input_img_dir and gt_file")
    _require_dir(input_img_dir, "image folder")
    _require_file(gt_file, "ground-truth file")
    characters = _load_characters(character_list_file, use_space_char=False)
    tag = tag or os.path.basename(os.path.dirname(os.path.abspath(gt_file)))
    lines = list(read_label_lines(gt_file, tab_only=False))
    return convert_label_lines(lines, input_img_dir, results_dir, tag, characters, max_label_length,
                               gt_file, show_progress)


def convert_label_file(label_file: str, data_dir: str, results_dir: str, character_dict_path: Optional[str] = None,
                       use_space_char: bool = False, max_label_length: int = 25, tag: Optional[str] = None,
                       show_progress: bool = True) -> ConvertResult:
    """A PaddleOCR rec label file (``path\\tlabel``, paths under ``data_dir``) → LMDB; the tag
    defaults to the label file's name without extension."""
    _require_file(label_file, "label file")
    _require_dir(data_dir, "data_dir")
    characters = _load_characters(character_dict_path, use_space_char)
    tag = tag or os.path.splitext(os.path.basename(label_file))[0]
    lines = list(read_label_lines(label_file, tab_only=True))
    return convert_label_lines(lines, data_dir, results_dir, tag, characters, max_label_length,
                               label_file, show_progress)


def _load_characters(path: Optional[str], use_space_char: bool) -> Optional[List[str]]:
    if not path:
        logger.info("no character list given: label characters are not checked")
        return None
    try:
        return load_character_list(path, use_space_char)
    except ValueError as err:
        raise DataError(str(err)) from None
