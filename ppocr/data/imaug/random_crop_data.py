"""Random crop for detection training that never cuts a text box, then a resize to the training size."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import cv2
import numpy as np

from ppocr.utils.registry import OPERATORS, ConfigError


def _pixel_spans(polys: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Inclusive pixel range [first, last] each polygon covers along one axis, clamped to the image."""
    if len(polys) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    first = np.clip(np.floor(polys[:, :, axis].min(axis=1)), 0, size - 1)
    last = np.clip(np.ceil(polys[:, :, axis].max(axis=1)), 0, size - 1)
    return np.stack([first, last], axis=1).astype(np.int64)


def _edge_runs(spans: np.ndarray, size: int) -> List[np.ndarray]:
    """Runs of positions a crop edge may sit on: pixels no box projects onto, plus the image borders."""
    covered = np.zeros(size, dtype=bool)
    for first, last in spans:
        covered[first : last + 1] = True
    covered[0] = covered[-1] = False
    free = np.flatnonzero(~covered)
    return np.split(free, np.flatnonzero(np.diff(free) > 1) + 1)


def _draw_edges(runs: List[np.ndarray]) -> Tuple[int, int]:
    """Two edge positions; from two different gaps when there are several, so crops tend to hold text."""
    if len(runs) > 1:
        picked = np.random.choice(len(runs), size=2, replace=False)
        first, second = (int(np.random.choice(runs[i])) for i in picked)
    else:
        first, second = (int(v) for v in np.random.choice(runs[0], size=2))
    return min(first, second), max(first, second)


def _cuts(spans: np.ndarray, first: int, last: int) -> bool:
    """Whether the crop edges split a span; possible only at the image borders, which are always edges."""
    return bool(((spans[:, 0] < first) & (spans[:, 1] >= first)).any()
                or ((spans[:, 0] <= last) & (spans[:, 1] > last)).any())


def choose_crop(polys: np.ndarray, ignore_tags: np.ndarray, height: int, width: int,
                max_tries: int = 50, min_crop_side_ratio: float = 0.1) -> Tuple[int, int, int, int]:
    """A crop ``(x0, y0, x1, y1)`` (slice bounds) holding at least one whole cared-for box.

    Edges are drawn only where no cared-for box projects, so such boxes are either entirely inside or
    entirely outside. Falls back to the whole image when no try succeeds or there is nothing to keep.
    """
    whole = (0, 0, width, height)
    polys = np.asarray(polys, dtype=np.float32)
    if len(polys) == 0:
        return whole
    care = polys[~np.asarray(ignore_tags, dtype=bool)]
    # boxes an augmentation pushed entirely out of the image cannot be kept by any crop
    visible = ((care[:, :, 0].max(axis=1) >= 0) & (care[:, :, 0].min(axis=1) <= width - 1)
               & (care[:, :, 1].max(axis=1) >= 0) & (care[:, :, 1].min(axis=1) <= height - 1))
    care = care[visible]
    if len(care) == 0:
        return whole
    x_spans, y_spans = _pixel_spans(care, 0, width), _pixel_spans(care, 1, height)
    x_runs, y_runs = _edge_runs(x_spans, width), _edge_runs(y_spans, height)
    for _ in range(max_tries):
        x0, x_last = _draw_edges(x_runs)
        y0, y_last = _draw_edges(y_runs)
        if x_last - x0 + 1 < min_crop_side_ratio * width or y_last - y0 + 1 < min_crop_side_ratio * height:
            continue
        inside = ((x_spans[:, 0] >= x0) & (x_spans[:, 1] <= x_last)
                  & (y_spans[:, 0] >= y0) & (y_spans[:, 1] <= y_last))
        if inside.any() and not (_cuts(x_spans, x0, x_last) or _cuts(y_spans, y0, y_last)):
            return x0, y0, x_last + 1, y_last + 1
    return whole


@OPERATORS.register()
class EastRandomCropData:
    """Crop without cutting text (see ``choose_crop``) and resize to ``size`` = [width, height].

    ``keep_ratio`` scales the crop to fit and pads bottom/right with 0; otherwise it is stretched.
    Boxes entirely outside the crop are dropped with their texts and ignore tags.
    """

    def __init__(self, size: list = [640, 640], max_tries: int = 50, min_crop_side_ratio: float = 0.1,
                 keep_ratio: bool = True):
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise ConfigError(f"size must be [width, height] positive integers, got {size!r}",
                              "EastRandomCropData")
        self.size = (int(size[0]), int(size[1]))
        self.max_tries = max_tries
        self.min_crop_side_ratio = min_crop_side_ratio
        self.keep_ratio = keep_ratio

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        image = data["image"]
        height, width = image.shape[:2]
        polys = np.asarray(data["polys"], dtype=np.float32)
        ignore_tags = np.asarray(data["ignore_tags"], dtype=bool)
        x0, y0, x1, y1 = choose_crop(polys, ignore_tags, height, width, self.max_tries, self.min_crop_side_ratio)
        crop_w, crop_h = x1 - x0, y1 - y0
        out_w, out_h = self.size
        if self.keep_ratio:
            scale = min(out_w / crop_w, out_h / crop_h)
            new_w = min(out_w, max(1, int(round(crop_w * scale))))
            new_h = min(out_h, max(1, int(round(crop_h * scale))))
        else:
            new_w, new_h = out_w, out_h
        resized = cv2.resize(image[y0:y1, x0:x1], (new_w, new_h))
        canvas = np.zeros((out_h, out_w) + image.shape[2:], dtype=image.dtype)
        canvas[:new_h, :new_w] = resized.reshape((new_h, new_w) + image.shape[2:])

        keep = np.ones(len(polys), dtype=bool)
        if len(polys):
            keep = ((polys[:, :, 0].max(axis=1) >= x0 - 0.5) & (polys[:, :, 0].min(axis=1) <= x1 - 0.5)
                    & (polys[:, :, 1].max(axis=1) >= y0 - 0.5) & (polys[:, :, 1].min(axis=1) <= y1 - 0.5))
        moved = polys[keep].copy()
        # pixel-centre convention, as cv2.resize maps pixels
        moved[..., 0] = (moved[..., 0] - x0 + 0.5) * (new_w / crop_w) - 0.5
        moved[..., 1] = (moved[..., 1] - y0 + 0.5) * (new_h / crop_h) - 0.5
        data["image"] = canvas
        data["polys"] = moved
        data["ignore_tags"] = ignore_tags[keep]
        if "texts" in data:
            data["texts"] = [text for text, kept in zip(data["texts"], keep) if kept]
        return data
