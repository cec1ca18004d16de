"""Read a COCO instances json into one checked record per image, counting (never raising on) bad annotations.

Structural problems of the file (unreadable, not JSON, no ``images``/``annotations``/``categories`` list) are a
DataError naming the file and key. Bad items are left out and counted by reason, with the object ids per image
(TAO's ``<tag>_warnings.json`` layout ``{image_id: {"box": [ann ids], ...}}``): annotations of unknown images or
category ids, malformed or zero-area boxes; boxes reaching outside the image are clipped and recorded.
"""
from __future__ import annotations

import collections
import json
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

from ppocr.data.errors import DataError

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("images", "annotations", "categories")


class CocoIssues:
    """Counts per reason, and per image the ids of objects with a problem (``box``: outside the image)."""

    def __init__(self):
        self.counts: collections.Counter = collections.Counter()
        self.per_image: Dict[str, Dict[str, List[Any]]] = {}

    def add(self, reason: str, image_id: Any = None, object_id: Any = None, kind: str = "issue") -> None:
        self.counts[reason] += 1
        if image_id is not None:
            entry = self.per_image.setdefault(str(image_id), {"box": [], "mask": [], "issues": []})
            if object_id is not None and kind in ("box", "mask"):
                entry[kind].append(object_id)
            entry["issues"].append(reason if object_id is None else f"{reason} (object {object_id})")

    def report(self) -> Dict[str, Any]:
        return {"counts": dict(self.counts), "images": self.per_image}


def load_json(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise DataError(f"cannot read annotation file {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object with {', '.join(REQUIRED_KEYS)}")
    for key in REQUIRED_KEYS:
        if not isinstance(data.get(key), list):
            raise DataError(f"{path}: missing key '{key}' (a list), as COCO instances files have")
    return data


def _box(bbox: Any) -> Optional[Tuple[float, float, float, float]]:
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
        return None
    return tuple(float(v) for v in bbox)


def read_coco(path: str, image_dir: Optional[str] = None, check_files: bool = True
              ) -> Tuple[List[Dict[str, Any]], Dict[int, str], CocoIssues]:
    """``(records, categories {id: name}, issues)``; a record holds ``image_id, file_name, img_path, width,
    height, boxes (x1y1x2y2), classes (category ids), crowd, object_ids``.

    With ``check_files`` images missing under ``image_dir`` are left out (``missing image``).
    """
    data = load_json(path)
    issues = CocoIssues()
    categories: Dict[int, str] = {}
    for index, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or isinstance(cat.get("id"), bool):
            raise DataError(f"{path}: categories[{index}] needs an integer 'id'")
        categories[cat["id"]] = str(cat.get("name", cat["id"]))
    if not categories:
        raise DataError(f"{path}: 'categories' is empty")
    images: Dict[Any, Dict[str, Any]] = {}
    for index, image in enumerate(data["images"]):
        if (not isinstance(image, dict) or not isinstance(image.get("id"), int) or isinstance(image.get("id"), bool)
                or not isinstance(image.get("file_name"), str)):
            issues.add("image entry without an integer id or a file_name")
            logger.debug("%s: images[%d] has no integer id or no file_name", path, index)
            continue
        if image["id"] in images:
            issues.add("duplicate image id", image["id"])
            continue
        width, height = image.get("width"), image.get("height")
        if not (isinstance(width, (int, float)) and isinstance(height, (int, float)) and width > 0 and height > 0):
            issues.add("image without a positive width and height", image["id"])
            continue
        img_path = os.path.join(image_dir, image["file_name"]) if image_dir else image["file_name"]
        if check_files and image_dir and not os.path.isfile(img_path):
            issues.add("missing image", image["id"])
            continue
        images[image["id"]] = {"image_id": image["id"], "file_name": image["file_name"], "img_path": img_path,
                               "width": float(width), "height": float(height), "boxes": [], "classes": [],
                               "crowd": [], "object_ids": []}
    for index, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            issues.add("annotation that is not an object")
            continue
        image_id, object_id = ann.get("image_id"), ann.get("id", f"#{index}")
        record = images.get(image_id)
        if record is None:
            issues.add("annotation of an unknown or skipped image", image_id, object_id)
            continue
        if ann.get("category_id") not in categories:
            issues.add("unknown category id", image_id, object_id)
            continue
        box = _box(ann.get("bbox"))
        if box is None:
            issues.add("malformed bbox", image_id, object_id)
            continue
        x, y, w, h = box
        if w <= 0 or h <= 0:
            issues.add("zero-area box", image_id, object_id)
            continue
        x1, y1, x2, y2 = x, y, x + w, y + h
        cx1, cy1 = min(max(x1, 0.0), record["width"]), min(max(y1, 0.0), record["height"])
        cx2, cy2 = min(max(x2, 0.0), record["width"]), min(max(y2, 0.0), record["height"])
        if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
            issues.add("box outside the image", image_id, object_id, kind="box")
            if cx2 - cx1 <= 0 or cy2 - cy1 <= 0:
                issues.add("box entirely outside the image", image_id, object_id)
                continue
        record["boxes"].append([cx1, cy1, cx2, cy2])
        record["classes"].append(int(ann["category_id"]))
        record["crowd"].append(int(bool(ann.get("iscrowd", 0))))
        record["object_ids"].append(object_id)
    for record in images.values():
        if not record["boxes"]:
            issues.add("image without annotations", record["image_id"])
    records = list(images.values())
    if issues.counts:
        logger.warning("%s: %d images; %s", path, len(records),
                       ", ".join(f"{n} x {reason}" for reason, n in sorted(issues.counts.items())))
    return records, categories, issues
