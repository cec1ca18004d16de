"""Build Enhanced CTC's initial centers from a CTC model trained with plain CTCLoss (PP-OCRv2).

``python tools/export_center.py -c configs/rec/ch_PP-OCRv2/ch_PP-OCRv2_rec.yml -o Global.pretrained_model=output/rec_pp-OCRv2/best_accuracy``
writes ``train_center.pkl`` (``--out``), which ``ch_PP-OCRv2_rec_enhanced_ctc_loss.yml`` reads as
``CenterLoss.center_file_path``.
"""
import _path  # noqa: F401

from ppocr.utils.cli import config_file, prepare_config, run_main
from ppocr.utils.config import ArgsParser
from ppocr.utils.io import ensure_output_file

REQUIRED = ("Global", "Architecture", "PostProcess", "Train", "Eval")


def main(argv=None) -> int:
    parser = ArgsParser(description=__doc__)
    parser.add_argument("--out", default="./train_center.pkl", help="center file to write (default %(default)s)")
    args = parser.parse_args(argv)
    config = prepare_config(args, "export", REQUIRED)
    ensure_output_file(args.out, "--out")
    from ppocr.engine.center import export_centers

    with config_file(args.config):
        export_centers(config, args.out)
    return 0


if __name__ == "__main__":
    run_main(main)
