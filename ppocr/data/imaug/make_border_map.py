"""DBNet threshold-map target: a ridge along every text border, highest on the border itself."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from ppocr.data.imaug.make_shrink_map import EpochSchedule, fill_polygons, offset_distance, offset_polygon
from ppocr.utils.registry import OPERATORS


def distance_to_polygon_edges(xs: np.ndarray, ys: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance from each grid point (xs along columns, ys along rows) to the nearest polygon edge.

    Vectorised over the grid, one pass per edge; zero-length edges (padding vertices) act as points.
    """
    px = xs[None, :].astype(np.float32)
    py = ys[:, None].astype(np.float32)
    nearest = np.full((len(ys), len(xs)), np.inf, dtype=np.float32)
    starts = np.asarray(poly, dtype=np.float32)
    ends = np.roll(starts, -1, axis=0)
    for (ax, ay), (bx, by) in zip(starts, ends):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        if length2 > 0:
            t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
        else:
            t = np.zeros((1, 1), dtype=np.float32)
        np.minimum(nearest, np.hypot(px - (ax + t * dx), py - (ay + t * dy)), out=nearest)
    return nearest


@OPERATORS.register()
class MakeBorderMap:
    """``threshold_map`` / ``threshold_mask`` for the DB threshold branch.

    Each non-ignored polygon is dilated by D = area·(1 − r²)/perimeter; inside that band the value is
    1 − distance-to-border / D, mapped to [thresh_min, thresh_max] (thresh_min elsewhere). The mask
    marks the dilated regions, where the threshold loss is computed.

    ``total_epoch`` (PP-OCRv4) makes r grow with training: r + 0.2 · epoch / total_epoch, the epoch coming
    from the dataset (``set_epoch``) or ``epoch``. (PaddleOCR passes its random seed as the epoch here.)
    """

    def __init__(self, shrink_ratio: float = 0.4, thresh_min: float = 0.3, thresh_max: float = 0.7,
                 total_epoch: Optional[int] = None, epoch: Optional[int] = None):
        self.base_shrink_ratio = shrink_ratio
        self.shrink_ratio = shrink_ratio
        self.thresh_min = thresh_min
        self.thresh_max = thresh_max
        self.schedule = EpochSchedule(total_epoch, "MakeBorderMap")
        self.set_epoch(epoch or 0)

    def set_epoch(self, epoch: int) -> None:
        self.shrink_ratio = self.schedule.ratio(self.base_shrink_ratio, epoch)

    def _draw(self, poly: np.ndarray, canvas: np.ndarray, mask: np.ndarray) -> None:
        distance = offset_distance(poly, self.shrink_ratio)
        if distance <= 0:
            return
        dilated = offset_polygon(poly, distance)
        if not dilated:
            return
        fill_polygons(mask, dilated, 1.0)
        points = np.concatenate(dilated)
        height, width = canvas.shape
        x0, y0 = np.maximum(np.floor(points.min(axis=0)).astype(int), 0)
        x1 = min(int(np.ceil(points[:, 0].max())), width - 1)
        y1 = min(int(np.ceil(points[:, 1].max())), height - 1)
        if x0 > x1 or y0 > y1:
            return
        nearest = distance_to_polygon_edges(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1), poly)
        value = 1.0 - np.clip(nearest / distance, 0.0, 1.0)
        region = canvas[y0 : y1 + 1, x0 : x1 + 1]
        np.maximum(region, value, out=region)

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        height, width = data["image"].shape[:2]
        canvas = np.zeros((height, width), dtype=np.float32)
        mask = np.zeros((height, width), dtype=np.float32)
        ignore_tags = np.asarray(data["ignore_tags"], dtype=bool)
        for poly, ignored in zip(np.asarray(data["polys"], dtype=np.float32), ignore_tags):
            if not ignored:
                self._draw(poly, canvas, mask)
        data["threshold_map"] = canvas * (self.thresh_max - self.thresh_min) + self.thresh_min
        data["threshold_mask"] = mask
        return data
