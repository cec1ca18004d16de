"""Multi-scale recognition training (PP-OCRv4): every batch has its own input size, drawn from ``scales``.

``MultiScaleSampler`` yields batches of ``(width, height, index, None)`` tuples; ``MultiScaleDataSet`` runs
its transforms except the last (KeepKeys), resizes and normalises the image to that size (keeping the aspect
ratio, padding right, ``valid_ratio`` = content share of the width), then runs the last transform.
"""
from __future__ import annotations

import random
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import paddle

from ppocr.data.base_dataset import SampleSkipped
from ppocr.data.imaug.rec_img_aug import resize_norm_img
from ppocr.data.simple_dataset import SimpleDataSet
from ppocr.utils.registry import DATASETS, SAMPLERS, ConfigError

SizedIndex = Tuple[int, int, int, Optional[float]]


@DATASETS.register()
class MultiScaleDataSet(SimpleDataSet):
    """A SimpleDataSet read through ``MultiScaleSampler`` (``Train.sampler``), which gives each batch its size.

    ``ds_width`` (PaddleOCR's width-by-aspect-ratio batching) is not supported; it must stay false.
    """

    needs_sampler = "MultiScaleSampler"

    def __init__(self, data_dir: str, label_file_list: Union[str, list], transforms: list,
                 ratio_list: Union[float, list] = 1.0, delimiter: str = "\t", ds_width: bool = False,
                 global_config: Optional[dict] = None, mode: str = "train", shuffle: bool = False,
                 seed: Optional[int] = None, ext_op_transform_idx: int = 2):
        if ds_width:
            raise ConfigError("true (batches grouped by aspect ratio) is not supported; use false",
                              "Train.dataset.ds_width")
        if not transforms or len(transforms) < 2:
            raise ConfigError("MultiScaleDataSet needs its transforms to end with KeepKeys (the image is resized "
                              "before the last transform)", "transforms")
        super().__init__(data_dir, label_file_list, transforms, ratio_list=ratio_list, delimiter=delimiter,
                         global_config=global_config, mode=mode, shuffle=shuffle, seed=seed,
                         ext_op_transform_idx=ext_op_transform_idx)
        self._size: Optional[Tuple[int, int]] = None

    def __getitem__(self, index: Any) -> Optional[Any]:
        if not isinstance(index, (tuple, list)) or len(index) < 3:
            raise TypeError("MultiScaleDataSet is indexed by (width, height, index, ratio) from MultiScaleSampler; "
                            "set Train.sampler: {name: MultiScaleSampler, scales: [[320, 32], [320, 48]], ...}")
        self._size = (int(index[0]), int(index[1]))
        return super().__getitem__(int(index[2]))

    def _prepare(self, sample: int, num_ops: int, ext_rng: Optional[random.Random]) -> Any:
        if num_ops < len(self.ops) or self._size is None:
            return super()._prepare(sample, num_ops, ext_rng)
        data = super()._prepare(sample, len(self.ops) - 1, ext_rng)
        where = data.get("img_path", self._locate(sample))
        width, height = self._size
        try:
            data["image"], data["valid_ratio"] = resize_norm_img(data["image"], [3, height, width])
            data["valid_ratio"] = np.float32(data["valid_ratio"])
            out = self.ops[-1](data)
        except Exception as exc:
            raise SampleSkipped(where, f"multi-scale resize or {self.op_names[-1]} raised {type(exc).__name__}",
                                str(exc)) from exc
        if out is None:
            raise SampleSkipped(where, f"{self.op_names[-1]} dropped the sample")
        return out


def _pairs(scales: Any) -> List[Tuple[int, int]]:
    if not isinstance(scales, (list, tuple)) or not scales:
        raise ConfigError("must list [width, height] pairs (or square sizes), e.g. [[320, 32], [320, 48]]",
                          "scales")
    pairs = []
    for scale in scales:
        if isinstance(scale, int) and not isinstance(scale, bool):
            pairs.append((scale, scale))
        elif (isinstance(scale, (list, tuple)) and len(scale) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in scale)):
            pairs.append((int(scale[0]), int(scale[1])))
        else:
            raise ConfigError(f"each scale must be [width, height] of positive integers, got {scale!r}", "scales")
    return pairs


@SAMPLERS.register()
class MultiScaleSampler:
    """Batches over this rank's share of the dataset, each at one of ``scales`` ([width, height]).

    Sizes are rounded down to multiples of ``divided_factor`` ([w, h]). With ``fix_bs: false`` a batch at a
    larger size holds fewer samples, so every batch has about the pixels of ``first_bs`` images at the first
    scale. Scales are used in turn; the batch order is shuffled per epoch (seeded, the same on every rank).
    The last batch is completed from the start of the epoch. Not training (``is_training: false``): the first
    scale only. ``ratio_wh`` and ``max_w`` only matter for ``ds_width`` batching (unsupported); PaddleOCR
    configs may set them.
    """

    def __init__(self, dataset: Any, scales: list, first_bs: int = 128, fix_bs: bool = True,
                 divided_factor: Sequence[int] = (8, 16), is_training: bool = True, ratio_wh: float = 0.8,
                 max_w: float = 480.0, seed: Optional[int] = None):
        pairs = _pairs(scales)
        if isinstance(first_bs, bool) or not isinstance(first_bs, int) or first_bs < 1:
            raise ConfigError(f"must be a positive integer, got {first_bs!r}", "first_bs")
        if (not isinstance(divided_factor, (list, tuple)) or len(divided_factor) != 2
                or not all(isinstance(v, int) and v > 0 for v in divided_factor)):
            raise ConfigError(f"must be [w, h] positive integers, got {divided_factor!r}", "divided_factor")
        self.dataset = dataset
        self.seed = getattr(dataset, "seed", 0) if seed is None else seed
        base_w, base_h = pairs[0]
        if is_training:
            self.sizes = []
            for width, height in pairs:
                width = max(divided_factor[0], width // divided_factor[0] * divided_factor[0])
                height = max(divided_factor[1], height // divided_factor[1] * divided_factor[1])
                size = first_bs if fix_bs else max(1, int(base_w * base_h * first_bs / (width * height)))
                self.sizes.append((width, height, size))
        else:
            self.sizes = [(base_w, base_h, first_bs)]
        self.shuffle = is_training
        self.world_size = paddle.distributed.get_world_size()
        self.rank = paddle.distributed.get_rank()
        self.epoch = 0
        self._plan = self._layout()

    def _layout(self) -> List[Tuple[int, int, int]]:
        """(width, height, batch size) of every batch: the scales in turn until this rank's share is covered."""
        per_rank = max(1, len(self.dataset) // self.world_size)
        plan, covered, turn = [], 0, 0
        while covered < per_rank:
            width, height, size = self.sizes[turn % len(self.sizes)]
            plan.append((width, height, size))
            covered += size
            turn += 1
        return plan

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._plan)

    def __iter__(self) -> Iterator[List[SizedIndex]]:
        total = len(self.dataset)
        per_rank = max(1, total // self.world_size)
        indices = list(range(self.rank, total, self.world_size))[:per_rank] or [0]
        plan = list(self._plan)
        if self.shuffle:
            random.Random(f"{self.seed}:{self.epoch}:batches").shuffle(plan)
        start = 0
        for width, height, size in plan:
            chosen = [indices[(start + k) % len(indices)] for k in range(size)]
            start += size
            yield [(width, height, index, None) for index in chosen]
