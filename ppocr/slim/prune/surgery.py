"""Physical channel removal: slice every affected weight so the pruned model is really smaller.

Work is described per layer as an *edit* (JSON-friendly): which input and output channels it keeps out
of how many. Edits from all groups are merged first (a concat consumer loses channels from several
groups at once), checked against the model, then applied in one go.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn

from ppocr.slim.prune.graph import (
    BATCH_NORM,
    CONV,
    CONV_TRANSPOSE,
    DEPTHWISE,
    LINEAR,
    RNN,
    ChannelGraph,
    in_channels,
    layer_kind,
    out_channels,
)
from ppocr.slim.prune.planner import GroupDecision
from ppocr.utils.errors import CheckpointError

Edits = Dict[str, Dict[str, Any]]


class PrunePlanError(CheckpointError):
    """A pruning plan that does not fit the model it is applied to."""


def layer_edits(model: nn.Layer, graph: ChannelGraph, decisions: Sequence[GroupDecision]) -> Edits:
    """Merge the kept channels of every pruned group into one edit per affected layer."""
    layers = dict(model.named_sublayers(include_self=True))
    out_keep: Dict[str, List[int]] = {}
    in_removed: Dict[str, set] = {}
    for decision in decisions:
        if not decision.pruned:
            continue
        group = decision.group
        kept = set(int(i) for i in decision.keep)
        removed = [i for i in range(group.channels) if i not in kept]
        for name in group.producers:
            out_keep[name] = [int(i) for i in decision.keep]
        for slot in group.consumers:
            cut = in_removed.setdefault(slot.layer, set())
            for i in removed:
                start = slot.offset + i * slot.block
                cut.update(range(start, start + slot.block))
    edits: Edits = {}
    for name in sorted(set(out_keep) | set(in_removed), key=list(layers).index):
        kind = graph.kinds[name]
        layer = layers[name]
        edit: Dict[str, Any] = {"kind": kind}
        if name in in_removed:
            size = in_channels(layer, kind)
            edit["in"] = {"size": size, "keep": [i for i in range(size) if i not in in_removed[name]]}
        if name in out_keep:
            edit["out"] = {"size": out_channels(layer, kind), "keep": out_keep[name]}
        edits[name] = edit
    return edits


def apply_edits(model: nn.Layer, edits: Edits, source: str = "prune plan") -> None:
    """Check every edit against the model, then slice the weights. Errors name the layer and the sizes."""
    layers = dict(model.named_sublayers(include_self=True))
    for name, edit in edits.items():
        layer = layers.get(name)
        if layer is None:
            raise PrunePlanError(f"{source} does not fit this model: it has no layer '{name}' "
                                 "(was the plan made for another Architecture?)")
        kind = layer_kind(layer)
        if kind != edit.get("kind"):
            raise PrunePlanError(f"{source} does not fit this model: layer '{name}' is {kind}, "
                                 f"the plan expects {edit.get('kind')}")
        for side, count in (("in", in_channels), ("out", out_channels)):
            if side not in edit:
                continue
            size, keep = edit[side]["size"], edit[side]["keep"]
            actual = count(layer, kind)
            if actual != size:
                raise PrunePlanError(f"{source} does not fit this model: layer '{name}' has {actual} {side}put "
                                     f"channels, the plan expects {size}")
            if not keep or any(not 0 <= i < size for i in keep) or sorted(set(keep)) != list(keep):
                raise PrunePlanError(f"{source}: layer '{name}' {side}put keep list is not sorted indices below {size}")
    for name, edit in edits.items():
        _apply(layers[name], edit)


# kind → {parameter attribute: {edit side: axis}}: where each side's channels sit in each weight
PARAM_AXES: Dict[str, Dict[str, Dict[str, int]]] = {
    CONV: {"weight": {"out": 0, "in": 1}, "bias": {"out": 0}},
    CONV_TRANSPOSE: {"weight": {"in": 0, "out": 1}, "bias": {"out": 0}},
    LINEAR: {"weight": {"in": 0, "out": 1}, "bias": {"out": 0}},
    DEPTHWISE: {"weight": {"in": 0}, "bias": {"in": 0}},
    BATCH_NORM: {"weight": {"in": 0}, "bias": {"in": 0}, "_mean": {"in": 0}, "_variance": {"in": 0}},
    # only the first layer's input weights (both directions) see the input features
    RNN: {"weight_ih_l0": {"in": 1}, "weight_ih_l0_reverse": {"in": 1}},
}
MIXING = (CONV, CONV_TRANSPOSE, LINEAR, RNN)  # layers whose input channels are summed over


def edited_params(layer: nn.Layer, edit: Dict[str, Any]) -> Iterator[Tuple[paddle.Tensor, Dict[int, List[int]]]]:
    """Each parameter an edit touches, with {axis: kept indices}."""
    for attr, sides in PARAM_AXES[edit["kind"]].items():
        param = getattr(layer, attr, None)
        cuts = {axis: edit[side]["keep"] for side, axis in sides.items() if side in edit}
        if param is not None and cuts:
            yield param, cuts


def _slice(param: paddle.Tensor, cuts: Dict[int, List[int]]) -> None:
    """Slice a parameter in place, so its name, attributes and regulariser stay with it."""
    value = param.numpy()
    for axis, keep in cuts.items():
        value = np.take(value, keep, axis=axis)
    paddle.to_tensor(value, place=param.place)._share_underline_tensor_to(param)
    param.clear_gradient(False)


def _apply(layer: nn.Layer, edit: Dict[str, Any]) -> None:
    for param, cuts in list(edited_params(layer, edit)):
        _slice(param, cuts)
    kind = edit["kind"]
    if kind == CONV:
        layer._out_channels, layer._in_channels = int(layer.weight.shape[0]), int(layer.weight.shape[1])
    elif kind == CONV_TRANSPOSE:
        layer._in_channels, layer._out_channels = int(layer.weight.shape[0]), int(layer.weight.shape[1])
    elif kind == DEPTHWISE:
        layer._groups = layer._in_channels = layer._out_channels = int(layer.weight.shape[0])
    elif kind == BATCH_NORM:
        layer._num_features = len(edit["in"]["keep"])
    elif kind == RNN:
        size = len(edit["in"]["keep"])
        layer.input_size = size
        for cell in layer[0].sublayers(include_self=True):
            if hasattr(cell, "input_size"):
                cell.input_size = size
        if getattr(layer, "could_use_cudnn", False):
            layer.flatten_parameters()  # re-packs the fused weight buffer the RNN kernel reads


@contextlib.contextmanager
def masked(model: nn.Layer, edits: Edits) -> Iterator[None]:
    """Zero, in place, the weights with which mixing layers read the channels ``edits`` would remove.

    In eval mode the model then computes exactly what the pruned model would (a removed channel only
    ever ends in such a layer), without copying it; the weights are restored on exit.
    """
    layers = dict(model.named_sublayers(include_self=True))
    saved = []
    try:
        with paddle.no_grad():
            for name, edit in edits.items():
                if edit["kind"] not in MIXING or "in" not in edit:
                    continue
                for param, cuts in edited_params(layers[name], {"kind": edit["kind"], "in": edit["in"]}):
                    (axis, keep), = cuts.items()
                    value = param.numpy()
                    saved.append((param, value.copy()))
                    dropped = np.setdiff1d(np.arange(value.shape[axis]), keep)
                    index = [slice(None)] * value.ndim
                    index[axis] = dropped
                    value[tuple(index)] = 0
                    param.set_value(value)
        yield
    finally:
        with paddle.no_grad():
            for param, value in saved:
                param.set_value(value)
