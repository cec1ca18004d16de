"""DBNet postprocess: probability map → text boxes in source-image coordinates.

Pure numpy/cv2/pyclipper (no paddle import), so inference backends can decode maps with
:func:`boxes_from_prob_map` without a training install.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import pyclipper

from ppocr.utils.arrays import as_numpy
from ppocr.utils.registry import POSTPROCESS, ConfigError

MIN_SIZE = 3
SCORE_MODES = ("fast", "slow")
BOX_TYPES = ("quad", "poly")


def check_modes(score_mode: str, box_type: str) -> None:
    if score_mode not in SCORE_MODES:
        raise ConfigError(f"DBPostProcess score_mode must be one of {SCORE_MODES}, got {score_mode!r}")
    if box_type not in BOX_TYPES:
        raise ConfigError(f"DBPostProcess box_type must be one of {BOX_TYPES}, got {box_type!r}")


def order_points_clockwise(box: np.ndarray) -> np.ndarray:
    """Order 4 points top-left, top-right, bottom-right, bottom-left (image y axis points down).

    The two leftmost points form the left edge; the upper one of each side comes first, so
    crops taken from the box keep the text upright for near-horizontal text.
    """
    by_x = box[np.argsort(box[:, 0], kind="stable")]
    top_left, bottom_left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    top_right, bottom_right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.stack([top_left, top_right, bottom_right, bottom_left]).astype(np.float32)


def min_area_box(points: np.ndarray) -> Tuple[np.ndarray, float]:
    """Smallest rotated rectangle around ``points`` (ordered clockwise) and its short side."""
    rect = cv2.minAreaRect(np.asarray(points, dtype=np.float32).reshape(-1, 1, 2))
    return order_points_clockwise(cv2.boxPoints(rect)), float(min(rect[1]))


def mean_score(prob_map: np.ndarray, polygon: np.ndarray) -> float:
    """Mean probability inside ``polygon``, computed over the polygon's bounding rectangle only."""
    height, width = prob_map.shape
    xs, ys = polygon[:, 0], polygon[:, 1]
    x0 = int(np.clip(np.floor(xs.min()), 0, width - 1))
    x1 = int(np.clip(np.ceil(xs.max()), 0, width - 1))
    y0 = int(np.clip(np.floor(ys.min()), 0, height - 1))
    y1 = int(np.clip(np.ceil(ys.max()), 0, height - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = np.round(polygon - np.array([x0, y0], dtype=np.float32)).astype(np.int32)
    cv2.fillPoly(mask, [shifted.reshape(-1, 1, 2)], 1)
    return float(cv2.mean(prob_map[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def unclip(polygon: np.ndarray, unclip_ratio: float) -> Optional[np.ndarray]:
    """Grow a shrunk text kernel back by distance = area × ratio / perimeter (inverse of the
    label-side shrink); None when the polygon is degenerate."""
    contour = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    perimeter = cv2.arcLength(contour, True)
    if perimeter <= 0:
        return None
    distance = cv2.contourArea(contour) * unclip_ratio / perimeter
    offset = pyclipper.PyclipperOffset()
    path = contour.reshape(-1, 2).astype(np.int64).tolist()  # truncated, as PaddleOCR hands floats to pyclipper
    offset.AddPath(path, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(distance)
    if not grown:
        return None
    outer = max(grown, key=lambda path: abs(pyclipper.Area(path)))
    return np.asarray(outer, dtype=np.float32)


def _to_source(points: np.ndarray, src_h: float, src_w: float, ratio_h: float, ratio_w: float) -> np.ndarray:
    """Map coordinates are resized-image coordinates (resized = source × ratio)."""
    mapped = np.empty_like(points, dtype=np.float32)
    mapped[:, 0] = np.clip(np.round(points[:, 0] / ratio_w), 0, src_w - 1)
    mapped[:, 1] = np.clip(np.round(points[:, 1] / ratio_h), 0, src_h - 1)
    return mapped.astype(np.int32)


def boxes_from_prob_map(
    prob_map: np.ndarray,
    shape: Sequence[float],
    thresh: float = 0.3,
    box_thresh: float = 0.7,
    max_candidates: int = 1000,
    unclip_ratio: float = 2.0,
    use_dilation: bool = False,
    score_mode: str = "fast",
    box_type: str = "quad",
) -> Tuple[Any, List[float]]:
    """Decode one H×W probability map.

    ``shape`` is ``[src_h, src_w, ratio_h, ratio_w]`` as DetResizeForTest records it. Returns
    ``(boxes, scores)``: an int32 K×4×2 array for ``quad``, a list of int32 M×2 polygons for
    ``poly``; coordinates in the source image, clipped to it.
    """
    check_modes(score_mode, box_type)
    prob_map = np.ascontiguousarray(prob_map, dtype=np.float32)
    src_h, src_w, ratio_h, ratio_w = (float(v) for v in shape)
    if ratio_h <= 0 or ratio_w <= 0:
        raise ValueError(f"DBPostProcess: shape_list ratios must be > 0, got {list(shape)}")
    bitmap = (prob_map > thresh).astype(np.uint8)
    if use_dilation:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), dtype=np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)

    boxes: List[np.ndarray] = []
    scores: List[float] = []
    for contour in contours[:max_candidates]:
        contour = contour.reshape(-1, 2).astype(np.float32)
        if box_type == "quad":
            region, short_side = min_area_box(contour)
        else:
            epsilon = 0.002 * cv2.arcLength(contour.reshape(-1, 1, 2), True)
            region = cv2.approxPolyDP(contour.reshape(-1, 1, 2), epsilon, True).reshape(-1, 2)
            if len(region) < 4:
                continue
            short_side = min_area_box(region)[1]
        if short_side < MIN_SIZE:
            continue
        score = mean_score(prob_map, region if score_mode == "fast" else contour)
        if score < box_thresh:
            continue
        grown = unclip(region, unclip_ratio)
        if grown is None:
            continue
        quad, short_side = min_area_box(grown)
        if short_side < MIN_SIZE + 2:
            continue
        boxes.append(_to_source(quad if box_type == "quad" else grown, src_h, src_w, ratio_h, ratio_w))
        scores.append(score)
    if box_type == "quad":
        return (np.stack(boxes) if boxes else np.zeros((0, 4, 2), dtype=np.int32)), scores
    return boxes, scores


@POSTPROCESS.register()
class DBPostProcess:
    """Binarize the shrink map at ``thresh``, box each connected region, score it, grow it back.

    ``score_mode`` fast = mean probability inside the box (quad) or simplified polygon (poly);
    slow = inside the exact contour (better for curved text, slower). Boxes scoring below
    ``box_thresh`` or with a short side under 3 px (5 px after unclip) are dropped.
    """

    def __init__(
        self,
        thresh: float = 0.3,
        box_thresh: float = 0.7,
        max_candidates: int = 1000,
        unclip_ratio: float = 2.0,
        use_dilation: bool = False,
        score_mode: str = "fast",
        box_type: str = "quad",
    ):
        check_modes(score_mode, box_type)
        self.params = dict(
            thresh=thresh,
            box_thresh=box_thresh,
            max_candidates=max_candidates,
            unclip_ratio=unclip_ratio,
            use_dilation=use_dilation,
            score_mode=score_mode,
            box_type=box_type,
        )

    def __call__(self, outs_dict: Any, shape_list: Any = None) -> List[Dict[str, Any]]:
        """``outs_dict["maps"]``: N×C×H×W (channel 0 = shrink map) or N×H×W, Tensor or numpy.

        ``shape_list``: N×4 ``[src_h, src_w, ratio_h, ratio_w]``; the whole eval batch
        ``[image, shape_list, ...]`` is accepted too; None means the map is the source image.
        """
        if isinstance(outs_dict, dict) and "maps" not in outs_dict:
            raise ValueError(f"DBPostProcess: preds must hold 'maps', got keys {sorted(outs_dict)}")
        maps = as_numpy(outs_dict["maps"] if isinstance(outs_dict, dict) else outs_dict)
        if maps.ndim == 4:
            maps = maps[:, 0]
        if maps.ndim != 3:
            raise ValueError(f"DBPostProcess: maps must be N×C×H×W or N×H×W, got shape {maps.shape}")
        if isinstance(shape_list, (list, tuple)) and len(shape_list) > 1 and as_numpy(shape_list[0]).ndim == 4:
            shape_list = shape_list[1]
        if shape_list is None:
            shapes = np.array([[m.shape[0], m.shape[1], 1.0, 1.0] for m in maps], dtype=np.float32)
        else:
            shapes = as_numpy(shape_list).reshape(-1, 4)
        if len(shapes) != len(maps):
            raise ValueError(f"DBPostProcess: {len(maps)} map(s) but {len(shapes)} shape_list row(s)")
        results = []
        for prob_map, shape in zip(maps, shapes):
            boxes, scores = boxes_from_prob_map(prob_map, shape, **self.params)
            results.append({"points": boxes, "scores": scores})
        return results
