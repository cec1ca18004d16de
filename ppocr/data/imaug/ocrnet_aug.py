"""NVIDIA TAO OCRNet's training augmentation, with its spec's parameter names.

With probability ``aug_prob`` an image is augmented; it then goes through a small rotation
(``rotate_prob``, uniform within ±``max_rotation_degree``), a Gaussian blur (``blur_prob``, sigma
drawn from ``gaussian_radius_list``, as PIL's blur radius) and colour reversal
(``reverse_color_prob``), each decided on its own. TAO's ``keep_aspect_ratio`` is a resize choice,
not an augmentation: here it is ``RecResizeImg.padding`` (True keeps the aspect ratio and pads).
All randomness comes from the global ``random`` state.
"""
from __future__ import annotations

import random
from typing import Any, Dict, Optional

import cv2
import numpy as np

from ppocr.utils.registry import OPERATORS


def rotate_keep_size(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre (counter-clockwise for positive degrees), same size, edges replicated."""
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), degrees, 1.0)
    return cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Blur with standard deviation ``sigma`` pixels (the kernel covers ±3 sigma)."""
    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REPLICATE)


@OPERATORS.register()
class OCRNetAug:
    """TAO OCRNet augmentation on a uint8 HxW / HxWx1 / HxWx3 image; shape and dtype are kept."""

    def __init__(self, aug_prob: float = 0.3, reverse_color_prob: float = 0.5, rotate_prob: float = 0.5,
                 max_rotation_degree: float = 5.0, blur_prob: float = 0.5,
                 gaussian_radius_list: Optional[list] = None):
        probs = dict(aug_prob=aug_prob, reverse_color_prob=reverse_color_prob, rotate_prob=rotate_prob,
                     blur_prob=blur_prob)
        for name, value in probs.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"OCRNetAug.{name} must be within [0, 1], got {value}")
        if max_rotation_degree < 0:
            raise ValueError(f"OCRNetAug.max_rotation_degree must be >= 0, got {max_rotation_degree}")
        radii = [1, 2, 3, 4] if gaussian_radius_list is None else list(gaussian_radius_list)
        if not radii or any(isinstance(r, bool) or not isinstance(r, (int, float)) or r <= 0 for r in radii):
            raise ValueError(f"OCRNetAug.gaussian_radius_list must be a non-empty list of numbers > 0, got {radii}")
        self.aug_prob = aug_prob
        self.reverse_color_prob = reverse_color_prob
        self.rotate_prob = rotate_prob
        self.max_rotation_degree = float(max_rotation_degree)
        self.blur_prob = blur_prob
        self.gaussian_radius_list = radii

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        img = data["image"]
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.size == 0:
            raise ValueError(f"OCRNetAug expects a non-empty uint8 image, got "
                             f"{getattr(img, 'dtype', type(img).__name__)} with shape {getattr(img, 'shape', None)}")
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
            raise ValueError(f"OCRNetAug expects an HxW, HxWx1 or HxWx3 image, got shape {img.shape}")
        if random.random() >= self.aug_prob:
            return data
        single_channel = img.ndim == 3 and img.shape[2] == 1
        if single_channel:
            img = img[:, :, 0]
        if random.random() < self.rotate_prob:
            img = rotate_keep_size(img, random.uniform(-self.max_rotation_degree, self.max_rotation_degree))
        if random.random() < self.blur_prob:
            img = gaussian_blur(img, random.choice(self.gaussian_radius_list))
        if random.random() < self.reverse_color_prob:
            img = 255 - img
        data["image"] = img[:, :, None] if single_channel else img
        return data
