"""Weights from a deployed ONNX model (paddle2onnx's conversion of a PaddleOCR inference model) into a checkpoint.

Deployed PaddleOCR models name their weights by creation counter (``conv2d_394.w_0``), not by structure, so the
weights are matched by *use*: the ONNX graph lists its nodes in the order the Paddle program ran, and the same
recipe in ppocr, run once in eval mode with re-parameterisable layers fused, uses its parameters in the same
order. Both sequences are paired one to one; every pair must agree in size (a bias stored as 1×C×1×1 in the graph
fills a C vector). A mismatch names both sides, and the imported model is then checked against ONNX Runtime on
the given inputs (the difference is returned and must stay under a tolerance), so a wrong pairing cannot pass.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import paddle

from ppocr.modeling.reparam import fuse_rep_layers

logger = logging.getLogger(__name__)

# Graph constants that are not weights: paddle2onnx helpers, fluid scalar constants, temporaries.
_NON_WEIGHT_PREFIXES = ("p2o.", "Constant@", "fill_constant")


class OnnxImportError(RuntimeError):
    """The ONNX model does not fit the recipe (structure, sizes) or its outputs differ after import."""


def _is_weight(name: str) -> bool:
    return not name.startswith(_NON_WEIGHT_PREFIXES) and ".tmp_" not in name


def onnx_weights(path: str) -> Tuple[List[Tuple[str, np.ndarray]], Dict[str, str]]:
    """The graph's weights in first-use order, and its metadata (e.g. ``character``)."""
    import onnx
    from onnx import numpy_helper

    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX model {path} not found")
    try:
        proto = onnx.load(path)
    except Exception as exc:
        raise OnnxImportError(f"cannot read ONNX model {path}: {exc}") from None
    graph = proto.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].type == onnx.AttributeProto.TENSOR:
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    ordered, seen = [], set()
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        for name in node.input:
            if name in constants and name not in seen and _is_weight(name):
                seen.add(name)
                ordered.append((name, constants[name]))
    metadata = {prop.key: prop.value for prop in proto.metadata_props}
    return ordered, metadata


def _owned_state(layer: paddle.nn.Layer) -> List[str]:
    own = [name for name, _ in layer.named_parameters(include_sublayers=False)]
    own += [name for name, _ in layer.named_buffers(include_sublayers=False)]
    return own


def weights_in_use_order(model: paddle.nn.Layer, sample: np.ndarray) -> List[str]:
    """State-dict keys of ``model`` in the order an eval forward pass on ``sample`` uses them (each layer's
    own weights in state-dict order: conv weight then bias, BN scale, shift, mean, variance)."""
    prefixes = {id(layer): name for name, layer in model.named_sublayers(include_self=True)}
    state_keys = set(model.state_dict())
    order: List[str] = []
    called = set()

    def hook(layer: paddle.nn.Layer, _inputs: Any) -> None:
        if id(layer) in called:
            return
        called.add(id(layer))
        prefix = prefixes[id(layer)]
        layer_state = layer.state_dict(include_sublayers=False)
        for name in layer_state:
            key = f"{prefix}.{name}" if prefix else name
            if key in state_keys:
                order.append(key)

    handles = [layer.register_forward_pre_hook(hook) for layer in model.sublayers(include_self=True)
               if _owned_state(layer)]
    try:
        model.eval()
        with paddle.no_grad():
            model(paddle.to_tensor(sample))
    finally:
        for handle in handles:
            handle.remove()
    return order


def map_weights(model: paddle.nn.Layer, sample: np.ndarray, path: str) -> Dict[str, np.ndarray]:
    """``{state-dict key: array}`` for every weight the model uses in eval mode, taken from the ONNX graph."""
    graph_weights, _ = onnx_weights(path)
    keys = weights_in_use_order(model, sample)
    state = model.state_dict()
    if len(keys) != len(graph_weights):
        raise OnnxImportError(f"{path} holds {len(graph_weights)} weights but the recipe's model uses {len(keys)} "
                              "in eval mode: the ONNX model has another architecture than the recipe")
    mapped = {}
    for index, (key, (name, value)) in enumerate(zip(keys, graph_weights)):
        target = list(state[key].shape)
        if value.size != int(np.prod(target)) or (value.ndim == len(target) and list(value.shape) != target):
            raise OnnxImportError(f"weight #{index}: ONNX {name} has shape {list(value.shape)} but the recipe's "
                                  f"{key} has {target}: the ONNX model has another architecture than the recipe")
        mapped[key] = value.reshape(target).astype(np.float32)
    return mapped


def onnx_outputs(path: str, batch: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch.astype(np.float32)})[0]


def model_outputs(model: paddle.nn.Layer, batch: np.ndarray) -> np.ndarray:
    model.eval()
    with paddle.no_grad():
        out = model(paddle.to_tensor(batch.astype(np.float32)))
    if isinstance(out, dict):
        out = out["maps"] if "maps" in out else out["head_out"]
    return out.numpy()


def compare_with_onnx(model: paddle.nn.Layer, path: str, batches: Sequence[np.ndarray]) -> float:
    """Largest absolute difference between the model's eval output and ONNX Runtime's over ``batches``."""
    worst = 0.0
    for batch in batches:
        expected = onnx_outputs(path, batch)
        got = model_outputs(model, batch)
        if got.shape != expected.shape:
            raise OnnxImportError(f"output shape {list(got.shape)} differs from the ONNX model's "
                                  f"{list(expected.shape)} on an input of shape {list(batch.shape)}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def import_onnx(model: paddle.nn.Layer, path: str, sample: np.ndarray,
                check_batches: Optional[Sequence[np.ndarray]] = None, tolerance: float = 1e-4) -> Dict[str, Any]:
    """Fuse the model, fill it with the ONNX weights and check it against ONNX Runtime.

    Returns ``{"loaded": n, "max_abs_diff": d, "keys": [...], "unused": [...]}``: weights the model does not use
    in eval mode (a DB head's threshold branch, a MultiHead's attention branch) are not in a deployed model and
    keep their initial values (``unused``). Raises OnnxImportError when ``d > tolerance``.
    """
    fuse_rep_layers(model)
    mapped = map_weights(model, sample, path)
    state = model.state_dict()
    model.set_state_dict({key: paddle.to_tensor(mapped[key]) if key in mapped else value
                          for key, value in state.items()})
    diff = compare_with_onnx(model, path, list(check_batches or [sample]))
    if diff > tolerance:
        raise OnnxImportError(f"imported model differs from {path} by {diff:.3g} (tolerance {tolerance:g})")
    logger.info("imported %d weights from %s; outputs match ONNX Runtime within %.2e", len(mapped), path, diff)
    unused = sorted(key for key in state if key not in mapped)
    return {"loaded": len(mapped), "max_abs_diff": diff, "keys": sorted(mapped), "unused": unused}


def save_weights(model: paddle.nn.Layer, save_prefix: str) -> str:
    """Write the model's weights (fused form) as ``<save_prefix>.pdparams``, atomically: the imported ones and,
    for the parts a deployed model lacks, the initial values, so the file loads and exports like a checkpoint."""
    import io

    from ppocr.utils.io import atomic_write

    buffer = io.BytesIO()
    paddle.save(dict(model.state_dict()), buffer)
    path = save_prefix + ".pdparams"
    with atomic_write(path, "wb") as f:
        f.write(buffer.getvalue())
    return path


def preprocess_images(config: Dict[str, Any], images: Sequence[str]) -> List[np.ndarray]:
    """Batches of one for ``images``, made by the recipe's inference preprocess (its Eval transforms)."""
    from ppocr.data.imaug import create_operators, transform
    from ppocr.engine.export import inference_transforms

    ops = create_operators([{"DecodeImage": {"img_mode": "BGR", "channel_first": False}}]
                           + inference_transforms(config), config.get("Global") or {})
    batches = []
    for path in images:
        with open(path, "rb") as f:
            data = transform({"image": f.read(), "img_path": path}, ops)
        if data is None:
            raise OnnxImportError(f"the recipe's preprocess rejected {path}")
        batches.append(np.asarray(data["image"], dtype=np.float32)[None])
    return batches


def _sample_input(config: Dict[str, Any]) -> np.ndarray:
    from ppocr.engine.export import input_spec
    from ppocr.engine.onnx_export import sample_batch

    shape = list(input_spec(config).shape)
    return sample_batch(shape)[:1]


def import_into_recipe(config: Dict[str, Any], onnx_path: str, save_prefix: str,
                       images: Sequence[str] = (), tolerance: float = 1e-4) -> Dict[str, Any]:
    """Build the recipe's model, import ``onnx_path`` into it (fused form), check it on ``images`` (or a random
    input) against ONNX Runtime and write ``<save_prefix>.pdparams`` for ``Global.pretrained_model`` (weights
    the eval graph does not use, e.g. a DB threshold branch, keep their initial values: report ``unused``).

    A recogniser whose ONNX file carries its characters (``character`` metadata) also gets
    ``<save_prefix>.dict.txt``.
    """
    from ppocr.modeling.architectures import build_model, with_class_count
    from ppocr.postprocess import build_post_process

    g = config.get("Global") or {}
    post_process = build_post_process(config["PostProcess"], g)
    model = build_model(with_class_count(config["Architecture"], post_process))
    sample = _sample_input(config)
    batches = preprocess_images(config, images) if images else [sample]
    try:
        report = import_onnx(model, onnx_path, sample, batches, tolerance)
    except OnnxImportError as exc:
        if config["Architecture"].get("model_type") == "rec":
            raise OnnxImportError(f"{exc} (for a recogniser, check Global.character_dict_path and use_space_char "
                                  "against the model's character list)") from None
        raise
    report["pdparams"] = save_weights(model, save_prefix)
    if report["unused"]:
        logger.info("%d weights are not in the deployed model and keep their initial values, e.g. %s",
                    len(report["unused"]), report["unused"][:3])
    _, metadata = onnx_weights(onnx_path)
    if metadata.get("character"):
        from ppocr.utils.io import atomic_write

        report["dict"] = save_prefix + ".dict.txt"
        text = metadata["character"]
        with atomic_write(report["dict"]) as f:
            f.write(text if text.endswith("\n") else text + "\n")
    report["checked_on"] = list(images) or ["a random input"]
    return report
