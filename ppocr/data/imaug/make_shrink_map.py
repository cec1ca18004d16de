"""DBNet probability-map target: text polygons shrunk by the DB offset distance.

Also home of the polygon offset helpers the border map shares: the DB paper's offset
``D = area * (1 - r**2) / perimeter`` and a pyclipper round-join offset by ``D``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import cv2
import numpy as np
import pyclipper

from ppocr.utils.registry import OPERATORS, ConfigError

# pyclipper works on integers; scaling keeps sub-pixel precision of the offset polygons
_CLIPPER_SCALE = 256.0


def polygon_area(poly: np.ndarray) -> float:
    """Unsigned area (shoelace); repeated padding vertices contribute nothing."""
    return float(abs(cv2.contourArea(np.asarray(poly, dtype=np.float32).reshape(-1, 1, 2))))


def polygon_perimeter(poly: np.ndarray) -> float:
    return float(cv2.arcLength(np.asarray(poly, dtype=np.float32).reshape(-1, 1, 2), True))


def offset_distance(poly: np.ndarray, shrink_ratio: float) -> float:
    """DB offset D = area·(1 − r²)/perimeter; 0 for degenerate polygons."""
    perimeter = polygon_perimeter(poly)
    if perimeter <= 0:
        return 0.0
    return polygon_area(poly) * (1.0 - shrink_ratio**2) / perimeter


def offset_polygon(poly: np.ndarray, distance: float) -> List[np.ndarray]:
    """Grow (distance > 0) or shrink (< 0) a polygon with round joins; [] when a shrink vanishes.

    A concave polygon can split when shrunk, hence a list of float32 K×2 polygons.
    """
    offset = pyclipper.PyclipperOffset()
    offset.ArcTolerance = 0.25 * _CLIPPER_SCALE
    path = np.round(np.asarray(poly, dtype=np.float64) * _CLIPPER_SCALE).astype(np.int64)
    offset.AddPath(path.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    result = offset.Execute(distance * _CLIPPER_SCALE)
    return [np.asarray(p, dtype=np.float32) / _CLIPPER_SCALE for p in result if len(p) >= 3]


def fill_polygons(canvas: np.ndarray, polygons: List[np.ndarray], value: float) -> None:
    """Fill polygons on a canvas; coordinates are pixel centres (cv2 convention)."""
    if polygons:
        cv2.fillPoly(canvas, [np.round(p).astype(np.int32).reshape(-1, 1, 2) for p in polygons], value)


def clip_polygon(poly: np.ndarray, height: int, width: int) -> np.ndarray:
    """Clamp vertices into the image, as PaddleOCR does before measuring a box."""
    clipped = np.asarray(poly, dtype=np.float32).copy()
    clipped[:, 0] = np.clip(clipped[:, 0], 0, width - 1)
    clipped[:, 1] = np.clip(clipped[:, 1], 0, height - 1)
    return clipped


class EpochSchedule:
    """PP-OCRv4's growing shrink ratio: ``ratio + 0.2 · epoch / total_epoch`` (constant without total_epoch)."""

    GROWTH = 0.2

    def __init__(self, total_epoch: Optional[int], owner: str):
        if total_epoch is not None and (isinstance(total_epoch, bool) or not isinstance(total_epoch, int)
                                        or total_epoch < 1):
            raise ConfigError(f"key 'total_epoch' of {owner} must be a positive integer, got {total_epoch!r}")
        self.total_epoch = total_epoch

    def ratio(self, base: float, epoch: int) -> float:
        if self.total_epoch is None:
            return base
        return base + self.GROWTH * min(epoch, self.total_epoch) / self.total_epoch


@OPERATORS.register()
class MakeShrinkMap:
    """``shrink_map`` = 1 inside each polygon shrunk by D; ``shrink_mask`` = 0 over boxes not to learn from.

    Ignored boxes, boxes whose shorter side is below ``min_text_size`` and boxes whose shrink vanishes
    are masked out and marked in ``ignore_tags`` so later operators (and the loss) treat them alike.
    ``total_epoch``: the shrink ratio grows with the epoch as in :class:`MakeBorderMap`.
    """

    def __init__(self, shrink_ratio: float = 0.4, min_text_size: int = 8, total_epoch: Optional[int] = None,
                 epoch: Optional[int] = None):
        self.base_shrink_ratio = shrink_ratio
        self.shrink_ratio = shrink_ratio
        self.min_text_size = min_text_size
        self.schedule = EpochSchedule(total_epoch, "MakeShrinkMap")
        self.set_epoch(epoch or 0)

    def set_epoch(self, epoch: int) -> None:
        self.shrink_ratio = self.schedule.ratio(self.base_shrink_ratio, epoch)

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        height, width = data["image"].shape[:2]
        polys = np.asarray(data["polys"], dtype=np.float32)
        ignore_tags = np.asarray(data["ignore_tags"], dtype=bool).copy()
        shrink_map = np.zeros((height, width), dtype=np.float32)
        shrink_mask = np.ones((height, width), dtype=np.float32)
        for index, poly in enumerate(polys):
            poly = clip_polygon(poly, height, width)
            extent = poly.max(axis=0) - poly.min(axis=0)
            shrunk: List[np.ndarray] = []
            if not ignore_tags[index] and min(extent) >= self.min_text_size and polygon_area(poly) >= 1:
                shrunk = offset_polygon(poly, -offset_distance(poly, self.shrink_ratio))
            if shrunk:
                fill_polygons(shrink_map, shrunk, 1.0)
            else:
                fill_polygons(shrink_mask, [poly], 0.0)
                ignore_tags[index] = True
        data["shrink_map"] = shrink_map
        data["shrink_mask"] = shrink_mask
        data["ignore_tags"] = ignore_tags
        return data
