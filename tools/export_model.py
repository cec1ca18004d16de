"""Export a trained model to ``inference.json`` + ``inference.pdiparams`` + ``inference.yml`` (+ ``inference.onnx``).

``python tools/export_model.py -c x.yml -o Global.pretrained_model=out/best_accuracy Global.save_inference_dir=inference/x``
``--onnx`` also converts with paddle2onnx and checks the ONNX model against Paddle Inference on a sample batch.
"""
import _path  # noqa: F401

from ppocr.utils.cli import config_file, prepare_config, run_main
from ppocr.utils.config import ArgsParser

REQUIRED = ("Global", "Architecture", "PostProcess")


def main(argv=None) -> int:
    parser = ArgsParser(description=__doc__)
    parser.add_argument("--onnx", action="store_true", help="also write inference.onnx (checked against Paddle)")
    args = parser.parse_args(argv)
    config = prepare_config(args, "export", REQUIRED)
    from ppocr.engine.export import export_model

    with config_file(args.config):
        export_model(config, onnx=args.onnx)
    return 0


if __name__ == "__main__":
    run_main(main)
