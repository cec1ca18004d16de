"""Train a model from a YAML config: ``python tools/train.py -c configs/rec/x.yml -o Global.epoch_num=10``."""
import os

import _path  # noqa: F401

from ppocr.utils.cli import config_file, run_main
from ppocr.utils.config import ArgsParser, load_and_override
from ppocr.utils.logging import setup_logging

REQUIRED = ("Global", "Architecture", "Loss", "Optimizer", "PostProcess", "Metric", "Train")


def main(argv=None) -> int:
    args = ArgsParser(description=__doc__).parse_args(argv)
    config = load_and_override(args.config, args.opt, require=REQUIRED)
    save_dir = (config.get("Global") or {}).get("save_model_dir", "./output/model")
    setup_logging(os.path.join(save_dir, "train.log"))
    from ppocr.engine.trainer import Trainer

    with config_file(args.config):
        trainer = Trainer(config, mode="train")
        trainer.train()
    return 0


if __name__ == "__main__":
    run_main(main)
