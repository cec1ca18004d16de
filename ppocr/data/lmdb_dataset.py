"""Samples stored in LMDBs with PaddleOCR's layout: ``num-samples``, ``image-%09d``, ``label-%09d`` (1-based)."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple, Union

import lmdb

from ppocr.data.base_dataset import OCRDataset, expand_ratios
from ppocr.data.errors import DataError
from ppocr.utils.registry import DATASETS, ConfigError

LMDB_DATA_FILE = "data.mdb"


def find_lmdb_dirs(root: str) -> List[str]:
    """``root`` itself when it is an LMDB, else every LMDB below it in sorted order
    (hidden folders, such as unfinished writes, are not searched)."""
    if not os.path.isdir(root):
        raise DataError(f"LMDB path {root} is not a directory")
    if os.path.isfile(os.path.join(root, LMDB_DATA_FILE)):
        return [root]
    found = []
    for current, dirnames, filenames in os.walk(root, followlinks=True):
        if LMDB_DATA_FILE in filenames:
            found.append(current)
            dirnames.clear()
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    if not found:
        raise DataError(f"no LMDB (a folder holding {LMDB_DATA_FILE}) found in {root}")
    return found


# LMDB allows one environment per file and process, and an environment must not cross a fork.
_open_envs: Dict[Tuple[int, int], lmdb.Environment] = {}
_open_envs_pid = os.getpid()


def shared_env(path: str) -> lmdb.Environment:
    """This process's read-only environment for the LMDB at ``path`` (opened on first use).

    Datasets over the same files share it. A forked child (a DataLoader worker) closes the ones
    it inherited and opens its own, so datasets work with ``num_workers > 0``.
    """
    global _open_envs_pid
    if _open_envs_pid != os.getpid():
        for env in _open_envs.values():
            env.close()
        _open_envs.clear()
        _open_envs_pid = os.getpid()
    stat = os.stat(os.path.join(path, LMDB_DATA_FILE))
    key = (stat.st_dev, stat.st_ino)
    if key not in _open_envs:
        # lock=False: many readers (ranks, workers) share read-only data; no lock file needed.
        _open_envs[key] = lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False)
    return _open_envs[key]


def read_num_samples(path: str) -> int:
    try:
        with shared_env(path).begin(write=False) as txn:
            value = txn.get(b"num-samples")
    except lmdb.Error as exc:
        raise DataError(f"cannot read LMDB {path}: {exc}") from None
    if value is None:
        raise DataError(f"LMDB {path} has no 'num-samples' key (expected num-samples, image-%09d, label-%09d)")
    try:
        return int(value)
    except ValueError:
        raise DataError(f"LMDB {path}: 'num-samples' is {value!r}, expected an integer") from None


@DATASETS.register()
class LMDBDataSet(OCRDataset):
    """Recognition samples from one or more LMDBs.

    ``data_dir`` is an LMDB, a folder searched for LMDBs, or a list of either. ``ratio_list`` holds
    one ratio for all, one per ``data_dir`` entry (shared by the LMDBs found in it), or one per LMDB.
    Environments are opened lazily in each process (see ``shared_env``).
    """

    def __init__(self, data_dir: Union[str, list], transforms: list, ratio_list: Union[float, list] = 1.0,
                 global_config: Optional[dict] = None, mode: str = "train", shuffle: bool = False,
                 seed: Optional[int] = None, ext_op_transform_idx: int = 2):
        super().__init__(transforms, global_config, mode, shuffle, seed, ext_op_transform_idx)
        roots = [data_dir] if isinstance(data_dir, str) else list(data_dir)
        if not roots:
            raise ConfigError("lists no LMDB", "data_dir")
        groups = [find_lmdb_dirs(root) for root in roots]
        self.lmdb_dirs = [path for group in groups for path in group]
        if not isinstance(ratio_list, (int, float)) and len(ratio_list) == len(roots):
            ratio_list = [ratio for ratio, group in zip(ratio_list, groups) for _ in group]
        ratios = expand_ratios(ratio_list, len(self.lmdb_dirs), "LMDBs")
        self._init_sources([read_num_samples(path) for path in self.lmdb_dirs], ratios, self.lmdb_dirs)

    def _read(self, sample: int) -> Dict[str, Any]:
        source, local = self._source_of(sample)
        key = local + 1
        with shared_env(self.lmdb_dirs[source]).begin(write=False) as txn:
            image = txn.get(b"image-%09d" % key)
            label = txn.get(b"label-%09d" % key)
        if image is None or label is None:
            raise KeyError(f"image-{key:09d} or label-{key:09d} is missing")
        return {"img_path": self._locate(sample), "label": label.decode("utf-8"), "image": image}

    def _locate(self, sample: int) -> str:
        source, local = self._source_of(sample)
        return f"{self.lmdb_dirs[source]}[image-{local + 1:09d}]"
