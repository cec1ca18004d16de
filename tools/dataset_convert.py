"""Convert a recognition dataset to LMDB (TAO OCRNet ``dataset_convert``).

TAO folder (images/, gt_list.txt, characters_list.txt):
  python tools/dataset_convert.py --dataset_dir /data/train --results_dir /data/lmdb
TAO keys given one by one:
  python tools/dataset_convert.py --input_img_dir /data/train/images --gt_file /data/train/gt_list.txt
      --character_list_file /data/characters_list.txt --results_dir /data/lmdb
PaddleOCR label file (path<TAB>label):
  python tools/dataset_convert.py --label_file train_data/rec/train/rec_gt.txt --data_dir train_data/rec/train
      --results_dir train_data/lmdb

Writes <results_dir>/<tag> (the LMDB) and <results_dir>/<tag>_warnings.json listing every line left out.

Object detection (TAO EfficientDet ``dataset_convert``; sharded LMDBs in place of TFRecords):
  python tools/dataset_convert.py -i /data/train2017 -a /data/instances_train2017.json -o /data/lmdb -t train -s 8
Writes <o>/<tag>-0000k-of-0000n (one LMDB per shard) and <o>/<tag>_warnings.json (objects with a problem per image).
"""
import argparse
import logging

import _path  # noqa: F401

from ppocr.data.dataset_convert import convert_label_file, convert_tao_dataset
from ppocr.utils.cli import run_main
from ppocr.utils.logging import setup_logging


def detection_main(argv) -> int:
    from ppocr.data.objdet_convert import DEFAULT_SHARDS, convert_coco_to_lmdb

    parser = argparse.ArgumentParser(description="COCO json + images -> sharded LMDBs (TAO EfficientDet form)")
    parser.add_argument("-i", "--image_dir", required=True, help="folder of the images the json names")
    parser.add_argument("-a", "--annotations_file", required=True, help="COCO instances json")
    parser.add_argument("-o", "--output_dir", required=True, help="folder for the shards and the warnings file")
    parser.add_argument("-t", "--tag", help="shard name prefix (default: the json's file name)")
    parser.add_argument("-s", "--num_shards", type=int, default=DEFAULT_SHARDS, help="number of shards (256)")
    parser.add_argument("--include_mask", action="store_true", help="(refused: boxes only)")
    args = parser.parse_args(argv)
    if args.include_mask:
        parser.exit(2, "error: --include_mask: segmentation masks are not supported (EfficientDet here trains "
                       "boxes only); convert without it\n")
    setup_logging()
    result = convert_coco_to_lmdb(args.image_dir, args.annotations_file, args.output_dir, args.tag, args.num_shards)
    logging.getLogger("ppocr.dataset_convert").info(
        "%d images in %d shards under %s; problems: %s (see %s)", result.written, len(result.shards),
        args.output_dir, result.counts or "none", result.warnings_file)
    return 0


def main(argv=None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-a", "--annotations_file") or a.startswith("--annotations_file=") for a in argv):
        return detection_main(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tao = parser.add_argument_group("TAO OCRNet input")
    tao.add_argument("--dataset_dir", help="folder holding images/, gt_list.txt and characters_list.txt")
    tao.add_argument("--input_img_dir", help="image folder (overrides <dataset_dir>/images)")
    tao.add_argument("--gt_file", help="'image_name label' per line (overrides <dataset_dir>/gt_list.txt)")
    paddle_ocr = parser.add_argument_group("PaddleOCR input")
    paddle_ocr.add_argument("--label_file", help="'image_path<TAB>label' per line")
    paddle_ocr.add_argument("--data_dir", help="folder the label file's image paths are relative to")
    parser.add_argument("--character_list_file", "--character_dict_path", dest="character_list_file",
                        help="one character per line; labels with other characters are left out")
    parser.add_argument("--use_space_char", action="store_true", help="the space is a character too")
    parser.add_argument("--max_label_length", type=int, default=25, help="longer labels are left out")
    parser.add_argument("--results_dir", required=True, help="output folder")
    parser.add_argument("--tag", help="name of the LMDB inside results_dir (default: dataset folder / label file name)")
    args = parser.parse_args(argv)
    tao_given = any((args.dataset_dir, args.input_img_dir, args.gt_file))
    if tao_given == bool(args.label_file):
        parser.error("give either a TAO dataset (--dataset_dir or --input_img_dir/--gt_file) or --label_file")
    if args.label_file and not args.data_dir:
        parser.error("--label_file needs --data_dir")
    if tao_given and args.use_space_char:
        parser.error("--use_space_char applies to --label_file; a TAO character list names the space itself")
    setup_logging()
    if args.label_file:
        result = convert_label_file(args.label_file, args.data_dir, args.results_dir, args.character_list_file,
                                    args.use_space_char, args.max_label_length, args.tag)
    else:
        result = convert_tao_dataset(args.results_dir, args.dataset_dir, args.input_img_dir, args.gt_file,
                                     args.character_list_file, args.max_label_length, args.tag)
    logging.getLogger("ppocr.dataset_convert").info(
        "LMDB %s: %d samples; %d lines left out (see %s)", result.lmdb_dir, result.written,
        sum(result.skipped.values()), result.warnings_file)
    return 0


if __name__ == "__main__":
    run_main(main)
