"""Evaluation / inference resize for text detection (PaddleOCR's DetResizeForTest modes).

The network downsamples by 32, so both output sides are multiples of 32 (at least 32). The ratios
resized/source let post-processing map boxes back to the source image.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from ppocr.utils.registry import OPERATORS, ConfigError

logger = logging.getLogger(__name__)

STRIDE = 32
LIMIT_TYPES = ("max", "min", "resize_long")
DEFAULT_LIMIT_SIDE_LEN = 736
DEFAULT_LIMIT_TYPE = "min"
# an extreme aspect ratio with limit_type "min" would otherwise ask for gigapixel images
DEFAULT_MAX_SIDE_LIMIT = 4000


def _to_stride(value: float) -> int:
    return max(int(round(value / STRIDE)) * STRIDE, STRIDE)


def _check_options(limit_side_len: Optional[int], limit_type: Optional[str], resize_long: Optional[int],
                   image_shape: Optional[Sequence[int]], max_side_limit: int) -> None:
    if limit_type is not None and limit_type not in LIMIT_TYPES:
        raise ConfigError(f"limit_type must be one of {', '.join(LIMIT_TYPES)}, got {limit_type!r}",
                          "DetResizeForTest")
    for key, value in (("limit_side_len", limit_side_len), ("resize_long", resize_long),
                       ("max_side_limit", max_side_limit)):
        if value is not None and not value > 0:
            raise ConfigError(f"{key} must be > 0, got {value!r}", "DetResizeForTest")
    valid_sides = image_shape is not None and all(isinstance(v, (int, float)) and v > 0 for v in image_shape)
    if image_shape is not None and (len(image_shape) != 2 or not valid_sides):
        raise ConfigError(f"image_shape must be [height, width] > 0, got {image_shape!r}", "DetResizeForTest")


def det_resize_shape(src_h: int, src_w: int, limit_side_len: Optional[int] = None, limit_type: Optional[str] = None,
                     resize_long: Optional[int] = None, image_shape: Optional[Sequence[int]] = None,
                     keep_ratio: bool = False, max_side_limit: int = DEFAULT_MAX_SIDE_LIMIT) -> Tuple[int, int]:
    """Output (height, width) for a source size; mode precedence as PaddleOCR:
    image_shape, then limit_side_len/limit_type, then resize_long, else 736/"min".
    """
    _check_options(limit_side_len, limit_type, resize_long, image_shape, max_side_limit)
    if image_shape is not None:
        resize_h = _to_stride(image_shape[0])
        if keep_ratio:
            resize_w = max(int(np.ceil(src_w * resize_h / src_h / STRIDE)) * STRIDE, STRIDE)
        else:
            resize_w = _to_stride(image_shape[1])
    else:
        if limit_side_len is None and limit_type is None and resize_long is not None:
            side, mode = resize_long, "resize_long"
        else:
            side = DEFAULT_LIMIT_SIDE_LEN if limit_side_len is None else limit_side_len
            mode = DEFAULT_LIMIT_TYPE if limit_type is None else limit_type
        if mode == "max":
            ratio = min(1.0, side / max(src_h, src_w))
        elif mode == "min":
            ratio = max(1.0, side / min(src_h, src_w))
        else:
            ratio = side / max(src_h, src_w)
        resize_h, resize_w = _to_stride(int(src_h * ratio)), _to_stride(int(src_w * ratio))
    if max(resize_h, resize_w) > max_side_limit:
        fit = max_side_limit / max(resize_h, resize_w)
        capped = tuple(max(int(side * fit) // STRIDE * STRIDE, STRIDE) for side in (resize_h, resize_w))
        logger.warning("detection input %dx%d would exceed max_side_limit=%d; using %dx%d",
                       resize_h, resize_w, max_side_limit, *capped)
        resize_h, resize_w = capped
    return resize_h, resize_w


def resize_for_det(img: np.ndarray, limit_side_len: Optional[int] = None, limit_type: Optional[str] = None,
                   resize_long: Optional[int] = None, image_shape: Optional[Sequence[int]] = None,
                   keep_ratio: bool = False,
                   max_side_limit: int = DEFAULT_MAX_SIDE_LIMIT) -> Tuple[np.ndarray, Tuple[float, float]]:
    """Resize an image for the detector; returns it with (ratio_h, ratio_w) = resized / source."""
    if img is None or img.ndim < 2 or img.shape[0] == 0 or img.shape[1] == 0:
        shape = getattr(img, "shape", None)
        raise ValueError(f"image to resize must be a non-empty H×W[×C] array, got shape {shape}")
    src_h, src_w = img.shape[:2]
    resize_h, resize_w = det_resize_shape(src_h, src_w, limit_side_len, limit_type, resize_long, image_shape,
                                          keep_ratio, max_side_limit)
    resized = cv2.resize(img, (resize_w, resize_h))
    return resized, (resize_h / src_h, resize_w / src_w)


@OPERATORS.register()
class DetResizeForTest:
    """Resize ``image`` for evaluation/inference and record ``shape`` = [src_h, src_w, ratio_h, ratio_w].

    ``polys`` are left in source coordinates: post-processing maps predictions back with the ratios.
    Fixed ``image_shape`` sides are rounded to multiples of 32 too; ``max_side_limit`` (PaddleOCR 3's
    guard) caps the longer output side for extreme aspect ratios.
    """

    def __init__(self, limit_side_len: Optional[int] = None, limit_type: Optional[str] = None,
                 resize_long: Optional[int] = None, image_shape: Optional[list] = None, keep_ratio: bool = False,
                 max_side_limit: int = DEFAULT_MAX_SIDE_LIMIT):
        _check_options(limit_side_len, limit_type, resize_long, image_shape, max_side_limit)
        self.options = dict(limit_side_len=limit_side_len, limit_type=limit_type, resize_long=resize_long,
                            image_shape=image_shape, keep_ratio=keep_ratio, max_side_limit=max_side_limit)

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        image = data["image"]
        src_h, src_w = image.shape[:2]
        data["image"], (ratio_h, ratio_w) = resize_for_det(image, **self.options)
        data["shape"] = np.array([src_h, src_w, ratio_h, ratio_w], dtype=np.float32)
        return data
