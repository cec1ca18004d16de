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

Targets: Hmean (det and end to end) >= the peer's; throughput >= 2x the peer's; outside-model share <= 10 %.

    python benchmarks/system_ic15.py [--limit 40] [--peers default,matched] [--set det_limit_side_len=736]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (DEFAULT_EVAL_ROOT, Figure, add_repo_to_path, format_table, load_average,  # noqa: E402
                     normalize_word)
from _peer import PEER_SETTINGS, Tally, make_peer, parse_overrides, ratio  # noqa: E402

add_repo_to_path()

Detection = Tuple[np.ndarray, str]  # 4×2 points, text


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


class Score:
    """Global detection and end-to-end counts over images."""

    def __init__(self) -> None:
        self.gt_care = self.det_care = self.matched = self.e2e = 0

    def add(self, gt: List[dict], dets: Sequence[Detection]) -> None:
        from ppocr.metrics.iou_matching import match_detections

        result = match_detections([g["points"] for g in gt], [d[0] for d in dets],
                                  [g["transcription"] == "###" for g in gt])
        self.gt_care += result.gt_care
        self.det_care += result.det_care
        self.matched += result.matched
        self.e2e += sum(normalize_word(dets[j][1]) == normalize_word(gt[i]["transcription"]) for i, j in result.pairs)

    def figures(self, hits: int) -> Dict[str, float]:
        from ppocr.metrics.iou_matching import summarize

        return summarize(hits, self.gt_care, self.det_care)

    @property
    def det(self) -> Dict[str, float]:
        return self.figures(self.matched)

    @property
    def end_to_end(self) -> Dict[str, float]:
        return self.figures(self.e2e)


def ours_detections(results: List[dict]) -> List[Detection]:
    return [(np.asarray(r["points"], dtype=np.float64), r["transcription"]) for r in results]


def peer_detections(output: Any) -> List[Detection]:
    if not output or output[0] is None:
        return []
    return [(np.asarray(box, dtype=np.float64), text) for box, text, _ in output[0]]


def build_systems(args: argparse.Namespace):
    """``[(tally, run(path) -> detections, model seconds so far)]``: ppocr first, then the requested peer
    settings; and ppocr's backends by stage."""
    from ppocr.infer import TextSystem

    system = TextSystem(**parse_overrides(args.set))
    stages = {"det": system.detector, "cls": system.classifier, "rec": system.recognizer}
    backends = {name: stage.backend for name, stage in stages.items() if stage is not None}
    systems = [(Tally("ppocr"), lambda path: ours_detections(system(path)),
                lambda: sum(b.run_seconds for b in backends.values()))]
    print(f"ppocr: det resize {system.detector.resize_args}, det postprocess {system.detector.post_args}, "
          f"direction classifier {'on' if system.classifier else 'off'}, rec batch {system.recognizer.batch_num}")
    for settings in args.peers:
        engine, model_seconds = make_peer(settings, system)
        systems.append((Tally(f"peer ({settings})"), lambda path, e=engine: peer_detections(e(path)), model_seconds))
    return systems, backends


def row(name: str, tally: Tally, score: Score) -> List[str]:
    det, e2e = score.det, score.end_to_end
    return [name, f"{det['precision']:.4f}", f"{det['recall']:.4f}", f"{det['hmean']:.4f}",
            f"{e2e['precision']:.4f}", f"{e2e['recall']:.4f}", f"{e2e['hmean']:.4f}",
            f"{tally.rate:.3f}", f"{tally.cpu / max(tally.items, 1):.3f}", f"{100 * tally.outside_share:.1f}%"]


def print_rows(rows: List[List[str]]) -> None:
    header = ["system", "det P", "det R", "det H", "e2e P", "e2e R", "e2e H", "images/s", "CPU s/img",
              "outside model"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, *rows]:
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))))


def verdicts(systems, scores) -> List[Figure]:
    (ours, _, _), ours_score = systems[0], scores[0]
    figures = []
    for (peer, _, _), peer_score in zip(systems[1:], scores[1:]):
        for what, pick in (("det Hmean", lambda s: s.det["hmean"]), ("e2e Hmean", lambda s: s.end_to_end["hmean"])):
            figures.append(Figure(f"{what} vs {peer.name}", f"{pick(ours_score):.4f} vs {pick(peer_score):.4f}",
                                  ">= peer", pick(ours_score) >= pick(peer_score)))
        figures.append(Figure(f"images/s vs {peer.name}", f"{ours.rate:.3f} vs {peer.rate:.3f} = "
                              f"{ratio(ours.rate, peer.rate)}", ">= 2x", ours.rate >= 2 * peer.rate))
        figures.append(Figure(f"  by CPU time vs {peer.name}", f"{ours.cpu_rate:.3f} vs {peer.cpu_rate:.3f} = "
                              f"{ratio(ours.cpu_rate, peer.cpu_rate)}", ">= 2x", ours.cpu_rate >= 2 * peer.cpu_rate))
    figures.append(Figure("ppocr wall share outside model runs", f"{100 * ours.outside_share:.1f}%", "<= 10%",
                          ours.outside_share <= 0.10))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval_root", default=DEFAULT_EVAL_ROOT, help="folder holding icdar2015_dev/")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (0 = all)")
    parser.add_argument("--peers", default="default,matched",
                        help=f"comma-separated peer settings out of {', '.join(PEER_SETTINGS)}; empty for none")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an InferOptions override for ppocr (repeatable), e.g. det_limit_side_len=736")
    args = parser.parse_args()
    args.peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in args.peers if p not in PEER_SETTINGS]
    if unknown:
        parser.error(f"--peers: unknown setting(s) {unknown}; expected {list(PEER_SETTINGS)}")
    label_file = os.path.join(args.eval_root, "icdar2015_dev", "det_gt.txt")
    if not os.path.isfile(label_file):
        parser.error(f"{label_file} does not exist; point --eval_root at the shared eval folder")
    items = read_det_gt(label_file)
    items = items[:args.limit] if args.limit > 0 else items

    print(f"start: {load_average()}")
    systems, backends = build_systems(args)
    for tally, run, model_seconds in systems:
        run(items[0][0])  # warm-up: first-run allocations are not what a long run costs
        base = model_seconds()
        tally.model_seconds = lambda m=model_seconds, b=base: m() - b
    stage_base = {name: backend.run_seconds for name, backend in backends.items()}
    scores = [Score() for _ in systems]
    for number, (path, gt) in enumerate(items):
        for offset in range(len(systems)):
            which = (number + offset) % len(systems)
            tally, run, _ = systems[which]
            scores[which].add(gt, tally.timed(run, path))
    print(f"end: {load_average()}")
    print(f"{len(items)} images of {label_file}; ppocr options: {parse_overrides(args.set) or 'defaults'}")
    print_rows([row(tally.name, tally, score) for (tally, _, _), score in zip(systems, scores)])
    print("ppocr model wall seconds per image: " + ", ".join(
        f"{name} {(backend.run_seconds - stage_base[name]) / len(items):.3f}" for name, backend in backends.items()))
    print(format_table("targets", verdicts(systems, scores)))


if __name__ == "__main__":
    main()
