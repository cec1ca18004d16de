"""Detection labels: PaddleOCR's JSON box list turned into polygon arrays."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

import numpy as np

from ppocr.utils.registry import OPERATORS

# transcriptions that mark a region as "do not care" (PaddleOCR / ICDAR convention)
IGNORE_TEXTS = ("###", "*")


def _where(data: Dict[str, Any]) -> str:
    path = data.get("img_path")
    return f"label of {path}" if path else "label"


def _parse_points(points: Any, index: int, where: str) -> np.ndarray:
    try:
        array = np.asarray(points, dtype=np.float32)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{where}: box {index} 'points' must be a list of [x, y] pairs, got {points!r}")
    if len(array) < 3:
        raise ValueError(f"{where}: box {index} has {len(array)} point(s); a polygon needs at least 3")
    if not np.isfinite(array).all():
        raise ValueError(f"{where}: box {index} has non-finite coordinates")
    return array


def pad_polygons(polygons: List[np.ndarray]) -> np.ndarray:
    """Stack polygons of different point counts as N×P×2 by repeating each one's last vertex.

    A repeated vertex adds a zero-length edge only, so area, perimeter and filled shape do not change.
    """
    if not polygons:
        return np.zeros((0, 4, 2), dtype=np.float32)
    size = max(len(p) for p in polygons)
    padded = [np.concatenate([p, np.repeat(p[-1:], size - len(p), axis=0)]) for p in polygons]
    return np.stack(padded).astype(np.float32)


def parse_det_label(label: Any, where: str = "label") -> Tuple[List[np.ndarray], List[str]]:
    """Polygons and transcriptions from ``[{"transcription": ..., "points": [[x, y], ...]}, ...]``."""
    if isinstance(label, bytes):
        label = label.decode("utf-8")
    try:
        boxes = json.loads(label) if isinstance(label, str) else label
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(boxes, list):
        raise ValueError(f"{where}: expected a JSON list of boxes, got {type(boxes).__name__}")
    polygons, texts = [], []
    for index, box in enumerate(boxes):
        if not isinstance(box, dict) or "points" not in box:
            raise ValueError(f"{where}: box {index} must be an object with 'points' and 'transcription'")
        text = box.get("transcription", "")
        if not isinstance(text, str):
            raise ValueError(f"{where}: box {index} 'transcription' must be a string, got {text!r}")
        polygons.append(_parse_points(box["points"], index, where))
        texts.append(text)
    return polygons, texts


@OPERATORS.register()
class DetLabelEncode:
    """Decode ``data["label"]`` into ``polys`` (N×P×2 float32), ``texts`` and ``ignore_tags``.

    Polygons with fewer points than the longest are padded by repeating their last vertex, so every
    later operator can work on one array. ``###`` and ``*`` transcriptions are ignore regions.
    Bad labels raise ValueError; the dataset skips such items.
    """

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        polygons, texts = parse_det_label(data["label"], _where(data))
        data["polys"] = pad_polygons(polygons)
        data["texts"] = texts
        data["ignore_tags"] = np.array([text in IGNORE_TEXTS for text in texts], dtype=bool)
        return data
