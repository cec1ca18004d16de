"""Classify the text direction of an image or a folder of text-line crops with a training checkpoint.

``python tools/infer_cls.py -c configs/cls/cls_mv3.yml -o Global.pretrained_model=output/cls/mv3/best_accuracy
Global.infer_img=crops/`` writes ``path<TAB>label<TAB>score`` lines to Global.save_res_path.
"""
import _path  # noqa: F401

from ppocr.infer.results import text_score_payload
from ppocr.utils.cli import config_file, prepare_config, run_main
from ppocr.utils.config import ArgsParser

REQUIRED = ("Global", "Architecture", "PostProcess", "Eval")


def main(argv=None) -> int:
    args = ArgsParser(description=__doc__).parse_args(argv)
    config = prepare_config(args, "inference", REQUIRED)
    from ppocr.engine.checkpoint_predictor import predict_to_file

    out_path = config["Global"].get("save_res_path") or "./output/cls/predicts_cls.txt"
    with config_file(args.config):
        total, ok, _ = predict_to_file(config, out_path, lambda path, res: text_score_payload(str(res[0]), res[1]))
    return 1 if total and ok == 0 else 0


if __name__ == "__main__":
    run_main(main)
