"""Samples listed in label files: one ``image_path<delimiter>label`` line per sample (PaddleOCR format)."""
from __future__ import annotations

import json
import os
import random
from typing import Any, Dict, List, Optional, Tuple, Union

from ppocr.data.base_dataset import OCRDataset, expand_ratios
from ppocr.data.errors import DataError
from ppocr.utils.registry import DATASETS, ConfigError


ImageField = Union[str, List[str]]


def _image_names(field: str) -> List[str]:
    """The image field as a list: PaddleOCR also accepts a JSON list (``["a.jpg", "b.jpg"]``) of images
    sharing one label, of which each read takes one at random."""
    if field.startswith("[") and field.endswith("]"):
        try:
            names = json.loads(field)
        except json.JSONDecodeError:
            names = None
        if isinstance(names, list) and names and all(isinstance(name, str) for name in names):
            return names
    return [field]


def read_label_file(label_file: str, data_dir: str, delimiter: str) -> List[Tuple[ImageField, str]]:
    """``(image_path, label)`` pairs of one label file; every image must exist under ``data_dir``.

    The label is everything after the first delimiter, so it may contain the delimiter itself. An image
    field written as a JSON list gives a list of paths (see ``_image_names``).
    """
    try:
        with open(label_file, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DataError(f"cannot read label file {label_file}: {exc.strerror or exc}") from None
    samples = []
    for line_no, raw_line in enumerate(raw.splitlines(), start=1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{label_file}, line {line_no}: not valid UTF-8") from None
        if line_no == 1:
            line = line.lstrip("\ufeff")
        if not line.strip():
            continue
        name, found, label = line.partition(delimiter)
        if not found:
            raise DataError(f"{label_file}, line {line_no}: no delimiter {delimiter!r} between image path "
                            f"and label in {line!r}")
        paths = [os.path.join(data_dir, part) for part in _image_names(name)]
        for img_path in paths:
            if not os.path.isfile(img_path):
                raise DataError(f"{label_file}, line {line_no}: image {img_path} does not exist")
        samples.append((paths[0] if len(paths) == 1 else paths, label))
    return samples


@DATASETS.register()
class SimpleDataSet(OCRDataset):
    """Images on disk under ``data_dir`` listed by one or more label files.

    Every label file is checked completely at start, so a typo fails before training, not hours in.
    """

    def __init__(self, data_dir: str, label_file_list: Union[str, list], transforms: list,
                 ratio_list: Union[float, list] = 1.0, delimiter: str = "\t",
                 global_config: Optional[dict] = None, mode: str = "train", shuffle: bool = False,
                 seed: Optional[int] = None, ext_op_transform_idx: int = 2):
        super().__init__(transforms, global_config, mode, shuffle, seed, ext_op_transform_idx)
        if not delimiter:
            raise ConfigError("must not be empty", "delimiter")
        if not os.path.isdir(data_dir):
            raise DataError(f"data_dir {data_dir} is not a directory")
        self.data_dir = data_dir
        self.label_files = [label_file_list] if isinstance(label_file_list, str) else list(label_file_list)
        if not self.label_files:
            raise ConfigError("lists no label file", "label_file_list")
        ratios = expand_ratios(ratio_list, len(self.label_files), "label files")
        per_file = [read_label_file(path, data_dir, delimiter) for path in self.label_files]
        self.samples: List[Tuple[ImageField, str]] = [sample for lines in per_file for sample in lines]
        self._init_sources([len(lines) for lines in per_file], ratios, self.label_files)

    def _read(self, sample: int) -> Dict[str, Any]:
        img_path, label = self.samples[sample]
        if isinstance(img_path, list):
            img_path = random.choice(img_path)
        with open(img_path, "rb") as f:
            image = f.read()
        return {"img_path": img_path, "label": label, "image": image}

    def _locate(self, sample: int) -> str:
        img_path = self.samples[sample][0]
        return img_path if isinstance(img_path, str) else json.dumps(img_path)
