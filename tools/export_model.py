"""Export a trained model to ``inference.json`` + ``inference.pdiparams`` + ``inference.yml``.

``python tools/export_model.py -c x.yml -o Global.pretrained_model=out/best_accuracy Global.save_inference_dir=inference/x``
"""
import _path  # noqa: F401

from ppocr.utils.cli import config_file, run_main
from ppocr.utils.config import ArgsParser, load_and_override
from ppocr.utils.logging import setup_logging

REQUIRED = ("Global", "Architecture", "PostProcess")


def main(argv=None) -> int:
    args = ArgsParser(description=__doc__).parse_args(argv)
    config = load_and_override(args.config, args.opt, require=REQUIRED)
    setup_logging()
    from ppocr.engine.export import export_model

    with config_file(args.config):
        export_model(config)
    return 0


if __name__ == "__main__":
    run_main(main)
