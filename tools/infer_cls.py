"""Classify the text direction of an image or a folder of text-line crops with a training checkpoint.

    python tools/infer_cls.py -c configs/cls/cls_mv3.yml \\
        -o Global.pretrained_model=output/cls/mv3/best_accuracy Global.infer_img=crops/

writes ``path<TAB>label<TAB>score`` lines to Global.save_res_path.
"""
import logging

import _path  # noqa: F401

from ppocr.utils.cli import config_file, run_main
from ppocr.utils.config import ArgsParser, load_and_override
from ppocr.utils.files import list_inputs
from ppocr.utils.io import atomic_write
from ppocr.utils.logging import setup_logging

REQUIRED = ("Global", "Architecture", "PostProcess", "Eval")


def main(argv=None) -> int:
    args = ArgsParser(description=__doc__).parse_args(argv)
    config = load_and_override(args.config, args.opt, require=REQUIRED)
    setup_logging()
    logger = logging.getLogger("ppocr.infer_cls")
    from ppocr.engine.checkpoint_predictor import CheckpointPredictor

    g = config["Global"]
    if not g.get("infer_img"):
        raise FileNotFoundError(f"{args.config}: set Global.infer_img to an image, a folder or a list file")
    paths = list_inputs(g["infer_img"])
    out_path = g.get("save_res_path") or "./output/cls/predicts_cls.txt"
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
            label, score = result
            logger.info("%s\t%s\t%.4f", path, label, score)
            out.write(f"{path}\t{label}\t{score:.6f}\n")
    logger.info("%d images: %d classified, %d failed; results in %s", len(paths), ok, failed, out_path)
    return 1 if paths and ok == 0 else 0


if __name__ == "__main__":
    run_main(main)
