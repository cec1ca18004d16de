"""Direction-classifier input: the crop resized into a fixed [C, H, W] box."""
from __future__ import annotations

from typing import Any, Dict

from ppocr.data.imaug.rec_img_aug import resize_norm_img
from ppocr.utils.registry import OPERATORS, ConfigError


@OPERATORS.register()
class ClsResizeImg:
    """Height H, aspect ratio kept (width capped at W), [-1, 1], zero padding on the right.

    The shape is fixed (export uses it as the static input shape), so long lines are squeezed
    into W rather than widened as the recogniser does.
    """

    def __init__(self, image_shape: list):
        if len(image_shape) != 3 or any(int(v) < 1 for v in image_shape):
            raise ConfigError(f"must be [C, H, W] with positive sizes, got {image_shape}", "ClsResizeImg.image_shape")
        if int(image_shape[0]) not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {image_shape[0]}", "ClsResizeImg.image_shape")
        self.image_shape = [int(v) for v in image_shape]

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        data["image"], _ = resize_norm_img(data["image"], self.image_shape)
        return data
