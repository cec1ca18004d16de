"""Build the batch stream for one config section (Train / Eval / Test).

Whatever fails while loading (in paddle's loader thread or a worker process) ends the run with the
error in the main process, and worker processes die with the process that started them.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import paddle

from ppocr.data.base_dataset import OCRDataset
from ppocr.data import coco_dataset, lmdb_dataset, multi_scale, simple_dataset  # noqa: F401  (register datasets, samplers)
from ppocr.data.collate import BatchCollator, LoadFailure
from ppocr.data.errors import DataError
from ppocr.utils.registry import DATASETS, SAMPLERS, ConfigError

logger = logging.getLogger(__name__)

SECTIONS = ("Train", "Eval", "Test")
# Loader keys: (type, default); None marks a required key.
LOADER_KEYS: Dict[str, Tuple[type, Any]] = {
    "shuffle": (bool, None),
    "drop_last": (bool, False),
    "batch_size_per_card": (int, None),
    "num_workers": (int, 0),
    "use_shared_memory": (bool, True),
}


PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_POLL_SECONDS = 1.0


class _GuardedDataset(paddle.io.Dataset):
    """What paddle's loader reads: a sample whose loading raises becomes a LoadFailure, which the
    collate function turns into the batch's error message."""

    def __init__(self, dataset: OCRDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except Exception as exc:  # noqa: BLE001 - every failure must reach the main process
            return LoadFailure(exc)


class WorkerLifeline:
    """``worker_init_fn`` that makes a loader worker die with its parent (a trainer killed by SIGKILL
    cannot stop its workers; paddle's own parent check never runs while a worker is blocked).

    On Linux the kernel kills the worker (PR_SET_PDEATHSIG); elsewhere a thread watches the parent pid.
    """

    def __init__(self) -> None:
        self.parent_pid = os.getpid()

    def __call__(self, worker_id: int) -> None:
        if not (sys.platform.startswith("linux") and self._set_death_signal()):
            threading.Thread(target=self._watch_parent, name="ppocr-parent-watch", daemon=True).start()
        if os.getppid() != self.parent_pid:  # the parent died before the signal was armed
            os._exit(1)

    @staticmethod
    def _set_death_signal() -> bool:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            return False

    def _watch_parent(self) -> None:
        while os.getppid() == self.parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)


class OCRDataLoader:
    """Iterates a paddle DataLoader and yields each batch as the list of tensors in KeepKeys order.

    - Batches whose samples were all dropped (possible in eval mode only) are not yielded, so
      the number of batches can be below ``len(self)``; the caller never sees None or an empty batch.
    - Skip counts from worker processes are merged into ``dataset.get_skip_stats()``.
    - Call ``set_epoch(epoch)`` before each training epoch: it redraws the dataset's ratio_list
      sample and seeds the sampler's shuffle (calling ``dataset.set_epoch`` and
      ``batch_sampler.set_epoch`` does the same). Workers are started per pass, so they see it.
    - A sample or batch whose loading raised ends the pass with that error as a DataError, and so
      does a pass in which every sample was skipped.
    """

    def __init__(self, loader: paddle.io.DataLoader, dataset: OCRDataset, section: str = "",
                 lifeline: Optional[WorkerLifeline] = None):
        self.loader = loader
        self.dataset = dataset
        self.section = section or type(dataset).__name__
        self.lifeline = lifeline
        self.batch_sampler = loader.batch_sampler

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[List[paddle.Tensor]]:
        # Workers fork from this process when iteration starts: settle this process's skip
        # counts first so the workers' copies start empty and nothing is counted twice.
        self.dataset.add_skip_report(self.dataset.take_skip_report())
        skipped_before = self.dataset.get_skip_stats()["total"]
        if self.lifeline is not None:
            self.lifeline.parent_pid = os.getpid()
        batches = 0
        for out in self.loader:
            self.dataset.add_skip_report(out["skipped"])
            if out["error"]:
                raise DataError(out["error"])
            if out["batch"] is not None:
                batches += 1
                yield out["batch"]
        skipped = self.dataset.get_skip_stats()["total"] - skipped_before
        if skipped and not batches:
            raise DataError(f"{self.section}: every sample of the pass was skipped ({skipped}); by reason: "
                            f"{self.dataset.get_skip_stats()['by_reason']}")
        if skipped:
            logger.warning("%d sample(s) skipped in this pass over %s; totals by reason: %s",
                           skipped, type(self.dataset).__name__, self.dataset.get_skip_stats()["by_reason"])


def loader_options(config: Dict[str, Any], section: str) -> Dict[str, Any]:
    """The checked ``{section}.loader`` settings with defaults filled in."""
    raw = config[section].get("loader") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"must be a mapping, got {raw!r}", f"{section}.loader")
    options = {}
    for key, value in raw.items():
        if key not in LOADER_KEYS:
            raise ConfigError(f"unknown loader key; allowed: {', '.join(LOADER_KEYS)}", f"{section}.loader.{key}")
        kind = LOADER_KEYS[key][0]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"must be {kind.__name__}, got {value!r}", f"{section}.loader.{key}")
        options[key] = value
    for key, (_, default) in LOADER_KEYS.items():
        options.setdefault(key, default)
    if options["shuffle"] is None:
        options["shuffle"] = section == "Train"
    if options["batch_size_per_card"] is None or options["batch_size_per_card"] < 1:
        raise ConfigError("a positive integer is required", f"{section}.loader.batch_size_per_card")
    if options["num_workers"] < 0:
        raise ConfigError("must be 0 or more", f"{section}.loader.num_workers")
    return options


def build_dataset(config: Dict[str, Any], section: str, shuffle: bool, seed: Optional[int]) -> OCRDataset:
    dataset_config = config[section].get("dataset")
    if not isinstance(dataset_config, dict):
        raise ConfigError(f"must be a mapping with a 'name', got {dataset_config!r}", f"{section}.dataset")
    try:
        return DATASETS.build(dataset_config, where=f"{section}.dataset", global_config=config.get("Global") or {},
                              mode=section.lower(), shuffle=shuffle, seed=seed)
    except ConfigError as exc:
        if exc.where.startswith(f"{section}."):
            raise
        raise ConfigError(exc.message, f"{section}.dataset.{exc.where}" if exc.where else f"{section}.dataset") \
            from None


def build_dataloader(config: Dict[str, Any], mode: str, seed: Optional[int] = None,
                     logger: Optional[logging.Logger] = None) -> Tuple[OCRDataset, OCRDataLoader]:
    """Dataset and loader for ``config[mode]`` (mode: Train, Eval or Test).

    Train batches come from a DistributedBatchSampler, which shards across ranks under
    ``paddle.distributed.launch`` and is a plain sampler in a single process. ``seed`` defaults
    to ``Global.seed``.
    """
    log = logger or logging.getLogger(__name__)
    if mode not in SECTIONS:
        raise ConfigError(f"mode must be one of {', '.join(SECTIONS)}, got {mode!r}")
    if not isinstance(config.get(mode), dict):
        raise ConfigError("section is missing or not a mapping", mode)
    options = loader_options(config, mode)
    if seed is None:
        seed = (config.get("Global") or {}).get("seed")
    dataset = build_dataset(config, mode, options["shuffle"], seed)
    sampler_config = config[mode].get("sampler")
    needed = getattr(dataset, "needs_sampler", None)
    if sampler_config is None and needed:
        raise ConfigError(f"{type(dataset).__name__} needs a '{mode}.sampler' section with name {needed}",
                          f"{mode}.sampler")
    if sampler_config is not None:
        if not isinstance(sampler_config, dict):
            raise ConfigError(f"must be a mapping with a 'name', got {sampler_config!r}", f"{mode}.sampler")
        try:
            sampler = SAMPLERS.build(sampler_config, where=f"{mode}.sampler", dataset=dataset)
        except ConfigError as exc:
            if exc.where.startswith(f"{mode}."):
                raise
            raise ConfigError(exc.message, f"{mode}.sampler.{exc.where}" if exc.where else f"{mode}.sampler") \
                from None
    elif mode == "Train":
        sampler = paddle.io.DistributedBatchSampler(dataset, batch_size=options["batch_size_per_card"],
                                                    shuffle=options["shuffle"], drop_last=options["drop_last"])
    else:
        sampler = paddle.io.BatchSampler(dataset=dataset, batch_size=options["batch_size_per_card"],
                                         shuffle=options["shuffle"], drop_last=options["drop_last"])
    lifeline = WorkerLifeline() if options["num_workers"] > 0 else None
    loader = paddle.io.DataLoader(_GuardedDataset(dataset), batch_sampler=sampler, collate_fn=BatchCollator(dataset),
                                  num_workers=options["num_workers"], worker_init_fn=lifeline,
                                  use_shared_memory=options["use_shared_memory"], return_list=True)
    log.info("%s: %s with %d samples, %d batches of %s", mode, type(dataset).__name__, len(dataset),
             len(loader), type(sampler).__name__ if sampler_config is not None else options["batch_size_per_card"])
    return dataset, OCRDataLoader(loader, dataset, mode, lifeline)
