"""CTC text recogniser: text-line crops → (text, score), batched by aspect ratio.

Crops are sorted by width/height and run ``rec_batch_num`` at a time; each batch is as wide as its
widest crop needs at the model height (never narrower than ``rec_image_shape``'s width), so similar
crops share a batch and little padding is computed. Results come back in input order.
"""
from __future__ import annotations

import logging
import math
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ppocr.infer.backends import Backend, create_backend
from ppocr.infer.int8 import model_for
from ppocr.infer.model_meta import model_character_list, parse_image_shape, pick, transform_args
from ppocr.infer.options import InferOptions
from ppocr.infer.presets import default_model_paths
from ppocr.infer.word_boxes import CharSpan, char_spans
from ppocr.infer.preprocess import as_bgr, batch_width, empty_crops, ratio_batches, resize_norm_batch
from ppocr.postprocess.rec_postprocess import BLANK, ctc_greedy_decode
from ppocr.utils.character import load_character_list

logger = logging.getLogger(__name__)

SUPPORTED_ALGORITHMS = ("SVTR_LCNet", "CRNN", "SVTR", "SVTR_HGNet")


def character_list(options: InferOptions, metadata: dict) -> List[str]:
    """``[blank] + characters``: ``rec_char_dict_path`` if given, else what the model records
    (inference.yml ``character_dict`` as trained; an ONNX ``character`` list plus the space when
    ``use_space_char``), else the packaged default 0-9a-z."""
    if options.rec_char_dict_path:
        chars = load_character_list(options.rec_char_dict_path, options.use_space_char)
    else:
        recorded, complete = model_character_list(metadata)
        if recorded is None:
            chars = load_character_list(None, options.use_space_char)
        elif complete:
            chars = recorded
        else:
            chars = recorded + ([" "] if options.use_space_char and " " not in recorded else [])
    return [BLANK] + chars


class TextRecognizer:
    """``TextRecognizer(options)(crops) -> (list[(text, score)], elapsed_s)`` in input order.

    Empty (zero-size) crops give ``("", 0.0)``; gray and BGRA crops are converted to BGR.
    """

    def __init__(self, options: Optional[InferOptions] = None, backend: Optional[Backend] = None):
        self.options = options = options or InferOptions()
        if options.rec_algorithm not in SUPPORTED_ALGORITHMS:
            raise ValueError(f"rec_algorithm {options.rec_algorithm!r} is not supported; CTC models only: "
                             f"{', '.join(SUPPORTED_ALGORITHMS)}")
        if backend is None:
            model = (model_for("rec", options) or options.rec_model_dir
                     or default_model_paths(options.ocr_version)["rec"])
            backend = create_backend(model, options, role="rec")
        else:
            backend.check_role("rec")
        self.backend = backend
        recorded_shape = transform_args(backend.metadata, "RecResizeImg").get("image_shape")
        self.image_shape = parse_image_shape(pick(options, "rec_image_shape", recorded_shape), "rec_image_shape")
        model_height = backend.input_shape[2] if len(backend.input_shape) == 4 else None
        if model_height is not None and model_height != self.image_shape[1]:
            raise ValueError(f"rec_image_shape height {self.image_shape[1]} does not match the model input "
                             f"height {model_height} of {backend.model_path}")
        self.batch_num = max(1, int(options.rec_batch_num))
        self.character = character_list(options, backend.metadata)
        self._checked_classes = False

    def _check_classes(self, probs: np.ndarray) -> None:
        if self._checked_classes:
            return
        if probs.ndim != 3 or probs.shape[2] != len(self.character):
            classes = probs.shape[-1] if probs.ndim else 0
            raise ValueError(
                f"recognition model {self.backend.model_path} predicts {classes} classes but the character list "
                f"has {len(self.character)} (blank + {len(self.character) - 1} characters); set rec_char_dict_path "
                f"to the model's dict and use_space_char as it was trained (now {self.options.use_space_char})")
        self._checked_classes = True

    def __call__(self, crops: Sequence[np.ndarray]) -> Tuple[List[Tuple[str, float]], float]:
        results, _, elapsed = self._read(crops, positions=False)
        return results, elapsed

    def read_with_positions(self, crops: Sequence[np.ndarray]
                            ) -> Tuple[List[Tuple[str, float]], List[List[CharSpan]], float]:
        """Like calling the recogniser, plus each crop's decoded characters with their x in the crop
        (``ppocr.infer.word_boxes``)."""
        return self._read(crops, positions=True)

    def _read(self, crops: Sequence[np.ndarray], positions: bool
              ) -> Tuple[List[Tuple[str, float]], List[List[CharSpan]], float]:
        start = time.perf_counter()
        spans: List[List[CharSpan]] = [[] for _ in crops]
        results: List[Tuple[str, float]] = [("", 0.0)] * len(crops)
        empty = empty_crops(crops)
        live = [i for i, is_empty in enumerate(empty) if not is_empty]
        images = [as_bgr(crops[i], "text crop") for i in live]
        channels, height, width = self.image_shape
        for indices in ratio_batches(images, self.batch_num):
            input_width = batch_width(images, indices, height, width)
            batch = resize_norm_batch(images, indices, (channels, height, width), input_width)
            probs = self.backend.run(batch)[0]
            self._check_classes(probs)
            for index, decoded in zip(indices, ctc_greedy_decode(probs, self.character)):
                results[live[index]] = decoded
            if positions:
                for slot, index in enumerate(indices):
                    crop_h, crop_w = images[index].shape[:2]
                    resized = min(input_width, int(math.ceil(height * crop_w / crop_h)))
                    spans[live[index]] = char_spans(probs[slot].argmax(axis=1), self.character, probs.shape[1],
                                                    input_width, resized, crop_w)
        return results, spans, time.perf_counter() - start
