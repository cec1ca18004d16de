"""Turning images into model input batches, shared by the stage predictors.

Detection input is normalised in one fused pass per channel into a preallocated buffer: the
temporaries of a naive ``(img.astype(float) / 255 - mean) / std`` on a full page cost ~6× more.
"""
from __future__ import annotations

from typing import Iterator, List, Sequence, Tuple

import cv2
import numpy as np

from ppocr.data.imaug.rec_img_aug import resize_norm_img


def as_bgr(img: np.ndarray, what: str = "image") -> np.ndarray:
    """3-channel uint8-compatible BGR from gray (H×W or H×W×1), BGR or BGRA (alpha dropped)."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    raise ValueError(f"{what} must be H×W gray, H×W×3 BGR or H×W×4 BGRA, got shape {img.shape}")


def normalize_to_chw(img: np.ndarray, mean: Sequence[float], std: Sequence[float], scale: float) -> np.ndarray:
    """1×C×H×W float32 ``(img * scale - mean) / std`` of an H×W×C image, one fused pass per channel."""
    height, width, channels = img.shape
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean/std have {len(mean)}/{len(std)} values for a {channels}-channel image")
    out = np.empty((1, channels, height, width), dtype=np.float32)
    for c in range(channels):
        np.multiply(img[:, :, c], np.float32(scale / std[c]), out=out[0, c], dtype=np.float32)
        out[0, c] -= np.float32(mean[c] / std[c])
    return out


def ratio_order(crops: Sequence[np.ndarray]) -> np.ndarray:
    """Indices sorting crops by width/height so each batch pads to a similar width."""
    ratios = [img.shape[1] / float(img.shape[0]) for img in crops]
    return np.argsort(np.asarray(ratios, dtype=np.float64), kind="stable")


def ratio_batches(crops: Sequence[np.ndarray], batch_num: int) -> Iterator[np.ndarray]:
    """Index arrays of at most ``batch_num`` crops of similar aspect ratio."""
    order = ratio_order(crops)
    step = max(1, int(batch_num))
    for start in range(0, len(order), step):
        yield order[start:start + step]


# Blank columns kept right of the widest crop, as a fraction of the height: a CTC model drops a last character
# that touches the right edge (the page sample's final '.' with one crop per batch); a third of the height
# leaves it two time steps of background.
RIGHT_MARGIN = 1.0 / 3


def batch_width(crops: Sequence[np.ndarray], indices: Sequence[int], height: int, min_width: int) -> int:
    """Width that fits the widest crop of the batch at ``height`` with a blank margin on its right (never below
    the model's own width)."""
    max_ratio = max(crops[i].shape[1] / float(crops[i].shape[0]) for i in indices)
    return max(min_width, int(height * (max_ratio + RIGHT_MARGIN)))


def resize_norm_batch(crops: Sequence[np.ndarray], indices: Sequence[int],
                      image_shape: Tuple[int, int, int], width: int) -> np.ndarray:
    """N×C×H×width batch of the crops at ``indices``, each resized to height H keeping its aspect ratio,
    scaled to [-1, 1] and padded right with 0 (the training operator's ``resize_norm_img``)."""
    channels, height, _ = image_shape
    batch = np.empty((len(indices), channels, height, width), dtype=np.float32)
    for slot, index in enumerate(indices):
        batch[slot] = resize_norm_img(crops[index], (channels, height, width))[0]
    return batch


def empty_crops(crops: Sequence[np.ndarray]) -> List[bool]:
    return [img is None or np.asarray(img).ndim < 2 or img.shape[0] == 0 or img.shape[1] == 0 for img in crops]
