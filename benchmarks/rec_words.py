"""Word recognition on real crops: ppocr's TextRecognizer against the peer's recogniser, same model and crops.

ppocr runs ``ppocr.infer.TextRecognizer`` with default options (what ``tools/infer/predict_rec.py`` runs: the
packaged PP-OCRv4 rec model, ``rec_batch_num`` 6). The peer is rapidocr_onnxruntime 1.4.4's own recogniser
class (``RapidOCR().text_rec``, its ``ch_ppocr_rec.TextRecognizer``) on the same ONNX file, with its default
settings and, as ``peer (matched)``, with ppocr's ONNX thread count. Crops are decoded once up front and fed to
every recogniser in the same chunks, in file order (``--chunk``, default 6 like predict_rec's batches), the
system order rotating chunk by chunk so a change in machine load hits all of them alike.

Scoring (``../shared/eval/README.md``): a word is right when prediction and label are equal after lower-casing
and dropping every character outside [0-9a-z]. words/s = crops / wall seconds of the recogniser calls;
CPU ms/word from process CPU time (all threads); outside-model share as in ``system_ic15.py``.

Targets: word accuracy >= the peer's; words/s >= the peer's. (The issue's 2x throughput target is set on the
whole system, ``system_ic15.py``; here both sides run the same model on the same padded batches, so the ratio
shows the engine settings and pre/post-processing alone.)

    python benchmarks/rec_words.py [--sets svt,ic03] [--limit 200] [--set rec_batch_num=12]
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, List, Sequence, Tuple

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (DEFAULT_EVAL_ROOT, Figure, add_repo_to_path, format_table, load_average,  # noqa: E402
                     read_rec_gt, word_accuracy)
from _peer import Tally, make_peer_recognizer, parse_overrides, ratio  # noqa: E402

add_repo_to_path()

Recognise = Callable[[List[np.ndarray]], List[str]]


def load_crops(label_file: str, limit: int) -> Tuple[List[np.ndarray], List[str]]:
    pairs = read_rec_gt(label_file)
    pairs = pairs[:limit] if limit > 0 else pairs
    crops = []
    for path, _ in pairs:
        crop = cv2.imread(path, cv2.IMREAD_COLOR)
        if crop is None:
            raise ValueError(f"{label_file}: cannot read image {path}")
        crops.append(crop)
    return crops, [word for _, word in pairs]


def build_recognisers(peers: Sequence[str], overrides: Sequence[str]
                      ) -> List[Tuple[Tally, Recognise, Callable[[], float]]]:
    from ppocr.infer import InferOptions, TextRecognizer
    from ppocr.infer.backends import cpu_thread_count

    options = InferOptions().replace(**parse_overrides(overrides))
    ours = TextRecognizer(options)
    print(f"ppocr: {ours.backend}, rec_image_shape {ours.image_shape}, batch {ours.batch_num}")
    systems = [(Tally("ppocr"), lambda crops: [text for text, _ in ours(crops)[0]],
                lambda: ours.backend.run_seconds)]
    threads = {"default": None, "matched": cpu_thread_count(options.cpu_threads)}
    for name in peers:
        peer, model_seconds = make_peer_recognizer(threads[name])
        systems.append((Tally(f"peer ({name})"), lambda crops, p=peer: [r[0] for r in p(crops)[0]], model_seconds))
    return systems


def run_set(name: str, crops: List[np.ndarray], words: List[str], chunk: int, systems) -> List[Figure]:
    """Recognise one set with every system; print its rows and return its target figures."""
    tallies = []
    for tally, recognise, model_seconds in systems:
        recognise(crops[:chunk])  # warm-up
        base = model_seconds()
        tallies.append(Tally(tally.name, model_seconds=lambda m=model_seconds, b=base: m() - b))
    predictions: List[List[str]] = [[] for _ in systems]
    for number, start in enumerate(range(0, len(crops), chunk)):
        part = crops[start:start + chunk]
        for offset in range(len(systems)):
            which = (number + offset) % len(systems)
            predictions[which].extend(tallies[which].timed(systems[which][1], part, count=len(part)))
    accuracies = [word_accuracy(zip(pred, words)) for pred in predictions]
    print(f"--- {name}: {len(words)} crops; {load_average()}")
    header = ["system", "accuracy", "correct", "words/s", "CPU ms/word", "outside model"]
    rows = [[t.name, f"{acc:.4f}", f"{hit}/{total}", f"{t.rate:.1f}", f"{1000 * t.cpu / max(t.items, 1):.1f}",
             f"{100 * t.outside_share:.1f}%"] for t, (acc, hit, total) in zip(tallies, accuracies)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, *rows]:
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))))
    figures = []
    ours, ours_acc = tallies[0], accuracies[0][0]
    for peer, (peer_acc, _, _) in zip(tallies[1:], accuracies[1:]):
        figures.append(Figure(f"{name} accuracy vs {peer.name}", f"{ours_acc:.4f} vs {peer_acc:.4f}", ">= peer",
                              ours_acc >= peer_acc))
        figures.append(Figure(f"{name} words/s vs {peer.name}", f"{ours.rate:.1f} vs {peer.rate:.1f} = "
                              f"{ratio(ours.rate, peer.rate)}", ">= peer", ours.rate >= peer.rate))
        figures.append(Figure(f"  by CPU time vs {peer.name}", f"{ratio(ours.cpu_rate, peer.cpu_rate)}", ">= peer",
                              ours.cpu_rate >= peer.cpu_rate))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval_root", default=DEFAULT_EVAL_ROOT, help="folder holding svt/ and ic03/")
    parser.add_argument("--sets", default="svt,ic03", help="comma-separated sets under --eval_root")
    parser.add_argument("--limit", type=int, default=0, help="only the first N crops of each set (0 = all)")
    parser.add_argument("--chunk", type=int, default=6, help="crops per recogniser call (predict_rec: rec_batch_num)")
    parser.add_argument("--peers", default="default,matched", help="peer settings: default, matched; empty for none")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an InferOptions override for ppocr (repeatable), e.g. rec_batch_num=12")
    args = parser.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    if any(p not in ("default", "matched") for p in peers):
        parser.error(f"--peers: expected default and/or matched, got {args.peers!r}")
    sets = [s for s in args.sets.split(",") if s]
    for name in sets:
        label_file = os.path.join(args.eval_root, name, "rec_gt.txt")
        if not os.path.isfile(label_file):
            parser.error(f"{label_file} does not exist; point --eval_root at the shared eval folder")
    print(f"start: {load_average()}")
    systems = build_recognisers(peers, args.set)
    figures = []
    for name in sets:
        crops, words = load_crops(os.path.join(args.eval_root, name, "rec_gt.txt"), args.limit)
        figures.extend(run_set(name, crops, words, max(1, args.chunk), systems))
    print(f"end: {load_average()}")
    print(format_table("targets", figures))


if __name__ == "__main__":
    main()
