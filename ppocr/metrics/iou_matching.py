"""ICDAR 2015 detection protocol over plain polygon lists (usable by benchmarks on prediction files).

One-to-one greedy matching at IoU > 0.5; a detection lying mostly (> 0.5 of its area) inside a
don't-care ("###") ground truth is ignored rather than counted as a false positive. Figures are
global: matched, care-GT and care-detection counts are summed over images before dividing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.strtree import STRtree

logger = logging.getLogger(__name__)

IOU_THRESH = 0.5
AREA_PRECISION_THRESH = 0.5


@dataclass
class MatchResult:
    """Per-image outcome; ``pairs`` are (gt index, det index) into the caller's lists."""

    gt_care: int
    det_care: int
    matched: int
    pairs: List[Tuple[int, int]] = field(default_factory=list)
    ignored_dets: List[int] = field(default_factory=list)


def to_polygon(points: Sequence[Sequence[float]]) -> Tuple[Optional[shapely.Geometry], str]:
    """A shapely polygon of positive area, repairing self-intersections; (None, why) if impossible.

    A polygon whose points all coincide is batch padding ("padding"), not bad data.
    """
    coords = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(coords) and np.ptp(coords, axis=0).max() == 0:
        return None, "padding"
    if len(coords) < 3 or not np.isfinite(coords).all():
        return None, "fewer than 3 finite points"
    polygon = Polygon(coords)
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
        polygon = shapely.union_all([g for g in getattr(polygon, "geoms", [polygon]) if g.area > 0])
        if polygon.area > 0:
            return polygon, "repaired"
    if polygon.area <= 0:
        return None, "zero area"
    return polygon, ""


def _polygons(polys: Sequence, kind: str) -> List[Optional[shapely.Geometry]]:
    out, repaired, skipped = [], 0, 0
    for points in polys:
        polygon, why = to_polygon(points)
        repaired += why == "repaired"
        skipped += polygon is None and why != "padding"
        out.append(polygon)
    if repaired or skipped:
        logger.warning("%s polygons: %d self-intersecting repaired, %d degenerate skipped", kind, repaired, skipped)
    return out


def _intersection_areas(
    left: List[shapely.Geometry], right: List[shapely.Geometry]
) -> Dict[Tuple[int, int], float]:
    """Intersection area of every overlapping (left, right) pair; pairs that do not touch are absent."""
    if not left or not right:
        return {}
    tree = STRtree(right)
    left_idx, right_idx = tree.query(left, predicate="intersects")
    areas = shapely.area(shapely.intersection(np.asarray(left, dtype=object)[left_idx], tree.geometries[right_idx]))
    return {(int(i), int(j)): float(a) for i, j, a in zip(left_idx, right_idx, areas)}


def match_detections(
    gt_polys: Sequence,
    det_polys: Sequence,
    gt_ignore: Optional[Sequence[bool]] = None,
    iou_thresh: float = IOU_THRESH,
    area_precision_thresh: float = AREA_PRECISION_THRESH,
) -> MatchResult:
    """Match one image's detections to its ground truth (each polygon a sequence of (x, y))."""
    gt_ignore = [False] * len(gt_polys) if gt_ignore is None else [bool(t) for t in gt_ignore]
    if len(gt_ignore) != len(gt_polys):
        raise ValueError(f"match_detections: {len(gt_polys)} GT polygons but {len(gt_ignore)} ignore tags")
    gts = _polygons(gt_polys, "ground-truth")
    dets = _polygons(det_polys, "detection")
    gt_ids = [i for i, g in enumerate(gts) if g is not None]
    det_ids = [j for j, d in enumerate(dets) if d is not None]
    care_gt = [i for i in gt_ids if not gt_ignore[i]]
    dont_care_gt = [i for i in gt_ids if gt_ignore[i]]

    ignored = set()
    if dont_care_gt:
        overlap = _intersection_areas([dets[j] for j in det_ids], [gts[i] for i in dont_care_gt])
        for (a, _), area in overlap.items():
            j = det_ids[a]
            if area / dets[j].area > area_precision_thresh:
                ignored.add(j)
    care_det = [j for j in det_ids if j not in ignored]

    pairs: List[Tuple[int, int]] = []
    overlap = _intersection_areas([gts[i] for i in care_gt], [dets[j] for j in care_det])
    candidates = []
    for (a, b), inter in overlap.items():
        i, j = care_gt[a], care_det[b]
        union = gts[i].area + dets[j].area - inter
        if union > 0 and inter / union > iou_thresh:
            candidates.append((i, j))
    used_gt, used_det = set(), set()
    for i, j in sorted(candidates):
        if i not in used_gt and j not in used_det:
            used_gt.add(i)
            used_det.add(j)
            pairs.append((i, j))
    return MatchResult(
        gt_care=len(care_gt), det_care=len(care_det), matched=len(pairs), pairs=pairs, ignored_dets=sorted(ignored)
    )


def summarize(matched: int, gt_care: int, det_care: int) -> Dict[str, float]:
    """Precision, recall, hmean from global counts (0 where a denominator is 0)."""
    recall = matched / gt_care if gt_care else 0.0
    precision = matched / det_care if det_care else 0.0
    hmean = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "hmean": hmean}


def evaluate(
    gt_per_image: Sequence[Sequence],
    det_per_image: Sequence[Sequence],
    ignore_per_image: Optional[Sequence[Sequence[bool]]] = None,
) -> Dict[str, float]:
    """Score a whole set: lists (one entry per image) of polygon lists."""
    if len(gt_per_image) != len(det_per_image):
        raise ValueError(f"evaluate: {len(gt_per_image)} GT images but {len(det_per_image)} detection images")
    ignores = ignore_per_image if ignore_per_image is not None else [None] * len(gt_per_image)
    totals = np.zeros(3, dtype=np.int64)
    for gts, dets, ignore in zip(gt_per_image, det_per_image, ignores):
        result = match_detections(gts, dets, ignore)
        totals += (result.matched, result.gt_care, result.det_care)
    return summarize(*(int(t) for t in totals))
