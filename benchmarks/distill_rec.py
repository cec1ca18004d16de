"""U-DML distillation vs the plain PP-LCNet CRNN on synthetic words, each trained from scratch within the same budget.

Recipes: ``configs/rec/ch_PP-OCRv2/ch_PP-OCRv2_rec.yml`` (one CRNN) and ``ch_PP-OCRv2_rec_distillation.yml`` (U-DML:
two CRNNs of that structure learning from the labels, each other's outputs and backbone features; the Student is what
PP-OCRv2 deploys).

1. Generates words (digits + lower case, DejaVu fonts) with ``ppocr.data.synth.make_rec_dataset``: a training pool and
   a held-out set with another seed (reused from ``--work_dir`` when already there).
2. For each recipe: its YAML with the data, the 0-9a-z dictionary, a 32×``--width`` input, the batch size, the peak
   learning rate and the RecAug probabilities swapped in; a few probe steps measure its cost per step;
   ``Global.epoch_num`` and the part of the pool each epoch reads are chosen so the run fits ``--minutes``,
   with the recipe's schedule scaled to the run (warmup 5/800 of it, learning rate ÷10 after 700/800 of it);
   ``Trainer(config).train()``.
3. Scores the trained model with ``Trainer.evaluate()`` on the held-out words (RecMetric: exact-match accuracy and
   1 − normalised edit distance; for U-DML the Student, with the Teacher beside it).

By default the two recipes train at the same time, each in its own single-thread process of this script (one core
each; ``--jobs 1`` runs them one after the other). U-DML runs two models per step, so within the same budget it
makes about half the steps of the plain CRNN: the comparison is at equal training cost, not at equal steps
(``--udml_minutes`` gives U-DML another budget; ``--steps`` trains both for the same number of steps). The budget is
CPU time of the training process and its loader workers by default (``--budget wall`` caps wall-clock time
instead), because other processes may share the machine; the load average is printed before and after each run.
The script never asserts.

Both models start on CTC's all-blank plateau (loss ≈ 21 on these words), and PP-LCNet costs about 1 CPU-second per
step of 16 words on this CPU: with the recipes' RecAug (0.4) and 30 CPU-minutes (1250 plain and 805 U-DML steps of
16 words) both scored 0 %.

    python benchmarks/distill_rec.py                                  # 60 CPU-minutes per recipe, ~1 wall-hour
    python benchmarks/distill_rec.py --work_dir /tmp/distill_bench --minutes 3
    python benchmarks/distill_rec.py --only plain --steps 1814        # the plain CRNN at U-DML's step count

Recorded (2-core machine, at times shared with test runs, which a CPU-time budget leaves fair; the defaults; 1000
held-out words): plain PP-LCNet CRNN 95.4 % after 3081 steps in 60.1 CPU-min; U-DML Student 81.2 % (Teacher
81.0 %) after 1814 steps in 65.7 CPU-min (the probe under-estimated its step cost); the plain CRNN at those 1814
steps 88.8 %. From scratch and this short, U-DML's mutual losses did not speed learning per step.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import json
import logging
import math
import os
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import _common
from _common import Clock, Figure, StepLog

RECIPES = (
    ("plain", "PP-LCNet CRNN", os.path.join("configs", "rec", "ch_PP-OCRv2", "ch_PP-OCRv2_rec.yml")),
    ("udml", "U-DML Student", os.path.join("configs", "rec", "ch_PP-OCRv2", "ch_PP-OCRv2_rec_distillation.yml")),
)
# The recipes' Piecewise schedule over 800 epochs: warmup for 5, learning rate ÷10 from epoch 700.
WARMUP_FRACTION = 5 / 800
DECAY_FRACTION = 700 / 800
TEST_SEED_OFFSET = 1000
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")

log = logging.getLogger("distill_rec")


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = _common.base_parser(__doc__)
    parser.add_argument("--minutes", type=float, default=60.0, help="training budget per recipe")
    parser.add_argument("--udml_minutes", type=float, default=None,
                        help="U-DML's budget when it should differ (e.g. twice --minutes: about as many steps as the "
                             "plain CRNN); default --minutes")
    parser.add_argument("--steps", type=int, default=0,
                        help="train this many steps per recipe instead of a budget (equal steps, not equal cost)")
    parser.add_argument("--budget", choices=("cpu", "wall"), default="cpu",
                        help="what --minutes caps: CPU time of trainer + loader workers (default) or wall time")
    parser.add_argument("--train_num", type=int, default=20000, help="training pool size (words generated)")
    parser.add_argument("--test_num", type=int, default=1000, help="held-out words")
    parser.add_argument("--seed", type=int, default=0, help="pool seed; the held-out set uses seed + %d"
                        % TEST_SEED_OFFSET)
    parser.add_argument("--length", default="3,10", help="characters per generated word MIN,MAX")
    parser.add_argument("--width", type=int, default=100, help="RecResizeImg width (height stays 32, as the recipes)")
    parser.add_argument("--batch_size", type=int, default=16,
                        help="per step (the recipes use 128 per GPU on 8 GPUs; on one CPU core smaller batches "
                             "leave CTC's all-blank plateau in fewer CPU-seconds)")
    parser.add_argument("--lr", type=float, default=0.003,
                        help="peak learning rate, ÷10 for the last 1/8 of the run (the recipes' 0.001 is for their "
                             "1024-word global batch)")
    parser.add_argument("--aug_prob", type=float, default=0.0,
                        help="every RecAug probability (the recipes' default is 0.4); the generator already varies "
                             "fonts, sizes and rotation, and on this budget RecAug keeps both models on the plateau")
    parser.add_argument("--num_workers", type=int, default=1, help="Train loader workers")
    parser.add_argument("--probe_steps", type=int, default=10, help="steps timed to plan each run")
    parser.add_argument("--only", choices=[key for key, _, _ in RECIPES], default=None, help="run one recipe")
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=2,
                        help="2: both recipes at once, each in its own single-thread process (one core each); "
                             "1: one after the other")
    parser.add_argument("--figures_json", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0.0 <= args.aug_prob <= 1.0:
        parser.error("--aug_prob must be within [0, 1]")
    return args


# -- data ------------------------------------------------------------------------------------------------------------
def make_words(out_dir: str, num: int, seed: int, length: Tuple[int, int]) -> str:
    """``num`` words in ``out_dir`` unless the same set is already there; returns its label file."""
    from ppocr.data.synth import make_rec_dataset
    from ppocr.data.synth.fonts import list_fonts
    from ppocr.data.synth.writers import REC_LABEL_FILE

    fonts = [path for path in list_fonts() if os.path.basename(path) in FONTS]
    label_file = os.path.join(out_dir, REC_LABEL_FILE)
    stamp = os.path.join(out_dir, "made_with.txt")
    wanted = f"num={num} seed={seed} length={length} fonts={','.join(sorted(os.path.basename(f) for f in fonts))}\n"
    if os.path.isfile(label_file) and os.path.isfile(stamp):
        with open(stamp, encoding="utf-8") as f:
            if f.read() == wanted:
                return label_file
    with Clock() as clock:
        make_rec_dataset(out_dir, num, fonts=fonts, seed=seed, length=length)
    with open(stamp, "w", encoding="utf-8") as f:
        f.write(wanted)
    log.info("%d words in %s (%.0f s)", num, out_dir, clock.wall)
    return label_file


def first_lines(label_file: str, count: int, out_file: str) -> str:
    with open(label_file, encoding="utf-8") as f:
        lines = f.read().splitlines()[:count]
    with open(out_file, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return out_file


# -- configs ---------------------------------------------------------------------------------------------------------
def recipe_config(recipe: str, args, train_label: str, test_label: str, save_dir: str) -> Dict[str, Any]:
    """The recipe with this benchmark's data, dictionary, input size, batch size and no evaluation while training."""
    from ppocr.utils.config import load_config, validate_config

    config = load_config(os.path.join(_common.REPO, recipe))
    config["Global"].update(character_dict_path=None, use_space_char=False, save_model_dir=save_dir,
                            eval_batch_step=[10 ** 9, 10 ** 9], save_epoch_step=10 ** 6, print_batch_step=50,
                            distributed=False, cal_metric_during_train=False, seed=args.seed)
    for mode, label, workers in (("Train", train_label, args.num_workers), ("Eval", test_label, 0)):
        dataset = config[mode]["dataset"]
        dataset.update(data_dir=os.path.dirname(label), label_file_list=[label])
        for op in dataset["transforms"]:
            if "RecResizeImg" in op:
                op["RecResizeImg"]["image_shape"] = [3, 32, args.width]
            if "RecAug" in op:
                op["RecAug"] = {name: args.aug_prob for name in _common.RECAUG_PROBS}
        config[mode]["loader"].update(batch_size_per_card=args.batch_size, num_workers=workers)
    config["Optimizer"]["lr"]["values"] = [args.lr, args.lr / 10]
    validate_config(config, recipe)
    return config


def scheduled(config: Dict[str, Any], epochs: float) -> Dict[str, Any]:
    """The recipe's warmup and decay points as fractions of a run of ``epochs`` epochs."""
    config = copy.deepcopy(config)
    config["Global"]["epoch_num"] = max(1, round(epochs))
    lr = config["Optimizer"]["lr"]
    lr["warmup_epoch"] = WARMUP_FRACTION * config["Global"]["epoch_num"]
    lr["decay_epochs"] = [DECAY_FRACTION * config["Global"]["epoch_num"]]
    return config


def seconds(clock: Clock, budget: str) -> float:
    return clock.cpu if budget == "cpu" else clock.wall


def probe(config: Dict[str, Any], steps: int, budget: str) -> float:
    """Seconds (CPU or wall) per training step, data loading included, after two warm-up steps."""
    from ppocr.engine.trainer import Trainer

    trainer = Trainer(scheduled(config, 1))
    batches = itertools.cycle(trainer.train_loader)

    def step() -> None:
        batch = next(batches)
        losses = trainer.loss(trainer.model(batch[0], data=batch[1:]), batch)
        losses["loss"].backward()
        trainer.optimizer.step()
        trainer.optimizer.clear_grad()

    for _ in range(2):
        step()
    with Clock() as clock:
        for _ in range(steps):
            step()
    return seconds(clock, budget) / steps


def plan(config: Dict[str, Any], args, total_steps: int, pool_size: int, work_dir: str) -> Tuple[Dict[str, Any], int]:
    """A run of about ``total_steps``: the fewest whole epochs that cover them, each over the first part of the pool
    that makes the total come out right (rounding to whole epochs of the full pool could give one recipe a third
    more time than the other)."""
    total_steps = max(1, total_steps)
    steps_per_epoch = max(1, pool_size // args.batch_size)
    epochs = math.ceil(total_steps / steps_per_epoch)
    per_epoch = max(1, total_steps // epochs)
    config = copy.deepcopy(config)
    if per_epoch < steps_per_epoch:
        label = config["Train"]["dataset"]["label_file_list"][0]
        used = os.path.join(work_dir, "train_used.txt")
        config["Train"]["dataset"]["label_file_list"] = [first_lines(label, per_epoch * args.batch_size, used)]
    return scheduled(config, epochs), epochs * per_epoch


# -- runs ------------------------------------------------------------------------------------------------------------
def run_recipe(key: str, title: str, recipe: str, args, labels: Tuple[str, str], pool_size: int,
               work_dir: str) -> List[Figure]:
    from ppocr.engine.trainer import Trainer

    run_dir = os.path.join(work_dir, key)
    os.makedirs(run_dir, exist_ok=True)
    base = recipe_config(recipe, args, labels[0], labels[1], os.path.join(run_dir, "model"))
    if args.steps:
        config, planned = plan(base, args, args.steps, pool_size, run_dir)
    else:
        log.info("%s: probing %d steps; %s", title, args.probe_steps, _common.load_average())
        per_step = probe(base, args.probe_steps, args.budget)
        minutes = args.udml_minutes if key == "udml" and args.udml_minutes is not None else args.minutes
        config, planned = plan(base, args, int(minutes * 60 / per_step), pool_size, run_dir)
        log.info("%s: %.2f %s-s/step → %d steps", title, per_step, args.budget, planned)
    log.info("%s: %d steps in %d epochs of %d words; training ...", title, planned, config["Global"]["epoch_num"],
             planned // config["Global"]["epoch_num"] * args.batch_size)
    trainer = Trainer(config)
    with StepLog(planned, max(10, planned // 20), log, title), Clock() as clock:
        trainer.train()
    load_after = _common.load_average()
    metric = trainer.evaluate()
    log.info("%s: %s; %s", title, {k: round(v, 4) for k, v in metric.items()}, load_after)
    figures = [
        Figure(f"{title}: held-out accuracy", f"{100 * metric['acc']:.1f} %"),
        Figure(f"{title}: 1 - norm. edit distance", f"{metric['norm_edit_dis']:.4f}"),
    ]
    if "Teacher_acc" in metric:
        figures.append(Figure("U-DML Teacher: held-out accuracy", f"{100 * metric['Teacher_acc']:.1f} %"))
    figures += [
        Figure(f"{title}: steps × batch", f"{trainer.states['global_step']} × {args.batch_size}"),
        Figure(f"{title}: training time", f"{clock.wall / 60:.1f} wall-min, {clock.cpu / 60:.1f} CPU-min"),
        Figure(f"{title}: load after training", load_after),
    ]
    return figures


def run_side_by_side(keys: Sequence[str], argv: Sequence[str], work_dir: str) -> List[Figure]:
    """Each recipe in its own process of this script at the same time, one core each; their figures come back as
    JSON files. Both runs see the same machine, so neither gains from the other's idle time."""
    runs = []
    try:
        for key in keys:
            out = os.path.join(work_dir, key, "figures.json")
            command = [sys.executable, os.path.abspath(__file__), *argv, "--only", key, "--work_dir", work_dir,
                       "--figures_json", out]
            runs.append((key, out, subprocess.Popen(command)))
        for key, _, process in runs:
            if process.wait() != 0:
                raise SystemExit(f"distill_rec: the {key} run failed with exit code {process.returncode}")
    finally:
        for _, _, process in runs:
            if process.poll() is None:
                process.terminate()
    figures = []
    for _, out, _ in runs:
        with open(out, encoding="utf-8") as f:
            figures += [Figure(**row) for row in json.load(f)]
    return figures


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    work_dir = _common.start(args, "distill_rec_")
    _common.progress_on_stdout(log, os.path.join(work_dir, args.only or "", "train.log"))
    keys = [key for key, _, _ in RECIPES if args.only in (None, key)]
    side_by_side = args.jobs > 1 and len(keys) > 1
    log.info("distill_rec: work_dir %s, OMP_NUM_THREADS=%s, %s per recipe%s; %s", work_dir,
             os.environ["OMP_NUM_THREADS"], f"{args.steps} steps" if args.steps else
             f"budget {args.minutes:g} {args.budget}-minutes",
             ", the recipes side by side" if side_by_side else "", _common.load_average())
    try:
        length = tuple(int(v) for v in args.length.split(","))
        train_label = make_words(os.path.join(work_dir, "data", "train"), args.train_num, args.seed, length)
        test_label = make_words(os.path.join(work_dir, "data", "test"), args.test_num, args.seed + TEST_SEED_OFFSET,
                                length)
        if side_by_side:
            figures = run_side_by_side(keys, argv, work_dir)
        else:
            figures = []
            for key, title, recipe in RECIPES:
                if key in keys:
                    figures += run_recipe(key, title, recipe, args, (train_label, test_label), args.train_num,
                                          work_dir)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    if args.figures_json:
        from ppocr.utils.io import atomic_write

        with atomic_write(args.figures_json, encoding="utf-8") as f:
            json.dump([dataclasses.asdict(figure) for figure in figures], f)
        return 0
    print()
    if args.steps:
        budgets = f"{args.steps} steps"
    else:
        minutes = f"{args.minutes:g}" if args.udml_minutes is None else f"{args.minutes:g} / {args.udml_minutes:g}"
        budgets = f"{minutes} {args.budget}-minutes"
    print(_common.format_table(f"distill_rec: U-DML vs plain PP-LCNet CRNN, {budgets} each"
                               f"{', side by side' if side_by_side else ''}, synthetic words", figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
