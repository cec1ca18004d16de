"""rec_mv3_none_bilstm_ctc trained from scratch on synthetic words within a time budget; word accuracy and speed.

1. Generates words (digits + lower case, a few DejaVu fonts) with ``ppocr.data.synth.make_rec_dataset``: a training
   pool and a held-out set with another seed (reused from ``--work_dir`` when already there).
2. Builds the config from ``configs/rec/rec_mv3_none_bilstm_ctc.yml`` plus ``-o`` overrides (printed in
   ``tools/train.py`` form, so the run can be repeated with the tools).
3. Throughput: alternates a bare loop (the Trainer's own model, loss and optimizer on precomputed batches:
   forward + loss + backward + step) with ``Trainer.train()`` on the same batches, and compares their steady
   samples/s, taken from the time between the trainer's step logs.
4. Picks ``Global.epoch_num`` (and the part of the pool used per epoch) from the measured speed so that the whole
   cosine schedule fits ``--minutes``, and trains: by default data-parallel on both cores
   (``python -m paddle.distributed.launch --nproc_per_node 2 tools/train.py ...``, one thread per rank, which
   on this CPU is about twice what one process with two threads gets), or in this process with ``--nproc 1``.
5. Scores the final checkpoint with ``CheckpointPredictor`` on the held-out words and on SVT
   (``<eval_root>/svt/rec_gt.txt``), comparing case-insensitively on [0-9a-z].

The budget of a data-parallel run is wall time, so run it on an otherwise idle machine; a single-process run
(``--nproc 1``) is budgeted in CPU time of the trainer and its loader workers by default, which other processes
sharing the machine change less. Targets get PASS/FAIL words; the script always exits 0 (benchmarks never assert).

    python benchmarks/rec_synth.py                         # the chosen settings, 15 wall-minutes on 2 cores
    python benchmarks/rec_synth.py --work_dir /tmp/rec_bench --minutes 5
    python benchmarks/rec_synth.py --work_dir /tmp/rec_bench --eval_only /tmp/rec_bench/model/latest
"""
from __future__ import annotations

import argparse
import concurrent.futures
import logging
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import _common
from _common import Clock, Figure, StepLog, transform_index

RECIPE_REL = os.path.join("configs", "rec", "rec_mv3_none_bilstm_ctc.yml")
RECIPE = os.path.join(_common.REPO, RECIPE_REL)
ACCURACY_TARGET = 0.95
SPEED_RATIO_TARGET = 0.90
TEST_SEED_OFFSET = 1000
DATA_PARALLEL_EFFICIENCY = 0.8      # per-rank pace against one process alone (2 ranks on 2 cores: 0.7-0.9)
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
         "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf")

log = logging.getLogger("rec_synth")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = _common.base_parser(__doc__)
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget")
    parser.add_argument("--budget", choices=("cpu", "wall"), default=None,
                        help="what --minutes caps: wall time (default with --nproc > 1) or CPU time of trainer + "
                             "loader workers (default with --nproc 1)")
    parser.add_argument("--epochs", type=int, default=0,
                        help="train this many epochs over the whole pool instead of fitting the budget")
    parser.add_argument("--train_num", type=int, default=40000, help="training pool size (words generated)")
    parser.add_argument("--test_num", type=int, default=2000, help="held-out words")
    parser.add_argument("--seed", type=int, default=0,
                        help="pool part k uses seed + k, the held-out set seed + %d" % TEST_SEED_OFFSET)
    parser.add_argument("--fonts", default=",".join(FONTS),
                        help="comma-separated font files or names of fonts ppocr.data.synth finds")
    parser.add_argument("--width", type=int, default=100, help="RecResizeImg width (height stays 32)")
    parser.add_argument("--batch_size", type=int, default=16,
                        help="per process: small batches give the most updates in the budget")
    parser.add_argument("--lr", type=float, default=0.003, help="peak learning rate of the cosine schedule")
    parser.add_argument("--warmup_steps", type=int, default=50, help="linear warmup length in iterations")
    parser.add_argument("--aug_prob", type=float, default=0.0,
                        help="every RecAug probability (the recipe's default is 0.4); the generator already rotates, "
                             "blurs and adds noise, and within 15 minutes extra augmentation costs accuracy "
                             "(0.1: 91.9 %% held-out, 0: 96.3 %%)")
    parser.add_argument("--num_workers", type=int, default=1,
                        help="Train loader workers of a single-process run (data-parallel ranks load in-process)")
    parser.add_argument("--nproc", type=int, default=2,
                        help="data-parallel training processes (paddle.distributed.launch, one core each); "
                             "1 trains in this process")
    parser.add_argument("--probe_steps", type=int, default=60,
                        help="iterations per throughput measurement (at least twice Global.print_batch_step)")
    parser.add_argument("--probe_rounds", type=int, default=2, help="bare/trainer measurement pairs")
    parser.add_argument("--gen_procs", type=int, default=2, help="processes generating the words")
    parser.add_argument("--eval_only", default=None, metavar="CHECKPOINT",
                        help="skip probe and training: score this checkpoint prefix (e.g. WORK_DIR/model/latest)")
    args = parser.parse_args(argv)
    for name in ("train_num", "test_num", "batch_size", "width", "probe_steps", "probe_rounds", "gen_procs", "nproc"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not 0.0 <= args.aug_prob <= 1.0:
        parser.error("--aug_prob must be within [0, 1]")
    args.budget = args.budget or ("wall" if args.nproc > 1 else "cpu")
    if args.nproc > 1 and args.budget == "cpu":
        parser.error("a data-parallel run (--nproc > 1) is budgeted in wall time: add --budget wall or --nproc 1")
    if args.train_num < args.batch_size * args.probe_steps:
        parser.error("--train_num must hold at least --batch_size x --probe_steps words")
    return args


# -- data ------------------------------------------------------------------------------------------------------
def resolve_fonts(spec: str) -> List[str]:
    from ppocr.data.synth import list_fonts

    by_name = {os.path.basename(path): path for path in list_fonts()}
    fonts = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        path = item if os.path.isfile(item) else by_name.get(item)
        if path is None:
            raise SystemExit(f"--fonts: {item!r} is neither a file nor one of {sorted(by_name)}")
        fonts.append(path)
    if not fonts:
        raise SystemExit("--fonts: no font given")
    return fonts


def make_words(out_dir: str, num: int, seed: int, fonts: List[str]) -> str:
    """Generate ``num`` words into ``out_dir`` unless the same set is already there; returns its label file."""
    from ppocr.data.synth import make_rec_dataset
    from ppocr.data.synth.writers import REC_LABEL_FILE

    label_file = os.path.join(out_dir, REC_LABEL_FILE)
    stamp = os.path.join(out_dir, "made_with.txt")
    wanted = f"num={num} seed={seed} fonts={','.join(os.path.basename(f) for f in fonts)}\n"
    if os.path.isfile(label_file) and os.path.isfile(stamp):
        with open(stamp, encoding="utf-8") as f:
            if f.read() == wanted:
                return label_file
    make_rec_dataset(out_dir, num, fonts=fonts, seed=seed)
    with open(stamp, "w", encoding="utf-8") as f:
        f.write(wanted)
    return label_file


def prefixed_lines(label_file: str, prefix: str) -> List[str]:
    """Label lines with image paths made relative to the folder above the label file's folder."""
    with open(label_file, encoding="utf-8") as f:
        return [f"{prefix}/{line}" for line in f.read().splitlines() if line.strip()]


def write_lines(path: str, lines: Sequence[str]) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


@dataclass
class Data:
    root: str                       # Train.dataset.data_dir: holds the pool parts
    pool: List[str]                 # training label lines, paths relative to root
    test_dir: str
    test_label: str


def make_data(args: argparse.Namespace, work_dir: str, fonts: List[str]) -> Data:
    """Pool in ``gen_procs`` parts (each its own seed) plus the held-out set, generated in parallel."""
    root = os.path.join(work_dir, "data")
    parts = args.gen_procs
    sizes = [args.train_num // parts + (k < args.train_num % parts) for k in range(parts)]
    jobs = [(os.path.join(root, f"train_{k}"), size, args.seed + k) for k, size in enumerate(sizes) if size]
    test_dir = os.path.join(root, "test")
    jobs.append((test_dir, args.test_num, args.seed + TEST_SEED_OFFSET))
    with Clock() as clock, concurrent.futures.ProcessPoolExecutor(max_workers=args.gen_procs) as pool:
        futures = [pool.submit(make_words, out, num, seed, fonts) for out, num, seed in jobs]
        labels = [future.result() for future in futures]
    log.info("words ready in %s (%.0f s): pool %d in %d parts, held-out %d (seed %d); fonts: %s", root, clock.wall,
             args.train_num, len(jobs) - 1, args.test_num, args.seed + TEST_SEED_OFFSET,
             ", ".join(os.path.basename(f) for f in fonts))
    pool_lines = [line for (out, _, _), label in zip(jobs[:-1], labels)
                  for line in prefixed_lines(label, os.path.basename(out))]
    return Data(root, pool_lines, test_dir, labels[-1])


# -- config --------------------------------------------------------------------------------------------------
def recipe_overrides(args: argparse.Namespace, data: Data, train_label: str, save_dir: str) -> List[str]:
    """What this benchmark changes in the recipe, as ``-o`` strings (epoch_num and warmup come later)."""
    from ppocr.utils.config import load_config

    recipe = load_config(RECIPE)
    aug = transform_index(recipe, "Train", "RecAug")
    train_resize = transform_index(recipe, "Train", "RecResizeImg")
    eval_resize = transform_index(recipe, "Eval", "RecResizeImg")
    probs = ", ".join(f"{name}: {args.aug_prob:g}" for name in _common.RECAUG_PROBS)
    shape = f"[3, 32, {args.width}]"
    return [
        f"Global.save_model_dir={save_dir}",
        "Global.eval_batch_step=[0, 1000000000]",
        f"Optimizer.lr.learning_rate={args.lr:g}",
        f"Train.dataset.data_dir={data.root}",
        f"Train.dataset.label_file_list=[{train_label}]",
        f"Train.dataset.transforms.{aug}.RecAug={{{probs}}}",
        f"Train.dataset.transforms.{train_resize}.RecResizeImg.image_shape={shape}",
        f"Train.loader.batch_size_per_card={args.batch_size}",
        f"Train.loader.num_workers={args.num_workers if args.nproc == 1 else 0}",
        f"Eval.dataset.data_dir={data.test_dir}",
        f"Eval.dataset.label_file_list=[{data.test_label}]",
        f"Eval.dataset.transforms.{eval_resize}.RecResizeImg.image_shape={shape}",
    ]


def build_config(overrides: List[str]) -> Dict[str, Any]:
    from ppocr.utils.config import load_and_override

    return load_and_override(RECIPE, overrides, require=("Global", "Architecture", "Loss", "Optimizer",
                                                         "PostProcess", "Metric", "Train"))


# -- throughput ----------------------------------------------------------------------------------------------
@dataclass
class Round:
    """One bare/trainer pair. Steady rates leave out the first log window; "cpu" rates count CPU seconds of the
    training process, which other processes on the machine do not change."""

    bare: float = 0.0               # steady samples/s
    bare_cpu: float = 0.0           # steady samples per CPU-second
    trainer: float = 0.0
    trainer_cpu: float = 0.0
    trainer_call: float = 0.0       # samples/s of the whole train() call (epoch start, checkpoint included)
    trainer_call_cpu: float = 0.0   # samples per CPU-second of that call, loader workers included
    reader: float = 0.0             # s/iteration the trainer waited for data
    batch: float = 0.0              # s/iteration of the trainer's loop
    load: str = ""


def bare_loop(trainer, batches: List[list], log_every: int) -> Tuple[float, float]:
    """The minimal training loop on precomputed batches; (samples/s, samples per CPU-second) after the first
    ``log_every`` iterations, as the trainer's steady rate is measured."""
    model, loss_fn, optimizer, scheduler = trainer.model, trainer.loss, trainer.optimizer, trainer.lr_scheduler
    model.train()
    size = int(batches[0][0].shape[0])
    marks = []
    for step, batch in enumerate(batches, 1):
        preds = model(batch[0], data=batch[1:])
        loss = loss_fn(preds, batch)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        scheduler.step()
        if step % log_every == 0 or step == len(batches):
            marks.append((step, time.perf_counter(), time.process_time()))
    (first, wall0, cpu0), (last, wall1, cpu1) = marks[0], marks[-1]
    samples = (last - first) * size
    return samples / max(wall1 - wall0, 1e-9), samples / max(cpu1 - cpu0, 1e-9)


def measure_throughput(args: argparse.Namespace, base: List[str], data: Data, work_dir: str) -> List[Round]:
    """Alternate bare loop and trainer on the same ``probe_steps`` batches, ``probe_rounds`` times."""
    from ppocr.engine.trainer import Trainer

    probe_label = write_lines(os.path.join(data.root, "probe.txt"), data.pool[: args.batch_size * args.probe_steps])
    rounds = []
    for index in range(args.probe_rounds):
        overrides = base + ["Global.epoch_num=1", "Optimizer.lr.warmup_epoch=0",
                            f"Global.save_model_dir={os.path.join(work_dir, 'probe')}",
                            f"Train.dataset.label_file_list=[{probe_label}]"]
        config = build_config(overrides)
        log_every = config["Global"]["print_batch_step"]
        if args.probe_steps < 2 * log_every:
            raise SystemExit(f"--probe_steps must be at least twice Global.print_batch_step ({log_every})")
        result = Round(load=_common.load_average())
        bare_trainer = Trainer(config, mode="train")
        batches = list(bare_trainer.train_loader)
        result.bare, result.bare_cpu = bare_loop(bare_trainer, batches, log_every)
        del bare_trainer, batches

        trainer = Trainer(config, mode="train")
        with StepLog() as step_log, Clock() as clock:
            trainer.train()
        samples = args.probe_steps * args.batch_size
        result.trainer, result.trainer_cpu = step_log.steady_rate(args.batch_size)
        result.trainer_call = samples / clock.wall
        result.trainer_call_cpu = samples / max(clock.cpu, 1e-9)
        result.reader, result.batch = step_log.mean_costs()
        rounds.append(result)
        log.info("probe round %d: bare %.1f samples/s (%.1f per CPU-s), trainer %.1f samples/s (%.1f per CPU-s), "
                 "whole train() call %.1f samples/s (%.1f per CPU-s with workers); trainer waits %.3f of %.3f s/it "
                 "for data; %s", index + 1, result.bare, result.bare_cpu, result.trainer, result.trainer_cpu,
                 result.trainer_call, result.trainer_call_cpu, result.reader, result.batch, result.load)
    return rounds


# -- budget --------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    epochs: int
    per_epoch: int                  # pool words used in each epoch
    steps_per_epoch: int
    rate: float                     # samples per budget-second the plan assumes
    overrides: List[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch


def plan_training(args: argparse.Namespace, rounds: List[Round]) -> Plan:
    """Epochs and words per epoch so that epochs x words fill the budget (the cosine then ends with it).

    The pool is used whole when it fits; a larger pool is cut so that every epoch sees the same words.
    Data-parallel ranks each run at about the probed single-process pace, less the gradient all-reduce.
    """
    size = args.batch_size * args.nproc
    pool_steps = args.train_num // size
    if args.epochs > 0:
        return Plan(args.epochs, pool_steps * size, pool_steps, float("nan"))
    if args.budget == "cpu":
        rate = 0.97 * min(r.trainer_call_cpu for r in rounds)  # loader workers' start-up varies a little
    else:
        # epoch ends and checkpoints are not in the steady rate; ranks wait for each other at every step
        rate = 0.95 * min(r.trainer for r in rounds) * (1.0 if args.nproc == 1 else DATA_PARALLEL_EFFICIENCY * args.nproc)
    total_steps = max(1, int(args.minutes * 60 * rate) // size)
    epochs = max(1, math.ceil(total_steps / pool_steps))
    steps_per_epoch = max(1, total_steps // epochs)
    return Plan(epochs, steps_per_epoch * size, steps_per_epoch, rate)


# -- scoring -------------------------------------------------------------------------------------------------
@dataclass
class Score:
    accuracy: float
    correct: int
    total: int
    errors: List[Tuple[str, str, str]]      # (image, truth, prediction)
    seconds: float


def score(predictor, label_file: str) -> Score:
    pairs = _common.read_rec_gt(label_file)
    truths = dict(pairs)
    predictions = []
    errors = []
    with Clock() as clock:
        for path, result, error in predictor.predict_files([path for path, _ in pairs]):
            text = result[0] if error is None else ""
            predictions.append((text, truths[path]))
            if _common.normalize_word(text) != _common.normalize_word(truths[path]):
                errors.append((os.path.basename(path), truths[path], text))
    accuracy, correct, total = _common.word_accuracy(predictions)
    return Score(accuracy, correct, total, errors, clock.wall)


def dictionary_split(label_file: str, errors: List[Tuple[str, str, str]]) -> Dict[bool, Tuple[int, int]]:
    """{is a dictionary word: (correct, total)} of a synthetic set, to see what the errors are made of."""
    from ppocr.data.synth import ENGLISH_WORDS

    words = set(ENGLISH_WORDS)
    wrong = {image for image, _, _ in errors}
    counts = {True: [0, 0], False: [0, 0]}
    for path, truth in _common.read_rec_gt(label_file):
        kind = counts[truth in words]
        kind[0] += os.path.basename(path) not in wrong
        kind[1] += 1
    return {kind: (ok, total) for kind, (ok, total) in counts.items()}


# -- main ----------------------------------------------------------------------------------------------------
def percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    work_dir = _common.start(args, "rec_synth_")
    _common.progress_on_stdout(log, os.path.join(work_dir, "train.log"))
    log.info("rec_synth: work_dir %s, OMP_NUM_THREADS=%s; %s", work_dir, os.environ["OMP_NUM_THREADS"],
             _common.load_average())
    try:
        figures = run(args, work_dir)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    print()
    print(_common.format_table("rec_synth: rec_mv3_none_bilstm_ctc from scratch on synthetic words", figures))
    return 0


def run(args: argparse.Namespace, work_dir: str) -> List[Figure]:
    fonts = resolve_fonts(args.fonts)
    data = make_data(args, work_dir, fonts)
    save_dir = os.path.join(work_dir, "model")
    train_label = os.path.join(data.root, "train_used.txt")
    base = recipe_overrides(args, data, train_label, save_dir)
    config = build_config(base)
    checkpoint = args.eval_only
    training: List[Figure] = []
    if checkpoint is None:
        training = train_within_budget(args, base, data, work_dir, train_label)
        checkpoint = os.path.join(save_dir, "latest")
    figures = evaluate(args, config, checkpoint, data) + training
    figures.append(Figure("load average at the end", _common.load_average()))
    return figures


def train_within_budget(args: argparse.Namespace, base: List[str], data: Data, work_dir: str,
                        train_label: str) -> List[Figure]:
    log.info("throughput: %d rounds of bare loop vs Trainer.train() on %d iterations of batch %d ...",
             args.probe_rounds, args.probe_steps, args.batch_size)
    rounds = measure_throughput(args, base, data, work_dir)
    plan = plan_training(args, rounds)
    write_lines(train_label, data.pool[: plan.per_epoch])
    warmup_epoch = round(args.warmup_steps / plan.steps_per_epoch, 4)
    overrides = base + [f"Global.epoch_num={plan.epochs}", f"Optimizer.lr.warmup_epoch={warmup_epoch:g}"]
    command = train_command(args, overrides, os.path.join(work_dir, "launch"))
    split = command.index("-o") + 1
    log.info("the training run:\n  %s \\\n    %s", shlex.join(command[:split]),
             " \\\n    ".join(shlex.quote(part) for part in command[split:]))
    budget = f"{args.minutes:g} {args.budget}-minutes"
    samples = plan.steps * args.batch_size * args.nproc
    log.info("training %d epochs x %d iterations x %d process(es) x batch %d (%d words of the %d-word pool per "
             "epoch) = %d samples%s", plan.epochs, plan.steps_per_epoch, args.nproc, args.batch_size, plan.per_epoch,
             len(data.pool), samples,
             "" if math.isnan(plan.rate) else f", to fit {budget} at {plan.rate:.1f} samples per {args.budget}-second")

    step_log = StepLog(plan.steps, echo_every=max(10, plan.steps // 20), echo_log=log)
    load_before = _common.load_average()
    with Clock() as clock:
        if args.nproc == 1:
            train_here(build_config(overrides), step_log)
        else:
            train_data_parallel(command, build_config(overrides), step_log, work_dir)
    used = clock.cpu if args.budget == "cpu" else clock.wall
    reader, batch = step_log.mean_costs()
    final_loss = step_log.records[-1].loss if step_log.records else float("nan")
    log.info("trained %d iterations in %.1f wall-minutes, %.1f CPU-minutes; final loss %.4f", plan.steps,
             clock.wall / 60, clock.cpu / 60, final_loss)

    def mean(name: str) -> float:
        return sum(getattr(r, name) for r in rounds) / len(rounds)

    cpu_ratio = mean("trainer_cpu") / mean("bare_cpu")
    wall_ratio = mean("trainer") / mean("bare")
    target = f">= {100 * SPEED_RATIO_TARGET:.0f} %"
    return [
        Figure("bare loop samples/s (fwd+loss+bwd+step)", f"{mean('bare'):.1f} ({mean('bare_cpu'):.1f} per CPU-s)"),
        Figure("Trainer.train() samples/s (steady)", f"{mean('trainer'):.1f} ({mean('trainer_cpu'):.1f} per CPU-s)"),
        Figure("trainer / bare, per CPU-second", f"{100 * cpu_ratio:.0f} % (rounds: "
               + ", ".join(f"{100 * r.trainer_cpu / r.bare_cpu:.0f}" for r in rounds) + ")", target,
               cpu_ratio >= SPEED_RATIO_TARGET),
        Figure("trainer / bare, wall clock", f"{100 * wall_ratio:.0f} % (rounds: "
               + ", ".join(f"{100 * r.trainer / r.bare:.0f}" for r in rounds) + ")", target,
               wall_ratio >= SPEED_RATIO_TARGET),
        Figure("  trainer wait for data per iteration", f"{mean('reader'):.3f} of {mean('batch'):.3f} s"),
        Figure("  whole train() call incl. start/checkpoint", f"{mean('trainer_call'):.1f} samples/s, "
               f"{mean('trainer_call_cpu'):.1f} per CPU-s with loader workers"),
        Figure("  load during the probe", rounds[0].load),
        Figure("training run", f"{plan.epochs} ep x {plan.steps_per_epoch} it x {args.nproc} proc x {args.batch_size}"
               f" = {samples} samples"),
        Figure(f"training time ({args.budget})", f"{used / 60:.1f} min ({clock.wall / 60:.1f} wall, "
               f"{clock.cpu / 60:.1f} CPU)", f"<= {args.minutes:g} min", used <= args.minutes * 60),
        Figure("  main run samples/s (wall, all included)", f"{samples / clock.wall:.1f}; waits {reader:.3f} of "
               f"{batch:.3f} s/it for data"),
        Figure("  load at training start", load_before),
    ]


def train_command(args: argparse.Namespace, overrides: List[str], launch_dir: str) -> List[str]:
    """The training run as a user would type it: tools/train.py, under paddle.distributed.launch for --nproc > 1."""
    train = [os.path.join("tools", "train.py"), "-c", RECIPE_REL, "-o", *overrides]
    if args.nproc == 1:
        return ["python", *train]
    return ["python", "-m", "paddle.distributed.launch", "--nproc_per_node", str(args.nproc), "--log_dir",
            launch_dir, *train]


def train_here(config: Dict[str, Any], step_log: StepLog) -> None:
    from ppocr.engine.trainer import Trainer

    with step_log:
        Trainer(config, mode="train").train()


def train_data_parallel(command: List[str], config: Dict[str, Any], step_log: StepLog, work_dir: str) -> None:
    """Run ``command`` and follow rank 0's ``train.log`` (the file tools/train.py writes) into ``step_log``."""
    log_file = os.path.join(config["Global"]["save_model_dir"], "train.log")
    offset = os.path.getsize(log_file) if os.path.isfile(log_file) else 0
    launcher_out = os.path.join(work_dir, "launch.out")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_common.REPO, os.environ.get("PYTHONPATH")])))
    with open(launcher_out, "w", encoding="utf-8") as out:
        process = subprocess.Popen([sys.executable, *command[1:]], cwd=_common.REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
        pending = ""
        while True:
            finished = process.poll() is not None
            if os.path.isfile(log_file):
                with open(log_file, encoding="utf-8", errors="replace") as f:
                    f.seek(offset)
                    chunk = f.read()
                    offset = f.tell()
                lines = (pending + chunk).split("\n")
                pending = lines.pop()
                for line in lines:
                    step_log.feed(line)
            if finished:
                break
            time.sleep(2.0)
    if process.returncode != 0:
        raise SystemExit(f"data-parallel training failed (exit code {process.returncode}); see {launcher_out} and "
                         f"{os.path.join(work_dir, 'launch')}/workerlog.*")


def evaluate(args: argparse.Namespace, config: Dict[str, Any], checkpoint: str, data: Data) -> List[Figure]:
    from ppocr.engine.checkpoint_predictor import CheckpointPredictor

    predictor = CheckpointPredictor(config, weights=checkpoint)
    held_out = score(predictor, data.test_label)
    split = dictionary_split(data.test_label, held_out.errors)
    (dict_ok, dict_total), (rand_ok, rand_total) = split[True], split[False]
    log.info("held-out: %d/%d correct in %.0f s; some errors (image, truth, prediction): %s", held_out.correct,
             held_out.total, held_out.seconds, held_out.errors[:8])
    figures = [
        Figure(f"held-out synthetic word accuracy ({held_out.total})", percent(held_out.accuracy),
               f">= {100 * ACCURACY_TARGET:.0f} %", held_out.accuracy >= ACCURACY_TARGET),
        Figure("  dictionary words / random strings",
               f"{percent(dict_ok / max(dict_total, 1))} of {dict_total} / {percent(rand_ok / max(rand_total, 1))} "
               f"of {rand_total}"),
    ]
    svt_label = os.path.join(args.eval_root, "svt", "rec_gt.txt")
    if os.path.isfile(svt_label):
        svt = score(predictor, svt_label)
        log.info("SVT: %d/%d correct in %.0f s; some errors: %s", svt.correct, svt.total, svt.seconds, svt.errors[:8])
        figures.append(Figure(f"SVT word accuracy ({svt.total})", percent(svt.accuracy), "report"))
    else:
        figures.append(Figure("SVT word accuracy", f"not found: {svt_label}", "report"))
    return figures


if __name__ == "__main__":
    sys.exit(main())
