"""Datasets, operators and batching: from label files or LMDBs to batches of tensors.

The dataset and loader classes import paddle; they load on first use so that inference and the
synthetic-data tools, which only need operators, start without it.
"""
import importlib

from ppocr.data.errors import DataError

_LAZY = {
    "COCODataSet": "ppocr.data.coco_dataset",
    "LMDBDataSet": "ppocr.data.lmdb_dataset",
    "SimpleDataSet": "ppocr.data.simple_dataset",
    "OCRDataLoader": "ppocr.data.loader",
    "build_dataloader": "ppocr.data.loader",
}

__all__ = ["DataError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ppocr.data' has no attribute '{name}'")


def register_datasets() -> None:
    """Fill the DATASETS and OPERATORS registries (config validation needs them)."""
    importlib.import_module("ppocr.data.imaug")
    for module in sorted(set(_LAZY.values())):
        importlib.import_module(module)
