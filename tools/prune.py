"""Prune a trained model's filters (FPGM, L1 or L2; settings in the config's ``Prune`` section).

    python tools/prune.py -c configs/det/det_mv3_db.yml -o Global.pretrained_model=output/det/best_accuracy \
        Prune.criterion=fpgm Prune.mode=amount Prune.amount=0.3
    python tools/prune.py -c ... -o Global.pretrained_model=... Prune.pruned_params=0.45   # per-layer ratios
                                                                                           # from sensitivity
    python tools/prune.py -c ... -o Global.pretrained_model=... --sensitivity              # the table only
The pruned weights and their channel plan go to <Global.save_model_dir>/pruned(.pdparams, .prune.json);
retrain with Global.pretrained_model=<Global.save_model_dir>/pruned, export with tools/export_model.py.
"""
import _path  # noqa: F401

from ppocr.utils.cli import config_file, prepare_config, run_main
from ppocr.utils.config import ArgsParser

REQUIRED = ("Global", "Architecture", "PostProcess", "Metric")


def main(argv=None) -> int:
    parser = ArgsParser(description=__doc__)
    parser.add_argument("--sensitivity", action="store_true",
                        help="only write the per-layer sensitivity table (Prune.sensitivity_file)")
    parser.add_argument("--eval", action="store_true", help="evaluate before and after pruning")
    args = parser.parse_args(argv)
    config = prepare_config(args, "prune", REQUIRED)
    from ppocr.slim.prune.workflow import run_prune, run_sensitivity

    with config_file(args.config):
        if args.sensitivity:
            run_sensitivity(config)
        else:
            run_prune(config, evaluate=args.eval)
    return 0


if __name__ == "__main__":
    run_main(main)
