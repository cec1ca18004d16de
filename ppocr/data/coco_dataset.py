"""Object detection samples from COCO instances json files and their image folders (TAO EfficientDet's input)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from ppocr.data.base_dataset import OCRDataset, expand_ratios
from ppocr.data.coco_json import read_coco
from ppocr.data.errors import DataError
from ppocr.utils.registry import DATASETS, ConfigError


def _as_list(value: Union[str, list], key: str) -> List[str]:
    items = [value] if isinstance(value, str) else list(value or [])
    if not items or not all(isinstance(v, str) for v in items):
        raise ConfigError(f"must be a path or a list of paths, got {value!r}", key)
    return items


@DATASETS.register()
class COCODataSet(OCRDataset):
    """Images under ``data_dir`` described by ``annotation_file`` (one or a list, paired with ``data_dir``).

    Every item carries ``label``: the image's record (``image_id``, ``boxes`` x1y1x2y2, ``classes`` = category
    ids, ``crowd``), which ``ObjDetLabelDecode`` turns into arrays. Bad annotations are left out and counted
    when the file is read (see ``ppocr.data.coco_json``); ``skip_empty`` also leaves out images without boxes.
    """

    def __init__(self, data_dir: Union[str, list], annotation_file: Union[str, list], transforms: list,
                 ratio_list: Union[float, list] = 1.0, skip_empty: bool = False,
                 global_config: Optional[dict] = None, mode: str = "train", shuffle: bool = False,
                 seed: Optional[int] = None, ext_op_transform_idx: int = 2):
        super().__init__(transforms, global_config, mode, shuffle, seed, ext_op_transform_idx)
        files = _as_list(annotation_file, "annotation_file")
        dirs = _as_list(data_dir, "data_dir")
        if len(dirs) == 1:
            dirs = dirs * len(files)
        if len(dirs) != len(files):
            raise ConfigError(f"gives {len(dirs)} folders for {len(files)} annotation files", "data_dir")
        self.records: List[Dict[str, Any]] = []
        self.categories: Dict[int, str] = {}
        sizes = []
        for folder, path in zip(dirs, files):
            records, categories, _ = read_coco(path, folder)
            if skip_empty:
                records = [r for r in records if r["boxes"]]
            if not records:
                raise DataError(f"{path}: no usable image (check the file names against {folder})")
            self.records.extend(records)
            self.categories.update(categories)
            sizes.append(len(records))
        ratios = expand_ratios(ratio_list, len(files), "annotation files")
        self._init_sources(sizes, ratios, files)

    def _read(self, sample: int) -> Dict[str, Any]:
        record = self.records[sample]
        with open(record["img_path"], "rb") as f:
            image = f.read()
        return {"img_path": record["img_path"], "image": image, "label": record}

    def _locate(self, sample: int) -> str:
        return self.records[sample]["img_path"]
