"""Turn the samples of one batch into stacked arrays, dropping the samples a dataset rejected."""
from __future__ import annotations

import numbers
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ppocr.data.errors import DataError


class LoadFailure:
    """Stands in for a sample whose loading raised: the message travels with the batch to the main
    process, which raises it (paddle's loader thread would otherwise die silently and hang the run)."""

    def __init__(self, exc: BaseException):
        self.message = str(exc) if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"


def stack_field(values: Sequence[Any]) -> Any:
    """Numbers and equally shaped arrays become one array with a batch axis; arrays of different
    shapes (e.g. a varying number of polygons) stay a list; anything else (str, bytes) a list."""
    if all(isinstance(v, (np.ndarray, np.number, np.bool_, numbers.Number)) for v in values):
        arrays = [np.asarray(v) for v in values]
        if all(a.shape == arrays[0].shape for a in arrays):
            return np.stack(arrays)
        return arrays
    return list(values)


def stack_samples(samples: Sequence[Any]) -> Any:
    """Stack field by field: samples are sequences (what KeepKeys makes) or dicts."""
    first = samples[0]
    if isinstance(first, dict):
        return {key: stack_field([s[key] for s in samples]) for key in first}
    if isinstance(first, (list, tuple)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError(f"samples of one batch have different field counts: {sorted({len(s) for s in samples})}")
        return [stack_field([s[i] for s in samples]) for i in range(len(first))]
    raise TypeError(f"a sample must be a list, tuple or dict (end the transforms with KeepKeys), "
                    f"got {type(first).__name__}")


class BatchCollator:
    """Collate function for paddle.io.DataLoader.

    Returns ``{"batch": stacked fields or None, "kept": array([n]), "skipped": {reason: n},
    "error": message or None}``: ``batch`` is None when every sample was dropped or loading failed
    (``error`` then says why); ``kept`` guarantees the batch holds at least one array (paddle's loader
    stops at a batch without arrays); ``skipped`` carries the skip counts of the process that built the
    batch back to the main process.
    """

    def __init__(self, dataset: Optional[Any] = None):
        self.dataset = dataset

    def __call__(self, samples: List[Any]) -> Dict[str, Any]:
        report = self.dataset.take_skip_report() if self.dataset is not None else {}
        failure = next((s for s in samples if isinstance(s, LoadFailure)), None)
        if failure is not None:
            return {"batch": None, "kept": np.zeros(1, dtype=np.int64), "skipped": report, "error": failure.message}
        kept = [s for s in samples if s is not None]
        batch, error = None, None
        if kept:
            try:
                batch = stack_samples(kept)
            except Exception as exc:  # noqa: BLE001 - any failure must reach the main process as a message
                error = f"cannot make a batch: {LoadFailure(exc).message}"
        return {"batch": batch, "kept": np.array([len(kept)], dtype=np.int64), "skipped": report, "error": error}
