"""The OCR system on ICDAR 2015 photos: ppocr's TextSystem with its packaged default models against the peer.

Runs ``ppocr.infer.TextSystem`` (what ``tools/infer/predict_system.py`` runs; default options, PP-OCRv4 models
from the rapidocr_onnxruntime wheel) and, in the same process and on the same images, the peer RapidOCR
(``rapidocr_onnxruntime`` 1.4.4, the same ONNX files) twice: with its own default settings, and with settings
matched to ppocr's (see ``_peer.matched_settings``). Each image goes through every system in turn,
the order rotating from image to image, so a change in machine load hits all systems alike.

Scoring (``../shared/eval/README.md``), on each system's final output (boxes kept after its recognition-score
filter, as predict_system writes them):
- detection: ICDAR 2015 one-to-one matching at IoU > 0.5 (``ppocr.metrics.iou_matching.match_detections``);
  a detection lying mostly inside a ``###`` (don't-care) region is ignored; precision = matched / cared-for
  detections, recall = matched / cared-for GT, summed over all images before dividing; Hmean their harmonic mean.
- end to end: a true positive is a matched (gt, detection) pair from the detection matching whose texts are
  equal after lower-casing and dropping every character outside [0-9a-z]; precision = true positives /
  cared-for detections, recall = true positives / cared-for GT, Hmean as above.
- speed: images/s = images / wall seconds summed over the system's own calls (image decoding included);
  CPU s/image from process CPU time (all threads) over the same calls.
- outside-model share: 1 - (wall seconds inside model runs) / (wall seconds of the calls). ppocr's model time
  is ``Backend.run_seconds``; the peer's ONNX sessions are wrapped with the same clock.

Targets (issue 17): Hmean (det and end to end) >= the peer's; throughput >= 2.5x the peer's defaults and >= 1.5x
the peer matched to our settings; outside-model share <= 10 %.

Defaults chosen on training data (ICDAR 2015 train, first 100 images, load average 4-6 on 2 cores, one run):

    python benchmarks/system_ic15.py --data ../shared/data/icdar2015_train --limit 100 --peers default \
        --variant "w192b1:rec_image_shape=3,48,192;rec_batch_num=1" \
        --variant "max1024_w192b1:rec_image_shape=3,48,192;rec_batch_num=1;det_limit_side_len=1024" ...

    setting (det limit / rec floor width, batch)   det H   e2e H   CPU s/img   images/s
    960 max / 320, 6 (PaddleOCR's)                 0.343   0.229   0.363       1.46
    960 max / 192, 1                               0.345   0.230   0.267       2.04
    1024 max / 192, 1 (chosen)                     0.384   0.236   0.299       1.86
    1120 max / 192, 1                              0.374   0.248   0.352       1.55
    1280 max / 192, 1                              0.402   0.253   0.446       1.22
    736 min / 192, 1 (RapidOCR's resize)           0.425   0.267   0.648       0.77
    RapidOCR defaults                              0.351   0.228   1.103       0.57
1024 is the largest limit that keeps >= 2.5x the peer's speed with both Hmeans above it. Recognition alone on
1 980 ICDAR 2015 train word crops: floor width 320 / 256 / 192 / 160 / 128 gave 78.7 / 79.3 / 78.7 / 78.5 / 78.0 %
word accuracy at 62 / 50 / 41 / 38 / 34 CPU s, and batch 1 costs 30 % less CPU than batch 6 at the same accuracy.
int8 (tools/quant_onnx.py, 60 train images, load 5-16): det+rec int8 det H 0.319 / e2e 0.149 against 0.371 /
0.228 float; int8 rec alone loses 17-27 points of word accuracy; int8 det alone is within a point at 960 max but
loses 4 points of det H and 3 of e2e H at 736 min. So int8 is offered, not the default.

Reported on ../shared/eval (first 100 images, chunk 4, load average 3.9 on 2 cores, 2026-12-07):

    python benchmarks/system_ic15.py --limit 100 --chunk 4 --variant "sequential:overlap=false" \
        --variant "1thread:cpu_threads=1"

    system             det H   e2e H   images/s   CPU s/img
    ppocr              0.481   0.289   3.33       0.292      (overlapped, 2 threads per stage)
    ppocr sequential   0.481   0.289   3.19       0.286
    ppocr 1thread      0.481   0.289   3.51       0.258      (overlapped, 1 thread per stage)
    RapidOCR default   0.442   0.286   1.03       0.964      -> 3.23x
    RapidOCR matched   0.452   0.276   1.60       0.620      -> 2.09x

All 200 images (chunk 4, the other core training a detector: load average 1.3 at the start, 4.1 at the end,
2026-12-07):

    python benchmarks/system_ic15.py --chunk 4

    system             det H   e2e H   images/s   CPU s/img
    ppocr              0.486   0.282   3.91       0.314
    RapidOCR default   0.454   0.278   1.28       0.966      -> 3.07x
    RapidOCR matched   0.466   0.269   2.02       0.599      -> 1.93x

    python benchmarks/system_ic15.py [--limit 40] [--peers default,matched] [--set det_limit_side_len=736]
        [--variant "736min:det_limit_side_len=736;det_limit_type=min"] [--chunk 4]
        [--data ../shared/data/icdar2015_train]   # training data: for choosing settings
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import DEFAULT_EVAL_ROOT, Figure, Score, add_repo_to_path  # noqa: E402
from _peer import Tally, parse_overrides  # noqa: E402
from _system import (SPEED_HEADER, System, add_arguments, check_arguments, compare_systems,  # noqa: E402
                     outside_share_verdicts, speed_cells, speed_verdicts)

add_repo_to_path()


def read_det_gt(label_file: str) -> List[Tuple[str, List[dict]]]:
    """``(image path, [{"transcription", "points"}])`` per line of a PaddleOCR det label file."""
    base = os.path.dirname(os.path.abspath(label_file))
    items = []
    with open(label_file, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            path, found, labels = line.rstrip("\r\n").partition("\t")
            if not found:
                raise ValueError(f"{label_file}, line {line_no}: expected 'image_path<TAB>json list'")
            items.append((os.path.join(base, path), json.loads(labels)))
    return items


def read_icdar_folder(root: str) -> List[Tuple[str, List[dict]]]:
    """``(image path, [{"transcription", "points"}])`` per image of an ICDAR 2015 training folder
    (``ch4_training_images/img_N.jpg`` with ``ch4_training_localization_transcription_gt/gt_img_N.txt`` lines
    ``x1,y1,...,x4,y4,transcription``), in image-number order."""
    image_dir = os.path.join(root, "ch4_training_images")
    gt_dir = os.path.join(root, "ch4_training_localization_transcription_gt")
    if not os.path.isdir(image_dir) or not os.path.isdir(gt_dir):
        raise SystemExit(f"error: {root} must hold ch4_training_images/ and "
                         "ch4_training_localization_transcription_gt/")
    names = sorted((n for n in os.listdir(image_dir) if n.endswith(".jpg")),
                   key=lambda n: int("".join(filter(str.isdigit, n)) or 0))
    items = []
    for name in names:
        labels = []
        gt_file = os.path.join(gt_dir, f"gt_{os.path.splitext(name)[0]}.txt")
        with open(gt_file, encoding="utf-8-sig") as f:
            for line_no, line in enumerate(f, start=1):
                fields = line.rstrip("\r\n").split(",", 8)
                if len(fields) < 9:
                    if line.strip():
                        raise SystemExit(f"error: {gt_file}, line {line_no}: expected x1,y1,...,x4,y4,text")
                    continue
                points = np.array(fields[:8], dtype=np.float64).reshape(4, 2).tolist()
                labels.append({"transcription": fields[8], "points": points})
        items.append((os.path.join(image_dir, name), labels))
    return items


HEADER = ["system", "det P", "det R", "det H", "e2e P", "e2e R", "e2e H", *SPEED_HEADER]
SPEED_TARGETS = {"peer (default)": 2.5, "peer (matched)": 1.5}  # issue 17: throughput over the peer's


def row(name: str, tally: Tally, score: Score) -> List[str]:
    det, e2e = score.det, score.end_to_end
    return [name, f"{det['precision']:.4f}", f"{det['recall']:.4f}", f"{det['hmean']:.4f}",
            f"{e2e['precision']:.4f}", f"{e2e['recall']:.4f}", f"{e2e['hmean']:.4f}", *speed_cells(tally)]


def verdicts(systems: List[System], scores: List[Score]) -> List[Figure]:
    ours, ours_score = systems[0].tally, scores[0]
    figures = []
    for system, peer_score in zip(systems[1:], scores[1:]):
        peer = system.tally
        if not peer.name.startswith("peer"):
            continue  # a --variant of ppocr: its row is the figure
        for what, pick in (("det Hmean", lambda s: s.det["hmean"]), ("e2e Hmean", lambda s: s.end_to_end["hmean"])):
            figures.append(Figure(f"{what} vs {peer.name}", f"{pick(ours_score):.4f} vs {pick(peer_score):.4f}",
                                  ">= peer", pick(ours_score) >= pick(peer_score)))
        figures += speed_verdicts(ours, peer, SPEED_TARGETS.get(peer.name, 2.0), cpu_target=True)
    return figures + outside_share_verdicts(ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval_root", default=DEFAULT_EVAL_ROOT, help="folder holding icdar2015_dev/")
    parser.add_argument("--data", default=None,
                        help="score on this instead of the eval set: a PaddleOCR det label file, or the ICDAR 2015 "
                             "training folder (../shared/data/icdar2015_train) for choosing settings")
    add_arguments(parser)
    args = parser.parse_args()
    check_arguments(parser, args)
    label_file = args.data or os.path.join(args.eval_root, "icdar2015_dev", "det_gt.txt")
    if os.path.isdir(label_file):
        items = read_icdar_folder(label_file)
    elif os.path.isfile(label_file):
        items = read_det_gt(label_file)
    else:
        parser.error(f"{label_file} does not exist; point --eval_root at the shared eval folder or --data at a "
                     "det label file or the ICDAR 2015 training folder")
    items = items[args.start:args.start + args.limit] if args.limit > 0 else items[args.start:]

    compare_systems(args, [path for path, _ in items], Score,
                    lambda score, number, dets: score.add(items[number][1], dets),
                    f"{len(items)} images of {label_file}, chunk {args.chunk}; ppocr options: "
                    f"{parse_overrides(args.set) or 'defaults'}", HEADER, row, verdicts)


if __name__ == "__main__":
    main()
