"""Inference on exported or packaged models: stage predictors, the OCR system and batch runs.

Names are imported on first use, so ``import ppocr.infer`` stays cheap and loads neither paddle
nor onnxruntime until a model is built.
"""
import importlib

_EXPORTS = {
    "InferOptions": "ppocr.infer.options",
    "TextSystem": "ppocr.infer.system",
    "TextDetector": "ppocr.infer.detector",
    "TextRecognizer": "ppocr.infer.recognizer",
    "TextClassifier": "ppocr.infer.classifier",
    "create_backend": "ppocr.infer.backends",
    "default_model_paths": "ppocr.infer.presets",
    "read_image": "ppocr.infer.inputs",
    "iter_images": "ppocr.infer.inputs",
    "draw_ocr": "ppocr.infer.visualize",
    "run": "ppocr.infer.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ppocr.infer' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
