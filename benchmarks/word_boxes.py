"""Word boxes (``--return_word_box``) against line boxes, end to end, on word-level ground truth.

Runs ``ppocr.infer.TextSystem`` with the packaged PP-OCRv4 models on ICDAR 2015 dev photos
(``../shared/eval/icdar2015_dev``) and FUNSD training forms (``../shared/data/funsd``), whose ground truth
is one box per word. Each image is read twice: words split at predicted spaces only, and also at wide
character gaps (``word_gap_spaces``). Three detection sets are scored per image:
- lines: the system's line boxes with their whole transcription (what the results file held before);
- words: the word boxes split at predicted spaces;
- words+gaps: the word boxes also split where the gap between characters exceeds 2 character pitches.

Scoring (``../shared/eval/README.md``): ICDAR 2015 one-to-one matching at IoU > 0.5, ``###`` regions
don't-care (FUNSD: words whose text has no [0-9a-z] character); an end-to-end true positive is a matched
pair whose texts are equal after lower-casing and keeping [0-9a-z]. Precision, recall and Hmean from
counts summed over the images. Target on IC15 dev: e2e Hmean >= 0.40 with word boxes (0.30 with lines).

    python benchmarks/word_boxes.py [--limit 50] [--sets ic15,funsd]

Recorded (2 shared CPU cores, packaged PP-OCRv4 models, default options otherwise):

    set                   boxes        det Hmean  e2e P  e2e R  e2e Hmean
    ICDAR 2015 dev (200)  lines        0.483      0.397  0.240  0.299
                          words        0.709      0.618  0.464  0.530
                          words+gaps   0.709      0.607  0.466  0.528
    FUNSD train (30)      lines        0.273      0.383  0.152  0.217
                          words        0.676      0.706  0.521  0.600
                          words+gaps   0.716      0.721  0.569  0.636

Splitting at wide gaps helps on the forms (training data, where defaults are chosen) and is neutral on the
photos, so ``word_gap_spaces`` defaults to on.
"""
from __future__ import annotations

import glob
import json
import os
import sys
import time
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import DEFAULT_EVAL_ROOT, REPO, Score, base_parser, normalize_word, start  # noqa: E402

VARIANTS = ("lines", "words", "words+gaps")


def ic15_items(root: str) -> List[Tuple[str, List[dict]]]:
    from system_ic15 import read_det_gt

    return read_det_gt(os.path.join(root, "icdar2015_dev", "det_gt.txt"))


def funsd_items(root: str) -> List[Tuple[str, List[dict]]]:
    """(image, [{"transcription", "points"}]) per FUNSD page; words without [0-9a-z] are don't-care."""
    folder = os.path.join(root, "funsd", "training_data")
    items = []
    for path in sorted(glob.glob(os.path.join(folder, "annotations", "*.json"))):
        with open(path, encoding="utf-8") as f:
            form = json.load(f)["form"]
        gt = []
        for entity in form:
            for word in entity.get("words", []):
                x0, y0, x1, y1 = word["box"]
                text = word["text"] if normalize_word(word["text"]) else "###"
                gt.append({"transcription": text, "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]})
        image = os.path.join(folder, "images", os.path.basename(path)[:-5] + ".png")
        items.append((image, gt))
    return items


def detections(results: List[dict], variant: str) -> List[Tuple[list, str]]:
    if variant == "lines":
        return [(r["points"], r["transcription"]) for r in results]
    return [(w["points"], w["text"]) for r in results for w in r["words"]]


def run_set(name: str, items: List[Tuple[str, List[dict]]], limit: int) -> Dict[str, Dict[str, float]]:
    from ppocr.infer import TextSystem

    systems = {gaps: TextSystem(return_word_box=True, word_gap_spaces=gaps) for gaps in (False, True)}
    scores = {variant: Score() for variant in VARIANTS}
    items = items[:limit] if limit else items
    begin = time.perf_counter()
    for number, (image, gt) in enumerate(items, 1):
        plain = systems[False](image)
        scores["lines"].add(gt, detections(plain, "lines"))
        scores["words"].add(gt, detections(plain, "words"))
        scores["words+gaps"].add(gt, detections(systems[True](image), "words"))
        if number % 20 == 0:
            print(f"  {name}: {number}/{len(items)} images, {time.perf_counter() - begin:.0f} s", flush=True)
    return {variant: {"det": score.det["hmean"], **{f"e2e_{k}": v for k, v in score.end_to_end.items()}}
            for variant, score in scores.items()}


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--data_root", default=os.path.normpath(os.path.join(REPO, "..", "shared", "data")),
                        help="folder holding funsd/ (default: ../shared/data)")
    parser.add_argument("--sets", default="ic15,funsd", help="comma-separated: ic15, funsd")
    parser.add_argument("--limit", type=int, default=0, help="images per set (0: all)")
    args = parser.parse_args()
    start(args, "word_boxes_")
    loaders = {"ic15": lambda: ic15_items(args.eval_root or DEFAULT_EVAL_ROOT),
               "funsd": lambda: funsd_items(args.data_root)}
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        figures = run_set(name, loaders[name](), args.limit)
        print(f"\n{name} ({args.limit or 'all'} images)")
        print(f"{'boxes':<12} {'det Hmean':>9} {'e2e P':>7} {'e2e R':>7} {'e2e Hmean':>9}")
        for variant, f in figures.items():
            print(f"{variant:<12} {f['det']:>9.3f} {f['e2e_precision']:>7.3f} {f['e2e_recall']:>7.3f} "
                  f"{f['e2e_hmean']:>9.3f}")


if __name__ == "__main__":
    main()
