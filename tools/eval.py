"""Evaluate a trained model on the config's Eval set: ``python tools/eval.py -c x.yml -o Global.checkpoints=out/best_accuracy``."""
import json
import logging
import os

import _path  # noqa: F401

from ppocr.utils.cli import config_file, prepare_config, run_main
from ppocr.utils.config import ArgsParser
from ppocr.utils.io import atomic_write

REQUIRED = ("Global", "Architecture", "PostProcess", "Metric", "Eval")


def main(argv=None) -> int:
    args = ArgsParser(description=__doc__).parse_args(argv)
    config = prepare_config(args, "evaluate", REQUIRED)
    logger = logging.getLogger("ppocr.eval")
    from ppocr.engine.trainer import Trainer

    g = config["Global"]
    if not (g.get("checkpoints") or g.get("pretrained_model")):
        logger.warning("no Global.checkpoints or pretrained_model: evaluating random weights")
    with config_file(args.config):
        metric = Trainer(config, mode="eval").evaluate()
    logger.info("metric eval ***************")
    for key, value in metric.items():
        logger.info("%s: %s", key, value)
    if g.get("results_dir"):
        with atomic_write(os.path.join(g["results_dir"], "evaluate", "metrics.json")) as f:
            json.dump(metric, f, indent=2)
    return 0


if __name__ == "__main__":
    run_main(main)
