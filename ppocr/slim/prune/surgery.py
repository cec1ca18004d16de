"""Physical channel removal: slice every affected weight so the pruned model is really smaller.

Work is described per layer as an *edit* (JSON-friendly): which input and output channels it keeps out
of how many. Edits from all groups are merged first (a concat consumer loses channels from several
groups at once), checked against the model, then applied in one go.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence

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

logger = logging.getLogger(__name__)

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
        _EDITORS[edit["kind"]](layers[name], _keep(edit, "in"), _keep(edit, "out"))


def _keep(edit: Dict[str, Any], side: str) -> Optional[List[int]]:
    return edit[side]["keep"] if side in edit else None


def _take(param: Optional[paddle.Tensor], keep: Optional[List[int]], axis: int) -> None:
    """Slice a parameter in place, so its name, attributes and regulariser stay with it."""
    if param is None or keep is None:
        return
    value = np.take(param.numpy(), keep, axis=axis)
    paddle.to_tensor(value, place=param.place)._share_underline_tensor_to(param)
    param.clear_gradient(False)


def _edit_conv(layer: nn.Conv2D, keep_in, keep_out) -> None:
    _take(layer.weight, keep_out, 0)
    _take(layer.bias, keep_out, 0)
    _take(layer.weight, keep_in, 1)
    layer._out_channels, layer._in_channels = int(layer.weight.shape[0]), int(layer.weight.shape[1])


def _edit_conv_transpose(layer: nn.Conv2DTranspose, keep_in, keep_out) -> None:
    _take(layer.weight, keep_in, 0)
    _take(layer.weight, keep_out, 1)
    _take(layer.bias, keep_out, 0)
    layer._in_channels, layer._out_channels = int(layer.weight.shape[0]), int(layer.weight.shape[1])


def _edit_linear(layer: nn.Linear, keep_in, keep_out) -> None:
    _take(layer.weight, keep_in, 0)
    _take(layer.weight, keep_out, 1)
    _take(layer.bias, keep_out, 0)


def _edit_depthwise(layer: nn.Conv2D, keep, _unused) -> None:
    _take(layer.weight, keep, 0)
    _take(layer.bias, keep, 0)
    layer._groups = layer._in_channels = layer._out_channels = int(layer.weight.shape[0])


def _edit_batch_norm(layer: nn.Layer, keep, _unused) -> None:
    for param in (layer.weight, layer.bias, layer._mean, layer._variance):
        _take(param, keep, 0)
    layer._num_features = len(keep)


def _edit_rnn(layer: nn.Layer, keep_in, _unused) -> None:
    """Only the first layer's input weights see the input features (both directions)."""
    for suffix in ("", "_reverse"):
        _take(getattr(layer, f"weight_ih_l0{suffix}", None), keep_in, 1)
    layer.input_size = len(keep_in)
    for cell in layer[0].sublayers(include_self=True):
        if hasattr(cell, "input_size"):
            cell.input_size = len(keep_in)
    if getattr(layer, "could_use_cudnn", False):
        layer.flatten_parameters()  # re-packs the fused weight buffer the RNN kernel reads


_EDITORS = {
    CONV: _edit_conv,
    CONV_TRANSPOSE: _edit_conv_transpose,
    LINEAR: _edit_linear,
    DEPTHWISE: _edit_depthwise,
    BATCH_NORM: _edit_batch_norm,
    RNN: _edit_rnn,
}
