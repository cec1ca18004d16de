"""The OCR system on scanned forms (FUNSD): ppocr's TextSystem against the peer, as ``system_ic15.py`` does on photos.

Same contenders, clocks and interleaving as ``system_ic15.py`` (``_system``, ``_peer``): ppocr with its packaged
PP-OCRv4 models, and RapidOCR (``rapidocr_onnxruntime`` 1.4.4, the same ONNX files) with its defaults and with
settings matched to ppocr's, each page through every system in turn. Data: the FUNSD training pages
(``../shared/data/funsd/training_data``: ``images/*.png`` and ``annotations/*.json`` with word boxes and text).

Scoring is at word level, because FUNSD labels words inside entities (question, answer, header) and neither labels
the text lines a DB detector finds nor matches them one to one: a detected line often holds a question and its
answer, and the PP-OCRv4 recogniser often drops the spaces between words. Words whose text has no [0-9a-z]
character after lower-casing (punctuation, check boxes) are left out.
- detection: a GT word is found when its box centre lies inside a kept detection (it is assigned to the smallest
  such detection); recall = found words / GT words; precision = detections holding at least one GT word centre /
  detections; Hmean their harmonic mean. Sums over all pages before dividing.
- end to end (characters): per detection, its words' normalised texts in reading order are joined and aligned with
  the normalised transcription (longest common subsequence, ``rapidfuzz``); precision = aligned characters /
  transcribed characters, recall = aligned characters / GT characters (words outside every detection count as
  missed); Hmean as above.
- end to end (words): recall of words read exactly: a GT word counts when every character of it is aligned.
- speed, CPU time and outside-model share as in ``system_ic15.py``.

Targets (issue 17): end-to-end character Hmean >= the peer's; throughput >= 2x the peer's defaults.

Training pages 1-30 chose the recognition defaults (load average 4-6, 2 cores): rec floor width 192 + batch 1 took
CPU from 3.37 to 2.29 s/page (batch 6 at width 192: 3.31) with char Hmean 0.971 -> 0.969 at det limit 960 and
0.971 at 1120; RapidOCR defaults 0.956 at 5.77 s/page. Reported on pages 31-70 (load average 3.7, 2026-12-07):

    python benchmarks/system_docs.py --funsd ../shared/data/funsd/training_data --start 30 --limit 40 --chunk 4 \
        --variant "sequential:overlap=false" --variant "1thread:cpu_threads=1"

    system             det H   char H   word R   images/s   CPU s/page
    ppocr              0.965   0.956     0.882    0.424      2.16   (overlapped)
    ppocr sequential   0.965   0.956     0.882    0.441      2.12
    ppocr 1thread      0.965   0.956     0.882    0.453      2.01
    RapidOCR default   0.952   0.934     0.843    0.201      5.08   -> 2.11x
    RapidOCR matched   0.962   0.948     0.869    0.214      4.49   -> 1.98x

    python benchmarks/system_docs.py [--funsd ../shared/data/funsd/training_data] [--limit 40]
        [--peers default,matched] [--set rec_batch_num=12] [--variant "NAME:KEY=VALUE;KEY=VALUE"] [--chunk 4]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO, Figure, add_repo_to_path, normalize_word  # noqa: E402
from _peer import Tally, parse_overrides  # noqa: E402
from _system import (SPEED_HEADER, Detection, System, add_arguments, check_arguments, compare_systems,  # noqa: E402
                     outside_share_verdicts, speed_cells, speed_verdicts)

add_repo_to_path()

DEFAULT_FUNSD = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "funsd", "training_data"))
SPEED_TARGETS = {"peer (default)": 2.0}
HEADER = ["system", "det P", "det R", "det H", "char P", "char R", "char H", "word R", *SPEED_HEADER]


def read_funsd(root: str) -> List[Tuple[str, np.ndarray, List[str]]]:
    """``(image path, K×4 word boxes x0,y0,x1,y1, K normalised word texts)`` per page, pages in name order; words
    with no [0-9a-z] character are left out."""
    ann_dir, image_dir = os.path.join(root, "annotations"), os.path.join(root, "images")
    if not os.path.isdir(ann_dir) or not os.path.isdir(image_dir):
        raise SystemExit(f"error: {root} must hold annotations/ and images/ (the FUNSD training_data folder)")
    pages = []
    for name in sorted(n for n in os.listdir(ann_dir) if n.endswith(".json")):
        path = os.path.join(ann_dir, name)
        try:
            with open(path, encoding="utf-8") as f:
                form = json.load(f)["form"]
            words = [(w["box"], normalize_word(w["text"])) for entity in form for w in entity["words"]]
        except (ValueError, KeyError, TypeError) as err:
            raise SystemExit(f"error: {path}: expected FUNSD json with form[].words[].box/text ({err})")
        words = [(box, text) for box, text in words if text]
        boxes = np.array([box for box, _ in words], dtype=np.float64).reshape(-1, 4)
        pages.append((os.path.join(image_dir, name[:-len(".json")] + ".png"), boxes, [t for _, t in words]))
    return pages


class WordScore:
    """Word-level detection and end-to-end counts over pages (see the module docstring)."""

    def __init__(self) -> None:
        self.gt_words = self.found_words = self.detections = self.useful = 0
        self.gt_chars = self.pred_chars = self.aligned_chars = self.exact_words = 0

    def add(self, boxes: np.ndarray, texts: Sequence[str], dets: Sequence[Detection]) -> None:
        from rapidfuzz.distance import LCSseq

        from ppocr.infer.system import reading_order

        self.gt_words += len(texts)
        self.gt_chars += sum(len(t) for t in texts)
        self.detections += len(dets)
        owner = assign_words(boxes, [d[0] for d in dets])
        for index, (_, text) in enumerate(dets):
            members = np.flatnonzero(owner == index)
            predicted = normalize_word(text)
            self.pred_chars += len(predicted)
            if not len(members):
                continue
            self.useful += 1
            self.found_words += len(members)
            quads = np.stack([corners(boxes[m]) for m in members])
            members = members[reading_order(quads)]
            joined = "".join(texts[m] for m in members)
            matched = np.zeros(len(joined), dtype=bool)
            for op in LCSseq.opcodes(joined, predicted):
                if op.tag == "equal":
                    matched[op.src_start:op.src_end] = True
            self.aligned_chars += int(matched.sum())
            start = 0
            for m in members:
                end = start + len(texts[m])
                self.exact_words += bool(matched[start:end].all())
                start = end

    @staticmethod
    def _hmean(precision: float, recall: float) -> float:
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    def figures(self) -> Dict[str, float]:
        det_p = self.useful / self.detections if self.detections else 0.0
        det_r = self.found_words / self.gt_words if self.gt_words else 0.0
        char_p = self.aligned_chars / self.pred_chars if self.pred_chars else 0.0
        char_r = self.aligned_chars / self.gt_chars if self.gt_chars else 0.0
        return {"det_p": det_p, "det_r": det_r, "det_h": self._hmean(det_p, det_r), "char_p": char_p,
                "char_r": char_r, "char_h": self._hmean(char_p, char_r),
                "word_r": self.exact_words / self.gt_words if self.gt_words else 0.0}


def corners(box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)


def assign_words(boxes: np.ndarray, quads: Sequence[np.ndarray]) -> np.ndarray:
    """For each word box, the index of the smallest detection quad holding its centre, or -1."""
    owner = np.full(len(boxes), -1, dtype=np.int64)
    best_area = np.full(len(boxes), np.inf)
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    for index, quad in enumerate(quads):
        contour = np.asarray(quad, dtype=np.float32).reshape(-1, 1, 2)
        area = abs(cv2.contourArea(contour))
        for word in np.flatnonzero(best_area > area):
            if cv2.pointPolygonTest(contour, (float(centres[word, 0]), float(centres[word, 1])), False) >= 0:
                owner[word], best_area[word] = index, area
    return owner


def row(name: str, tally: Tally, score: WordScore) -> List[str]:
    f = score.figures()
    return [name, *(f"{f[key]:.4f}" for key in ("det_p", "det_r", "det_h", "char_p", "char_r", "char_h",
                                                 "word_r")), *speed_cells(tally)]


def verdicts(systems: List[System], scores: List[WordScore]) -> List[Figure]:
    ours, ours_figures = systems[0].tally, scores[0].figures()
    figures = []
    for system, peer_score in zip(systems[1:], scores[1:]):
        peer, peer_figures = system.tally, peer_score.figures()
        if not peer.name.startswith("peer"):
            continue  # a --variant of ppocr: its row is the figure
        for what, key in (("det Hmean", "det_h"), ("e2e char Hmean", "char_h"), ("word recall", "word_r")):
            figures.append(Figure(f"{what} vs {peer.name}", f"{ours_figures[key]:.4f} vs {peer_figures[key]:.4f}",
                                  ">= peer", ours_figures[key] >= peer_figures[key]))
        figures += speed_verdicts(ours, peer, SPEED_TARGETS.get(peer.name), cpu_target=False)
    return figures + outside_share_verdicts(ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--funsd", default=DEFAULT_FUNSD,
                        help="FUNSD folder holding images/ and annotations/ (default: the shared training split)")
    add_arguments(parser)
    args = parser.parse_args()
    check_arguments(parser, args)
    pages = read_funsd(args.funsd)
    pages = pages[args.start:args.start + args.limit] if args.limit > 0 else pages[args.start:]
    if not pages:
        parser.error(f"--funsd {args.funsd}: no annotations/*.json pages")

    words = sum(len(texts) for _, _, texts in pages)
    compare_systems(args, [path for path, _, _ in pages], WordScore,
                    lambda score, number, dets: score.add(pages[number][1], pages[number][2], dets),
                    f"{len(pages)} pages ({words} words) of {args.funsd}, chunk {args.chunk}; ppocr options: "
                    f"{parse_overrides(args.set) or 'defaults'}", HEADER, row, verdicts)


if __name__ == "__main__":
    main()
