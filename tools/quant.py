"""Quantize a trained model and export it for int8 deployment (settings in the config's ``Quant`` section).

QAT (PACT + fake quantization, fine-tuning a float model; checkpoints go to Global.save_model_dir):
    python tools/quant.py -c configs/rec/x.yml -o Global.pretrained_model=output/rec/best_accuracy Quant.mode=qat
PTQ (calibration on Quant.calibration_dir or the Eval set; Quant.algorithm abs_max | min_max | KL):
    python tools/quant.py -c configs/rec/x.yml -o Global.pretrained_model=output/rec/best_accuracy Quant.mode=ptq
Export a checkpoint saved during QAT:
    python tools/quant.py -c configs/rec/x.yml --export_only -o Global.checkpoints=output/quant/best_accuracy
The model lands in Global.save_inference_dir: inference.json/.pdiparams/.yml and a QDQ inference.onnx.
"""
import _path  # noqa: F401

from ppocr.utils.cli import config_file, prepare_config, run_main
from ppocr.utils.config import ArgsParser
from ppocr.utils.registry import ConfigError

REQUIRED = ("Global", "Architecture", "PostProcess")
QAT_REQUIRED = ("Loss", "Optimizer", "Metric", "Train")


def main(argv=None) -> int:
    parser = ArgsParser(description=__doc__)
    parser.add_argument("--export_only", action="store_true",
                        help="rebuild the quantized model from a QAT checkpoint and export it, without training")
    args = parser.parse_args(argv)
    config = prepare_config(args, "quant", REQUIRED)
    from ppocr.slim.quant.workflow import export_checkpoint, quant_settings, run_ptq, run_qat

    with config_file(args.config):
        settings = quant_settings(config)
        if args.export_only:
            export_checkpoint(config, settings)
        elif settings.mode == "qat":
            missing = [s for s in QAT_REQUIRED if not config.get(s)]
            if missing:
                raise ConfigError(f"Quant.mode qat trains: missing section(s) {', '.join(missing)}")
            run_qat(config, settings)
        else:
            run_ptq(config, settings)
    return 0


if __name__ == "__main__":
    run_main(main)
