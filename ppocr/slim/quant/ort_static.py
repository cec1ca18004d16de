"""Static int8 quantisation of ONNX inference models with ONNX Runtime's tools, calibrated on real images.

``--precision int8`` on CPU runs the det and rec models quantised here (see :mod:`ppocr.infer.int8`). The
calibration batches are what the system itself feeds each model: detector input from whole images, recogniser
batches of the crops the float detector finds in them, so no labels are needed. Only Conv, MatMul and Gemm are
quantised (per-channel int8 weights, uint8 activations in QDQ form): those carry nearly all the arithmetic, and
leaving the element-wise ops, the softmax and the probability map in float keeps the outputs close to the float
model's. Calibration ranges come from the MinMax method over the calibration set.
"""
from __future__ import annotations

import logging
import os
import tempfile
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np

from ppocr.infer.int8 import INT8_STAGES, int8_model_path, onnx_model_file
from ppocr.infer.options import InferOptions

logger = logging.getLogger(__name__)

QUANT_OPS = ("Conv", "MatMul", "Gemm")
QUANT_FORMATS = ("QDQ", "QOperator")
CALIBRATION_METHODS = ("MinMax", "Entropy", "Percentile")
MIN_OPSET = 13  # per-channel DequantizeLinear (axis attribute)


class _Batches:
    """ONNX Runtime's CalibrationDataReader over float32 batches for one input name."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray]) -> None:
        self._input_name = input_name
        self._batches = iter(batches)
        self.count = 0

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        batch = next(self._batches, None)
        if batch is None:
            return None
        self.count += 1
        return {self._input_name: np.ascontiguousarray(batch, dtype=np.float32)}

    def rewind(self) -> None:  # ONNX Runtime calls it between passes of some methods; one pass is all we give
        pass


def quantize_onnx(model_path: str, output_path: str, batches: Iterable[np.ndarray], quant_format: str = "QDQ",
                  per_channel: bool = True, calibrate_method: str = "MinMax",
                  op_types: Sequence[str] = QUANT_OPS, exclude_nodes: Sequence[str] = ()) -> str:
    """Write an int8 copy of the float ONNX model at ``model_path`` to ``output_path`` (atomically), calibrated on
    ``batches`` of model input; returns ``output_path``. The model is first raised to opset 13 when older (needed
    for per-channel weights) and put through ONNX Runtime's pre-processing (shape inference, graph fusions)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if quant_format not in QUANT_FORMATS:
        raise ValueError(f"quant_format must be one of {', '.join(QUANT_FORMATS)}, got {quant_format!r}")
    if calibrate_method not in CALIBRATION_METHODS:
        raise ValueError(f"calibrate_method must be one of {', '.join(CALIBRATION_METHODS)}, got {calibrate_method!r}")
    model = onnx.load(model_path)
    input_name = model.graph.input[0].name
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), MIN_OPSET)
    out_dir = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".int8.", dir=out_dir) as work:
        source = os.path.join(work, "float.onnx")
        if opset < MIN_OPSET:
            model = version_converter.convert_version(model, MIN_OPSET)
        onnx.save(model, source)
        prepared = os.path.join(work, "prepared.onnx")
        quant_pre_process(source, prepared, skip_symbolic_shape=True)
        reader = _Batches(input_name, batches)
        quantized = os.path.join(work, "int8.onnx")
        quantize_static(prepared, quantized, reader, quant_format=getattr(QuantFormat, quant_format),
                        op_types_to_quantize=list(op_types), nodes_to_exclude=list(exclude_nodes),
                        per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=getattr(CalibrationMethod, calibrate_method),
                        extra_options={"CalibTensorRangeSymmetric": False})
        if reader.count == 0:
            raise ValueError(f"no calibration batches for {model_path}: give at least one readable image")
        os.replace(quantized, output_path)
    logger.info("%s -> %s (%d calibration batches, %s, %.1f -> %.1f MB)", model_path, output_path, reader.count,
                quant_format, os.path.getsize(model_path) / 2 ** 20, os.path.getsize(output_path) / 2 ** 20)
    return output_path


def _images(paths: Sequence[str], max_pixels: int) -> Iterator[np.ndarray]:
    from ppocr.infer.inputs import read_image

    for path in paths:
        try:
            yield read_image(path, max_pixels)
        except (OSError, ValueError) as err:
            logger.warning("calibration image %s skipped: %s", path, err)


def det_batches(detector: Any, paths: Sequence[str], max_pixels: int) -> Iterator[np.ndarray]:
    """The detector's model input for each readable image."""
    for img in _images(paths, max_pixels):
        yield detector.preprocess(img)[0]


def rec_batches(detector: Any, recognizer: Any, paths: Sequence[str], max_pixels: int,
                max_crops_per_image: int = 48) -> Iterator[np.ndarray]:
    """Recogniser batches of the crops the (float) detector finds in each readable image, batched as the
    recogniser batches them (by aspect ratio, ``rec_batch_num`` at a time)."""
    from ppocr.infer.preprocess import batch_width, ratio_batches, resize_norm_batch
    from ppocr.infer.system import as_quad, crop_quad

    channels, height, width = recognizer.image_shape
    for img in _images(paths, max_pixels):
        boxes, _ = detector(img)
        crops = [crop_quad(img, as_quad(box)) for box in list(boxes)[:max_crops_per_image]]
        for indices in ratio_batches(crops, recognizer.batch_num):
            yield resize_norm_batch(crops, indices, (channels, height, width),
                                    batch_width(crops, indices, height, width))


def make_int8_models(options: InferOptions, image_paths: Sequence[str], stages: Sequence[str] = INT8_STAGES,
                     quant_format: str = "QDQ", calibrate_method: str = "MinMax",
                     overwrite: bool = False) -> Dict[str, str]:
    """Quantise the float det/rec models ``options`` selects into ``options.int8_model_dir`` (where
    ``precision="int8"`` looks for them), calibrated on ``image_paths``; ``{stage: int8 path}``. A stage whose
    int8 model already exists is kept unless ``overwrite``."""
    from ppocr.infer.detector import TextDetector
    from ppocr.infer.recognizer import TextRecognizer

    unknown = [s for s in stages if s not in INT8_STAGES]
    if unknown:
        raise ValueError(f"int8 stages must be among {', '.join(INT8_STAGES)}, got {', '.join(unknown)}")
    if not image_paths:
        raise ValueError("no calibration images given")
    float_options = options.replace(precision="fp32", use_onnx=True)
    detector = TextDetector(float_options)
    done: Dict[str, str] = {}
    for stage in stages:
        float_model = onnx_model_file(stage, float_options)
        target = int8_model_path(float_model, stage, options.int8_model_dir)
        if os.path.isfile(target) and not overwrite:
            logger.info("%s int8 model %s exists; kept", stage, target)
            done[stage] = target
            continue
        if stage == "det":
            batches = det_batches(detector, image_paths, options.max_image_pixels)
        else:
            recognizer = TextRecognizer(float_options)
            batches = rec_batches(detector, recognizer, image_paths, options.max_image_pixels)
        done[stage] = quantize_onnx(float_model, target, batches, quant_format, calibrate_method=calibrate_method)
    return done


def list_calibration_images(sources: Sequence[str], limit: int = 0) -> List[str]:
    """Image files from folders and files in ``sources`` (folders listed in name order), at most ``limit``
    (0 = all) taken evenly across the sources in turn."""
    from ppocr.infer.inputs import list_input_files

    per_source = []
    for source in sources:
        if not os.path.exists(source):
            raise FileNotFoundError(f"calibration images '{source}' do not exist")
        try:
            per_source.append([path for path, _ in list_input_files(source)])
        except FileNotFoundError:
            raise FileNotFoundError(f"calibration images '{source}': no image files found there") from None
    picked: List[str] = []
    for round_index in range(max((len(p) for p in per_source), default=0)):
        for paths in per_source:
            if round_index < len(paths):
                picked.append(paths[round_index])
                if limit and len(picked) >= limit:
                    return picked
    return picked
