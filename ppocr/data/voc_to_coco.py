"""Pascal VOC (``Annotations/*.xml`` + ``JPEGImages/`` + ``ImageSets/Main/<split>.txt``) → COCO instances json.

VOC pixel indices are 1-based and inclusive, so ``xmin..xmax`` becomes ``x = xmin - 1, w = xmax - xmin + 1``.
``difficult`` objects become ``iscrowd: 1`` (COCO evaluation ignores them, as VOC evaluation does). Category
ids are 1..K in ``class_names`` order (default: names found, sorted). Unreadable files and bad boxes are left
out with a warning and counted.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ppocr.data.errors import DataError
from ppocr.utils.io import atomic_write

logger = logging.getLogger(__name__)


def _number(node: Optional[ET.Element], path: str) -> float:
    child = node.find(path) if node is not None else None
    if child is None or child.text is None:
        raise ValueError(f"no <{path}>")
    return float(child.text.strip())


def parse_voc_xml(path: str) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """``({file_name, width, height}, [{name, box (xmin, ymin, xmax, ymax), difficult}])`` of one file."""
    root = ET.parse(path).getroot()
    file_name = (root.findtext("filename") or "").strip()
    size = root.find("size")
    image = {"file_name": file_name, "width": _number(size, "width"), "height": _number(size, "height")}
    objects = []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        objects.append({"name": (obj.findtext("name") or "").strip(),
                        "box": tuple(_number(box, k) for k in ("xmin", "ymin", "xmax", "ymax")),
                        "difficult": int((obj.findtext("difficult") or "0").strip() or 0)})
    return image, objects


def read_split(voc_root: str, split: Optional[str]) -> List[str]:
    """Image ids of ``ImageSets/Main/<split>.txt``, or every xml in ``Annotations/`` without a split."""
    if split is None:
        names = sorted(n[:-4] for n in os.listdir(os.path.join(voc_root, "Annotations")) if n.endswith(".xml"))
        return names
    path = os.path.join(voc_root, "ImageSets", "Main", f"{split}.txt")
    if not os.path.isfile(path):
        raise DataError(f"split file {path} not found")
    with open(path, encoding="utf-8") as f:
        return [line.split()[0] for line in f if line.strip()]


def convert_voc(voc_root: str, out_file: str, split: Optional[str] = None,
                class_names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Write the COCO json for one split; returns ``{"images", "annotations", "skipped": {reason: n}}``."""
    if not os.path.isdir(os.path.join(voc_root, "Annotations")):
        raise DataError(f"{voc_root} has no Annotations/ folder (expected a Pascal VOC layout)")
    skipped: collections.Counter = collections.Counter()
    parsed = []
    for image_key in read_split(voc_root, split):
        xml_path = os.path.join(voc_root, "Annotations", image_key + ".xml")
        try:
            image, objects = parse_voc_xml(xml_path)
        except (OSError, ET.ParseError, ValueError) as exc:
            logger.warning("skipped %s: %s", xml_path, exc)
            skipped["unreadable xml"] += 1
            continue
        image["file_name"] = image["file_name"] or image_key + ".jpg"
        if not os.path.splitext(image["file_name"])[1]:
            image["file_name"] += ".jpg"
        if not os.path.isfile(os.path.join(voc_root, "JPEGImages", image["file_name"])):
            logger.warning("skipped %s: image JPEGImages/%s not found", xml_path, image["file_name"])
            skipped["missing image"] += 1
            continue
        parsed.append((image_key, image, objects))
    names = list(class_names) if class_names else sorted({o["name"] for _, _, objs in parsed for o in objs})
    if not names:
        raise DataError(f"{voc_root}: no object names found (split {split!r})")
    category_ids = {name: i + 1 for i, name in enumerate(names)}
    images, annotations = [], []
    for image_id, (image_key, image, objects) in enumerate(parsed, 1):
        images.append({"id": image_id, "file_name": image["file_name"], "width": int(image["width"]),
                       "height": int(image["height"])})
        for obj in objects:
            if obj["name"] not in category_ids:
                skipped["object of an unlisted class"] += 1
                continue
            xmin, ymin, xmax, ymax = obj["box"]
            w, h = xmax - xmin + 1, ymax - ymin + 1
            if w <= 0 or h <= 0:
                logger.warning("%s: object %s has an empty box %s, left out", image_key, obj["name"], obj["box"])
                skipped["empty box"] += 1
                continue
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": category_ids[obj["name"]], "bbox": [xmin - 1, ymin - 1, w, h],
                                "area": w * h, "iscrowd": int(obj["difficult"] > 0)})
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": i, "name": n} for n, i in category_ids.items()]}
    with atomic_write(out_file) as f:
        json.dump(data, f)
    if skipped:
        logger.warning("left out: %s", dict(skipped))
    return {"images": len(images), "annotations": len(annotations), "skipped": dict(skipped), "categories": names}
