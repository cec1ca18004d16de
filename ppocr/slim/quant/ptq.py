"""Post-training quantization on ``paddle.quantization.PTQ``: observe calibration batches, then convert.

Calibration images come from ``Quant.calibration_dir`` (any images, preprocessed like inference: the
Eval transforms without labels or augmentation) or, without it, from the Eval dataset.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Iterator, List

import numpy as np
import paddle
import paddle.nn as nn
from paddle.quantization import PTQ

from ppocr.slim.quant.observers import OBSERVERS
from ppocr.slim.quant.qat import build_quant_config, count_quantized
from ppocr.slim.quant.settings import QuantSettings
from ppocr.utils.arrays import as_numpy
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def prepare_for_calibration(model: nn.Layer, settings: QuantSettings) -> nn.Layer:
    """Attach observers (``settings.algorithm``) to the inputs of the configured layer types, in place."""
    factory = OBSERVERS[settings.algorithm]
    kwargs: Dict[str, Any] = {"bit_length": settings.activation_bits}
    if settings.algorithm == "KL":
        kwargs["bins"] = settings.hist_bins
    model.eval()
    prepared = PTQ(build_quant_config(settings, factory(**kwargs))).quantize(model, inplace=True)
    logger.info("PTQ (%s): observing the inputs of %d layers", settings.algorithm, count_quantized(prepared))
    return prepared


def calibrate(model: nn.Layer, batches: Iterator[np.ndarray], batch_nums: int) -> int:
    """Run up to ``batch_nums`` batches through a prepared model; returns how many ran."""
    model.eval()
    seen = 0
    with paddle.no_grad():
        for batch in batches:
            if seen >= batch_nums:
                break
            model(paddle.to_tensor(batch))
            seen += 1
    if seen == 0:
        raise ConfigError("no calibration batch: the calibration images or the Eval dataset are empty",
                          "Quant.calibration_dir")
    logger.info("PTQ: calibrated on %d batches", seen)
    return seen


def calibration_batches(config: Dict[str, Any], settings: QuantSettings) -> Iterator[np.ndarray]:
    """Image batches (N×C×H×W float32) from ``calibration_dir`` or the Eval loader."""
    if settings.calibration_dir:
        return _folder_batches(config, settings.calibration_dir, settings.batch_size)
    return _eval_batches(config)


def _eval_batches(config: Dict[str, Any]) -> Iterator[np.ndarray]:
    """The Eval loader as configured (detection sets often need its batch size of 1: sizes differ)."""
    from ppocr.data import build_dataloader

    if not config.get("Eval"):
        raise ConfigError("PTQ needs Quant.calibration_dir or an Eval section to calibrate on", "Quant.calibration_dir")
    _, loader = build_dataloader(config, "Eval")
    for batch in loader:
        yield as_numpy(batch[0]).astype(np.float32, copy=False)


def _folder_batches(config: Dict[str, Any], folder: str, batch_size: int) -> Iterator[np.ndarray]:
    from ppocr.data.imaug import create_operators, transform
    from ppocr.engine.export import inference_transforms

    if not os.path.isdir(folder):
        raise ConfigError(f"calibration folder '{folder}' does not exist", "Quant.calibration_dir")
    files = sorted(os.path.join(folder, name) for name in os.listdir(folder)
                   if name.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise ConfigError(f"calibration folder '{folder}' holds no images ({', '.join(IMAGE_EXTENSIONS)})",
                          "Quant.calibration_dir")
    ops = create_operators([_decode_entry(config)] + inference_transforms(config), config.get("Global"),
                           where="Quant.calibration_dir")
    pending: List[np.ndarray] = []
    for path in files:
        with open(path, "rb") as f:
            data = transform({"image": f.read(), "img_path": path}, ops)
        if data is None:
            logger.warning("calibration image %s was dropped by the preprocessing", path)
            continue
        image = np.asarray(data["image"], np.float32)
        if pending and image.shape != pending[0].shape:
            yield np.stack(pending)
            pending = []
        pending.append(image)
        if len(pending) == batch_size:
            yield np.stack(pending)
            pending = []
    if pending:
        yield np.stack(pending)


def _decode_entry(config: Dict[str, Any]) -> Dict[str, Any]:
    """The Eval section's DecodeImage (image mode), or PaddleOCR's default BGR decoding."""
    for entry in ((config.get("Eval") or {}).get("dataset") or {}).get("transforms") or []:
        if isinstance(entry, dict) and "DecodeImage" in entry:
            return {"DecodeImage": dict(entry["DecodeImage"] or {})}
    return {"DecodeImage": {"img_mode": "BGR", "channel_first": False}}
