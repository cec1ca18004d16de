"""Recognise text in an image or a folder of word images with a training checkpoint.

``python tools/infer_rec.py -c x.yml -o Global.pretrained_model=out/best_accuracy Global.infer_img=crops/``
writes ``path<TAB>text<TAB>score`` lines to Global.save_res_path; for a distillation model (U-DML) the text after
the tab is ``{"Student": {"label": text, "score": score}, "Teacher": {...}}``, one entry per decoded sub-model.
"""
import json
from typing import Any

import _path  # noqa: F401

from ppocr.infer.results import text_score_payload
from ppocr.utils.cli import config_file, prepare_config, run_main
from ppocr.utils.config import ArgsParser

REQUIRED = ("Global", "Architecture", "PostProcess", "Eval")


def format_text(path: str, result: Any) -> str:
    if isinstance(result, dict):
        return json.dumps({name: {"label": text, "score": round(float(score), 6)}
                           for name, (text, score) in result.items()}, ensure_ascii=False)
    return text_score_payload(result[0], result[1])


def main(argv=None) -> int:
    args = ArgsParser(description=__doc__).parse_args(argv)
    config = prepare_config(args, "inference", REQUIRED)
    from ppocr.engine.checkpoint_predictor import predict_to_file

    out_path = config["Global"].get("save_res_path") or "./output/rec/predicts_rec.txt"
    with config_file(args.config):
        total, ok, _ = predict_to_file(config, out_path, format_text)
    return 1 if total and ok == 0 else 0


if __name__ == "__main__":
    run_main(main)
