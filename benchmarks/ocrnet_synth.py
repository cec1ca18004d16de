"""OCRNet CTC vs Attention (configs/rec/ocrnet/*) trained from scratch on synthetic words with the same budget.

1. Generates words (digits + lower case, 3-10 characters) with ``ppocr.data.synth.make_rec_dataset``, a training
   pool and a held-out set with another seed, and converts both to LMDB with ``ppocr.data.dataset_convert`` (the
   path a TAO user takes). Reused from ``--work_dir`` when already there.
2. For each recipe: ``Trainer(config)`` builds model, loss, Adadelta + global-norm clipping and the LMDB loader
   (grayscale 32×100, OCRNetAug); a loop of forward + loss + backward + step over the loader runs until the
   budget (``--minutes`` of CPU time of this process by default, ``--budget wall`` for wall time) is spent.
   Both recipes see the same batches in the same order.
3. ``Trainer.evaluate()`` scores the held-out LMDB (word accuracy, normalised edit distance, words/s of
   model + post-process); the training rate is words per budget second.

The model is narrowed by default (``--feature_channel 64``, ``--hidden_size 48``, small TPS) because the full
512-channel STR ResNet trains at about one word per CPU-second; pass ``--feature_channel 512 --hidden_size 256
--tps_model large`` for the recipes as written. Load averages are printed before and after each run: other
processes on the machine slow the wall-clock figures, not the CPU-time budget. Benchmarks never assert.

    python benchmarks/ocrnet_synth.py                       # 12 CPU-minutes per recipe, one after the other
    python benchmarks/ocrnet_synth.py --work_dir W --only ctc & python benchmarks/ocrnet_synth.py --work_dir W --only attn
                                                            # side by side, once a first run has made the data in W
    python benchmarks/ocrnet_synth.py --work_dir /tmp/ocrnet_bench --minutes 2
"""
from __future__ import annotations

import argparse
import copy
import logging
import os
import shutil
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import _common
from _common import Clock, Figure

KINDS = ("ctc", "attn")
TEST_SEED_OFFSET = 1000

log = logging.getLogger("ppocr.benchmarks.ocrnet_synth")  # printed and logged by ppocr's setup_logging


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = _common.base_parser(__doc__)
    parser.add_argument("--minutes", type=float, default=12.0, help="training budget per recipe")
    parser.add_argument("--budget", choices=("cpu", "wall"), default="cpu",
                        help="what --minutes caps: CPU time of this process (default) or wall time")
    parser.add_argument("--train_num", type=int, default=20000, help="training pool size (words generated)")
    parser.add_argument("--test_num", type=int, default=1000, help="held-out words")
    parser.add_argument("--seed", type=int, default=0, help="pool seed; the held-out set uses seed + %d"
                        % TEST_SEED_OFFSET)
    parser.add_argument("--batch_size", type=int, default=16,
                        help="TAO's default is 32; 16 makes twice the updates within the budget")
    parser.add_argument("--feature_channel", type=int, default=64, help="ResNetSTR width (recipe: 512)")
    parser.add_argument("--hidden_size", type=int, default=48, help="BiLSTM and attention hidden size (recipe: 256)")
    parser.add_argument("--tps_model", choices=("small", "large"), default="small",
                        help="TPS localisation network width (recipe: large)")
    parser.add_argument("--epsilon", type=float, default=1e-6,
                        help="Adadelta epsilon (the recipe's is 1e-8; the first steps are ~sqrt(epsilon), so 1e-6 "
                             "leaves the CTC plateau sooner)")
    parser.add_argument("--max_text_length", type=int, default=10, help="Global/Head max_text_length")
    parser.add_argument("--only", choices=KINDS, default=None,
                        help="run one recipe (two processes with --only ctc / --only attn use both cores)")
    args = parser.parse_args(argv)
    for name in ("train_num", "test_num", "batch_size", "max_text_length"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.minutes <= 0:
        parser.error("--minutes must be > 0")
    return args


# -- data ------------------------------------------------------------------------------------------------------
def make_lmdb(work_dir: str, split: str, num: int, seed: int) -> str:
    """Words in ``<work_dir>/words/<split>`` converted to ``<work_dir>/lmdb/<split>``, unless already made."""
    from ppocr.data.dataset_convert import convert_label_file
    from ppocr.data.synth import make_rec_dataset
    from ppocr.data.synth.writers import REC_LABEL_FILE

    words = os.path.join(work_dir, "words", split)
    lmdb_dir = os.path.join(work_dir, "lmdb", split)
    stamp = os.path.join(work_dir, "lmdb", f"{split}.made_with.txt")
    wanted = f"num={num} seed={seed}\n"
    if os.path.isdir(lmdb_dir) and os.path.isfile(stamp):
        with open(stamp, encoding="utf-8") as f:
            if f.read() == wanted:
                return lmdb_dir
    with Clock() as clock:
        make_rec_dataset(words, num, seed=seed, length=(3, 10), progress=True)
        convert_label_file(os.path.join(words, REC_LABEL_FILE), words, os.path.join(work_dir, "lmdb"), tag=split)
    with open(stamp, "w", encoding="utf-8") as f:
        f.write(wanted)
    log.info("%s: %d words in %s (%.0f s)", split, num, lmdb_dir, clock.wall)
    return lmdb_dir


# -- config --------------------------------------------------------------------------------------------------
def build_config(args: argparse.Namespace, kind: str, train_lmdb: str, test_lmdb: str,
                 save_dir: str) -> Dict[str, Any]:
    from ppocr.utils.config import load_config

    recipe = os.path.join(_common.REPO, "configs", "rec", "ocrnet", f"ocrnet_tps_resnet_bilstm_{kind}.yml")
    config = copy.deepcopy(load_config(recipe))
    config["Global"].update(save_model_dir=save_dir, seed=args.seed + 1, max_text_length=args.max_text_length,
                            cal_metric_during_train=False, print_batch_step=50)
    config["Optimizer"]["epsilon"] = args.epsilon
    arch = config["Architecture"]
    arch["Transform"]["model_name"] = args.tps_model
    arch["Backbone"]["feature_channel"] = args.feature_channel
    arch["Neck"]["hidden_size"] = args.hidden_size
    if kind == "attn":
        arch["Head"].update(hidden_size=args.hidden_size, max_text_length=args.max_text_length)
    for mode, path in (("Train", train_lmdb), ("Eval", test_lmdb)):
        config[mode]["dataset"]["data_dir"] = path
        config[mode]["loader"].update(batch_size_per_card=args.batch_size, num_workers=0)
    return config


# -- training ------------------------------------------------------------------------------------------------
def budget_spent(start: Tuple[float, float], args: argparse.Namespace) -> float:
    """Seconds of the budget used since ``start`` = (wall, CPU) clock readings."""
    import time

    wall0, cpu0 = start
    return _common.cpu_seconds() - cpu0 if args.budget == "cpu" else time.perf_counter() - wall0


def train_within_budget(trainer, args: argparse.Namespace) -> Dict[str, float]:
    """Steps over the Train loader (epoch after epoch) until the budget is spent."""
    import time

    import numpy as np

    budget = args.minutes * 60.0
    start = (time.perf_counter(), _common.cpu_seconds())
    model, loss_fn, optimizer = trainer.model, trainer.loss, trainer.optimizer
    model.train()
    steps = words = 0
    losses: List[float] = []
    epoch = 0
    while budget_spent(start, args) < budget:
        epoch += 1
        trainer.train_dataset.set_epoch(epoch)
        for batch in trainer.train_loader:
            loss = loss_fn(model(batch[0], data=batch[1:]), batch)["loss"]
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
            trainer.lr_scheduler.step()
            steps += 1
            words += int(batch[0].shape[0])
            losses.append(float(loss))
            if steps % 50 == 0:
                log.info("step %d (epoch %d): loss %.4f (mean of last 50), %.0f / %.0f s of budget, %s", steps, epoch,
                         np.mean(losses[-50:]), budget_spent(start, args), budget, _common.load_average())
            if budget_spent(start, args) >= budget:
                break
    wall, cpu = time.perf_counter() - start[0], _common.cpu_seconds() - start[1]
    return {"steps": steps, "words": words, "epochs": epoch, "wall": wall, "cpu": cpu,
            "first_loss": float(np.mean(losses[:50])) if losses else float("nan"),
            "last_loss": float(np.mean(losses[-50:])) if losses else float("nan")}


def run_kind(args: argparse.Namespace, kind: str, train_lmdb: str, test_lmdb: str, work_dir: str) -> List[Figure]:
    import numpy as np

    from ppocr.engine.trainer import Trainer

    config = build_config(args, kind, train_lmdb, test_lmdb, os.path.join(work_dir, kind))
    load_before = _common.load_average()
    trainer = Trainer(config)
    params = sum(int(np.prod(p.shape)) for p in trainer.model.parameters())
    log.info("%s: %.2f M parameters, training for %.1f %s-minutes", kind, params / 1e6, args.minutes, args.budget)
    trained = train_within_budget(trainer, args)
    metric = trainer.evaluate()
    spent = trained[args.budget]
    return [
        Figure(f"{kind}: parameters", f"{params / 1e6:.2f} M"),
        Figure(f"{kind}: steps / epochs / words seen",
               f"{trained['steps']} / {trained['epochs']} / {trained['words']}"),
        Figure(f"{kind}: train loss, first -> last 50 steps",
               f"{trained['first_loss']:.3f} -> {trained['last_loss']:.3f}"),
        Figure(f"{kind}: train words/s ({args.budget})", f"{trained['words'] / max(spent, 1e-9):.1f}"),
        Figure(f"{kind}: wall / CPU seconds", f"{trained['wall']:.0f} / {trained['cpu']:.0f}"),
        Figure(f"{kind}: held-out word accuracy", f"{100 * metric['acc']:.2f} %"),
        Figure(f"{kind}: held-out 1 - norm. edit distance", f"{metric['norm_edit_dis']:.4f}"),
        Figure(f"{kind}: eval words/s (model + post-process, wall)", f"{metric['fps']:.1f}"),
        Figure(f"{kind}: load before", load_before),
        Figure(f"{kind}: load after", _common.load_average()),
    ]


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    work_dir = _common.start(args, "ocrnet_synth.")
    from ppocr.utils.logging import setup_logging

    setup_logging(os.path.join(work_dir, "ocrnet_synth.log"))
    logging.getLogger("ppocr.engine.trainer").setLevel(logging.WARNING)
    log.info("work_dir %s, %d thread(s), %s", work_dir, args.threads, _common.load_average())
    train_lmdb = make_lmdb(work_dir, "train", args.train_num, args.seed)
    test_lmdb = make_lmdb(work_dir, "test", args.test_num, args.seed + TEST_SEED_OFFSET)
    model = (f"feature_channel {args.feature_channel}, hidden {args.hidden_size}, TPS {args.tps_model}, "
             f"batch {args.batch_size}, max_text_length {args.max_text_length}")
    figures = [Figure("model", model),
               Figure("data", f"{args.train_num} training / {args.test_num} held-out synthetic words, 32x100 gray"),
               Figure("budget per recipe", f"{args.minutes:g} {args.budget}-minutes, {args.threads} thread(s)")]
    for kind in [args.only] if args.only else KINDS:
        shutil.rmtree(os.path.join(work_dir, kind), ignore_errors=True)
        figures += run_kind(args, kind, train_lmdb, test_lmdb, work_dir)
    print(_common.format_table("ocrnet_synth: OCRNet CTC vs Attention, same budget", figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
