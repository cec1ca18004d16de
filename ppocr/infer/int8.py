"""Where ``precision="int8"`` on CPU finds the int8 copies of the det and rec models.

The copies are made once by ``tools/quant_onnx.py`` (:func:`ppocr.slim.quant.ort_static.make_int8_models`) from the
float ONNX models the options select, and kept in ``int8_model_dir`` (default ``~/.cache/ppocr/int8``) under a name
holding a hash of the float file, so a changed float model never runs with a stale int8 copy. The direction
classifier is small and stays float. On GPU, ``precision`` keeps its TensorRT meaning (see ``backends``).
"""
from __future__ import annotations

import hashlib
import os
from typing import Optional

from ppocr.infer.options import InferOptions

INT8_STAGES = ("det", "rec")
DEFAULT_INT8_DIR = os.path.join("~", ".cache", "ppocr", "int8")
_MODEL_DIR_FIELDS = {"det": "det_model_dir", "rec": "rec_model_dir", "cls": "cls_model_dir"}
_HASH_CHARS = 12


def wants_int8(options: InferOptions) -> bool:
    """True when ``precision`` is int8 and the models run on the CPU (no TensorRT)."""
    return options.precision == "int8" and not (options.use_gpu and options.use_tensorrt)


def onnx_model_file(stage: str, options: InferOptions) -> str:
    """The float ONNX file of ``stage`` (det/rec/cls): its model option (an .onnx file, or a folder holding one)
    or the packaged default."""
    from ppocr.infer.backends import _onnx_in
    from ppocr.infer.presets import default_model_paths

    given = getattr(options, _MODEL_DIR_FIELDS[stage])
    if not given:
        return default_model_paths(options.ocr_version)[stage]
    path = os.path.expanduser(str(given))
    if os.path.isfile(path) and path.endswith(".onnx"):
        return path
    found = _onnx_in(path) if os.path.isdir(path) else None
    if found is None:
        raise FileNotFoundError(f"precision int8 on CPU quantises ONNX models, but {_MODEL_DIR_FIELDS[stage]} "
                                f"'{given}' holds no .onnx file (convert the exported model with paddle2onnx)")
    return found


def _file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:_HASH_CHARS]


def int8_model_path(float_model: str, stage: str, int8_dir: Optional[str] = None) -> str:
    """Path of the int8 copy of ``float_model`` in ``int8_dir`` (default ``~/.cache/ppocr/int8``)."""
    folder = os.path.expanduser(int8_dir or DEFAULT_INT8_DIR)
    stem = os.path.splitext(os.path.basename(float_model))[0]
    return os.path.join(folder, f"{stage}_{stem}_{_file_hash(float_model)}.int8.onnx")


def model_for(stage: str, options: InferOptions) -> Optional[str]:
    """The model a predictor of ``stage`` should load: the int8 copy when ``precision`` asks for int8 on CPU
    (an error naming the tool when it has not been made yet), else None (the stage's usual model)."""
    if stage not in INT8_STAGES or not wants_int8(options):
        return None
    float_model = onnx_model_file(stage, options)
    path = int8_model_path(float_model, stage, options.int8_model_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"precision int8: no int8 {stage} model {path} for {float_model}; make it once with "
            f"python tools/quant_onnx.py --calib_images DIR [--int8_model_dir {os.path.dirname(path)}] "
            "(and the same model options)")
    return path
