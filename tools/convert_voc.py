"""Convert a Pascal VOC data set (e.g. BCCD) to a COCO instances json for the EfficientDet recipes.

``python tools/convert_voc.py --voc_root ../shared/data/bccd --split train --out bccd/train.json``
The json's file names are relative to ``<voc_root>/JPEGImages`` (the recipes' ``data_dir``).
"""
import argparse
import logging

import _path  # noqa: F401

from ppocr.data.voc_to_coco import convert_voc
from ppocr.utils.cli import run_main
from ppocr.utils.logging import setup_logging


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voc_root", required=True, help="folder holding Annotations/, JPEGImages/, ImageSets/")
    parser.add_argument("--split", help="ImageSets/Main/<split>.txt to convert (default: every xml)")
    parser.add_argument("--classes", nargs="+", help="class names in category-id order (default: sorted names)")
    parser.add_argument("--out", required=True, help="COCO json to write")
    args = parser.parse_args(argv)
    setup_logging()
    result = convert_voc(args.voc_root, args.out, args.split, args.classes)
    logging.getLogger("ppocr.convert_voc").info(
        "wrote %s: %d images, %d objects, categories %s; left out %s", args.out, result["images"],
        result["annotations"], result["categories"], result["skipped"] or "nothing")
    return 0


if __name__ == "__main__":
    run_main(main)
