"""Export a quantized model: Paddle inference files (Paddle Inference, CPU) plus a QDQ ``inference.onnx``.

The converted graph (:func:`ppocr.slim.quant.qat.convert_for_inference`) is saved with the engine's
exporter, so ``inference.yml`` and the input spec match float exports. paddle2onnx converts it to ONNX
with plain fake-quant ops, :mod:`ppocr.slim.quant.onnx_qdq` rewrites those into QuantizeLinear/
DequantizeLinear, and the result is checked against Paddle Inference on a sample batch.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Optional

import numpy as np
import paddle

from ppocr.engine.export import _write_inference, input_spec
from ppocr.engine.onnx_export import ONNX_FILE, OnnxExportError, paddle_inference_run, sample_batch
from ppocr.modeling.architectures import build_model, with_class_count
from ppocr.postprocess import build_post_process
from ppocr.slim.quant.qat import convert_for_inference, quantize_for_training
from ppocr.slim.quant.settings import QuantSettings
from ppocr.utils.checkpoint import load_params_file, prepare_model
from ppocr.utils.io import temp_dir
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)

# The two graphs compute the same codes except where float rounding differs (the ONNX side folds batch
# norms into the convs; oneDNN fuses them its own way): a value that close to a rounding boundary lands one
# step away. On the random check batch a trained model with sharp softmax outputs turns such flips into
# large moves of single probabilities (a 96 %-accurate CRNN: mean 4e-3, 1 % of outputs off by > 0.1, max 0.4;
# on real crops mean 3e-4 and 99.4 % the same argmax). A wrong rewrite (scale, axis) changes the codes
# themselves and moves most outputs, far beyond these limits.
ONNX_MEAN_ATOL = 1e-2
ONNX_FAR = 0.1                  # an output this far from Paddle Inference's counts as off
ONNX_MAX_FAR_SHARE = 0.05       # at most this share of outputs may be off


def export_quantized(model: paddle.nn.Layer, config: Dict[str, Any], settings: QuantSettings,
                     save_dir: Optional[str] = None) -> str:
    """Convert a QAT or calibrated PTQ model (in place) and write it to ``save_dir``
    (default ``Global.save_inference_dir``); with ``settings.onnx`` also ``inference.onnx`` (QDQ)."""
    g = config.get("Global") or {}
    save_dir = save_dir or g.get("save_inference_dir")
    if not save_dir:
        raise ConfigError("set Global.save_inference_dir (or pass an output dir)", "Global.save_inference_dir")
    if g.get("encryption_key"):
        raise ConfigError("quantized export does not encrypt; unset it for tools/quant.py", "Global.encryption_key")
    post_process = build_post_process(config["PostProcess"], g)
    config = dict(config, Architecture=with_class_count(config["Architecture"], post_process))
    converted = convert_for_inference(model)
    _write_inference(converted, config, post_process, save_dir, False, None)
    if settings.onnx:
        write_qdq_onnx(save_dir, input_spec(config).shape, settings.weight_bits)
    return save_dir


def write_qdq_onnx(model_dir: str, input_shape, bits: int = 8) -> str:
    """paddle2onnx + QDQ rewrite of the model in ``model_dir``; writes ``model_dir/inference.onnx``."""
    import onnx
    import onnxruntime
    import paddle2onnx

    from ppocr.slim.quant.onnx_qdq import QdqRewriteError, fake_quant_to_qdq

    out = os.path.join(model_dir, ONNX_FILE)
    with temp_dir(model_dir, "onnx") as tmp:
        plain = os.path.join(tmp, "fake_quant.onnx")
        try:
            paddle2onnx.export(os.path.join(model_dir, "inference.json"),
                               os.path.join(model_dir, "inference.pdiparams"),
                               save_file=plain, opset_version=14, enable_onnx_checker=True)
        except Exception as exc:
            raise OnnxExportError(f"paddle2onnx could not convert {model_dir}: {exc}") from None
        if not os.path.isfile(plain):
            raise OnnxExportError(f"paddle2onnx wrote no ONNX model for {model_dir}")
        try:
            qdq, counts = fake_quant_to_qdq(onnx.load(plain), bits)
        except QdqRewriteError as exc:
            raise OnnxExportError(f"{model_dir}: {exc}") from None
        staged = os.path.join(tmp, ONNX_FILE)
        onnx.save(qdq, staged)
        batch = sample_batch(input_shape)
        expected = paddle_inference_run(model_dir, batch)
        session = onnxruntime.InferenceSession(staged, providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: batch})[0]
        if got.shape != expected.shape:
            raise OnnxExportError(f"QDQ ONNX output shape {got.shape} differs from Paddle Inference's {expected.shape}")
        diff = np.abs(got - expected)
        mean, top, far = float(diff.mean()), float(diff.max()), float((diff > ONNX_FAR).mean())
        if mean > ONNX_MEAN_ATOL or far > ONNX_MAX_FAR_SHARE:
            raise OnnxExportError(f"QDQ ONNX output differs from Paddle Inference on a {list(batch.shape)} batch: "
                                  f"mean abs diff {mean:.3g} (limit {ONNX_MEAN_ATOL}), {100 * far:.2g} % of outputs "
                                  f"off by more than {ONNX_FAR} (limit {100 * ONNX_MAX_FAR_SHARE:g} %)")
        os.replace(staged, out)
    logger.info("QDQ ONNX model %s: %d activations and %d weights quantized, %d batch norms folded; abs diff to "
                "Paddle Inference mean %.2e, max %.2e", out, counts["activations"], counts["weights"],
                counts["folded_batch_norms"], mean, top)
    return out


def build_quantized_from_checkpoint(config: Dict[str, Any], settings: QuantSettings, weights: str) -> paddle.nn.Layer:
    """Rebuild the QAT model (PACT and fake quantizers included) and load a checkpoint saved during QAT."""
    g = config.get("Global") or {}
    post_process = build_post_process(config["PostProcess"], g)
    key = g.get("encryption_key")
    model = prepare_model(build_model(with_class_count(config["Architecture"], post_process)), weights, key)
    model = quantize_for_training(model, settings)
    params = load_params_file(weights, key, prefer_ema=True)
    own = model.state_dict()
    missing = [k for k in own if k not in params]
    if missing:
        hint = (" (a float checkpoint: quantize it with Quant.mode=qat training or Quant.mode=ptq)"
                if all("quanter" in k or ".alpha" in k for k in missing) else "")
        raise ConfigError(f"weights '{weights}' lack {len(missing)} parameters of the quantized model, "
                          f"e.g. {missing[:3]}{hint}", "Global.checkpoints")
    model.set_state_dict({k: params[k] for k in own})
    return model
