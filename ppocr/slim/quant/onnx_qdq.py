"""Rewrite paddle2onnx's output of a converted quantized model into an ONNX QDQ model.

paddle2onnx turns each :class:`~ppocr.slim.quant.layers.FakeQuant` into
``Mul(1/step) → Add(zp + 0.5) → Floor → Clip(qmin, qmax) → Mul(step) → Add(-zp·step)`` (with Identity nodes
in between); each such chain becomes ``QuantizeLinear → DequantizeLinear`` with the same step and zero
point. Conv and MatMul weights stored on their per-channel int8 grid become int8 initializers behind a
per-channel ``DequantizeLinear``, a BatchNormalization after such a Conv folded in first (scaling whole output
channels keeps the int8 codes; ONNX Runtime cannot fold it behind a DequantizeLinear). ONNX Runtime then sees
the standard QDQ format with 4× smaller weights. One difference remains by design: QuantizeLinear saturates
at -128 where paddle's symmetric quantizers stop at -127, so inputs beyond the range on the negative side
land one step further out.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import numpy as np

logger = logging.getLogger(__name__)

MIN_OPSET = 13  # per-channel (axis) DequantizeLinear
_GRID_TOL = 1e-3  # distance from an integer code that still counts as "on the grid"
_RATIO_TOL = 1e-4


class QdqRewriteError(ValueError):
    pass


def weight_grid_error(weight: np.ndarray, axis: int, bits: int = 8) -> float:
    """Largest distance of ``weight / step`` from an integer, with per-channel abs-max steps along
    ``axis``: ~0 for weights a conversion stored on their int grid, ~0.5 for float weights."""
    moved = np.moveaxis(np.asarray(weight, dtype=np.float64), axis, 0).reshape(weight.shape[axis], -1)
    step = np.maximum(np.abs(moved).max(axis=1, keepdims=True), 1e-12) / (2 ** (bits - 1) - 1)
    codes = moved / step
    return float(np.abs(codes - np.round(codes)).max())


class _Graph:
    """Lookup tables over one ONNX graph."""

    def __init__(self, graph):
        from onnx import numpy_helper

        self.graph = graph
        self.inits = {t.name: t for t in graph.initializer}
        self.consts: Dict[str, np.ndarray] = {name: numpy_helper.to_array(t) for name, t in self.inits.items()}
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: Dict[str, List] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.outputs = {o.name for o in graph.output}

    def scalar(self, name: str) -> Optional[float]:
        value = self.consts.get(name)
        if value is None or value.size != 1:
            return None
        return float(value.reshape(-1)[0])

    def const_operand(self, node) -> Tuple[Optional[float], Optional[str]]:
        """(constant scalar, other input) of a binary node with one scalar-constant input."""
        for i, j in ((1, 0), (0, 1)):
            value = self.scalar(node.input[i])
            if value is not None:
                return value, node.input[j]
        return None, None

    def single_consumer(self, name: str):
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in self.outputs else None


def _match_chain(g: _Graph, floor_node) -> Optional[dict]:
    """The fake-quant chain around one Floor node, or None if it is some other Floor."""
    chain = [floor_node]
    inv_step, zero_point = None, None
    tensor = floor_node.input[0]
    while inv_step is None:
        node = g.producer.get(tensor)
        if node is None or g.single_consumer(tensor) is None:
            return None
        if node.op_type == "Identity":
            tensor = node.input[0]
        elif node.op_type == "Add" and zero_point is None:
            zero_point, tensor = g.const_operand(node)
            if zero_point is None:
                return None
        elif node.op_type == "Mul":
            inv_step, tensor = g.const_operand(node)
            if inv_step is None:
                return None
        else:
            return None
        chain.append(node)
    if zero_point is None:
        return None
    zero_point -= 0.5  # the rounding offset
    source = tensor

    qrange, step, bias = None, None, 0.0
    tensor = floor_node.output[0]
    while True:
        node = g.single_consumer(tensor)
        if node is None:
            break
        if node.op_type == "Identity":
            pass
        elif node.op_type == "Clip" and qrange is None and len(node.input) == 3:
            low, high = g.scalar(node.input[1]), g.scalar(node.input[2])
            if low is None or high is None:
                return None
            qrange = (low, high)
        elif node.op_type == "Mul" and qrange is not None and step is None:
            step, _ = g.const_operand(node)
            if step is None:
                return None
        elif node.op_type == "Add" and step is not None:
            bias, _ = g.const_operand(node)
            if bias is None:
                return None
        else:
            break
        chain.append(node)
        tensor = node.output[0]
    if qrange is None or step is None or step <= 0:
        return None
    if abs(inv_step * step - 1.0) > _RATIO_TOL or abs(bias + zero_point * step) > _RATIO_TOL * max(step, 1.0):
        raise QdqRewriteError(f"fake-quant chain at {floor_node.name or floor_node.output[0]} is inconsistent: "
                              f"1/step {inv_step}, step {step}, zero point {zero_point}, bias {bias}")
    if qrange[0] < -128 or qrange[1] > 127:
        raise QdqRewriteError(f"fake-quant range {qrange} at {floor_node.output[0]} does not fit int8")
    return {"nodes": chain, "source": source, "target": tensor, "step": step, "zero_point": int(round(zero_point))}


def _key(node) -> str:
    # protobuf hands out fresh wrappers per access; an output name identifies a node in an SSA graph
    return node.output[0]


def _add_init(graph, name: str, array: np.ndarray) -> str:
    from onnx import numpy_helper

    graph.initializer.append(numpy_helper.from_array(array, name))
    return name


def _rewrite_activations(g: _Graph, new_nodes: Dict[int, list], dropped: set) -> int:
    from onnx import helper

    count = 0
    for index, node in enumerate(g.graph.node):
        if node.op_type != "Floor" or _key(node) in dropped:
            continue
        chain = _match_chain(g, node)
        if chain is None:
            continue
        prefix = f"{chain['target']}.qdq"
        scale = _add_init(g.graph, prefix + ".scale", np.array(chain["step"], np.float32))
        zero = _add_init(g.graph, prefix + ".zero_point", np.array(chain["zero_point"], np.int8))
        quant = helper.make_node("QuantizeLinear", [chain["source"], scale, zero], [prefix + ".q"], name=prefix + ".Q")
        dequant = helper.make_node("DequantizeLinear", [prefix + ".q", scale, zero], [chain["target"]],
                                   name=prefix + ".DQ")
        # the Floor sits after the chain's input is produced and before its output is used
        new_nodes.setdefault(index, []).extend([quant, dequant])
        dropped.update(_key(n) for n in chain["nodes"])
        count += 1
    return count


def _batch_norm_after(g: _Graph, conv, weight_name: str):
    """The inference BatchNormalization that alone consumes ``conv``'s output, when it can be folded."""
    bn = g.single_consumer(conv.output[0])
    if bn is None or bn.op_type != "BatchNormalization" or len(g.consumers.get(weight_name, [])) != 1:
        return None
    if bn.output[0] in g.outputs or any(g.consts.get(name) is None for name in bn.input[1:5]):
        return None
    return bn


def _fold_batch_norm(g: _Graph, conv, bn, weight: np.ndarray, dropped: set) -> np.ndarray:
    """Fold ``bn`` into ``conv`` (its bias becomes an input, its consumers read the conv); returns the
    folded weight. Each output channel is scaled as a whole, so an int grid per channel survives."""
    gamma, beta, mean, var = (g.consts[name].astype(np.float64) for name in bn.input[1:5])
    eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
    factor = gamma / np.sqrt(var + eps)
    bias = g.consts[conv.input[2]].astype(np.float64) if len(conv.input) > 2 and conv.input[2] else 0.0
    folded_bias = (bias - mean) * factor + beta
    bias_name = _add_init(g.graph, conv.output[0] + ".folded_bias", folded_bias.astype(np.float32))
    if len(conv.input) > 2:
        conv.input[2] = bias_name
    else:
        conv.input.append(bias_name)
    for user in g.consumers.get(bn.output[0], []):
        for i, name in enumerate(user.input):
            if name == bn.output[0]:
                user.input[i] = conv.output[0]
    dropped.add(_key(bn))
    return weight.astype(np.float64) * factor.reshape(-1, 1, 1, 1)


def _rewrite_weights(g: _Graph, new_nodes: Dict[int, list], dropped: set, bits: int) -> Dict[str, int]:
    from onnx import helper

    qmax = 2 ** (bits - 1) - 1
    done, folded = set(), 0
    for node in g.graph.node:
        if node.op_type == "Conv":
            name, axis, ndim = node.input[1], 0, 4
        elif node.op_type == "MatMul":
            name, axis, ndim = node.input[1], 1, 2
        else:
            continue
        weight = g.consts.get(name)
        if name in done or name not in g.inits or weight is None or weight.ndim != ndim:
            continue
        if weight_grid_error(weight, axis, bits) > _GRID_TOL:
            logger.debug("weight %s is not on an int%d grid; left in float", name, bits)
            continue
        bn = _batch_norm_after(g, node, name) if node.op_type == "Conv" else None
        if bn is not None:
            weight = _fold_batch_norm(g, node, bn, weight, dropped)
            folded += 1
        moved = np.moveaxis(weight.astype(np.float64), axis, 0)
        step = np.maximum(np.abs(moved).reshape(moved.shape[0], -1).max(axis=1), 1e-12) / qmax
        shape = [1] * weight.ndim
        shape[axis] = -1
        codes = np.clip(np.round(weight / step.reshape(shape)), -qmax, qmax).astype(np.int8)
        g.graph.initializer.remove(g.inits[name])
        quantized = _add_init(g.graph, name + ".int8", codes)
        scale = _add_init(g.graph, name + ".scale", step.astype(np.float32))
        zero = _add_init(g.graph, name + ".zero_point", np.zeros(step.shape, np.int8))
        new_nodes.setdefault(-1, []).append(
            helper.make_node("DequantizeLinear", [quantized, scale, zero], [name], name=name + ".DQ", axis=axis))
        done.add(name)
    return {"weights": len(done), "folded_batch_norms": folded}


def fake_quant_to_qdq(model, bits: int = 8):
    """Return a QDQ copy of ``model`` (an ``onnx.ModelProto``) and counts of what was rewritten
    (``activations``, ``weights``, ``folded_batch_norms``)."""
    import onnx

    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < MIN_OPSET:
        raise QdqRewriteError(f"per-channel QDQ needs ONNX opset >= {MIN_OPSET}, the model has {opset}")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = _Graph(model.graph)
    new_nodes: Dict[int, list] = {}
    dropped: set = set()
    activations = _rewrite_activations(g, new_nodes, dropped)
    weights = _rewrite_weights(g, new_nodes, dropped, bits)
    nodes = list(new_nodes.get(-1, []))
    for index, node in enumerate(model.graph.node):
        nodes.extend(new_nodes.get(index, []))
        if _key(node) not in dropped:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {name for node in model.graph.node for name in node.input}
    for init in list(model.graph.initializer):
        if init.name not in used:
            model.graph.initializer.remove(init)
    onnx.checker.check_model(model)
    return model, {"activations": activations, **weights}
