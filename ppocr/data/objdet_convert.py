"""TAO EfficientDet ``dataset_convert``: COCO json + image folder → sharded LMDBs (our TFRecords) + warnings file.

Shard ``k`` of ``n`` is the LMDB ``<output_dir>/<tag>-0000k-of-0000n`` holding every n-th usable image as
``image-%09d`` (the file's bytes) and ``label-%09d`` (the image's record as JSON, which ``ObjDetLabelDecode``
reads); ``LMDBDataSet`` with ``data_dir: <output_dir>`` finds them all. ``<output_dir>/<tag>_warnings.json``
lists, per image id, the objects with a problem in TAO's layout (``{"200365": {"box": [918], "mask": []}}``)
plus an ``issues`` list naming every problem (missing or unreadable image, unknown category id, zero-area box,
image without annotations).
"""
from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
from typing import Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from ppocr.data.coco_json import read_coco
from ppocr.data.errors import DataError
from ppocr.data.lmdb_writer import write_lmdb
from ppocr.utils.io import atomic_write

logger = logging.getLogger(__name__)

DEFAULT_SHARDS = 256
LABEL_KEYS = ("image_id", "file_name", "width", "height", "boxes", "classes", "crowd")


@dataclasses.dataclass
class ConvertResult:
    shards: List[str]
    written: int
    counts: Dict[str, int]
    warnings_file: str


def shard_name(tag: str, index: int, total: int) -> str:
    return f"{tag}-{index:05d}-of-{total:05d}"


def _readable(path: str) -> Tuple[Optional[bytes], str]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        return None, f"unreadable image ({exc.strerror or exc})"
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None, "unreadable image (not a decodable picture)"
    return raw, ""


def convert_coco_to_lmdb(image_dir: str, annotations_file: str, output_dir: str, tag: Optional[str] = None,
                         num_shards: int = DEFAULT_SHARDS) -> ConvertResult:
    """Write the shards and the warnings file; images that cannot be used are left out and listed."""
    if not os.path.isdir(image_dir):
        raise DataError(f"image directory {image_dir} does not exist")
    if num_shards < 1:
        raise DataError(f"num_shards must be at least 1, got {num_shards}")
    tag = tag or os.path.splitext(os.path.basename(annotations_file))[0]
    records, categories, issues = read_coco(annotations_file, image_dir)
    usable: List[Tuple[bytes, str]] = []
    for record in records:
        raw, problem = _readable(record["img_path"])
        if raw is None:
            issues.add(problem, record["image_id"])
            continue
        usable.append((raw, json.dumps({k: record[k] for k in LABEL_KEYS})))
    if not usable:
        raise DataError(f"{annotations_file}: no usable image under {image_dir}")
    if num_shards > len(usable):
        logger.warning("%d shards asked for %d images: writing %d", num_shards, len(usable), len(usable))
        num_shards = len(usable)
    os.makedirs(output_dir, exist_ok=True)
    shards = []
    for index in range(num_shards):
        path = os.path.join(output_dir, shard_name(tag, index, num_shards))
        write_lmdb(path, usable[index::num_shards])
        shards.append(path)
    warnings_file = os.path.join(output_dir, f"{tag}_warnings.json")
    with atomic_write(warnings_file) as f:
        json.dump(issues.per_image, f, indent=1)
    with atomic_write(os.path.join(output_dir, f"{tag}_categories.json")) as f:
        json.dump([{"id": k, "name": v} for k, v in sorted(categories.items())], f)
    return ConvertResult(shards, len(usable), dict(issues.counts), warnings_file)
