"""What every ppocr dataset shares: the per-epoch ratio_list draw, the operator pipeline, and
skipping samples the operators reject without ever counting an evaluation sample twice.

A dataset is a concatenation of *sources* (label files, LMDBs). Each epoch draws
``round(ratio × size)`` samples from every source; the draw depends only on ``(seed, epoch)``,
so all ranks and all worker processes agree on it.

Operators that mix samples (CopyPaste) declare ``ext_data_num``: the dataset then hands them that
many other samples, run through the first ``ext_op_transform_idx`` operators, as ``data["ext_data"]``.

Bad data is skipped and counted; a broken pipeline stops with a PipelineError instead of skipping every
sample: KeepKeys asking for a key no operator made, or the first samples of a process all failing alike.
"""
from __future__ import annotations

import collections
import logging
import random
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import paddle

from ppocr.data.errors import DataError, PipelineError
from ppocr.data.imaug import create_operators
from ppocr.data.imaug.operators import KeepKeys
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)

MODES = ("train", "eval", "test")
# Train mode: samples tried for one index before the dataset gives up (a broken pipeline, not bad luck).
MAX_DRAWS = 20
# Per process and reason; later skips for the same reason are counted but not logged.
WARNINGS_PER_REASON = 3
# Eval/test mode: a process whose first samples all fail for the same reason has a config error, not bad
# data (train mode stops sooner, after MAX_DRAWS failed draws for one index).
FIRST_FAILURES = 20


class SampleSkipped(Exception):
    """One sample could not be read or was rejected by an operator."""

    def __init__(self, where: str, reason: str, detail: str = ""):
        self.where = where
        self.reason = reason
        self.detail = detail
        super().__init__(f"{where}: {reason}" + (f" ({detail})" if detail else ""))


def expand_ratios(ratio_list: Union[float, Sequence[float]], count: int, what: str) -> List[float]:
    """One ratio per source from a single float or a list of ``count`` floats in [0, 1]."""
    if isinstance(ratio_list, (int, float)):
        ratios = [float(ratio_list)] * count
    else:
        try:
            ratios = [float(r) for r in ratio_list]
        except (TypeError, ValueError):
            raise ConfigError(f"must hold numbers, got {list(ratio_list)!r}", "ratio_list") from None
        if len(ratios) != count:
            raise ConfigError(
                f"has {len(ratios)} entries but there are {count} {what}; give one ratio or one per {what[:-1]}",
                "ratio_list")
    for ratio in ratios:
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError(f"each ratio must be between 0 and 1 (fraction of samples drawn per epoch), "
                              f"got {ratio}", "ratio_list")
    return ratios


class OCRDataset(paddle.io.Dataset):
    """Base of SimpleDataSet and LMDBDataSet; subclasses implement ``_read`` and ``_locate``.

    Skip counts are kept per process: ``take_skip_report`` hands over the counts not yet
    reported (the collate function ships them with each batch from worker processes) and
    ``add_skip_report`` merges them in the main process, where ``skipped`` shows them all.
    """

    def __init__(self, transforms: Optional[List[Any]], global_config: Optional[Dict[str, Any]],
                 mode: str, shuffle: bool, seed: Optional[int], ext_op_transform_idx: int = 2):
        if mode not in MODES:
            raise ConfigError(f"dataset mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.shuffle = shuffle
        # Without a seed every rank must still draw the same samples, so fall back to a fixed one.
        self.seed = 0 if seed is None else seed
        self.ops: List[Callable] = create_operators(transforms, global_config)
        self.op_names = [next(iter(entry)) for entry in transforms or []]
        self.ext_data_num, self.ext_op_transform_idx = self._check_ext_ops(ext_op_transform_idx)
        self.epoch = 0
        self._reported: collections.Counter = collections.Counter()
        self._unreported: collections.Counter = collections.Counter()
        self._warned: collections.Counter = collections.Counter()
        self._prepared = False
        self._offsets = np.zeros(1, dtype=np.int64)
        self._draw_counts: List[int] = []
        self._order = np.zeros(0, dtype=np.int64)

    def _check_ext_ops(self, ext_op_transform_idx: int) -> Tuple[int, int]:
        """How many extra samples the operators want, and the checked prefix length to run on them."""
        wanted = [int(getattr(op, "ext_data_num", 0) or 0) for op in self.ops]
        if not any(wanted):
            return 0, ext_op_transform_idx
        first = next(i for i, num in enumerate(wanted) if num > 0)
        if isinstance(ext_op_transform_idx, bool) or not isinstance(ext_op_transform_idx, int) \
                or not 0 <= ext_op_transform_idx <= first:
            raise ConfigError(f"must be an integer from 0 to {first} (the position of {self.op_names[first]}, "
                              f"which receives the extra samples), got {ext_op_transform_idx!r}",
                              "ext_op_transform_idx")
        return max(wanted), ext_op_transform_idx

    def _init_sources(self, sizes: Sequence[int], ratios: Sequence[float], names: Sequence[str]) -> None:
        """Lay the sources end to end in one index space and draw epoch 0."""
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._draw_counts = [int(round(ratio * size)) for ratio, size in zip(ratios, sizes)]
        if sum(self._draw_counts) == 0:
            raise DataError(f"no samples to read from {', '.join(names)} "
                            f"(sizes {list(sizes)}, ratio_list {list(ratios)})")
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Redraw this epoch's ratio_list sample (and its order when shuffling); operators with a
        ``set_epoch`` (epoch-dependent targets) learn the epoch too."""
        self.epoch = epoch
        for op in self.ops:
            if callable(getattr(op, "set_epoch", None)):
                op.set_epoch(epoch)
        rng = np.random.default_rng(random.Random(f"{self.seed}:{epoch}").getrandbits(128))
        parts = []
        for start, stop, take in zip(self._offsets[:-1], self._offsets[1:], self._draw_counts):
            size = int(stop - start)
            if take == size:
                local = np.arange(size, dtype=np.int64)
            else:
                local = np.sort(rng.choice(size, size=take, replace=False))
            parts.append(local + start)
        order = np.concatenate(parts)
        self._order = rng.permutation(order) if self.shuffle else order

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, index: int) -> Optional[Any]:
        """The transformed sample; in train mode a rejected sample is replaced by a random other
        one, in eval/test mode it becomes None (the collate function drops it)."""
        sample = int(self._order[index])
        # Extra samples, replacements and the operators' draws from the global random / numpy.random state
        # depend on (seed, epoch, index) only: same data whatever the worker count, rank or call order.
        ext_rng = random.Random(f"{self.seed}:{self.epoch}:{index}:ext")
        augment_seed = random.Random(f"{self.seed}:{self.epoch}:{index}:ops").getrandbits(32)
        random.seed(augment_seed)
        np.random.seed(augment_seed)
        if self.mode != "train":
            try:
                return self._prepared_sample(sample, ext_rng)
            except SampleSkipped as skip:
                self._record_skip(skip)
                return None
        rng = random.Random(f"{self.seed}:{self.epoch}:{index}")
        for _ in range(MAX_DRAWS):
            try:
                return self._prepared_sample(sample, ext_rng)
            except SampleSkipped as skip:
                self._record_skip(skip)
                last = skip
            sample = int(self._order[rng.randrange(len(self._order))])
        raise DataError(f"{MAX_DRAWS} samples in a row could not be used, last {last}; "
                        f"check the data and the transforms")

    def _prepared_sample(self, sample: int, ext_rng: random.Random) -> Any:
        data = self._prepare(sample, len(self.ops), ext_rng)
        self._prepared = True
        return data

    def _prepare(self, sample: int, num_ops: int, ext_rng: Optional[random.Random]) -> Any:
        """Read a sample and run the first ``num_ops`` operators on it; extra samples are attached
        first when ``ext_rng`` is given and an operator wants them."""
        # Operators run one by one (not via imaug.transform) so a skip can name the operator.
        try:
            data = self._read(sample)
        except Exception as exc:
            raise SampleSkipped(self._locate(sample), f"unreadable ({type(exc).__name__})", str(exc)) from exc
        where = data.get("img_path", self._locate(sample))
        if self.ext_data_num and ext_rng is not None:
            data["ext_data"] = self._ext_data(sample, ext_rng)
        for op, name in zip(self.ops[:num_ops], self.op_names[:num_ops]):
            try:
                data = op(data)
            except KeyError as exc:
                if isinstance(op, KeepKeys):  # no sample can have the key: the transforms are misconfigured
                    message = exc.args[0] if exc.args else exc
                    raise PipelineError(f"{self.mode.capitalize()}.dataset.transforms: {message} (sample {where})") \
                        from None
                raise SampleSkipped(where, f"{name} raised KeyError", str(exc)) from exc
            except Exception as exc:
                raise SampleSkipped(where, f"{name} raised {type(exc).__name__}", str(exc)) from exc
            if data is None:
                raise SampleSkipped(where, f"{name} dropped the sample")
        return data

    def _ext_data(self, sample: int, rng: random.Random) -> List[Dict[str, Any]]:
        """``ext_data_num`` other samples of this epoch after the first ``ext_op_transform_idx`` operators.

        Rejected ones are counted as skips (reason prefixed ``ext_data:``) and replaced; after
        MAX_DRAWS tries the list may be short, which operators must accept (a one-sample dataset
        has no other sample at all).
        """
        items: List[Dict[str, Any]] = []
        others = len(self._order) - 1
        for _ in range(MAX_DRAWS if others > 0 else 0):
            if len(items) == self.ext_data_num:
                break
            # Uniform over the other samples: the main sample's slot stands for the last one.
            other = int(self._order[rng.randrange(others)])
            if other == sample:
                other = int(self._order[-1])
            try:
                items.append(self._prepare(other, self.ext_op_transform_idx, None))
            except SampleSkipped as skip:
                self._record_skip(SampleSkipped(skip.where, f"ext_data: {skip.reason}", skip.detail))
        return items

    def _record_skip(self, skip: SampleSkipped) -> None:
        self._unreported[skip.reason] += 1
        self._warned[skip.reason] += 1
        shown = self._warned[skip.reason]
        if self.mode != "train" and not self._prepared and shown >= FIRST_FAILURES:
            raise PipelineError(f"{self.mode.capitalize()}.dataset: no sample could be used yet and {shown} failed the "
                                f"same way, last {skip}; check the transforms and data_dir (this is the setup, "
                                "not a few bad samples)")
        if shown <= WARNINGS_PER_REASON:
            tail = "; further skips for this reason are only counted" if shown == WARNINGS_PER_REASON else ""
            logger.warning("skipped sample %s%s", skip, tail)

    def take_skip_report(self) -> Dict[str, int]:
        """Skip counts of this process not yet reported; clears them."""
        report = dict(self._unreported)
        self._unreported.clear()
        return report

    def add_skip_report(self, report: Dict[str, int]) -> None:
        self._reported.update(report)

    def get_skip_stats(self) -> Dict[str, Any]:
        """``{"total": n, "by_reason": {reason: n}}`` over everything read so far (all workers)."""
        reasons = self._reported + self._unreported
        return {"total": sum(reasons.values()), "by_reason": dict(reasons)}

    @property
    def skipped(self) -> Dict[str, Any]:
        """Same as ``get_skip_stats()``."""
        return self.get_skip_stats()

    def _read(self, sample: int) -> Dict[str, Any]:
        """The raw item ``{"img_path", "label", "image": bytes}`` for a global sample index."""
        raise NotImplementedError

    def _locate(self, sample: int) -> str:
        """Where a sample comes from, for messages."""
        raise NotImplementedError

    def _source_of(self, sample: int) -> Tuple[int, int]:
        """(source index, index inside the source) of a global sample index."""
        source = int(np.searchsorted(self._offsets, sample, side="right")) - 1
        return source, sample - int(self._offsets[source])
