"""Make synthetic OCR datasets: recognition crops, direction-classifier crops or detection pages.

    python tools/synth_text.py rec --out DIR --num 1000 --seed 0 [--lmdb] [--charset CHARS|DICT] [--height 32]
    python tools/synth_text.py det --out DIR --num 100 --size 640
    python tools/synth_text.py cls --out DIR --num 200
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from ppocr.data.synth import make_cls_dataset, make_det_dataset, make_rec_dataset  # noqa: E402
from ppocr.utils.io import ensure_output_dir  # noqa: E402

logger = logging.getLogger("synth_text")


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return number


def int_range(value: str) -> tuple:
    try:
        low, high = (int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX (two integers), got {value!r}") from None
    return low, high


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Make synthetic OCR datasets in PaddleOCR label formats.")
    commands = parser.add_subparsers(dest="task", required=True)

    def common(sub: argparse.ArgumentParser, default_num: int) -> None:
        sub.add_argument("--out", required=True, help="output directory")
        sub.add_argument("--num", type=positive_int, default=default_num, help="number of images")
        sub.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
        sub.add_argument("--font", action="append", default=None, help="font file to use (repeatable)")

    rec = commands.add_parser("rec", help="recognition crops + rec_gt.txt (or an LMDB)")
    common(rec, 1000)
    rec.add_argument("--lmdb", action="store_true", help="write <out>/lmdb instead of image files")
    rec.add_argument("--charset", default=None, help="characters, a dict file or a packaged dict name")
    rec.add_argument("--height", type=positive_int, default=32)
    rec.add_argument("--length", type=int_range, default=(3, 10), help="word length range MIN,MAX")
    rec.add_argument("--words", type=int_range, default=(1, 1), help="words per line MIN,MAX (needs a space)")

    det = commands.add_parser("det", help="detection pages + det_gt.txt")
    common(det, 100)
    det.add_argument("--size", type=positive_int, default=640, help="page side in pixels")
    det.add_argument("--lines", type=int_range, default=(3, 10), help="text lines per page MIN,MAX")
    det.add_argument("--png", action="store_true", help="write PNG pages instead of JPEG")

    cls = commands.add_parser("cls", help="0/180 direction crops + cls_gt.txt (or an LMDB)")
    common(cls, 200)
    cls.add_argument("--lmdb", action="store_true", help="write <out>/lmdb instead of image files")
    cls.add_argument("--height", type=positive_int, default=48)
    return parser


def main(argv: list = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        ensure_output_dir(args.out, "--out")
        if args.task == "rec":
            summary = make_rec_dataset(args.out, args.num, charset=args.charset, fonts=args.font, seed=args.seed,
                                       height=args.height, fmt="lmdb" if args.lmdb else "files",
                                       length=args.length, words=args.words, progress=True)
        elif args.task == "det":
            summary = make_det_dataset(args.out, args.num, seed=args.seed, size=args.size,
                                       fmt="png" if args.png else "jpg", num_lines=args.lines, fonts=args.font,
                                       progress=True)
        else:
            summary = make_cls_dataset(args.out, args.num, fonts=args.font, seed=args.seed, height=args.height,
                                       fmt="lmdb" if args.lmdb else "files", progress=True)
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"{parser.prog} {args.task}: error: {exc}\n")
    logger.info("%s done: %s", args.task, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
