"""CopyPaste (PP-OCRv2 detection): text instances cut out of another training image and pasted where the
main image has no text, so every page carries more positives, each on a background it was not drawn on.

The dataset supplies the other image: an operator with ``ext_data_num`` receives that many extra samples
in ``data["ext_data"]``, already decoded and label-encoded (the dataset's ``ext_op_transform_idx``).
Scale, flip and rotation jitter come from the operators that follow (IaaAugment, EastRandomCropData).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np
import shapely
from shapely.geometry import Polygon

from ppocr.data.imaug.det_label_ops import pad_polygons
from ppocr.utils.registry import OPERATORS, ConfigError

logger = logging.getLogger(__name__)

# Random positions tried per object before it is left out.
PLACEMENT_TRIES = 50
# With limit_paste, an object may span at most this fraction of the main image's width and height,
# so it still fits between the text already there.
MAX_PASTE_FRACTION = 0.5
# Alpha rises from 0 at the polygon's edge to 1 this many pixels inside: no hard seam, the text is untouched.
FEATHER_PX = 2.0
# Crops smaller than this (pixels per side) carry no readable text.
MIN_SIDE = 2
REQUIRED_KEYS = ("image", "polys", "ignore_tags", "texts")


class TextPatch:
    """One text instance cut from an image: its pixels, blending alpha and polygon relative to the patch."""

    def __init__(self, pixels: np.ndarray, polygon: np.ndarray, text: str):
        self.pixels = pixels
        self.polygon = polygon.astype(np.float32)
        self.text = text
        self.alpha = feathered_alpha(polygon, pixels.shape[:2])

    @property
    def size(self) -> Tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]

    def resized(self, width: int, height: int) -> "TextPatch":
        scale = np.array([width / self.size[0], height / self.size[1]], dtype=np.float32)
        pixels = cv2.resize(self.pixels, (width, height), interpolation=cv2.INTER_AREA)
        return TextPatch(pixels, self.polygon * scale, self.text)


def feathered_alpha(polygon: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Float alpha (height × width): 0 outside ``polygon``, ramping to 1 at FEATHER_PX inside."""
    height, width = shape
    # one pixel of zeros around the patch, so a polygon touching the patch border still fades there
    mask = np.zeros((height + 2, width + 2), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(polygon + 1).astype(np.int32)], 1)
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)[1:-1, 1:-1]
    return np.clip(distance / FEATHER_PX, 0.0, 1.0).astype(np.float32)


def cut_patch(image: np.ndarray, polygon: np.ndarray, text: str) -> Optional[TextPatch]:
    """The polygon's bounding box of ``image`` with the polygon's alpha; None when it is (nearly) empty."""
    height, width = image.shape[:2]
    points = np.clip(polygon, 0, [width, height]).astype(np.float32)
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    if x1 - x0 < MIN_SIDE or y1 - y0 < MIN_SIDE or cv2.contourArea(points.reshape(-1, 1, 2)) < 1.0:
        return None
    patch = TextPatch(image[y0:y1, x0:x1].copy(), points - (x0, y0), text)
    return patch if patch.alpha.any() else None


def as_geometry(polygon: np.ndarray):
    """A valid shapely geometry for a label polygon (self-intersecting labels are repaired)."""
    return shapely.make_valid(Polygon(polygon))


def blend(image: np.ndarray, patch: TextPatch, x: int, y: int) -> None:
    """Alpha-blend ``patch`` into ``image`` in place with its top-left corner at (x, y)."""
    width, height = patch.size
    region = image[y:y + height, x:x + width]
    alpha = patch.alpha if image.ndim == 2 else patch.alpha[..., None]
    mixed = patch.pixels.astype(np.float32) * alpha + region.astype(np.float32) * (1.0 - alpha)
    if image.dtype == np.uint8:
        mixed = np.clip(np.round(mixed), 0, 255)
    region[...] = mixed.astype(image.dtype)


def _check_item(item: Dict[str, Any], what: str) -> None:
    missing = [key for key in REQUIRED_KEYS if key not in item]
    if missing:
        hint = ("raise the dataset's ext_op_transform_idx so DecodeImage and DetLabelEncode run on it"
                if what == "ext_data sample" else "put CopyPaste after DecodeImage and DetLabelEncode")
        raise ValueError(f"CopyPaste: the {what} has no {', '.join(missing)}; {hint}")
    if not isinstance(item["image"], np.ndarray) or item["image"].ndim not in (2, 3):
        raise ValueError(f"CopyPaste: the {what}'s image must be a decoded H×W or H×W×C array")


@OPERATORS.register()
class CopyPaste:
    """Paste ``objects_paste_ratio`` × (text instances of the extra sample), at least one, onto the image.

    Each object is its polygon cut from the extra image (bounding box + feathered polygon alpha),
    placed at a random position where its polygon touches no box of the image (ignored ones included)
    nor an object pasted before; after PLACEMENT_TRIES failed positions it is left out. With
    ``limit_paste`` an object wider or taller than MAX_PASTE_FRACTION of the image is scaled down to
    fit; without it, an object that does not fit in the image is left out. Pasted boxes are appended
    to ``polys`` (re-padded to one point count), ``texts`` and ``ignore_tags`` (not ignored). Without
    ``ext_data`` (or without text in it) the item passes unchanged. Randomness comes from ``np.random``.
    """

    ext_data_num = 1

    def __init__(self, objects_paste_ratio: float = 0.2, limit_paste: bool = True):
        if not 0.0 < objects_paste_ratio <= 1.0:
            raise ConfigError(f"objects_paste_ratio must be in (0, 1] (fraction of the other image's text "
                              f"instances to paste), got {objects_paste_ratio!r}", "CopyPaste")
        self.objects_paste_ratio = float(objects_paste_ratio)
        self.limit_paste = bool(limit_paste)

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        ext_items = data.get("ext_data") or []
        if not ext_items:
            return data
        _check_item(data, "item")
        source = ext_items[0]
        _check_item(source, "ext_data sample")
        image = data["image"]
        if image.shape[2:] != source["image"].shape[2:]:
            raise ValueError(f"CopyPaste: image has shape {image.shape} but the ext_data image {source['image'].shape};"
                             f" both must have the same channels (same DecodeImage)")
        patches = self.pick_patches(source)
        if not patches:
            return data

        image = image.copy()
        polygons = [np.asarray(p, dtype=np.float32) for p in data["polys"]]
        occupied = [as_geometry(p) for p in polygons]
        texts = list(data["texts"])
        pasted = 0
        for patch in patches:
            patch = self.fit(patch, image.shape[1], image.shape[0])
            if patch is None:
                continue
            spot = self.find_spot(patch, image.shape[1], image.shape[0], occupied)
            if spot is None:
                continue
            x, y = spot
            blend(image, patch, x, y)
            polygon = patch.polygon + np.array([x, y], dtype=np.float32)
            polygons.append(polygon)
            occupied.append(as_geometry(polygon))
            texts.append(patch.text)
            pasted += 1
        if pasted < len(patches):
            logger.debug("CopyPaste placed %d of %d objects from %s", pasted, len(patches), source.get("img_path"))
        data["image"] = image
        data["polys"] = pad_polygons(polygons)
        data["texts"] = texts
        data["ignore_tags"] = np.concatenate([np.asarray(data["ignore_tags"], dtype=bool),
                                              np.zeros(pasted, dtype=bool)])
        return data

    def pick_patches(self, source: Dict[str, Any]) -> List[TextPatch]:
        """A random subset of the source's non-ignored text instances, in random order."""
        texts = [i for i, ignored in enumerate(source["ignore_tags"]) if not ignored]
        if not texts:
            return []
        count = min(len(texts), max(1, int(self.objects_paste_ratio * len(texts))))
        patches = (cut_patch(source["image"], np.asarray(source["polys"][i], dtype=np.float32), source["texts"][i])
                   for i in np.random.choice(texts, size=count, replace=False))
        return [patch for patch in patches if patch is not None]

    def fit(self, patch: TextPatch, width: int, height: int) -> Optional[TextPatch]:
        """The patch, scaled down under limit_paste; None when it cannot go into a width × height image."""
        patch_w, patch_h = patch.size
        if self.limit_paste:
            scale = min(1.0, MAX_PASTE_FRACTION * width / patch_w, MAX_PASTE_FRACTION * height / patch_h)
            if scale < 1.0:
                new_w, new_h = int(patch_w * scale), int(patch_h * scale)
                if new_w < MIN_SIDE or new_h < MIN_SIDE:
                    return None
                patch = patch.resized(new_w, new_h)
        if patch.size[0] > width or patch.size[1] > height or not patch.alpha.any():
            return None
        return patch

    @staticmethod
    def find_spot(patch: TextPatch, width: int, height: int, occupied: list) -> Optional[Tuple[int, int]]:
        """A random top-left corner where the patch lies inside the image and its polygon meets no
        occupied geometry, or None after PLACEMENT_TRIES tries."""
        patch_w, patch_h = patch.size
        for _ in range(PLACEMENT_TRIES):
            x = int(np.random.randint(0, width - patch_w + 1))
            y = int(np.random.randint(0, height - patch_h + 1))
            candidate = as_geometry(patch.polygon + np.array([x, y], dtype=np.float32))
            if not any(candidate.intersects(other) for other in occupied):
                return x, y
        return None
