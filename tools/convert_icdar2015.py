"""Convert ICDAR 2015 ground truth to a PaddleOCR detection label file.

``python tools/convert_icdar2015.py --gt_dir ch4_test_gt --image_dir ch4_test_images --out test_label.txt
--image_prefix ch4_test_images/``
"""
import argparse
import logging

import _path  # noqa: F401

from ppocr.data.icdar2015 import convert_icdar2015
from ppocr.utils.cli import run_main
from ppocr.utils.io import ensure_output_file
from ppocr.utils.logging import setup_logging


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gt_dir", required=True, help="folder of gt_img_N.txt files")
    parser.add_argument("--image_dir", required=True, help="folder of img_N.jpg files")
    parser.add_argument("--out", required=True, help="label file to write")
    parser.add_argument("--image_prefix", default="", help="prefix for image paths (relative to data_dir)")
    args = parser.parse_args(argv)
    setup_logging()
    ensure_output_file(args.out, "--out")
    written, missing = convert_icdar2015(args.gt_dir, args.image_dir, args.out, args.image_prefix)
    logging.getLogger("ppocr.convert").info("wrote %d images to %s (%d GT files without image)",
                                            written, args.out, missing)
    return 0 if written else 1


if __name__ == "__main__":
    run_main(main)
