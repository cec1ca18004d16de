"""Write PaddleOCR's character dicts (ppocr_keys_v1.txt, en_dict.txt, ic15_dict.txt) into ppocr/utils/.

``python tools/make_paddleocr_dicts.py [--out DIR]``; needs the rapidocr_onnxruntime wheel for the
PP-OCR list (see ppocr.utils.paddleocr_dicts).
"""
import argparse
import logging

import _path  # noqa: F401  (ppocr from this checkout)

from ppocr.utils.cli import run_main
from ppocr.utils.logging import setup_logging
from ppocr.utils.paddleocr_dicts import UTILS_DIR, write_dicts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=UTILS_DIR, help=f"output folder (default: {UTILS_DIR})")
    args = parser.parse_args(argv)
    setup_logging()
    for path in write_dicts(args.out):
        logging.getLogger("ppocr.dicts").info("wrote %s", path)
    return 0


if __name__ == "__main__":
    run_main(main, extra_errors=(ImportError, ValueError))
