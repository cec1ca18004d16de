"""Helpers shared by the benchmark scripts: paths, CPU threads, clocks, machine load, word accuracy, tables.

Benchmarks print figures and never assert; these helpers keep their command lines, scoring and output alike.
Import this module before paddle: ``use_threads`` only takes effect when paddle has not been loaded yet.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_EVAL_ROOT = os.path.normpath(os.path.join(REPO, "..", "shared", "eval"))
_NOT_WORD_CHAR = re.compile(r"[^0-9a-z]")
# RecAug's probability options: a benchmark sets them all to one --aug_prob.
RECAUG_PROBS = ("aug_prob", "crop_prob", "reverse_prob", "noise_prob", "jitter_prob", "blur_prob", "hsv_aug_prob")


def add_repo_to_path() -> None:
    """Let a benchmark import ``ppocr`` from this checkout without installing it."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)


def base_parser(description: str) -> argparse.ArgumentParser:
    """Options every benchmark takes: where to work, where the real evaluation data is, CPU threads."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default=None,
                        help="data, checkpoints and logs (default: a new temporary folder)")
    parser.add_argument("--eval_root", default=DEFAULT_EVAL_ROOT,
                        help="folder of the real evaluation sets, see its README.md (default: ../shared/eval)")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP threads of paddle's CPU kernels (1 leaves the second core to the data loader)")
    return parser


def use_threads(threads: int) -> None:
    """Set paddle's CPU thread count; must run before paddle is imported, which reads it once."""
    if "paddle" in sys.modules:
        raise RuntimeError("use_threads() must be called before paddle is imported")
    os.environ["OMP_NUM_THREADS"] = str(threads)


def start(args: argparse.Namespace, prefix: str) -> str:
    """A benchmark's first steps, before paddle is imported: ``--threads``, ``ppocr`` from this checkout, and the
    work folder (``--work_dir``, else a new temporary one), which is returned."""
    use_threads(args.threads)
    add_repo_to_path()
    work_dir = args.work_dir or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(work_dir, exist_ok=True)
    return work_dir


def progress_on_stdout(log: logging.Logger, trainer_log_file: str) -> None:
    """``log``'s progress lines on stdout; the trainer's INFO log goes to ``trainer_log_file`` (its warnings also
    to stdout)."""
    from ppocr.utils.logging import setup_logging

    for handler in setup_logging(trainer_log_file).handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", datefmt="%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def log(message: str) -> None:
    """A progress line stamped with the time of day, flushed at once: long benchmarks are followed live."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def word_crops(image: Any, gt: Sequence[dict]) -> Iterable[Tuple[int, Any, str]]:
    """``(index in gt, crop, word)`` for every readable word of one photo, cut as the OCR system cuts it
    (``ppocr.infer.system.crop_quad``); ``###``, blank words and crops under 4 px are skipped."""
    import numpy as np

    from ppocr.infer.system import crop_quad

    for index, item in enumerate(gt):
        word = item["transcription"]
        if word == "###" or not word.strip():
            continue
        crop = crop_quad(image, np.asarray(item["points"], dtype=np.float32))
        if min(crop.shape[:2]) >= 4:
            yield index, crop, word


def load_average() -> str:
    """The 1, 5 and 15 minute load averages with the CPU count, as ``uptime`` shows them."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def cpu_seconds() -> float:
    """CPU time of this process plus its finished children (data-loader workers end with each epoch)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Clock:
    """Wall and CPU seconds spent inside a ``with`` block."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, cpu_seconds() - self.cpu


def interleaved_call_ms(backends: Dict[str, Any], batch: Any, runs: int, warmup: int = 3) -> Dict[str, List[float]]:
    """Milliseconds of each of ``runs`` ``backend.run(batch)`` calls per backend, after ``warmup`` calls each.
    The backends take turns call by call, so a change in the machine's load hits all of them alike."""
    for backend in backends.values():
        for _ in range(warmup):
            backend.run(batch)
    times: Dict[str, List[float]] = {name: [] for name in backends}
    for _ in range(runs):
        for name, backend in backends.items():
            start = time.perf_counter()
            backend.run(batch)
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def dev_photos(eval_root: str, count: int) -> Tuple[str, List[str]]:
    """(folder, the first ``count`` image paths in name order) of the ICDAR 2015 dev photos; exits when empty."""
    image_dir = os.path.join(eval_root, "icdar2015_dev", "images")
    paths = sorted(os.path.join(image_dir, name) for name in os.listdir(image_dir))[:count]
    if not paths:
        raise SystemExit(f"no images in {image_dir}")
    return image_dir, paths


def normalize_word(text: str) -> str:
    """The project's word-accuracy convention: case-insensitive, only [0-9a-z] compared."""
    return _NOT_WORD_CHAR.sub("", text.lower())


class Score:
    """Global detection and end-to-end counts over images: ICDAR 2015 one-to-one matching at IoU > 0.5, ``###``
    regions cared for by no one, a true end-to-end pair when both texts agree under ``normalize_word``."""

    def __init__(self) -> None:
        self.gt_care = self.det_care = self.matched = self.e2e = 0

    def add(self, gt: List[dict], dets: Sequence[Tuple[Any, str]]) -> None:
        from ppocr.metrics.iou_matching import match_detections

        result = match_detections([g["points"] for g in gt], [d[0] for d in dets],
                                  [g["transcription"] == "###" for g in gt])
        self.gt_care += result.gt_care
        self.det_care += result.det_care
        self.matched += result.matched
        self.e2e += sum(normalize_word(dets[j][1]) == normalize_word(gt[i]["transcription"]) for i, j in result.pairs)

    def figures(self, hits: int) -> Dict[str, float]:
        from ppocr.metrics.iou_matching import summarize

        return summarize(hits, self.gt_care, self.det_care)

    @property
    def det(self) -> Dict[str, float]:
        return self.figures(self.matched)

    @property
    def end_to_end(self) -> Dict[str, float]:
        return self.figures(self.e2e)


def word_accuracy(pairs: Iterable[Tuple[str, str]]) -> Tuple[float, int, int]:
    """(accuracy, correct, total) over ``(prediction, ground truth)`` pairs, normalised with ``normalize_word``."""
    correct = total = 0
    for pred, truth in pairs:
        total += 1
        correct += normalize_word(pred) == normalize_word(truth)
    return (correct / total if total else 0.0), correct, total


def read_rec_gt(label_file: str) -> List[Tuple[str, str]]:
    """``(image path, word)`` pairs of a ``path<TAB>word`` file; paths are relative to the file's folder."""
    base = os.path.dirname(os.path.abspath(label_file))
    pairs = []
    with open(label_file, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            path, found, word = line.partition("\t")
            if not found:
                raise ValueError(f"{label_file}, line {line_no}: expected 'image_path<TAB>word', got {line!r}")
            pairs.append((path if os.path.isabs(path) else os.path.join(base, path), word))
    return pairs


def transform_index(config: Dict[str, Any], section: str, name: str) -> int:
    """Position of operator ``name`` in ``config[section].dataset.transforms``, for ``-o ...transforms.N...``."""
    for index, op in enumerate(config[section]["dataset"]["transforms"]):
        if name in op:
            return index
    raise KeyError(f"{section}.dataset.transforms has no {name}")


STEP_LOG = re.compile(r"global_step: (\d+),.*?\bloss: ([-\d.eE+naif]+)"
                      r".*?avg_reader_cost: ([\d.]+) s, avg_batch_cost: ([\d.]+) s")
ACC_LOG = re.compile(r"\bacc: ([\d.]+)")


@dataclass
class StepRecord:
    time: float
    cpu: float                      # CPU seconds of this process (not of the loader workers)
    step: int
    loss: float
    reader: float
    batch: float
    acc: Optional[float]


class StepLog(logging.Handler):
    """Keeps the trainer's step log lines with their timestamps; echoes progress to ``echo_log`` (prefixed with
    ``title``) every ``echo_every`` steps."""

    def __init__(self, total_steps: int = 0, echo_every: int = 0, echo_log: Optional[logging.Logger] = None,
                 title: str = ""):
        super().__init__(logging.INFO)
        self.records: List[StepRecord] = []
        self.total_steps = total_steps
        self.echo_every = echo_every if echo_log is not None else 0
        self.echo_log = echo_log
        self.prefix = f"{title}: " if title else "  "
        self.start = time.perf_counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.feed(record.getMessage())

    def feed(self, message: str) -> None:
        """Take one trainer log line (from this process's logger or from a training subprocess's log file)."""
        match = STEP_LOG.search(message)
        if not match:
            return
        acc = ACC_LOG.search(message)
        entry = StepRecord(time.perf_counter(), time.process_time(), int(match[1]), float(match[2]),
                           float(match[3]), float(match[4]), float(acc[1]) if acc else None)
        self.records.append(entry)
        if self.echo_every and (entry.step % self.echo_every == 0 or entry.step == self.total_steps):
            self.echo_log.info("%sstep %d/%d  loss %.3f%s  %.0f s  reader %.3f s/it  batch %.3f s/it  (%s)",
                               self.prefix, entry.step, self.total_steps, entry.loss,
                               "" if acc is None else f"  train acc {entry.acc:.3f}", time.perf_counter() - self.start,
                               entry.reader, entry.batch, load_average())

    def __enter__(self) -> "StepLog":
        """Follow the trainer's logger inside a ``with`` block."""
        logging.getLogger("ppocr.engine.trainer").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("ppocr.engine.trainer").removeHandler(self)

    def steady_rate(self, batch_size: int) -> Tuple[float, float]:
        """(samples per second, samples per CPU-second of this process) between the first and the last step
        log: the loop's pace without its start-up."""
        if len(self.records) < 2:
            return float("nan"), float("nan")
        first, last = self.records[0], self.records[-1]
        samples = (last.step - first.step) * batch_size
        return samples / max(last.time - first.time, 1e-9), samples / max(last.cpu - first.cpu, 1e-9)

    def mean_costs(self, skip: int = 1) -> Tuple[float, float]:
        """Mean (reader, batch) seconds per iteration over the logged windows after the first ``skip``."""
        kept = self.records[skip:] or self.records
        if not kept:
            return float("nan"), float("nan")
        return sum(r.reader for r in kept) / len(kept), sum(r.batch for r in kept) / len(kept)


@dataclass
class Figure:
    """One row of a result table; ``ok`` None means the figure is reported without a target."""

    name: str
    value: str
    target: str = ""
    ok: Optional[bool] = None

    @property
    def verdict(self) -> str:
        return "-" if self.ok is None else ("PASS" if self.ok else "FAIL")


def format_table(title: str, figures: Sequence[Figure]) -> str:
    """A fixed-width table of figure, value, target and PASS/FAIL."""
    header = Figure("figure", "value", "target")
    rows = [(f.name, f.value, f.target, "result" if f is header else f.verdict) for f in [header, *figures]]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    rule = "  ".join("-" * w for w in widths)
    lines = [f"=== {title} ===", rule]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if index == 0:
            lines.append(rule)
    lines.append(rule)
    return "\n".join(lines)
