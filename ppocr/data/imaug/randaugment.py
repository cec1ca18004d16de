"""RandAugment for text-line crops, the extra augmentation of PP-OCR's direction classifier.

RandAugment (Cubuk et al. 2020) replaces a searched augmentation policy with two numbers: how many
operations to chain (`num_layers`, each drawn uniformly with replacement) and one strength for all
of them (`magnitude`, 0..10). For a direction classifier the orientation *is* the label, so the
operation set holds no flips and no quarter or half turns, and the geometric operations stay small
(a tilt of at most 10°, shears and shifts that keep the text in the crop).

Images are uint8 BGR (HxWx3), gray (HxW) or HxWx1; the output has the input's shape and dtype.
All randomness comes from the global `random` state, which the trainer seeds.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Dict

import cv2
import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from ppocr.utils.registry import OPERATORS, ConfigError

MAX_MAGNITUDE = 10
# Strength at magnitude 10 (level 1.0) of each bounded operation.
MAX_ENHANCE_DELTA = 0.9  # enhance factor 1 ± delta
MAX_POSTERIZE_DROP = 4  # bits removed; 4 bits keep strokes apart from the background
MAX_SHEAR = 0.3
MAX_SHIFT = 0.1  # share of the image width / height
MAX_TILT_DEG = 10.0

Op = Callable[[np.ndarray, float], np.ndarray]


def _signed(value: float) -> float:
    return value if random.random() < 0.5 else -value


def _pil_op(apply: Callable[[Image.Image, float], Image.Image]) -> Op:
    """Run a PIL operation on a BGR or gray array; colour ops then see real RGB."""

    def run(img: np.ndarray, level: float) -> np.ndarray:
        if img.ndim == 2:
            return np.asarray(apply(Image.fromarray(img), level))
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return cv2.cvtColor(np.asarray(apply(Image.fromarray(rgb), level)), cv2.COLOR_RGB2BGR)

    return run


def _enhance(enhancer: type) -> Op:
    return _pil_op(lambda pil, level: enhancer(pil).enhance(1.0 + _signed(MAX_ENHANCE_DELTA * level)))


def _affine(img: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.warpAffine(img, matrix.astype(np.float32), (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def shear_x(img: np.ndarray, level: float) -> np.ndarray:
    """Slant the glyphs; the centre row stays in place."""
    h = img.shape[0]
    factor = _signed(MAX_SHEAR * level)
    return _affine(img, np.array([[1.0, factor, -factor * (h - 1) / 2.0], [0.0, 1.0, 0.0]]))


def shear_y(img: np.ndarray, level: float) -> np.ndarray:
    """Make the baseline climb; scaled by H/W so a wide line moves its ends by at most 0.15·H."""
    h, w = img.shape[:2]
    factor = _signed(MAX_SHEAR * level * min(1.0, h / w))
    return _affine(img, np.array([[1.0, 0.0, 0.0], [factor, 1.0, -factor * (w - 1) / 2.0]]))


def translate_x(img: np.ndarray, level: float) -> np.ndarray:
    shift = _signed(MAX_SHIFT * level * img.shape[1])
    return _affine(img, np.array([[1.0, 0.0, shift], [0.0, 1.0, 0.0]]))


def translate_y(img: np.ndarray, level: float) -> np.ndarray:
    shift = _signed(MAX_SHIFT * level * img.shape[0])
    return _affine(img, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, shift]]))


def tilt(img: np.ndarray, level: float) -> np.ndarray:
    """A small rotation about the centre, never near 180°."""
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), _signed(MAX_TILT_DEG * level), 1.0)
    return _affine(img, matrix)


# name → op(image, level in [0, 1]); photometric ops first, then the small geometric ones.
RAND_AUGMENT_OPS: Dict[str, Op] = {
    "autocontrast": _pil_op(lambda pil, level: ImageOps.autocontrast(pil)),
    "equalize": _pil_op(lambda pil, level: ImageOps.equalize(pil)),
    "brightness": _enhance(ImageEnhance.Brightness),
    "contrast": _enhance(ImageEnhance.Contrast),
    "sharpness": _enhance(ImageEnhance.Sharpness),
    "color": _enhance(ImageEnhance.Color),
    "posterize": _pil_op(lambda pil, level: ImageOps.posterize(pil, 8 - int(round(MAX_POSTERIZE_DROP * level)))),
    "solarize": _pil_op(lambda pil, level: ImageOps.solarize(pil, 256 - int(round(256 * level)))),
    "shear_x": shear_x,
    "shear_y": shear_y,
    "translate_x": translate_x,
    "translate_y": translate_y,
    "tilt": tilt,
}


@OPERATORS.register()
class RandAugment:
    """With probability `prob`, apply `num_layers` operations drawn from `RAND_AUGMENT_OPS` at `magnitude`."""

    def __init__(self, num_layers: int = 2, magnitude: int = 5, prob: float = 0.5):
        if num_layers < 0:
            raise ConfigError(f"must be >= 0, got {num_layers}", "RandAugment.num_layers")
        if not 0 <= magnitude <= MAX_MAGNITUDE:
            raise ConfigError(f"must be within [0, {MAX_MAGNITUDE}], got {magnitude}", "RandAugment.magnitude")
        if not 0.0 <= prob <= 1.0:
            raise ConfigError(f"must be within [0, 1], got {prob}", "RandAugment.prob")
        self.num_layers = num_layers
        self.level = magnitude / MAX_MAGNITUDE
        self.prob = prob

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        img = data["image"]
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.size == 0:
            raise ValueError(f"RandAugment expects a non-empty uint8 image, got "
                             f"{getattr(img, 'dtype', type(img).__name__)} with shape {getattr(img, 'shape', None)}")
        single_channel = img.ndim == 3 and img.shape[2] == 1
        if single_channel:
            img = img[:, :, 0]
        if img.ndim != 2 and not (img.ndim == 3 and img.shape[2] == 3):
            raise ValueError(f"RandAugment expects an HxW, HxWx1 or HxWx3 image, got shape {img.shape}")
        if random.random() < self.prob:
            for name in random.choices(list(RAND_AUGMENT_OPS), k=self.num_layers):
                img = RAND_AUGMENT_OPS[name](img, self.level)
        data["image"] = np.ascontiguousarray(img[:, :, None] if single_channel else img)
        return data
