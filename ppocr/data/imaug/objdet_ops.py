"""Object detection operators: decode the box label, flip, scale-jitter + crop, resize and pad to the model size.

Boxes are ``x1y1x2y2`` float32 in the current image's pixels; ``shape`` is ``[src_h, src_w, scale_y, scale_x]``
(source size and the factor from source to model pixels), which the postprocess divides detections by.
"""
from __future__ import annotations

import json
import random
from typing import Any, Dict, List, Union

import cv2
import numpy as np

from ppocr.utils.registry import OPERATORS, ConfigError

MIN_BOX_SIDE = 1.0  # boxes thinner than a pixel after a crop are dropped


def _positive_int(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"must be a positive integer, got {value!r}", key)
    return value


@OPERATORS.register()
class ObjDetLabelDecode:
    """``label`` (a COCO record dict, or its JSON text as LMDB shards store it) → ``gt_boxes``, ``gt_classes``,
    ``gt_crowd``, ``image_id``. ``skip_crowd`` drops crowd regions (TAO ``skip_crowd_during_training``);
    ``max_instances`` keeps the first N objects (TAO ``max_instances_per_image``)."""

    def __init__(self, skip_crowd: bool = False, max_instances: int = 100):
        self.skip_crowd = skip_crowd
        self.max_instances = _positive_int(max_instances, "ObjDetLabelDecode.max_instances")

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        label = data["label"]
        if isinstance(label, (str, bytes)):
            label = json.loads(label)
        boxes = np.asarray(label.get("boxes") or [], dtype=np.float32).reshape(-1, 4)
        classes = np.asarray(label.get("classes") or [], dtype=np.int64).reshape(-1)
        crowd = np.asarray(label.get("crowd") or np.zeros(len(classes)), dtype=np.int64).reshape(-1)
        if not len(boxes) == len(classes) == len(crowd):
            raise ValueError(f"label has {len(boxes)} boxes, {len(classes)} classes and {len(crowd)} crowd flags")
        if self.skip_crowd:
            keep = crowd == 0
            boxes, classes, crowd = boxes[keep], classes[keep], crowd[keep]
        image = data["image"]
        height, width = image.shape[:2]
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        data["gt_boxes"] = boxes[: self.max_instances]
        data["gt_classes"] = classes[: self.max_instances]
        data["gt_crowd"] = crowd[: self.max_instances]
        data["image_id"] = np.int64(label.get("image_id", 0))
        return data


@OPERATORS.register()
class ObjDetRandomHFlip:
    """Mirror the image and its boxes with probability ``prob`` (TAO ``rand_hflip``)."""

    def __init__(self, prob: float = 0.5):
        if not 0.0 <= prob <= 1.0:
            raise ConfigError(f"must be in [0, 1], got {prob}", "ObjDetRandomHFlip.prob")
        self.prob = prob

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        if random.random() >= self.prob:
            return data
        image = data["image"]
        width = image.shape[1]
        data["image"] = np.ascontiguousarray(image[:, ::-1])
        boxes = data["gt_boxes"].copy()
        boxes[:, [0, 2]] = width - data["gt_boxes"][:, [2, 0]]
        data["gt_boxes"] = boxes
        return data


@OPERATORS.register()
class ObjDetResizePad:
    """Scale the image to fit ``image_size`` ([height, width], multiples of 32 as TAO requires) keeping its
    aspect ratio, then pad bottom/right with ``pad_value``.

    With ``random_crop_min_scale`` < ``random_crop_max_scale`` (training), the fit target is first multiplied by
    a random factor in that range: above 1 the scaled image is randomly cropped back to ``image_size``, below 1
    it is padded more (TAO's random scale-crop). Boxes follow; those cropped away are dropped.
    """

    def __init__(self, image_size: Union[List[int], str], random_crop_min_scale: float = 1.0,
                 random_crop_max_scale: float = 1.0, pad_value: float = 0.0):
        self.height, self.width = parse_image_size(image_size, "ObjDetResizePad.image_size")
        if not 0 < random_crop_min_scale <= random_crop_max_scale:
            raise ConfigError(f"need 0 < random_crop_min_scale <= random_crop_max_scale, got "
                              f"{random_crop_min_scale} and {random_crop_max_scale}", "ObjDetResizePad")
        self.min_scale, self.max_scale = float(random_crop_min_scale), float(random_crop_max_scale)
        self.pad_value = pad_value

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        image = data["image"]
        src_h, src_w = image.shape[:2]
        jitter = random.uniform(self.min_scale, self.max_scale) if self.max_scale > self.min_scale else self.min_scale
        scale = min(self.height * jitter / src_h, self.width * jitter / src_w)
        new_h, new_w = max(1, int(round(src_h * scale))), max(1, int(round(src_w * scale)))
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        offset_y = random.randint(0, max(0, new_h - self.height))
        offset_x = random.randint(0, max(0, new_w - self.width))
        crop = resized[offset_y: offset_y + self.height, offset_x: offset_x + self.width]
        canvas = np.full((self.height, self.width) + image.shape[2:], self.pad_value, dtype=image.dtype)
        canvas[: crop.shape[0], : crop.shape[1]] = crop
        data["image"] = canvas
        # the factors actually applied (rounding makes them differ slightly from ``scale``)
        scale_y, scale_x = new_h / src_h, new_w / src_w
        if "gt_boxes" in data:
            boxes = data["gt_boxes"] * np.array([scale_x, scale_y, scale_x, scale_y], dtype=np.float32)
            boxes -= np.array([offset_x, offset_y, offset_x, offset_y], dtype=np.float32)
            limit = [crop.shape[1], crop.shape[0], crop.shape[1], crop.shape[0]]
            boxes = np.clip(boxes, 0, limit).astype(np.float32)
            keep = ((boxes[:, 2] - boxes[:, 0]) >= MIN_BOX_SIDE) & ((boxes[:, 3] - boxes[:, 1]) >= MIN_BOX_SIDE)
            if offset_x or offset_y or not keep.all():
                for key in ("gt_boxes", "gt_classes", "gt_crowd"):
                    if key in data:
                        data[key] = (boxes if key == "gt_boxes" else data[key])[keep]
            else:
                data["gt_boxes"] = boxes
        data["shape"] = np.array([src_h, src_w, scale_y, scale_x], dtype=np.float32)
        return data


def parse_image_size(value: Union[List[int], str, int], key: str = "image_size") -> List[int]:
    """``[h, w]``, a single side, or TAO's string forms ``"512,512"`` / ``"(512, 512)"`` → ``[h, w]``; sides must
    be multiples of 32 (at least 128)."""
    if isinstance(value, str):
        parts = [p for p in value.strip().strip("()[]").replace(" ", "").split(",") if p]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise ConfigError(f"must be 'height,width' like \"512,512\", got {value!r}", key) from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ConfigError(f"must be [height, width], got {value!r}", key)
    if any(v < 128 or v % 32 for v in value):
        raise ConfigError(f"sides must be multiples of 32 and at least 128, got {list(value)}", key)
    return [int(value[0]), int(value[1])]
