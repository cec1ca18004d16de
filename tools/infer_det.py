"""Detect text with a training checkpoint on an image or folder.

``python tools/infer_det.py -c configs/det/det_mv3_db.yml -o Global.pretrained_model=out/best_accuracy Global.infer_img=imgs/``
writes ``path<TAB>[{"transcription": "", "points": [[x,y],...]}]`` lines to Global.save_res_path and images with the
boxes drawn to ``<save_res_path folder>/det_results/``.
"""
import json
import logging
import os

import _path  # noqa: F401
import cv2
import numpy as np

from ppocr.utils.cli import config_file, run_main
from ppocr.utils.config import ArgsParser, load_and_override
from ppocr.utils.files import list_inputs
from ppocr.utils.io import atomic_write
from ppocr.utils.logging import setup_logging

REQUIRED = ("Global", "Architecture", "PostProcess", "Eval")


def draw_boxes(image_path: str, boxes, out_path: str) -> None:
    image = cv2.imread(image_path)
    if image is None:
        return
    for box in boxes:
        cv2.polylines(image, [np.asarray(box, dtype=np.int32).reshape(-1, 1, 2)], True, (0, 0, 255), 2)
    ok, buf = cv2.imencode(os.path.splitext(out_path)[1] or ".jpg", image)
    if ok:
        with atomic_write(out_path, "wb") as f:
            f.write(buf.tobytes())


def main(argv=None) -> int:
    args = ArgsParser(description=__doc__).parse_args(argv)
    config = load_and_override(args.config, args.opt, require=REQUIRED)
    setup_logging()
    logger = logging.getLogger("ppocr.infer_det")
    from ppocr.engine.checkpoint_predictor import CheckpointPredictor

    g = config["Global"]
    if not g.get("infer_img"):
        raise FileNotFoundError(f"{args.config}: set Global.infer_img to an image, a folder or a list file")
    paths = list_inputs(g["infer_img"])
    out_path = g.get("save_res_path") or "./output/det/predicts_db.txt"
    vis_dir = os.path.join(os.path.dirname(os.path.abspath(out_path)), "det_results")
    with config_file(args.config):
        predictor = CheckpointPredictor(config)
    ok = failed = 0
    with atomic_write(out_path) as out:
        for path, result, error in predictor.predict_files(paths):
            if error is not None:
                failed += 1
                out.write(f"{path}\tERROR: {error}\n")
                continue
            ok += 1
            boxes = [np.asarray(points).tolist() for points in result["points"]]
            items = [{"transcription": "", "points": box} for box in boxes]
            out.write(f"{path}\t{json.dumps(items, ensure_ascii=False)}\n")
            draw_boxes(path, boxes, os.path.join(vis_dir, os.path.basename(path)))
            logger.info("%s: %d boxes", path, len(boxes))
    logger.info("%d images: %d done, %d failed; results in %s, drawings in %s", len(paths), ok, failed,
                out_path, vis_dir)
    return 1 if paths and ok == 0 else 0


if __name__ == "__main__":
    run_main(main)
