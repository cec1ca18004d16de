"""Recognition image operators: resize-and-normalise to the model input, and PP-OCR's augmentation.

`RecAug` follows PP-OCR: TIA (text image augmentation: control points along the top and bottom
edges are moved at random and the image is warped to follow them – distort, stretch, perspective)
and BDA (base data augmentation: perspective, row crop, blur, colour jitter, shift jitter, noise,
colour reversal). All randomness comes from the global `random` / `numpy.random` state.
"""
from __future__ import annotations

import math
import random
from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from ppocr.utils.registry import OPERATORS

# Below this many pixels on the short side geometric warps would only smear the few pixels there are.
MIN_WARP_SIDE = 10


def _as_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """Gray ↔ 3-channel so the image matches the model's input channels (3-channel input is BGR)."""
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] != 3:
        raise ValueError(f"expected a gray or 3-channel image, got {img.shape[2]} channels")
    if channels == 1:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img


def resize_norm_img(img: np.ndarray, image_shape: Sequence[int], padding: bool = True) -> Tuple[np.ndarray, float]:
    """Resize to height H keeping the aspect ratio (width capped at W), scale to [-1, 1], pad right with 0.

    Returns the CxHxW float32 image and valid_ratio, the share of the width holding image content.
    With `padding=False` the image is stretched to HxW and valid_ratio is 1.
    """
    channels, height, width = (int(v) for v in image_shape)
    if channels not in (1, 3):
        raise ValueError(f"image_shape channels must be 1 or 3, got {channels}")
    img = np.asarray(img)
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"expected a non-empty HxW or HxWxC image, got shape {img.shape}")
    img = _as_channels(img, channels)
    h, w = img.shape[:2]
    if padding:
        resized_w = min(width, int(math.ceil(height * w / h)))
    else:
        resized_w = width
    resized = cv2.resize(img, (resized_w, height)).astype(np.float32)
    if resized.ndim == 2:
        resized = resized[None]
    else:
        resized = resized.transpose((2, 0, 1))
    out = np.zeros((channels, height, width), dtype=np.float32)
    out[:, :, :resized_w] = (resized / 255.0 - 0.5) / 0.5
    return out, min(1.0, resized_w / width)


def widened_image_shape(img: np.ndarray, image_shape: Sequence[int]) -> list:
    """[C, H, W'] with W' wide enough that the image is not squeezed: max(W, ceil(H * w / h))."""
    channels, height, width = (int(v) for v in image_shape)
    h, w = img.shape[:2]
    return [channels, height, max(width, int(math.ceil(height * w / max(h, 1))))]


@OPERATORS.register()
class RecResizeImg:
    """Resize and normalise a text-line crop to the recogniser input (see `resize_norm_img`).

    Training uses the fixed [C, H, W] so every item in a batch has the same width. With
    `eval_mode`, or with `infer_mode` and a character dict (PaddleOCR's rule for the
    multilingual models), a wide line is not squeezed into W: the output widens to the line's own
    aspect ratio (`widened_image_shape`), so those items differ in width and suit batch size 1.
    No mode reads `label`, so unlabeled inference items pass through.
    """

    def __init__(self, image_shape: list, infer_mode: bool = False, character_dict_path: Optional[str] = None,
                 padding: bool = True, eval_mode: bool = False):
        if len(image_shape) != 3 or any(int(v) < 1 for v in image_shape):
            raise ValueError(f"RecResizeImg.image_shape must be [C, H, W] with positive sizes, got {image_shape}")
        if int(image_shape[0]) not in (1, 3):
            raise ValueError(f"RecResizeImg.image_shape channels must be 1 or 3, got {image_shape[0]}")
        self.image_shape = [int(v) for v in image_shape]
        self.padding = padding
        self.widen = eval_mode or (infer_mode and character_dict_path is not None)

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        img = data["image"]
        shape = widened_image_shape(img, self.image_shape) if self.widen else self.image_shape
        data["image"], data["valid_ratio"] = resize_norm_img(img, shape, self.padding)
        return data


def tps_warp(img: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """Warp so the content at `src_pts` lands on `dst_pts`, smoothly in between (thin-plate spline).

    The spline is fitted backwards (output point → source point), so each output pixel samples
    the source once through cv2.remap; outside the source the border is replicated.
    """
    h, w = img.shape[:2]
    scale = float(max(h, w, 2) - 1)
    ctrl = np.asarray(dst_pts, dtype=np.float64) / scale
    target = np.asarray(src_pts, dtype=np.float64) / scale
    n = len(ctrl)

    def kernel(sq_dist: np.ndarray) -> np.ndarray:
        return sq_dist * np.log(np.maximum(sq_dist, 1e-12))

    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = kernel(((ctrl[:, None, :] - ctrl[None, :, :]) ** 2).sum(-1))
    system[:n, n] = 1.0
    system[:n, n + 1:] = ctrl
    system[n, :n] = 1.0
    system[n + 1:, :n] = ctrl.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = target
    params = np.linalg.lstsq(system, rhs, rcond=None)[0]

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64) / scale
    map_x = params[n, 0] + params[n + 1, 0] * xs + params[n + 2, 0] * ys
    map_y = params[n, 1] + params[n + 1, 1] * xs + params[n + 2, 1] * ys
    for (cx, cy), (wx, wy) in zip(ctrl, params[:n]):
        basis = kernel((xs - cx) ** 2 + (ys - cy) ** 2)
        map_x += wx * basis
        map_y += wy * basis
    return cv2.remap(img, (map_x * scale).astype(np.float32), (map_y * scale).astype(np.float32),
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _edge_points(w: int, h: int, segment: int) -> np.ndarray:
    """Points at `segment` equal steps along the top edge, then the same along the bottom edge."""
    xs = np.linspace(0.0, w - 1.0, segment + 1)
    return np.concatenate([np.stack([xs, np.zeros_like(xs)], 1), np.stack([xs, np.full_like(xs, h - 1.0)], 1)])


def tia_distort(img: np.ndarray, segment: int = 4) -> np.ndarray:
    """TIA distort: every edge point moves independently (corners only inwards), bending the text."""
    h, w = img.shape[:2]
    src = _edge_points(w, h, segment)
    limit_x = (w - 1) / segment / 3.0
    limit_y = (h - 1) / 4.0
    dst = src.copy()
    for index, (x, y) in enumerate(src):
        is_corner = x in (0.0, w - 1.0)
        if is_corner:
            dst[index, 0] += random.uniform(0, limit_x) * (1 if x == 0 else -1)
            dst[index, 1] += random.uniform(0, limit_y) * (1 if y == 0 else -1)
        else:
            dst[index, 0] += random.uniform(-limit_x, limit_x) / 2
            dst[index, 1] += random.uniform(-limit_y, limit_y) / 2
    return tps_warp(img, src, dst)


def tia_stretch(img: np.ndarray, segment: int = 4) -> np.ndarray:
    """TIA stretch: inner columns of edge points slide sideways together, widening some glyphs."""
    h, w = img.shape[:2]
    src = _edge_points(w, h, segment)
    limit = 0.4 * (w - 1) / segment
    dst = src.copy()
    for column in range(1, segment):
        shift = random.uniform(-limit, limit)
        dst[column, 0] += shift
        dst[segment + 1 + column, 0] += shift
    return tps_warp(img, src, dst)


def _warp_corners(img: np.ndarray, corners: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    matrix = cv2.getPerspectiveTransform(src, np.float32(corners))
    return cv2.warpPerspective(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def tia_perspective(img: np.ndarray) -> np.ndarray:
    """TIA perspective: the left and right edges shrink vertically by random amounts (up to half)."""
    h, w = img.shape[:2]
    limit = (h - 1) / 2.0
    top_left, top_right, bottom_right, bottom_left = (random.uniform(0, limit) for _ in range(4))
    corners = [[0, top_left], [w - 1, top_right], [w - 1, h - 1 - bottom_right], [0, h - 1 - bottom_left]]
    return _warp_corners(img, np.array(corners))


def random_perspective(img: np.ndarray, max_shift: float = 0.15) -> np.ndarray:
    """BDA perspective: each corner moves up to `max_shift` of the short side in any direction."""
    h, w = img.shape[:2]
    limit = max_shift * min(h, w)
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)
    corners += np.array([[random.uniform(-limit, limit) for _ in range(2)] for _ in range(4)])
    return _warp_corners(img, corners)


def crop_rows(img: np.ndarray) -> np.ndarray:
    """Cut up to a quarter (at most 8 rows) off the top or bottom, then scale back to the same size."""
    h, w = img.shape[:2]
    rows = random.randint(1, max(1, min(8, h // 4)))
    kept = img[rows:] if random.random() < 0.5 else img[: h - rows]
    return cv2.resize(kept, (w, h), interpolation=cv2.INTER_LINEAR)


def _random_sign() -> int:
    return 1 if random.random() < 0.5 else -1


def hsv_jitter(img: np.ndarray) -> np.ndarray:
    """Colour jitter in HSV: hue shift, saturation and brightness scaling (brightness only for gray)."""
    value_gain = 1.0 + _random_sign() * random.uniform(0.1, 0.3)
    if img.ndim == 2:
        return np.clip(img.astype(np.float32) * value_gain, 0, 255).round().astype(np.uint8)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[:, :, 0] = (hsv[:, :, 0] + _random_sign() * random.randint(2, 10)) % 180
    hsv[:, :, 1] *= 1.0 + _random_sign() * random.uniform(0.1, 0.3)
    hsv[:, :, 2] *= value_gain
    hsv = np.clip(hsv, 0, 255).round().astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def shift_jitter(img: np.ndarray) -> np.ndarray:
    """Camera-shake blur: average of copies shifted 0..s pixels along a random diagonal."""
    h, w = img.shape[:2]
    steps = random.randint(1, max(1, min(h, w) // 10))
    dx, dy = _random_sign(), _random_sign()
    total = img.astype(np.float32)
    for step in range(1, steps + 1):
        shift = np.float32([[1, 0, dx * step], [0, 1, dy * step]])
        total += cv2.warpAffine(img, shift, (w, h), borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    return np.round(total / (steps + 1)).astype(np.uint8)


def gaussian_noise(img: np.ndarray) -> np.ndarray:
    sigma = random.uniform(2.0, 10.0)
    noisy = img.astype(np.float32) + np.random.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).round().astype(np.uint8)


@OPERATORS.register()
class RecAug:
    """PP-OCR's recognition augmentation; each step runs with its own probability.

    With probability `aug_prob` a geometric step runs: TIA (distort, stretch, perspective) when
    `use_tia`, otherwise BDA's milder random perspective. Then crop, blur, HSV colour jitter,
    shift jitter, noise and colour reversal follow, each gated by its `*_prob`. The output keeps the
    input's shape and dtype (uint8 HxW, HxWx1 or HxWx3); images with a side under 10 px skip the
    geometric steps (warps and crop).
    """

    def __init__(self, use_tia: bool = True, aug_prob: float = 0.4, crop_prob: float = 0.4,
                 reverse_prob: float = 0.4, noise_prob: float = 0.4, jitter_prob: float = 0.4,
                 blur_prob: float = 0.4, hsv_aug_prob: float = 0.4, tia_prob: Optional[float] = None):
        if tia_prob is not None:  # the name PaddleOCR >= 2.6 configs use for aug_prob
            aug_prob = tia_prob
        probs = dict(aug_prob=aug_prob, crop_prob=crop_prob, reverse_prob=reverse_prob, noise_prob=noise_prob,
                     jitter_prob=jitter_prob, blur_prob=blur_prob, hsv_aug_prob=hsv_aug_prob)
        for name, value in probs.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"RecAug.{name} must be within [0, 1], got {value}")
        self.use_tia = use_tia
        self.aug_prob = aug_prob
        self.crop_prob = crop_prob
        self.reverse_prob = reverse_prob
        self.noise_prob = noise_prob
        self.jitter_prob = jitter_prob
        self.blur_prob = blur_prob
        self.hsv_aug_prob = hsv_aug_prob

    def _geometric(self, img: np.ndarray) -> np.ndarray:
        if not self.use_tia:
            return random_perspective(img)
        img = tia_distort(img, random.randint(3, 6))
        img = tia_stretch(img, random.randint(3, 6))
        return tia_perspective(img)

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        img = data["image"]
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.size == 0:
            raise ValueError(f"RecAug expects a non-empty uint8 image, got "
                             f"{getattr(img, 'dtype', type(img).__name__)} with shape {getattr(img, 'shape', None)}")
        single_channel = img.ndim == 3 and img.shape[2] == 1
        if single_channel:
            img = img[:, :, 0]
        if img.ndim != 2 and not (img.ndim == 3 and img.shape[2] == 3):
            raise ValueError(f"RecAug expects an HxW, HxWx1 or HxWx3 image, got shape {img.shape}")
        can_warp = min(img.shape[:2]) >= MIN_WARP_SIDE
        if random.random() < self.aug_prob and can_warp:
            img = self._geometric(img)
        if random.random() < self.crop_prob and can_warp:
            img = crop_rows(img)
        if random.random() < self.blur_prob:
            img = cv2.GaussianBlur(img, (5, 5), 1)
        if random.random() < self.hsv_aug_prob:
            img = hsv_jitter(img)
        if random.random() < self.jitter_prob:
            img = shift_jitter(img)
        if random.random() < self.noise_prob:
            img = gaussian_noise(img)
        if random.random() < self.reverse_prob:
            img = 255 - img
        data["image"] = img[:, :, None] if single_channel else img
        return data


@OPERATORS.register()
class BaseDataAugmentation(RecAug):
    """PaddleOCR's BDA on its own (row crop, blur, HSV jitter, shift jitter, noise, reversal): `RecAug`
    without the geometric step. PaddleOCR's cls_mv3 recipe augments its direction-classifier crops with it."""

    def __init__(self, crop_prob: float = 0.4, reverse_prob: float = 0.4, noise_prob: float = 0.4,
                 jitter_prob: float = 0.4, blur_prob: float = 0.4, hsv_aug_prob: float = 0.4):
        super().__init__(use_tia=False, aug_prob=0.0, crop_prob=crop_prob, reverse_prob=reverse_prob,
                         noise_prob=noise_prob, jitter_prob=jitter_prob, blur_prob=blur_prob,
                         hsv_aug_prob=hsv_aug_prob)
