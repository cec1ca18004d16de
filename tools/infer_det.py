"""Detect text with a training checkpoint on an image or folder.

``python tools/infer_det.py -c configs/det/det_mv3_db.yml -o Global.pretrained_model=out/best_accuracy Global.infer_img=imgs/``
writes ``path<TAB>[{"transcription": "", "points": [[x,y],...]}]`` lines to Global.save_res_path and images with the
boxes drawn to ``<save_res_path folder>/det_results/``. For a distillation model (CML) the text after the tab is
``{"Student": [...], "Student2": [...], "Teacher": [...]}`` and each sub-model's drawings go to ``det_results/<name>/``.
"""
import json
import os

import _path  # noqa: F401
import cv2
import numpy as np

from ppocr.utils.cli import config_file, prepare_config, run_main
from ppocr.utils.config import ArgsParser
from ppocr.utils.io import atomic_write, ensure_output_dir, ensure_output_file

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
    config = prepare_config(args, "inference", REQUIRED)
    from ppocr.engine.checkpoint_predictor import predict_to_file

    out_path = config["Global"].get("save_res_path") or "./output/det/predicts_db.txt"
    ensure_output_file(out_path, "Global.save_res_path")
    vis_dir = ensure_output_dir(os.path.join(os.path.dirname(os.path.abspath(out_path)), "det_results"),
                                "det_results folder of Global.save_res_path")

    def boxes(path, result, folder):
        found = [np.asarray(points).tolist() for points in result["points"]]
        draw_boxes(path, found, os.path.join(folder, os.path.basename(path)))
        return [{"transcription": "", "points": box} for box in found]

    def format_boxes(path, result):
        if "points" not in result:  # a distillation model: {sub-model name: result}
            return json.dumps({name: boxes(path, res, os.path.join(vis_dir, name)) for name, res in result.items()},
                              ensure_ascii=False)
        return json.dumps(boxes(path, result, vis_dir), ensure_ascii=False)

    with config_file(args.config):
        total, ok, _ = predict_to_file(config, out_path, format_boxes)
    return 1 if total and ok == 0 else 0


if __name__ == "__main__":
    run_main(main)
