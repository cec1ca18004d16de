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


def normalize_word(text: str) -> str:
    """The project's word-accuracy convention: case-insensitive, only [0-9a-z] compared."""
    return _NOT_WORD_CHAR.sub("", text.lower())


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
