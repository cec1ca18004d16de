"""Turn a deployed ONNX model (PaddleOCR's, e.g. the packaged PP-OCRv4 det/rec and v2 cls) into weights of a recipe.

``python tools/import_onnx.py -c configs/det/PP-OCRv4/PP-OCRv4_mobile_det_finetune.yml --preset PP-OCRv4 --stage det
--save_prefix pretrained/PP-OCRv4_det --images doc/imgs/1.jpg``
writes ``pretrained/PP-OCRv4_det.pdparams`` (fused form, for ``Global.pretrained_model``), after checking that the
imported model's output equals ONNX Runtime's on the images (or a random input) within ``--tolerance``.
"""
import _path  # noqa: F401

from ppocr.utils.cli import prepare_config, config_file, run_main
from ppocr.utils.config import ArgsParser

REQUIRED = ("Global", "Architecture", "PostProcess")


def main(argv=None) -> int:
    parser = ArgsParser(description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--onnx", help="ONNX model file")
    source.add_argument("--preset", help="packaged models of this OCR version (PP-OCRv4, PP-OCRv6)")
    parser.add_argument("--stage", choices=("det", "rec", "cls"), help="with --preset: which packaged model")
    parser.add_argument("--save_prefix", required=True, help="write <save_prefix>.pdparams (+ .dict.txt for rec)")
    parser.add_argument("--images", nargs="*", default=[], help="images to check the import on (default: random)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted output difference")
    args = parser.parse_args(argv)
    if args.preset and not args.stage:
        parser.error("--preset needs --stage det, rec or cls")
    config = prepare_config(args, "export", REQUIRED)
    from ppocr.engine.onnx_import import import_into_recipe
    from ppocr.utils.registry import ConfigError

    path = args.onnx
    if args.preset:
        from ppocr.infer.presets import default_model_paths

        try:
            path = default_model_paths(args.preset)[args.stage]
        except ValueError as exc:
            raise ConfigError(str(exc), "--preset") from None
    with config_file(args.config):
        report = import_into_recipe(config, path, args.save_prefix, args.images, args.tolerance)
    print(f"imported {report['loaded']} weights from {path} into {report['pdparams']}; max abs difference to ONNX "
          f"Runtime {report['max_abs_diff']:.2e} on {len(report['checked_on'])} input(s)"
          + (f"; characters in {report['dict']}" if report.get("dict") else ""))
    return 0


if __name__ == "__main__":
    from ppocr.engine.onnx_import import OnnxImportError

    run_main(main, extra_errors=(OnnxImportError, ModuleNotFoundError))
