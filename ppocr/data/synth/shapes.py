"""A synthetic object detection set: filled rectangles, circles and triangles on noisy backgrounds.

Written as a COCO instances json (``annotations.json`` + ``images/``) or as Pascal VOC (``Annotations/*.xml``,
``JPEGImages/``, ``ImageSets/Main/<split>.txt``); sample ``i`` depends only on ``(seed, i)``.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Tuple
from xml.sax.saxutils import escape

import cv2
import numpy as np

from ppocr.utils.io import atomic_write

SHAPE_CLASSES = ("rectangle", "circle", "triangle")


def draw_shapes_image(rng: np.random.Generator, size: Tuple[int, int], max_objects: int
                      ) -> Tuple[np.ndarray, List[Tuple[int, List[float]]]]:
    """An image and its objects ``(class index 0..2, [x1, y1, x2, y2])``."""
    height, width = size
    image = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        side = int(rng.integers(max(8, min(size) // 8), max(9, min(size) // 2)))
        x1, y1 = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
        x2, y2 = x1 + side, y1 + side
        cls = int(rng.integers(0, len(SHAPE_CLASSES)))
        color = tuple(int(c) for c in rng.integers(120, 256, size=3))
        if cls == 0:
            cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), color, -1)
        elif cls == 1:
            cv2.circle(image, ((x1 + x2) // 2, (y1 + y2) // 2), side // 2, color, -1)
        else:
            pts = np.array([[(x1 + x2) // 2, y1], [x1, y2 - 1], [x2 - 1, y2 - 1]], dtype=np.int32)
            cv2.fillPoly(image, [pts], color)
        objects.append((cls, [float(x1), float(y1), float(x2), float(y2)]))
    return image, objects


def make_shapes_dataset(out_dir: str, num: int, seed: int = 0, size: Tuple[int, int] = (128, 128),
                        max_objects: int = 3, fmt: str = "coco", split: str = "train") -> Dict[str, str]:
    """Write ``num`` images; returns the paths (``image_dir`` and ``annotation_file`` or ``voc_root``)."""
    if fmt not in ("coco", "voc"):
        raise ValueError(f"fmt must be coco or voc, got {fmt!r}")
    image_dir = os.path.join(out_dir, "images" if fmt == "coco" else "JPEGImages")
    os.makedirs(image_dir, exist_ok=True)
    images, annotations, names = [], [], []
    for index in range(num):
        rng = np.random.default_rng([seed, index])
        image, objects = draw_shapes_image(rng, size, max_objects)
        name = f"shape_{index:05d}"
        names.append(name)
        cv2.imwrite(os.path.join(image_dir, name + ".jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": index + 1, "file_name": name + ".jpg", "height": size[0], "width": size[1]})
        for cls, (x1, y1, x2, y2) in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1, "category_id": cls + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
        if fmt == "voc":
            _write_voc_xml(os.path.join(out_dir, "Annotations", name + ".xml"), name + ".jpg", size, objects)
    if fmt == "voc":
        split_file = os.path.join(out_dir, "ImageSets", "Main", f"{split}.txt")
        os.makedirs(os.path.dirname(split_file), exist_ok=True)
        with atomic_write(split_file) as f:
            f.write("".join(n + "\n" for n in names))
        return {"image_dir": image_dir, "voc_root": out_dir, "split_file": split_file}
    annotation_file = os.path.join(out_dir, "annotations.json")
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(SHAPE_CLASSES)]
    with atomic_write(annotation_file) as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    return {"image_dir": image_dir, "annotation_file": annotation_file}


def _write_voc_xml(path: str, file_name: str, size: Tuple[int, int], objects) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    parts = [f"<annotation><filename>{escape(file_name)}</filename>",
             f"<size><width>{size[1]}</width><height>{size[0]}</height><depth>3</depth></size>"]
    for cls, (x1, y1, x2, y2) in objects:
        # VOC pixel indices are 1-based and inclusive
        parts.append(f"<object><name>{SHAPE_CLASSES[cls]}</name><difficult>0</difficult><bndbox>"
                     f"<xmin>{int(x1) + 1}</xmin><ymin>{int(y1) + 1}</ymin><xmax>{int(x2)}</xmax><ymax>{int(y2)}</ymax>"
                     "</bndbox></object>")
    parts.append("</annotation>")
    with atomic_write(path) as f:
        f.write("".join(parts))
