"""Prune a trained model's filters (FPGM, L1 or L2; settings in the config's ``Prune`` section).

    python tools/prune.py -c configs/det/det_mv3_db.yml -o Global.pretrained_model=output/det/best_accuracy \
        Prune.criterion=fpgm Prune.mode=amount Prune.amount=0.3
    python tools/prune.py -c ... -o Global.pretrained_model=... Prune.pruned_params=0.45   # per-layer ratios
                                                                                           # from sensitivity
    python tools/prune.py -c ... -o Global.pretrained_model=... --sensitivity              # the table only
The pruned weights and their channel plan go to <Global.save_model_dir>/pruned(.pdparams, .prune.json);
retrain with Global.pretrained_model=<Global.save_model_dir>/pruned, export with tools/export_model.py.

TAO's prune options set the same Prune keys (-pth switches to threshold mode):
    python tools/prune.py -c configs/objdet/efficientdet_lite0.yml -m output/lite0/best_accuracy \
        --output_dir output/lite0_pruned -n max -eq union -pg 8 -pth 0.1 -nf 16 -el head.class_net
"""
import _path  # noqa: F401

from ppocr.utils.cli import config_file, prepare_config, run_main
from ppocr.utils.config import ArgsParser

REQUIRED = ("Global", "Architecture", "PostProcess", "Metric")


def tao_overrides(args) -> list:
    """``-o`` overrides for the TAO-style flags that were given."""
    import json

    pairs = [("Global.pretrained_model", args.model), ("Global.save_model_dir", args.output_dir),
             ("Prune.normalizer", args.normalizer), ("Prune.equalization_criterion", args.equalization_criterion),
             ("Prune.granularity", args.pruning_granularity), ("Prune.min_num_filters", args.min_num_filters),
             ("Prune.threshold", args.pruning_threshold),
             ("Prune.excluded_layers", json.dumps(args.excluded_layers) if args.excluded_layers else None)]
    overrides = [f"{key}={value}" for key, value in pairs if value is not None]
    if args.pruning_threshold is not None:
        overrides.append("Prune.mode=threshold")
    return overrides


def main(argv=None) -> int:
    parser = ArgsParser(description=__doc__)
    parser.add_argument("--sensitivity", action="store_true",
                        help="only write the per-layer sensitivity table (Prune.sensitivity_file)")
    parser.add_argument("--eval", action="store_true", help="evaluate before and after pruning")
    tao = parser.add_argument_group("TAO prune options")
    tao.add_argument("-m", "--model", help="weights to prune (Global.pretrained_model)")
    tao.add_argument("--output_dir", help="where the pruned checkpoint goes (Global.save_model_dir)")
    tao.add_argument("-n", "--normalizer", choices=("max", "L2"), help="Prune.normalizer")
    tao.add_argument("-eq", "--equalization_criterion",
                     choices=("arithmetic_mean", "geometric_mean", "union", "intersection"),
                     help="Prune.equalization_criterion: how coupled layers (residual adds, BiFPN fusions, "
                          "depthwise convs) combine their filter scores")
    tao.add_argument("-pg", "--pruning_granularity", type=int, help="Prune.granularity: filters removed at a time")
    tao.add_argument("-pth", "--pruning_threshold", type=float,
                     help="Prune.threshold, in threshold mode (normalised scores below it go)")
    tao.add_argument("-nf", "--min_num_filters", type=int, help="Prune.min_num_filters per layer")
    tao.add_argument("-el", "--excluded_layers", nargs="+", help="Prune.excluded_layers (names or glob patterns)")
    args = parser.parse_args(argv)
    args.opt = list(args.opt) + tao_overrides(args)
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
