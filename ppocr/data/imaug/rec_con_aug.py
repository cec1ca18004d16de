"""RecConAug: glue other word images (and their texts) to the right of a sample, making longer lines."""
from __future__ import annotations

import random
from typing import Any, Dict, List, Sequence

import cv2
import numpy as np

from ppocr.utils.registry import OPERATORS, ConfigError


@OPERATORS.register()
class RecConAug:
    """With probability ``prob``, append up to ``ext_data_num`` other decoded samples (the dataset passes
    them as ``ext_data``; set the dataset's ``ext_op_transform_idx`` to this operator's position) while the
    text stays within ``max_text_length`` and the width/height ratio within that of ``image_shape``
    ([H, W, C]). Every image is resized to height H first; the texts are joined with ``separator`` (PaddleOCR:
    none). ppocr's ``separator: " "`` also puts a blank of ``gap`` × H pixels between the images: fine-tuning a
    line recogniser on word crops alone otherwise teaches it never to read a space, which the OCR system's word
    boxes (``--return_word_box``) split lines at.
    """

    def __init__(self, prob: float = 0.5, image_shape: Sequence[int] = (32, 320, 3), max_text_length: int = 25,
                 ext_data_num: int = 1, separator: str = "", gap: float = 0.4):
        if not isinstance(image_shape, (list, tuple)) or len(image_shape) != 3 or min(image_shape[:2]) <= 0:
            raise ConfigError(f"key 'image_shape' of RecConAug must be [H, W, C], got {image_shape!r}")
        if not isinstance(separator, str) or not 0 <= gap <= 2:
            raise ConfigError(f"RecConAug: 'separator' must be a string and 'gap' within [0, 2] (a share of the "
                              f"height), got {separator!r} and {gap!r}")
        self.separator = separator
        self.gap_width = round(gap * image_shape[0]) if separator else 0
        self.prob = float(prob)
        self.height = int(image_shape[0])
        self.max_wh_ratio = image_shape[1] / image_shape[0]
        self.max_text_length = max_text_length
        self.ext_data_num = ext_data_num

    def _at_height(self, image: np.ndarray) -> np.ndarray:
        width = max(1, round(image.shape[1] / image.shape[0] * self.height))
        return cv2.resize(image, (width, self.height))

    def _blank(self, left: np.ndarray, right: np.ndarray) -> List[np.ndarray]:
        """The gap between two glued images, in the mean colour of their facing edges (none without a separator)."""
        if not self.gap_width:
            return []
        edges = np.concatenate([left[:, -1:], right[:, :1]], axis=1).astype(np.float32)
        colour = edges.reshape(-1, *left.shape[2:]).mean(axis=0)
        shape = (left.shape[0], self.gap_width) + left.shape[2:]
        return [np.broadcast_to(colour, shape).astype(left.dtype)]

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        extra: List[Dict[str, Any]] = data.pop("ext_data", None) or []
        if random.random() > self.prob:
            return data
        image, text = data["image"], data["label"]
        if not isinstance(text, str):
            raise ConfigError("RecConAug needs the text label: put it before the label encoder")
        for other in extra:
            other_image, other_text = other.get("image"), other.get("label")
            if not isinstance(other_image, np.ndarray) or not isinstance(other_text, str):
                continue
            if len(text) + len(self.separator) + len(other_text) > self.max_text_length:
                break
            ratio = (image.shape[1] / image.shape[0] + self.gap_width / self.height
                     + other_image.shape[1] / other_image.shape[0])
            if ratio > self.max_wh_ratio:
                break
            first, second = self._at_height(image), self._at_height(other_image)
            if first.ndim != second.ndim:
                break
            image = np.concatenate([first, *self._blank(first, second), second], axis=1)
            text = text + self.separator + other_text
        data["image"], data["label"] = image, text
        return data
