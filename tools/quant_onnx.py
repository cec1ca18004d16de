"""Make int8 copies of the det and rec ONNX models for ``--precision int8`` on CPU (ONNX Runtime static quantisation).

Calibrated on real images (no labels needed), e.g. training photos and pages:
    python tools/quant_onnx.py --calib_images ../shared/data/icdar2015_train/ch4_training_images \\
        --calib_images ../shared/data/funsd/training_data/images --num_calib 64
then run with ``--precision int8`` (and the same ``--int8_model_dir`` and model flags):
    python tools/infer/predict_system.py --image_dir DIR --precision int8
The models go to ``--int8_model_dir`` (default ~/.cache/ppocr/int8); an existing copy is kept unless --overwrite.
Every inference flag is accepted and selects the float models (``--det_model_dir``, ``--ocr_version``...) and the
calibration preprocessing (``--det_limit_side_len``...).
"""
import _path  # noqa: F401

from ppocr.cli import infer_parser, options_from_args, run_cli


def main(argv=None) -> int:
    from ppocr.infer.int8 import INT8_STAGES
    from ppocr.slim.quant.ort_static import CALIBRATION_METHODS, QUANT_FORMATS

    parser = infer_parser(__doc__, prog="quant_onnx.py")
    parser.add_argument("--calib_images", action="append", required=True, metavar="DIR",
                        help="calibration images: a folder, an image or a .txt list (repeatable)")
    parser.add_argument("--num_calib", type=int, default=64,
                        help="calibration images to use, taken in turn from each --calib_images (0 = all)")
    parser.add_argument("--stages", default=",".join(INT8_STAGES), help="comma-separated stages to quantise")
    parser.add_argument("--quant_format", default="QDQ", choices=QUANT_FORMATS)
    parser.add_argument("--calibrate_method", default="MinMax", choices=CALIBRATION_METHODS)
    parser.add_argument("--overwrite", action="store_true", help="remake int8 models that already exist")
    args = parser.parse_args(argv)
    if args.num_calib < 0:
        parser.error(f"--num_calib must be 0 or more, got {args.num_calib}")
    import logging

    from ppocr.slim.quant.ort_static import list_calibration_images, make_int8_models
    from ppocr.utils.logging import setup_logging

    setup_logging(level=logging.INFO)
    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    options = options_from_args(args)
    images = list_calibration_images(args.calib_images, args.num_calib)
    made = make_int8_models(options, images, [s.strip() for s in args.stages.split(",") if s.strip()],
                            args.quant_format, args.calibrate_method, args.overwrite)
    for stage, path in made.items():
        print(f"{stage}: {path}")
    return 0


if __name__ == "__main__":
    run_cli(main)
