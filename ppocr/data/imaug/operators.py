"""Generic operators: decode image bytes, normalise, reorder to CHW, and pick the batch keys.

`decode_image_bytes` is the one place that turns encoded bytes into a uint8 image; training
(`DecodeImage`) and inference share it so both see the same pixels for the same file.
"""
from __future__ import annotations

import io
import logging
from typing import Any, Dict, List, Optional, Union

import cv2
import numpy as np
from PIL import Image

from ppocr.utils.registry import OPERATORS

logger = logging.getLogger(__name__)

IMG_MODES = ("BGR", "RGB", "GRAY")
_EXIF_ORIENTATION = 0x0112
# Byte patterns that can carry an EXIF orientation; files without them skip the metadata parse.
_EXIF_MARKERS = (b"Exif", b"EXIF", b"eXIf")
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*")


def _as_byte_array(buf: Any) -> np.ndarray:
    if isinstance(buf, np.ndarray):
        if buf.dtype != np.uint8 or buf.ndim != 1:
            raise TypeError(f"image bytes as an array must be 1-D uint8, got {buf.dtype} with shape {buf.shape}")
        return buf
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise TypeError(f"image must be encoded bytes, got {type(buf).__name__}")
    return np.frombuffer(buf, dtype=np.uint8)


def _decode_with_pil(raw: bytes) -> Optional[np.ndarray]:
    """First frame of formats cv2 cannot read (TGA, ICO, PCX, ...), as BGR/BGRA/gray/gray+alpha."""
    try:
        with Image.open(io.BytesIO(raw)) as pil_img:
            pil_img.seek(0)
            pil_img.load()
            if pil_img.mode in ("L", "LA", "F"):
                return np.asarray(pil_img)
            if pil_img.mode.startswith("I;16"):
                return np.asarray(pil_img).astype(np.uint16)
            if pil_img.mode == "I":
                return np.clip(np.asarray(pil_img), 0, 65535).astype(np.uint16)
            has_alpha = "A" in pil_img.getbands() or "transparency" in pil_img.info
            rgb = np.asarray(pil_img.convert("RGBA" if has_alpha else "RGB"))
    except Exception as err:  # PIL raises many types for bad data; all mean "not an image we can read"
        logger.debug("PIL could not decode %d bytes: %s", len(raw), err)
        return None
    return cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA if rgb.shape[2] == 4 else cv2.COLOR_RGB2BGR)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    """Scale any sample depth to 0..255 (16-bit by 255/65535, floats from 0..1 unless they exceed 1)."""
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * 255
    if np.issubdtype(img.dtype, np.floating):
        values = np.nan_to_num(img.astype(np.float32))
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        return np.round(np.clip(values, 0, 255)).astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer):
        return np.clip(img, 0, 255).astype(np.uint8)
    raise ValueError(f"unsupported image sample type {img.dtype}")


def _composite_on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Blend over a white background: transparent text crops are usually dark text on nothing."""
    weight = alpha.astype(np.float32)[..., None] / 255.0
    if color.ndim == 2:
        weight = weight[..., 0]
    blended = color.astype(np.float32) * weight + 255.0 * (1.0 - weight)
    return np.round(blended).astype(np.uint8)


def _to_bgr_or_gray(img: np.ndarray) -> np.ndarray:
    """Reduce any channel layout to uint8 BGR (HxWx3) or gray (HxW), alpha composited on white."""
    img = _to_uint8(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return img
    if img.ndim != 3:
        raise ValueError(f"decoded image has unsupported shape {img.shape}")
    channels = img.shape[2]
    if channels == 2:
        return _composite_on_white(img[:, :, 0], img[:, :, 1])
    if channels == 3:
        return img
    if channels == 4:
        return _composite_on_white(img[:, :, :3], img[:, :, 3])
    raise ValueError(f"decoded image has {channels} channels; expected 1, 2, 3 or 4")


def _exif_orientation(raw: bytes) -> int:
    if not raw.startswith(_TIFF_MAGICS) and not any(marker in raw for marker in _EXIF_MARKERS):
        return 1
    try:
        with Image.open(io.BytesIO(raw)) as pil_img:
            return int(pil_img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception as err:  # broken metadata must not cost us an otherwise readable image
        logger.debug("ignoring unreadable EXIF data: %s", err)
        return 1


def apply_exif_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn the stored pixels into the upright view the EXIF orientation tag (1..8) describes."""
    if orientation == 2:
        return img[:, ::-1]
    if orientation == 3:
        return img[::-1, ::-1]
    if orientation == 4:
        return img[::-1]
    if orientation == 5:
        return np.swapaxes(img, 0, 1)
    if orientation == 6:
        return np.rot90(img, k=-1)
    if orientation == 7:
        return np.rot90(img, k=-1)[::-1]
    if orientation == 8:
        return np.rot90(img, k=1)
    return img


def decode_image_bytes(buf: Union[bytes, bytearray, memoryview, np.ndarray], img_mode: str = "BGR",
                       ignore_orientation: bool = False) -> np.ndarray:
    """Decode an encoded image to uint8: HxWx3 for BGR/RGB, HxW for GRAY.

    Handles gray, palette, gray+alpha and RGBA (alpha composited on white), 16-bit and float
    images (scaled, not truncated), CMYK JPEG (cv2 converts it) and the first frame of GIFs;
    formats cv2 cannot read go through PIL. Raises ValueError for empty or undecodable bytes.
    """
    if img_mode not in IMG_MODES:
        raise ValueError(f"img_mode must be one of {', '.join(IMG_MODES)}, got {img_mode!r}")
    data = _as_byte_array(buf)
    if data.size == 0:
        raise ValueError("cannot decode image: the image bytes are empty")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        logger.debug("cv2 could not decode %d bytes: %s", data.size, err)
        img = None
    raw = data.tobytes()
    if img is None:
        img = _decode_with_pil(raw)
    if img is None or img.size == 0:
        raise ValueError(f"cannot decode image: {data.size} bytes starting with {raw[:8]!r} "
                         "are not a known image format")
    img = _to_bgr_or_gray(img)
    if not ignore_orientation:
        img = apply_exif_orientation(img, _exif_orientation(raw))
    if img_mode == "GRAY":
        img = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    else:
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if img_mode == "RGB":
            img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


@OPERATORS.register()
class DecodeImage:
    """`image` bytes → uint8 array (HxWx3 BGR/RGB, HxW for GRAY; CxHxW / 1xHxW with channel_first)."""

    def __init__(self, img_mode: str = "BGR", channel_first: bool = False, ignore_orientation: bool = False):
        if img_mode not in IMG_MODES:
            raise ValueError(f"DecodeImage.img_mode must be one of {', '.join(IMG_MODES)}, got {img_mode!r}")
        self.img_mode = img_mode
        self.channel_first = channel_first
        self.ignore_orientation = ignore_orientation

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        img = decode_image_bytes(data["image"], self.img_mode, self.ignore_orientation)
        if self.channel_first:
            img = img[None] if img.ndim == 2 else np.ascontiguousarray(img.transpose((2, 0, 1)))
        data["image"] = img
        return data


def _parse_scale(scale: Union[float, str, None]) -> float:
    """Accept PaddleOCR's written-out fractions such as "1./255." without evaluating code."""
    if scale is None:
        return 1.0 / 255.0
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        return float(scale)
    if isinstance(scale, str):
        parts = scale.replace(" ", "").split("/")
        try:
            if len(parts) == 1:
                return float(parts[0])
            if len(parts) == 2:
                return float(parts[0]) / float(parts[1])
        except (ValueError, ZeroDivisionError):
            pass
    raise ValueError(f"NormalizeImage.scale must be a number or a fraction like '1./255.', got {scale!r}")


@OPERATORS.register()
class NormalizeImage:
    """(image * scale - mean) / std as float32; `order` says whether the image is HWC or CHW."""

    def __init__(self, scale: Union[float, str, None] = None, mean: Optional[list] = None,
                 std: Optional[list] = None, order: str = "chw"):
        if order not in ("chw", "hwc"):
            raise ValueError(f"NormalizeImage.order must be 'chw' or 'hwc', got {order!r}")
        mean = [0.485, 0.456, 0.406] if mean is None else mean
        std = [0.229, 0.224, 0.225] if std is None else std
        if len(mean) != len(std):
            raise ValueError(f"NormalizeImage.mean and std need the same length, got {len(mean)} and {len(std)}")
        if any(float(s) == 0.0 for s in std):
            raise ValueError(f"NormalizeImage.std must not contain zeros, got {std}")
        self.scale = np.float32(_parse_scale(scale))
        self.order = order
        shape = (-1, 1, 1) if order == "chw" else (1, 1, -1)
        self.mean = np.asarray(mean, dtype=np.float32).reshape(shape)
        self.std = np.asarray(std, dtype=np.float32).reshape(shape)

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        img = np.asarray(data["image"])
        channel_axis = 0 if self.order == "chw" else -1
        if img.ndim != 3 or img.shape[channel_axis] != self.mean.size:
            raise ValueError(f"NormalizeImage(order={self.order!r}) expects an image with {self.mean.size} "
                             f"channels in that layout, got shape {img.shape}")
        data["image"] = ((img.astype(np.float32) * self.scale - self.mean) / self.std).astype(np.float32)
        return data


@OPERATORS.register()
class ToCHWImage:
    """HxWxC → CxHxW (a 2-D gray image becomes 1xHxW)."""

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        img = np.asarray(data["image"])
        if img.ndim == 2:
            data["image"] = img[None]
        elif img.ndim == 3:
            data["image"] = np.ascontiguousarray(img.transpose((2, 0, 1)))
        else:
            raise ValueError(f"ToCHWImage expects an HxW or HxWxC image, got shape {img.shape}")
        return data


@OPERATORS.register()
class KeepKeys:
    """Turn the item dict into the list the loader batches, in `keep_keys` order."""

    def __init__(self, keep_keys: list):
        if not keep_keys:
            raise ValueError("KeepKeys.keep_keys must name at least one key")
        self.keep_keys = list(keep_keys)

    def __call__(self, data: Dict[str, Any]) -> List[Any]:
        missing = [key for key in self.keep_keys if key not in data]
        if missing:
            present = ", ".join(sorted(data))
            raise KeyError(f"KeepKeys: key '{missing[0]}' is not in the item; present keys: {present}")
        return [data[key] for key in self.keep_keys]
