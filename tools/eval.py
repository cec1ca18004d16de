"""Evaluate a trained model on the config's Eval set: ``python tools/eval.py -c x.yml -o Global.checkpoints=out/best_accuracy``."""
import logging

import _path  # noqa: F401

from ppocr.utils.cli import config_file, run_main
from ppocr.utils.config import ArgsParser, load_and_override
from ppocr.utils.logging import setup_logging

REQUIRED = ("Global", "Architecture", "PostProcess", "Metric", "Eval")


def main(argv=None) -> int:
    args = ArgsParser(description=__doc__).parse_args(argv)
    config = load_and_override(args.config, args.opt, require=REQUIRED)
    setup_logging()
    from ppocr.engine.trainer import Trainer

    with config_file(args.config):
        g = config["Global"]
        if not (g.get("checkpoints") or g.get("pretrained_model")):
            logging.getLogger("ppocr.eval").warning("no Global.checkpoints or pretrained_model: evaluating random weights")
        metric = Trainer(config, mode="eval").evaluate()
    logger = logging.getLogger("ppocr.eval")
    logger.info("metric eval ***************")
    for key, value in metric.items():
        logger.info("%s: %s", key, value)
    return 0


if __name__ == "__main__":
    run_main(main)
