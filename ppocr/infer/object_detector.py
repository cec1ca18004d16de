"""EfficientDet inference on images: an exported model (Paddle Inference or ONNX Runtime) or a training checkpoint,
and the outputs TAO's ``inference`` task writes (annotated images, KITTI label files) plus COCO results json.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional

import cv2
import numpy as np

from ppocr.data.imaug import create_operators, transform
from ppocr.data.imaug.operators import decode_image_bytes
from ppocr.infer.backends import create_backend
from ppocr.infer.model_meta import load_inference_yml, postprocess_args
from ppocr.infer.options import InferOptions
from ppocr.postprocess.objdet_postprocess import EfficientDetPostProcess
from ppocr.utils.io import atomic_write
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)

Detections = Dict[str, Any]


def read_label_map(path: str) -> List[str]:
    """Class names, one per line in category-id order (line 1 is id 1); blank lines are ignored."""
    try:
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    except OSError as exc:
        raise ConfigError(f"cannot read label map {path}: {exc.strerror or exc}") from None
    if not names:
        raise ConfigError(f"label map {path} names no class (expected one class name per line)")
    return names


class ExportedObjectDetector:
    """An exported EfficientDet folder: its ``inference.yml`` gives preprocessing, channel order and postprocess."""

    def __init__(self, model_dir: str, options: Optional[InferOptions] = None,
                 post_overrides: Optional[Dict[str, Any]] = None):
        options = options or InferOptions()
        self.backend = create_backend(model_dir, options)
        meta = load_inference_yml(model_dir if os.path.isdir(model_dir) else os.path.dirname(model_dir),
                                  options.encryption_key)
        if (meta.get("Global") or {}).get("model_type") != "objdet":
            raise ConfigError(f"{model_dir} is not an exported object detector (inference.yml model_type "
                              f"{(meta.get('Global') or {}).get('model_type')!r})")
        self.img_mode = meta["Global"].get("img_mode", "BGR")
        ops = [op for op in (meta.get("PreProcess") or {}).get("transform_ops") or []]
        self.ops = create_operators(ops + [{"KeepKeys": {"keep_keys": ["image", "shape"]}}])
        post = {k: v for k, v in postprocess_args(meta).items() if k != "name"}
        post.update(post_overrides or {})
        self.post_process = EfficientDetPostProcess(**post)

    def predict_file(self, path: str) -> Detections:
        with open(path, "rb") as f:
            image = decode_image_bytes(f.read(), self.img_mode)
        batch = transform({"img_path": path, "image": image}, self.ops)
        if batch is None:
            raise ValueError("preprocessing dropped the image")
        preds = self.backend.run(np.ascontiguousarray(batch[0][None], dtype=np.float32))[0]
        return self.post_process(preds, batch[1][None])[0]


def kitti_lines(result: Detections, names: Optional[List[str]] = None) -> List[str]:
    """TAO's KITTI label lines: ``class 0 0 0 x1 y1 x2 y2 0 0 0 0 0 0 0 score``."""
    lines = []
    for box, score, cls in zip(result["boxes"], result["scores"], result["classes"]):
        name = names[cls - 1] if names and cls - 1 < len(names) else str(int(cls))
        name = name.replace(" ", "_")
        x1, y1, x2, y2 = (float(v) for v in box)
        lines.append(f"{name} 0.00 0 0.00 {x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f} 0.00 0.00 0.00 0.00 0.00 0.00 0.00 "
                     f"{float(score):.4f}")
    return lines


def coco_results(result: Detections, image_id: int) -> List[Dict[str, Any]]:
    return [{"image_id": int(image_id), "category_id": int(cls), "score": round(float(score), 5),
             "bbox": [round(float(box[0]), 2), round(float(box[1]), 2), round(float(box[2] - box[0]), 2),
                      round(float(box[3] - box[1]), 2)]}
            for box, score, cls in zip(result["boxes"], result["scores"], result["classes"])]


def draw_detections(image_path: str, result: Detections, out_path: str, names: Optional[List[str]] = None) -> bool:
    """Boxes with class name and score drawn on the image, written atomically; False when unreadable."""
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        return False
    palette = [(0, 0, 255), (0, 200, 0), (255, 0, 0), (0, 200, 255), (255, 0, 255), (255, 255, 0)]
    for box, score, cls in zip(result["boxes"], result["scores"], result["classes"]):
        color = palette[(int(cls) - 1) % len(palette)]
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), color, 2)
        name = names[cls - 1] if names and cls - 1 < len(names) else str(int(cls))
        cv2.putText(image, f"{name} {float(score):.2f}", (x1, max(10, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    color, 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(os.path.splitext(out_path)[1] or ".jpg", image)
    if ok:
        with atomic_write(out_path, "wb") as f:
            f.write(buf.tobytes())
    return bool(ok)
