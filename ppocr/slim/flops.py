"""Model cost: parameter count and FLOPs of one inference forward.

FLOPs are counted as multiply-accumulates of the convolutions, linear and recurrent layers (the
convention of ``paddle.flops``); batch norms fold into the convs at inference and are left out.
Counting uses forward hooks on the model in eval mode, so it sees the actual (pruned) shapes.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import paddle
import paddle.nn as nn
from paddle.nn.layer.rnn import RNNBase

_GATES = {"LSTM": 4, "GRU": 3}


def count_params(model: nn.Layer, trainable_only: bool = True) -> int:
    """Parameters the optimizer trains (BN running statistics are not counted unless asked)."""
    return int(sum(int(np.prod(p.shape)) for p in model.parameters()
                   if not (trainable_only and (p.stop_gradient or not p.trainable))))


def _conv_macs(layer, inputs, output) -> int:
    weight = layer.weight.shape  # [out, in/groups, kh, kw]
    return int(np.prod(output.shape)) * int(np.prod(weight[1:]))


def _conv_transpose_macs(layer, inputs, output) -> int:
    weight = layer.weight.shape  # [in, out/groups, kh, kw]: each input value feeds out/groups × kh × kw outputs
    return int(np.prod(inputs[0].shape)) * int(np.prod(weight[1:]))


def _linear_macs(layer, inputs, output) -> int:
    return int(np.prod(output.shape)) * int(layer.weight.shape[0])


def _rnn_macs(layer, inputs, output) -> int:
    x = inputs[0]
    steps_times_batch = int(np.prod(x.shape[:2]))
    gates = _GATES.get(layer.mode, 1) * layer.hidden_size
    total = 0
    size = layer.input_size
    for _ in range(layer.num_layers):
        total += layer.num_directions * steps_times_batch * gates * (size + layer.hidden_size)
        size = layer.hidden_size * layer.num_directions
    return total


def rnn_input_share(layer: nn.Layer) -> float:
    """Fraction of an RNN's MACs spent on its (first layer's) input features."""
    gates = _GATES.get(layer.mode, 1) * layer.hidden_size
    per_step, size = 0, layer.input_size
    for _ in range(layer.num_layers):
        per_step += gates * (size + layer.hidden_size)
        size = layer.hidden_size * layer.num_directions
    return gates * layer.input_size / per_step


def layer_flops(model: nn.Layer, input_shape: Sequence[int]) -> Dict[str, int]:
    """MACs of each conv / linear / RNN layer (by name) in one eval-mode forward of a (C, H, W) input."""
    counters: Dict[str, int] = {}

    def hook_for(name: str, fn):
        def hook(layer, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            counters[name] = counters.get(name, 0) + fn(layer, inputs, out)

        return hook

    handles = []
    for name, layer in model.named_sublayers(include_self=True):
        if isinstance(layer, nn.Conv2DTranspose):
            fn = _conv_transpose_macs
        elif isinstance(layer, (nn.Conv1D, nn.Conv2D, nn.Conv3D)):
            fn = _conv_macs
        elif isinstance(layer, nn.Linear):
            fn = _linear_macs
        elif isinstance(layer, RNNBase):
            fn = _rnn_macs
        else:
            continue
        handles.append(layer.register_forward_post_hook(hook_for(name, fn)))
    modes = [(layer, layer.training) for layer in model.sublayers(include_self=True)]
    model.eval()
    try:
        with paddle.no_grad():
            model(paddle.zeros([1, *input_shape], dtype="float32"))
    finally:
        for handle in handles:
            handle.remove()
        for layer, training in modes:
            layer.training = training
    return counters


def count_flops(model: nn.Layer, input_shape: Sequence[int]) -> int:
    """MACs of one eval-mode forward on a single input of ``input_shape`` (C, H, W)."""
    return int(sum(layer_flops(model, input_shape).values()))
