"""EfficientDet inference on an image or folder (TAO ``inference``): annotated images, KITTI labels, COCO results.

Exported model (Paddle Inference, or its ONNX with --use_onnx):
    python tools/infer_objdet.py -m inference/efficientdet_d0 -i images/ -o out/annotated -l out/labels
Training checkpoint (EMA weights when present) with its config (our YAML or a TAO spec file):
    python tools/infer_objdet.py -e configs/objdet/efficientdet_d0.yml -m output/efficientdet_d0/best_accuracy \
        -i images/ -o out/annotated --coco_results out/results.json --label_map labels.txt
KITTI lines are ``class 0.00 0 0.00 x1 y1 x2 y2 0.00 0.00 0.00 0.00 0.00 0.00 0.00 score``, one file per image.
``--min_score_thresh`` (default 0.4, TAO's) and ``--max_detections_per_image`` override the model's postprocess.
"""
import argparse
import json
import logging
import os

import _path  # noqa: F401

from ppocr.utils.cli import run_main
from ppocr.utils.registry import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-m", "--model_path", required=True, help="exported model folder / .onnx, or checkpoint prefix")
    parser.add_argument("-i", "--in_image_path", required=True, help="an image, a folder or a list file")
    parser.add_argument("-o", "--out_image_path", help="folder for the annotated images")
    parser.add_argument("-l", "--out_label_path", help="folder for KITTI label files (<image stem>.txt)")
    parser.add_argument("--coco_results", help="COCO results json to write (image_id, category_id, bbox, score)")
    parser.add_argument("-a", "--annotations_file", help="COCO json whose image ids the results use (by file name)")
    parser.add_argument("-e", "--experiment_spec", help="config of a checkpoint: our YAML or a TAO spec file")
    parser.add_argument("--opt", nargs="+", default=[], metavar="Section.key=value", help="config overrides")
    parser.add_argument("-k", "--key", help="encryption key of the model (default: $PPOCR_ENCRYPTION_KEY)")
    parser.add_argument("--label_map", help="class names, one per line in category-id order")
    parser.add_argument("--min_score_thresh", type=float, default=0.4, help="keep detections scoring at least this")
    parser.add_argument("--max_detections_per_image", type=int, help="at most this many detections per image")
    parser.add_argument("--use_onnx", action="store_true", help="run the exported model's inference.onnx")
    return parser


def _predictor(args, overrides):
    from ppocr.infer.backends import PADDLE_MODEL_FILES
    from ppocr.utils.crypto import resolve_key

    key = resolve_key(args.key, None)
    path = args.model_path
    exported = path.endswith(".onnx") or (os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, n)) for n in PADDLE_MODEL_FILES + ("inference.onnx",)))
    if exported:
        from ppocr.infer.object_detector import ExportedObjectDetector
        from ppocr.infer.options import InferOptions

        return ExportedObjectDetector(path, InferOptions(use_onnx=args.use_onnx, encryption_key=key), overrides)
    if not args.experiment_spec:
        raise ConfigError(f"{path} is not an exported model folder: a checkpoint needs its config (-e)")
    from ppocr.engine.checkpoint_predictor import CheckpointPredictor
    from ppocr.utils.tao_spec import load_experiment

    config = load_experiment(args.experiment_spec, args.opt, require=("Global", "Architecture", "PostProcess", "Eval"))
    if config["Architecture"].get("model_type") != "objdet":
        raise ConfigError(f"{args.experiment_spec}: Architecture.model_type must be objdet")
    config["PostProcess"].update(overrides)
    config["Global"]["encryption_key"] = key
    return CheckpointPredictor(config, weights=path)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from ppocr.infer.object_detector import coco_results, draw_detections, kitti_lines, read_label_map
    from ppocr.utils.files import list_inputs
    from ppocr.utils.io import atomic_write
    from ppocr.utils.logging import setup_logging

    setup_logging()
    log = logging.getLogger("ppocr.infer_objdet")
    overrides = {"min_score_thresh": args.min_score_thresh}
    if args.max_detections_per_image is not None:
        overrides["max_detections_per_image"] = args.max_detections_per_image
    names = read_label_map(args.label_map) if args.label_map else None
    if names:
        overrides["label_list"] = names
    image_ids = {}
    if args.annotations_file:
        from ppocr.data.coco_json import load_json

        image_ids = {os.path.basename(i["file_name"]): i["id"] for i in load_json(args.annotations_file)["images"]
                     if isinstance(i, dict) and "file_name" in i and "id" in i}
    paths = list_inputs(args.in_image_path)
    predictor = _predictor(args, overrides)
    names = names or getattr(getattr(predictor, "post_process", None), "label_list", None)
    results, done, failed = [], 0, 0
    for index, path in enumerate(paths, 1):
        try:
            result = predictor.predict_file(path)
        except Exception as exc:  # one bad image must not stop a folder
            log.warning("skipped %s: %s", path, " ".join(str(exc).split()) or type(exc).__name__)
            failed += 1
            continue
        done += 1
        stem = os.path.splitext(os.path.basename(path))[0]
        if args.out_image_path:
            draw_detections(path, result, os.path.join(args.out_image_path, os.path.basename(path)), names)
        if args.out_label_path:
            with atomic_write(os.path.join(args.out_label_path, stem + ".txt")) as f:
                f.write("".join(line + "\n" for line in kitti_lines(result, names)))
        results.extend(coco_results(result, image_ids.get(os.path.basename(path), index)))
        log.info("%s: %d detections", path, len(result["scores"]))
    if args.coco_results:
        with atomic_write(args.coco_results) as f:
            json.dump(results, f)
    log.info("%d images: %d done, %d failed", len(paths), done, failed)
    return 0 if done or not paths else 1  # non-zero only when every input failed


if __name__ == "__main__":
    run_main(main)
