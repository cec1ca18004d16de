"""Geometric augmentation of detection samples from PaddleOCR's imgaug-style YAML, run on albumentations.

PaddleOCR configs describe augmenters in imgaug terms (``Fliplr``, ``Affine``, ``Resize`` ...); imgaug is
unmaintained, so each entry is translated to the albumentations transform with the same meaning. Polygon
vertices travel as keypoints, so image and labels always move together. Coordinates follow the
pixel-centre convention of ``cv2.fillPoly``: integer coordinates are pixel centres.

albumentations is imported on first use: it takes seconds to import and inference never needs it.
"""
from __future__ import annotations

import os
from numbers import Number
from typing import Any, Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ppocr.utils.registry import OPERATORS, ConfigError

DEFAULT_AUGMENTERS: List[Dict[str, Any]] = [
    {"type": "Fliplr", "args": {"p": 0.5}},
    {"type": "Affine", "args": {"rotate": [-10, 10]}},
    {"type": "Resize", "args": {"size": [0.5, 3]}},
]

_WHERE = "IaaAugment.augmenter_args"

# an augmentation step: (image, polygon vertices K×2) -> (image, vertices)
Step = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]


def _albumentations():
    # without this albumentations asks PyPI for a newer version on every import
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations

    return albumentations


class _AlbumentationsStep:
    """One albumentations transform applied to an image and polygon vertices (as keypoints)."""

    def __init__(self, name: str, transform: Any):
        A = _albumentations()
        self.name = name
        self.pipeline = A.Compose(
            [transform],
            keypoint_params=A.KeypointParams(format="xy", remove_invisible=False, check_each_transform=False),
        )

    def __call__(self, image: np.ndarray, points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        # draw from np.random so data-loader workers (seeded per worker) and tests control the randomness
        self.pipeline.set_random_seed(int(np.random.randint(0, 2**31 - 1)))
        out = self.pipeline(image=image, keypoints=points)
        return out["image"], np.asarray(out["keypoints"], dtype=np.float32)[:, :2]


class _RescaleStep:
    """Scale both sides by one factor drawn uniformly from [low, high] (imgaug ``Resize`` with fractions).

    albumentations' RandomScale truncates the output size yet scales keypoints by the drawn factor;
    here vertices follow the exact size ratio, so labels stay on their pixels.
    """

    name = "Resize"

    def __init__(self, low: float, high: float):
        self.low, self.high = low, high

    def __call__(self, image: np.ndarray, points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        height, width = image.shape[:2]
        factor = np.random.uniform(self.low, self.high)
        new_h, new_w = max(1, int(round(height * factor))), max(1, int(round(width * factor)))
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        moved = points.astype(np.float32, copy=True)
        moved[:, 0] = (points[:, 0] + 0.5) * (new_w / width) - 0.5
        moved[:, 1] = (points[:, 1] + 0.5) * (new_h / height) - 0.5
        return resized, moved


def _as_range(value: Any, key: str, kind: str) -> Tuple[float, float]:
    """imgaug semantics: a number is fixed, a two-item list is a uniform range."""
    if isinstance(value, Number) and not isinstance(value, bool):
        return float(value), float(value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, Number) and not isinstance(v, bool) for v in value
    ):
        low, high = float(value[0]), float(value[1])
        if low > high:
            raise ConfigError(f"{kind}.{key} range must be [low, high], got {list(value)}", _WHERE)
        return low, high
    raise ConfigError(f"{kind}.{key} must be a number or a [low, high] list, got {value!r}", _WHERE)


def _as_axis_range(value: Any, key: str, kind: str) -> Any:
    """A range, or a dict {x: range, y: range} for per-axis values (imgaug style)."""
    if isinstance(value, dict):
        unknown = set(value) - {"x", "y"}
        if unknown or not value:
            raise ConfigError(f"{kind}.{key} as a mapping takes keys x and/or y, got {sorted(value)}", _WHERE)
        return {axis: _as_range(v, f"{key}.{axis}", kind) for axis, v in value.items()}
    return _as_range(value, key, kind)


def _probability(args: Dict[str, Any], kind: str) -> float:
    p = args.get("p", 1.0)
    if not isinstance(p, Number) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ConfigError(f"{kind}.p must be a probability in [0, 1], got {p!r}", _WHERE)
    return float(p)


def _fliplr(args: Dict[str, Any]) -> Step:
    return _AlbumentationsStep("Fliplr", _albumentations().HorizontalFlip(p=_probability(args, "Fliplr")))


def _flipud(args: Dict[str, Any]) -> Step:
    return _AlbumentationsStep("Flipud", _albumentations().VerticalFlip(p=_probability(args, "Flipud")))


def _affine(args: Dict[str, Any]) -> Step:
    kwargs: Dict[str, Any] = {}
    if "rotate" in args:
        kwargs["rotate"] = _as_range(args["rotate"], "rotate", "Affine")
    if "shear" in args:
        kwargs["shear"] = _as_axis_range(args["shear"], "shear", "Affine")
    if "scale" in args:
        scale = _as_axis_range(args["scale"], "scale", "Affine")
        kwargs["scale"] = scale
        # imgaug draws a single factor for both axes unless the axes are given separately
        kwargs["keep_ratio"] = not isinstance(scale, dict)
    if "translate_percent" in args and "translate_px" in args:
        raise ConfigError("Affine takes translate_percent or translate_px, not both", _WHERE)
    if "translate_percent" in args:
        kwargs["translate_percent"] = _as_axis_range(args["translate_percent"], "translate_percent", "Affine")
    if "translate_px" in args:
        kwargs["translate_px"] = _as_axis_range(args["translate_px"], "translate_px", "Affine")
    affine = _albumentations().Affine(**kwargs, border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0)
    return _AlbumentationsStep("Affine", affine)


def _resize(args: Dict[str, Any]) -> Step:
    if "size" not in args:
        raise ConfigError("Resize needs 'size': a scale factor or a [low, high] range of factors", _WHERE)
    low, high = _as_range(args["size"], "size", "Resize")
    if low <= 0:
        raise ConfigError(f"Resize.size factors must be > 0, got {args['size']!r}", _WHERE)
    return _RescaleStep(low, high)


# type -> (builder, accepted args)
_AUGMENTERS: Dict[str, Tuple[Callable[[Dict[str, Any]], Step], Tuple[str, ...]]] = {
    "Fliplr": (_fliplr, ("p",)),
    "Flipud": (_flipud, ("p",)),
    "Affine": (_affine, ("rotate", "scale", "shear", "translate_percent", "translate_px")),
    "Resize": (_resize, ("size",)),
}


def build_augmenter(spec: Any) -> Step:
    """One ``{'type': Name, 'args': {...}}`` entry as a step ``(image, points) -> (image, points)``."""
    if not isinstance(spec, dict) or "type" not in spec or set(spec) - {"type", "args"}:
        raise ConfigError(f"each augmenter must be {{type: Name, args: {{...}}}}, got {spec!r}", _WHERE)
    kind = spec["type"]
    if kind not in _AUGMENTERS:
        raise ConfigError(
            f"unknown augmenter type {kind!r}; supported: {', '.join(sorted(_AUGMENTERS))}", _WHERE
        )
    args = spec.get("args") or {}
    if not isinstance(args, dict):
        raise ConfigError(f"args of {kind} must be a mapping, got {args!r}", _WHERE)
    builder, accepted = _AUGMENTERS[kind]
    unknown = sorted(set(args) - set(accepted))
    if unknown:
        raise ConfigError(f"{kind} does not take {', '.join(unknown)}; accepted: {', '.join(accepted)}", _WHERE)
    try:
        return builder(args)
    except ConfigError:
        raise
    except ValueError as exc:  # albumentations validates its arguments with pydantic
        raise ConfigError(f"invalid args for {kind}: {' '.join(str(exc).split())}", _WHERE) from exc


@OPERATORS.register()
class IaaAugment:
    """Random flips, rotation and rescaling of ``image`` with ``polys`` moved alongside.

    Vertices leaving the image are kept where the geometry puts them; cropping decides what survives.
    Randomness comes from ``np.random``.
    """

    def __init__(self, augmenter_args: Optional[list] = None):
        specs = DEFAULT_AUGMENTERS if augmenter_args is None else augmenter_args
        if not isinstance(specs, (list, tuple)):
            raise ConfigError(f"must be a list of augmenters, got {specs!r}", _WHERE)
        self.steps = [build_augmenter(spec) for spec in specs]

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        image = data["image"]
        polys = np.asarray(data.get("polys", np.zeros((0, 4, 2))), dtype=np.float32)
        points = polys.reshape(-1, 2)
        for step in self.steps:
            image, points = step(image, points)
        data["image"] = image
        data["polys"] = points.reshape(polys.shape)
        return data
