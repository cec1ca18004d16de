"""Default det/rec/cls models: PaddleOCR's released ONNX conversions shipped inside pip wheels.

The wheels are only used as a place on disk that holds the model files; their packages are located
with ``importlib.util.find_spec`` and never imported or called.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Dict, NamedTuple


class Preset(NamedTuple):
    package: str
    requirement: str
    files: Dict[str, str]  # stage → path inside the package


PRESETS: Dict[str, Preset] = {
    "PP-OCRv4": Preset("rapidocr_onnxruntime", "rapidocr_onnxruntime==1.4.4", {
        "det": "models/ch_PP-OCRv4_det_infer.onnx",
        "rec": "models/ch_PP-OCRv4_rec_infer.onnx",
        "cls": "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    }),
    "PP-OCRv6": Preset("rapidocr", "rapidocr==3.10.0", {
        "det": "models/PP-OCRv6_det_small.onnx",
        "rec": "models/PP-OCRv6_rec_small.onnx",
        "cls": "models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    }),
}


def _preset(ocr_version: str) -> Preset:
    by_lower = {name.lower(): name for name in PRESETS}
    name = by_lower.get(str(ocr_version).strip().lower())
    if name is None:
        raise ValueError(f"unknown ocr_version {ocr_version!r}; packaged models exist for {', '.join(PRESETS)} "
                         "(or pass det_model_dir / rec_model_dir / cls_model_dir)")
    return PRESETS[name]


def default_model_paths(ocr_version: str = "PP-OCRv4") -> Dict[str, str]:
    """``{"det": path, "rec": path, "cls": path}`` of the packaged models for ``ocr_version``."""
    preset = _preset(ocr_version)
    spec = importlib.util.find_spec(preset.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{ocr_version} default models need the {preset.package} wheel: "
                                  f"pip install {preset.requirement} (or pass det/rec/cls_model_dir)")
    root = list(spec.submodule_search_locations)[0]
    paths = {stage: os.path.join(root, *relative.split("/")) for stage, relative in preset.files.items()}
    missing = [path for path in paths.values() if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(f"{preset.package} is installed but lacks {', '.join(missing)}; "
                                f"reinstall it with pip install --force-reinstall {preset.requirement}")
    return paths
