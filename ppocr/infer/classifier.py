"""Text direction classifier: text-line crops → label ("0" / "180"), and upside-down crops turned back.

Crops are sorted by aspect ratio and batched ``cls_batch_num`` at a time at the fixed
``cls_image_shape`` (3×48×192): a long line is squeezed to 192 px, which keeps enough of the glyph
shapes to tell up from down.
"""
from __future__ import annotations

import logging
import time
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ppocr.infer.backends import Backend, create_backend
from ppocr.infer.model_meta import parse_image_shape, pick, postprocess_args, transform_args
from ppocr.infer.options import InferOptions
from ppocr.infer.presets import default_model_paths
from ppocr.infer.preprocess import as_bgr, empty_crops, ratio_batches, resize_norm_batch

logger = logging.getLogger(__name__)

ROTATED_LABEL = "180"


class TextClassifier:
    """``TextClassifier(options)(crops) -> (crops_rotated, list[(label, score)], elapsed_s)``.

    A crop labelled "180" with a score above ``cls_thresh`` is returned rotated by 180°; all others are
    returned as given. Empty crops get ``(label_list[0], 0.0)``.
    """

    def __init__(self, options: Optional[InferOptions] = None, backend: Optional[Backend] = None):
        self.options = options = options or InferOptions()
        if backend is None:
            model = options.cls_model_dir or default_model_paths(options.ocr_version)["cls"]
            backend = create_backend(model, options, role="cls")
        else:
            backend.check_role("cls")
        self.backend = backend
        recorded_shape = transform_args(backend.metadata, "ClsResizeImg").get("image_shape")
        self.image_shape = parse_image_shape(pick(options, "cls_image_shape", recorded_shape), "cls_image_shape")
        recorded_labels = postprocess_args(backend.metadata).get("label_list")
        self.label_list = [str(v) for v in pick(options, "label_list", recorded_labels)]
        if not self.label_list:
            raise ValueError("label_list must name at least one class, e.g. ['0', '180']")
        self.batch_num = max(1, int(options.cls_batch_num))
        self.thresh = float(options.cls_thresh)

    def __call__(self, crops: Sequence[np.ndarray]) -> Tuple[List[np.ndarray], List[Tuple[str, float]], float]:
        start = time.perf_counter()
        rotated = list(crops)
        results: List[Tuple[str, float]] = [(self.label_list[0], 0.0)] * len(crops)
        empty = empty_crops(crops)
        live = [i for i, is_empty in enumerate(empty) if not is_empty]
        images = [as_bgr(crops[i], "text crop") for i in live]
        for indices in ratio_batches(images, self.batch_num):
            probs = self.backend.run(resize_norm_batch(images, indices, self.image_shape, self.image_shape[2]))[0]
            if probs.ndim != 2 or probs.shape[1] != len(self.label_list):
                raise ValueError(f"direction model {self.backend.model_path} outputs shape {probs.shape}; expected "
                                 f"N×{len(self.label_list)} for label_list {self.label_list}")
            best = probs.argmax(axis=1)
            for index, label_id, row in zip(indices, best, probs):
                label, score = self.label_list[int(label_id)], float(row[label_id])
                source = live[index]
                results[source] = (label, score)
                if self.turns(label, score):
                    rotated[source] = cv2.rotate(crops[source], cv2.ROTATE_180)
        return rotated, results, time.perf_counter() - start

    def turns(self, label: str, score: float) -> bool:
        """Whether a crop classified ``(label, score)`` is turned by 180°."""
        return label == ROTATED_LABEL and score > self.thresh
