"""DB text detector: BGR image → text boxes in source pixels.

Preprocess as PaddleOCR's DB inference: resize so sides are multiples of 32 (``det_limit_side_len`` /
``det_limit_type``), ``(img / 255 - mean) / std`` with ImageNet statistics on the BGR pixels as decoded,
CHW. An exported model's ``inference.yml`` (DetResizeForTest, NormalizeImage, DBPostProcess) supplies
the defaults; options set explicitly override them (see :mod:`ppocr.infer.model_meta`).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ppocr.data.imaug.det_resize import resize_for_det
from ppocr.data.imaug.operators import NormalizeImage
from ppocr.infer.backends import Backend, create_backend
from ppocr.infer.int8 import model_for
from ppocr.infer.model_meta import explicitly_set, pick, postprocess_args, transform_args
from ppocr.infer.options import InferOptions
from ppocr.infer.presets import default_model_paths
from ppocr.infer.preprocess import as_bgr, normalize_to_chw
from ppocr.postprocess.db_postprocess import boxes_from_prob_map, check_modes, order_points_clockwise

logger = logging.getLogger(__name__)

# boxes with a side of this many pixels or less after clipping hold no readable text
MIN_BOX_SIDE = 3
# DBPostProcess keys in inference.yml → InferOptions fields that override them
_POST_OPTIONS = {"thresh": "det_db_thresh", "box_thresh": "det_db_box_thresh",
                 "unclip_ratio": "det_db_unclip_ratio", "use_dilation": "use_dilation",
                 "score_mode": "det_db_score_mode", "box_type": "det_box_type"}

Boxes = Union[np.ndarray, List[np.ndarray]]


class TextDetector:
    """``TextDetector(options)(img_bgr) -> (boxes, elapsed_s)``.

    ``boxes`` is a K×4×2 float32 array of clockwise quads (top-left first), or with
    ``det_box_type="poly"`` a list of M×2 float32 polygons; an image without text gives K = 0.
    """

    def __init__(self, options: Optional[InferOptions] = None, backend: Optional[Backend] = None):
        self.options = options = options or InferOptions()
        if options.det_algorithm != "DB":
            raise ValueError(f"det_algorithm {options.det_algorithm!r} is not supported; only 'DB' is")
        if backend is None:
            model = (model_for("det", options) or options.det_model_dir
                     or default_model_paths(options.ocr_version)["det"])
            backend = create_backend(model, options, role="det")
        else:
            backend.check_role("det")
        self.backend = backend
        meta = backend.metadata
        self.resize_args = resize_args(options, transform_args(meta, "DetResizeForTest"))
        norm = transform_args(meta, "NormalizeImage")
        normalizer = NormalizeImage(scale=norm.get("scale"), mean=norm.get("mean"), std=norm.get("std"))
        self.mean = tuple(float(v) for v in normalizer.mean.ravel())
        self.std = tuple(float(v) for v in normalizer.std.ravel())
        self.scale = float(normalizer.scale)
        post = postprocess_args(meta)
        self.post_args: Dict[str, Any] = {key: pick(options, field, post.get(key))
                                          for key, field in _POST_OPTIONS.items()}
        self.post_args["max_candidates"] = int(post.get("max_candidates", 1000))
        check_modes(self.post_args["score_mode"], self.post_args["box_type"])
        logger.debug("TextDetector on %s: resize %s, postprocess %s", backend, self.resize_args, self.post_args)

    def preprocess(self, img: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Model input 1×3×H'×W' and ``[src_h, src_w, ratio_h, ratio_w]``."""
        resized, (ratio_h, ratio_w) = resize_for_det(img, **self.resize_args)
        shape = np.array([img.shape[0], img.shape[1], ratio_h, ratio_w], dtype=np.float32)
        return normalize_to_chw(resized, self.mean, self.std, self.scale), shape

    def postprocess(self, prob_map: np.ndarray, shape: np.ndarray) -> Boxes:
        boxes, _ = boxes_from_prob_map(prob_map, shape, **self.post_args)
        height, width = int(shape[0]), int(shape[1])
        if self.post_args["box_type"] == "poly":
            return [np.asarray(poly, dtype=np.float32) for poly in boxes]
        return filter_quads(boxes, height, width)

    def probability_map(self, img: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """The model's H'×W' text probability map and ``[src_h, src_w, ratio_h, ratio_w]``: what ``postprocess``
        turns into boxes, so one map can be post-processed under several settings."""
        if img is None or np.asarray(img).size == 0:
            raise ValueError(f"image to detect on is empty (shape {getattr(img, 'shape', None)})")
        batch, shape = self.preprocess(as_bgr(img, "image to detect on"))
        maps = self.backend.run(batch)[0]
        return maps.reshape(maps.shape[-2:]), shape

    def __call__(self, img: np.ndarray) -> Tuple[Boxes, float]:
        start = time.perf_counter()
        boxes = self.postprocess(*self.probability_map(img))
        return boxes, time.perf_counter() - start


def resize_args(options: InferOptions, recorded: Dict[str, Any]) -> Dict[str, Any]:
    """The model's DetResizeForTest arguments with explicit det_limit_side_len / det_limit_type on top.

    An explicit limit replaces a recorded fixed ``image_shape`` / ``resize_long`` mode; with nothing
    recorded the options' limit mode applies (PaddleOCR's 960 / "max").
    """
    args = dict(recorded)
    explicit = {key: explicitly_set(options, field)
                for key, field in (("limit_side_len", "det_limit_side_len"), ("limit_type", "det_limit_type"))}
    if any(explicit.values()):
        args.pop("image_shape", None)
        args.pop("resize_long", None)
    other_mode = "image_shape" in args or "resize_long" in args
    for key, field in (("limit_side_len", "det_limit_side_len"), ("limit_type", "det_limit_type")):
        if explicit[key] or (key not in args and not other_mode):
            args[key] = getattr(options, field)
    return args


def filter_quads(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Clockwise order, clip to the image, drop boxes with a side of ``MIN_BOX_SIDE`` px or less."""
    if len(boxes) == 0:
        return np.zeros((0, 4, 2), dtype=np.float32)
    quads = np.stack([order_points_clockwise(box) for box in np.asarray(boxes, dtype=np.float32)])
    np.clip(quads[:, :, 0], 0, width - 1, out=quads[:, :, 0])
    np.clip(quads[:, :, 1], 0, height - 1, out=quads[:, :, 1])
    box_w = np.linalg.norm(quads[:, 0] - quads[:, 1], axis=1)
    box_h = np.linalg.norm(quads[:, 0] - quads[:, 3], axis=1)
    keep = (box_w.astype(np.int32) > MIN_BOX_SIDE) & (box_h.astype(np.int32) > MIN_BOX_SIDE)
    return quads[keep]
