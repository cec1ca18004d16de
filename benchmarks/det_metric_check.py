"""Check DetMetric against an independent implementation of the ICDAR 2015 detection protocol.

Protocol (the project's scoring convention): one-to-one greedy matching of care ground truth and care
detections at IoU > 0.5; a detection with more than half of its area inside one don't-care ("###") region is
ignored; precision, recall and hmean from matched / care-detection / care-GT counts summed over all images.

The same GT and predictions are scored twice: with ``ppocr.metrics.DetMetric`` (through its ``__call__`` /
``get_metric`` interface, as the eval loop uses it) and with a straightforward re-implementation written here
on pyclipper (the library uses shapely), then both P/R/H and whether they agree are printed.

Without ``--pred`` the predictions are built from the GT itself (GT as prediction, jittered, half dropped,
shifted off their words, extra boxes inside and half outside ### regions) and the expected figures are
printed beside the measured ones.

Prediction files are PaddleOCR det/system results, one image per line: ``path<TAB>[{"points": [[x, y], ...],
...}, ...]`` (extra keys such as "transcription" and "score" are ignored; lines are matched to GT images by
file name). Make one from a trained or exported detector with

    python tools/infer/predict_system.py --image_dir ../shared/eval/icdar2015_dev/images \\
        --det_model_dir DET_MODEL --rec_model_dir REC_MODEL --draw_img_save_dir OUT  # writes OUT/system_results.txt
    python tools/infer_det.py -c configs/det/det_mv3_db.yml -o Global.pretrained_model=MODEL \\
        Global.infer_img=../shared/eval/icdar2015_dev/images Global.save_res_path=OUT/det_results.txt

    python benchmarks/det_metric_check.py                         # sanity cases from the GT
    python benchmarks/det_metric_check.py --pred OUT/system_results.txt
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyclipper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_GT = os.path.normpath(os.path.join(REPO, "..", "shared", "eval", "icdar2015_dev", "det_gt.txt"))
IGNORE_TEXTS = ("###", "*")
IOU_THRESH = 0.5
DONT_CARE_AREA_THRESH = 0.5
# pyclipper works on integers: coordinates are scaled so sub-pixel predictions keep their precision
SCALE = 1024.0

Polygon = np.ndarray  # K×2 float
Image = Tuple[List[Polygon], List[bool]]  # GT polygons and their don't-care flags


# -- files ---------------------------------------------------------------------------------------------------
def _polygons_from_json(text: str, where: str) -> Tuple[List[Polygon], List[str]]:
    try:
        boxes = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{where}: not valid JSON ({exc.msg} at char {exc.pos})")
    if not isinstance(boxes, list):
        raise SystemExit(f"{where}: expected a JSON list of boxes")
    polys, texts = [], []
    for index, box in enumerate(boxes):
        points = np.asarray(box.get("points") if isinstance(box, dict) else None, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
            raise SystemExit(f"{where}: box {index} needs 'points' as a list of at least 3 [x, y] pairs")
        polys.append(points)
        texts.append(str(box.get("transcription", "")))
    return polys, texts


def read_results(path: str) -> Dict[str, Tuple[List[Polygon], List[str]]]:
    """``{image file name: (polygons, transcriptions)}`` from a PaddleOCR label / results file."""
    if not os.path.isfile(path):
        raise SystemExit(f"{path}: file not found")
    out: Dict[str, Tuple[List[Polygon], List[str]]] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            name, tab, label = line.rstrip("\n").partition("\t")
            if not tab:
                raise SystemExit(f"{path}, line {line_no}: expected 'image<TAB>[boxes json]'")
            key = os.path.basename(name)
            if key in out:
                raise SystemExit(f"{path}, line {line_no}: image {key} listed twice")
            out[key] = _polygons_from_json(label, f"{path}, line {line_no}")
    return out


def read_gt(path: str) -> Dict[str, Image]:
    return {name: (polys, [t in IGNORE_TEXTS for t in texts]) for name, (polys, texts) in read_results(path).items()}


# -- the library's metric ------------------------------------------------------------------------------------
def score_with_detmetric(gt: Dict[str, Image], preds: Dict[str, List[Polygon]]) -> Dict[str, float]:
    """Feed one image at a time through DetMetric as the eval loop does (batch of 1)."""
    sys.path.insert(0, REPO)
    from ppocr.data.imaug.det_label_ops import pad_polygons
    from ppocr.metrics.det_metric import DetMetric

    metric = DetMetric()
    for name, (polys, dont_care) in gt.items():
        gt_polys = pad_polygons([np.asarray(p, dtype=np.float32) for p in polys])
        batch = [np.zeros((1, 3, 32, 32), np.float32), np.array([[1.0, 1.0, 1.0, 1.0]], np.float32),
                 [gt_polys], [np.asarray(dont_care, dtype=bool)]]
        metric([{"points": preds.get(name, [])}], batch)
    counts = (metric.matched, metric.gt_care, metric.det_care)
    figures = metric.get_metric()
    figures.update(matched=counts[0], gt_care=counts[1], det_care=counts[2])
    return figures


# -- independent re-implementation ---------------------------------------------------------------------------
def _paths(poly: Polygon) -> List[List[Tuple[int, int]]]:
    """The polygon as simple integer paths (self-intersections resolved with the non-zero rule)."""
    path = [(int(round(x * SCALE)), int(round(y * SCALE))) for x, y in np.asarray(poly, dtype=np.float64)]
    return pyclipper.SimplifyPolygon(path, pyclipper.PFT_NONZERO)


def _area(paths: List[List[Tuple[int, int]]]) -> float:
    return sum(abs(pyclipper.Area(p)) for p in paths) / SCALE**2


def _intersection(a: List, b: List) -> float:
    if not a or not b:
        return 0.0
    clipper = pyclipper.Pyclipper()
    clipper.AddPaths(a, pyclipper.PT_SUBJECT, True)
    clipper.AddPaths(b, pyclipper.PT_CLIP, True)
    return _area(clipper.Execute(pyclipper.CT_INTERSECTION, pyclipper.PFT_NONZERO, pyclipper.PFT_NONZERO))


def match_image(gt_polys: Sequence[Polygon], dont_care: Sequence[bool],
                det_polys: Sequence[Polygon]) -> Tuple[int, int, int]:
    """(matched, care GT, care detections) of one image under the ICDAR 2015 rules.

    Zero-area polygons are left out on both sides (the project's convention for degenerate boxes).
    """
    gts = [(_paths(p), flag) for p, flag in zip(gt_polys, dont_care)]
    gts = [(paths, flag, _area(paths)) for paths, flag in gts if _area(paths) > 0]
    dets = [(paths, _area(paths)) for paths in map(_paths, det_polys)]
    dets = [(paths, area) for paths, area in dets if area > 0]
    care_gt = [(paths, area) for paths, flag, area in gts if not flag]
    dont_care_gt = [paths for paths, flag, _ in gts if flag]
    care_det = []
    for paths, area in dets:
        if not any(_intersection(paths, region) / area > DONT_CARE_AREA_THRESH for region in dont_care_gt):
            care_det.append((paths, area))
    gt_used = [False] * len(care_gt)
    det_used = [False] * len(care_det)
    matched = 0
    for i, (g_paths, g_area) in enumerate(care_gt):
        for j, (d_paths, d_area) in enumerate(care_det):
            if gt_used[i] or det_used[j]:
                continue
            inter = _intersection(g_paths, d_paths)
            union = g_area + d_area - inter
            if union > 0 and inter / union > IOU_THRESH:
                gt_used[i] = det_used[j] = True
                matched += 1
    return matched, len(care_gt), len(care_det)


def score_independent(gt: Dict[str, Image], preds: Dict[str, List[Polygon]]) -> Dict[str, float]:
    matched = gt_care = det_care = 0
    for name, (polys, dont_care) in gt.items():
        m, g, d = match_image(polys, dont_care, preds.get(name, []))
        matched, gt_care, det_care = matched + m, gt_care + g, det_care + d
    return {**figures_from_counts(matched, gt_care, det_care), "matched": matched, "gt_care": gt_care,
            "det_care": det_care}


def figures_from_counts(matched: int, gt_care: int, det_care: int) -> Dict[str, float]:
    precision = matched / det_care if det_care else 0.0
    recall = matched / gt_care if gt_care else 0.0
    hmean = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "hmean": hmean}


# -- sanity predictions built from the GT -------------------------------------------------------------------
def _care(gt: Dict[str, Image]) -> Dict[str, List[Polygon]]:
    return {name: [p for p, flag in zip(polys, dc) if not flag] for name, (polys, dc) in gt.items()}


def _dont_care(gt: Dict[str, Image]) -> Dict[str, List[Polygon]]:
    return {name: [p for p, flag in zip(polys, dc) if flag] for name, (polys, dc) in gt.items()}


def _shift_x(poly: Polygon, fraction: float) -> Polygon:
    """Move a polygon right by ``fraction`` of its x-extent: its overlap with itself is at most
    (1 - fraction) of its area (each row's overlap shrinks by the shift), so IoU <= (1-f)/(1+f)."""
    poly = np.asarray(poly, dtype=np.float64)
    return poly + [fraction * np.ptp(poly[:, 0]), 0.0]


Case = Tuple[str, Dict[str, List[Polygon]], str, Optional[Dict[str, float]]]


def sanity_cases(gt: Dict[str, Image], seed: int = 0) -> List[Case]:
    """(name, predictions, expectation text, exact expected figures or None)."""
    rng = np.random.default_rng(seed)
    care, dont_care = _care(gt), _dont_care(gt)
    n_care = sum(len(v) for v in care.values())
    n_dc = sum(len(v) for v in dont_care.values())
    cases = []

    all_boxes = {name: list(polys) for name, (polys, _) in gt.items()}
    cases.append(("GT as prediction (### boxes too)", all_boxes, "P = R = H = 1 (### predictions ignored)",
                  figures_from_counts(n_care, n_care, n_care)))

    jittered = {name: [np.asarray(p, dtype=np.float64) + rng.integers(-2, 3, size=np.shape(p)) for p in polys]
                for name, polys in care.items()}
    cases.append(("care GT, every vertex jittered by up to ±2 px", jittered,
                  "close to 1 (only tiny boxes can fall to IoU <= 0.5)", None))

    kept = {name: polys[::2] for name, polys in care.items()}
    n_kept = sum(len(v) for v in kept.values())
    cases.append(("every other care box dropped", kept, f"P = 1, R = {n_kept}/{n_care}",
                  figures_from_counts(n_kept, n_care, n_kept)))

    doubled = {name: [q for p in polys for q in (p, _shrink(p, 0.95))] for name, polys in care.items()}
    cases.append(("every care box predicted twice (second copy shrunk to 95 %)", doubled,
                  "P = 0.5, R = 1 (one-to-one: a GT box matches one detection)",
                  figures_from_counts(n_care, n_care, 2 * n_care)))

    shifted = {name: [_shift_x(p, 0.5) for p in polys] for name, polys in care.items()}
    cases.append(("care GT shifted right by half their width (IoU <= 1/3)", shifted,
                  "close to 0 (a shifted box can only match a neighbouring word)", None))

    inside = {name: care[name] + [_shrink(p, 0.8) for p in dont_care[name]] for name in gt}
    cases.append((f"care GT + {n_dc} extra boxes inside ### regions (shrunk to 80 %)", inside,
                  "P = R = H = 1 (extras ignored)", figures_from_counts(n_care, n_care, n_care)))

    outside = {name: care[name] + [_shift_x(p, 0.6) for p in dont_care[name]] for name in gt}
    cases.append((f"care GT + {n_dc} extra boxes shifted 60 % off their ### region", outside,
                  f"R = 1, P close to {n_care}/{n_care + n_dc} (extras count as false positives unless they land "
                  "mostly inside another ### region)", None))
    return cases


def _shrink(poly: Polygon, factor: float) -> Polygon:
    poly = np.asarray(poly, dtype=np.float64)
    centre = poly.mean(axis=0)
    return centre + (poly - centre) * factor


# -- report ----------------------------------------------------------------------------------------------------
def _fmt(figures: Dict[str, float]) -> str:
    return f"P {figures['precision']:.4f}  R {figures['recall']:.4f}  H {figures['hmean']:.4f}"


def compare(gt: Dict[str, Image], preds: Dict[str, List[Polygon]]) -> Tuple[Dict, Dict, bool]:
    library = score_with_detmetric(gt, preds)
    independent = score_independent(gt, preds)
    agree = all(library[k] == independent[k] for k in ("matched", "gt_care", "det_care")) and all(
        abs(library[k] - independent[k]) < 1e-9 for k in ("precision", "recall", "hmean"))
    return library, independent, agree


def print_comparison(library: Dict, independent: Dict, agree: bool, indent: str = "  ") -> None:
    for label, figures in (("DetMetric   ", library), ("independent ", independent)):
        print(f"{indent}{label}{_fmt(figures)}   (matched {figures['matched']}, care GT {figures['gt_care']}, "
              f"care det {figures['det_care']})")
    print(f"{indent}agree: {'YES' if agree else 'NO'}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gt", default=DEFAULT_GT, help=f"GT label file (default {DEFAULT_GT})")
    parser.add_argument("--pred", default=None, help="PaddleOCR det/system results file to score")
    parser.add_argument("--seed", type=int, default=0, help="seed of the jitter sanity case")
    args = parser.parse_args(argv)

    gt = read_gt(args.gt)
    n_boxes = sum(len(p) for p, _ in gt.values())
    n_dc = sum(sum(dc) for _, dc in gt.values())
    print(f"GT {args.gt}: {len(gt)} images, {n_boxes} boxes ({n_boxes - n_dc} care, {n_dc} ###)")
    all_agree = True
    if args.pred:
        results = read_results(args.pred)
        preds = {name: polys for name, (polys, _) in results.items()}
        unknown = sorted(set(preds) - set(gt))
        missing = sorted(set(gt) - set(preds))
        print(f"predictions {args.pred}: {len(preds)} images, {sum(len(p) for p in preds.values())} boxes")
        if unknown:
            print(f"  {len(unknown)} predicted image(s) not in GT, ignored: {', '.join(unknown[:5])}"
                  + (" ..." if len(unknown) > 5 else ""))
        if missing:
            print(f"  {len(missing)} GT image(s) without a prediction line (scored as no detections)")
        library, independent, agree = compare(gt, preds)
        print_comparison(library, independent, agree)
        all_agree = agree
    else:
        print("no --pred: sanity predictions built from the GT")
        for name, preds, expectation, expected in sanity_cases(gt, args.seed):
            library, independent, agree = compare(gt, preds)
            print(f"\n- {name}")
            print(f"  expected    {expectation}" + (f"  ->  {_fmt(expected)}" if expected else ""))
            print_comparison(library, independent, agree)
            if expected is not None:
                hit = all(abs(library[k] - expected[k]) < 1e-9 for k in ("precision", "recall", "hmean"))
                print(f"  as expected: {'YES' if hit else 'NO'}")
                all_agree = all_agree and hit
            all_agree = all_agree and agree
    print(f"\nDetMetric agrees with the ICDAR 2015 protocol re-implementation: {'PASS' if all_agree else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
