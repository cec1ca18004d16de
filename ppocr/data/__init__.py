"""Datasets, operators and batching: from label files or LMDBs to batches of tensors."""
from ppocr.data import imaug  # noqa: F401  (fills the OPERATORS registry)
from ppocr.data.errors import DataError
from ppocr.data.lmdb_dataset import LMDBDataSet
from ppocr.data.loader import OCRDataLoader, build_dataloader
from ppocr.data.simple_dataset import SimpleDataSet

__all__ = ["DataError", "LMDBDataSet", "OCRDataLoader", "SimpleDataSet", "build_dataloader"]
