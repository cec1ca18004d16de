"""Convert an exported Paddle inference model to ONNX and check the two agree on a sample batch."""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

ONNX_FILE = "inference.onnx"


class OnnxExportError(RuntimeError):
    pass


def sample_batch(shape: Sequence[int], dynamic_size: int = 320, seed: int = 0) -> np.ndarray:
    """A batch of 2 for an input spec, dynamic sides set to ``dynamic_size`` (a multiple of 32)."""
    dims = [2] + [d if d and d > 0 else dynamic_size for d in list(shape)[1:]]
    return np.random.RandomState(seed).uniform(-1, 1, dims).astype("float32")


def paddle_inference_run(model_dir: str, batch: np.ndarray) -> np.ndarray:
    from paddle import inference

    config = inference.Config(os.path.join(model_dir, "inference.json"), os.path.join(model_dir, "inference.pdiparams"))
    config.disable_gpu()
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(batch.shape)
    handle.copy_from_cpu(batch)
    predictor.run()
    return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()


def convert_to_onnx(model_dir: str, input_shape: Sequence[int], opset_version: int = 14,
                    rtol: float = 1e-3, atol: float = 1e-4) -> str:
    """Write ``model_dir/inference.onnx`` with paddle2onnx and compare it with Paddle Inference."""
    import onnxruntime
    import paddle2onnx

    out = os.path.join(model_dir, ONNX_FILE)
    try:
        paddle2onnx.export(os.path.join(model_dir, "inference.json"), os.path.join(model_dir, "inference.pdiparams"),
                           save_file=out, opset_version=opset_version, enable_onnx_checker=True)
    except Exception as exc:
        raise OnnxExportError(f"paddle2onnx could not convert {model_dir}: {exc}") from None
    if not os.path.isfile(out):
        raise OnnxExportError(f"paddle2onnx wrote no {out}")
    batch = sample_batch(input_shape)
    expected = paddle_inference_run(model_dir, batch)
    session = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: batch})[0]
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=rtol, atol=atol):
        diff = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("nan")
        raise OnnxExportError(f"ONNX output differs from Paddle Inference (shapes {got.shape} vs "
                              f"{expected.shape}, max abs diff {diff:.3g})")
    logger.info("ONNX model %s matches Paddle Inference on a %s batch (max abs diff %.2e)", out,
                list(batch.shape), float(np.abs(got - expected).max()))
    return out
