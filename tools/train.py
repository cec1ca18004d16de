"""Train a model from a YAML config: ``python tools/train.py -c configs/rec/x.yml -o Global.epoch_num=10``."""
import _path  # noqa: F401

from ppocr.utils.cli import config_file, prepare_config, run_main
from ppocr.utils.config import ArgsParser

REQUIRED = ("Global", "Architecture", "Loss", "Optimizer", "PostProcess", "Metric", "Train")


def main(argv=None) -> int:
    args = ArgsParser(description=__doc__).parse_args(argv)
    config = prepare_config(args, "train", REQUIRED)
    from ppocr.engine.trainer import Trainer

    with config_file(args.config):
        Trainer(config, mode="train").train()
    return 0


if __name__ == "__main__":
    run_main(main)
