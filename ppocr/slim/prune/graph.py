"""Channel dependency groups, found by tracing the model rather than by rules per architecture.

Removing output channel i of a conv means removing it wherever it flows unmixed: the batch norm after
it, depthwise convs, the input of an SE block, the other operand of a residual add or an SE gate, and
the input channels of every layer that reads it (shifted by an offset after a concat, spread over a
block after a flatten). To find all of these, a copy of the model with positive random weights runs
with hooks:

* every channel-mixing layer (conv, transposed conv, linear, RNN, unknown layers with weights) has its
  output replaced by fixed small noise, so a value can only travel from one mixing layer to the next
  along channel-preserving paths (activations, pools, upsampling, adds, concats, BN, depthwise convs,
  reshapes); depthwise convs become a cheap per-channel stand-in;
* a baseline pass records every layer's input; a probe pass pushes one channel of one source up per
  batch sample (the first and the last channel of every source, in parallel). A layer whose input
  changes in that sample is tied to the source, and the positions that change say where: the first
  channel gives the offset, the last one the block size. Positive weights and pushes survive ReLUs.

Sources whose channels land on the same positions of some layer are tied (residual add, SE gate) and
form one group. Anything that cannot be followed (channels mixed or reordered by a plain op, reaching the
model output, a layer without channel surgery, shared layers) keeps its group unpruned, with a reason.
Batch norms run in eval mode during the trace so that batch samples stay independent.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn
from paddle.nn.layer.norm import _BatchNormBase
from paddle.nn.layer.rnn import RNNBase

INPUT = "<input>"

# layer kinds
CONV = "conv"
CONV_TRANSPOSE = "conv_transpose"
LINEAR = "linear"
DEPTHWISE = "depthwise"
BATCH_NORM = "batch_norm"
RNN = "rnn"
OPAQUE = "opaque"

PRODUCERS = (CONV, CONV_TRANSPOSE, LINEAR)  # output channels can be removed
FROZEN = PRODUCERS + (RNN, OPAQUE)  # outputs replaced by noise while tracing
_BLOCK_CONSUMERS = (LINEAR, RNN)  # may read a channel as a block of features (after a flatten)
_DROPOUT = (nn.Dropout, nn.Dropout2D, nn.Dropout3D, nn.AlphaDropout)
_CHANGE_TOL = 1e-5


@dataclasses.dataclass(frozen=True)
class Slot:
    """Where a group's channels sit in a consumer's input: channel i → ``offset + i*block`` (+ ``block`` values)."""

    layer: str
    offset: int
    block: int = 1


@dataclasses.dataclass
class ChannelGroup:
    """Output channels of ``producers`` that must be kept or removed together, and who reads them."""

    name: str
    channels: int
    producers: List[str]
    consumers: List[Slot]
    skip_reasons: List[str] = dataclasses.field(default_factory=list)

    @property
    def prunable(self) -> bool:
        return not self.skip_reasons


@dataclasses.dataclass
class ChannelGraph:
    kinds: Dict[str, str]
    groups: List[ChannelGroup]

    def group(self, name: str) -> ChannelGroup:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(f"no channel group named '{name}'")


# -- layer facts ---------------------------------------------------------------------------------------

def layer_kind(layer: nn.Layer) -> Optional[str]:
    """How pruning treats a layer; None for layers without weights of their own, and for layers that declare
    ``prune_channelwise`` (their own weights scale whole inputs, e.g. BiFPN fusion weights, never channels)."""
    if getattr(layer, "prune_channelwise", False):
        return None
    if isinstance(layer, nn.Conv2D):
        out_c, in_per_group = layer.weight.shape[0], layer.weight.shape[1]
        groups = layer._groups
        if groups == 1:
            return CONV
        if in_per_group == 1 and out_c == groups:
            return DEPTHWISE
        return OPAQUE  # grouped convs mix channels within groups
    if isinstance(layer, nn.Conv2DTranspose):
        return CONV_TRANSPOSE if layer._groups == 1 else OPAQUE
    if isinstance(layer, nn.Linear):
        return LINEAR
    if isinstance(layer, (_BatchNormBase, nn.BatchNorm)):
        return BATCH_NORM
    if isinstance(layer, RNNBase):
        return RNN
    if any(p is not None for p in layer._parameters.values()):
        return OPAQUE
    return None


def out_channels(layer: nn.Layer, kind: str) -> int:
    if kind in (CONV, DEPTHWISE):
        return int(layer.weight.shape[0])
    if kind in (CONV_TRANSPOSE, LINEAR):
        return int(layer.weight.shape[1])
    if kind == BATCH_NORM:
        return in_channels(layer, kind)
    if kind == RNN:
        return int(layer.hidden_size * layer.num_directions)
    raise ValueError(f"no output channel count for kind {kind}")


def in_channels(layer: nn.Layer, kind: str) -> int:
    if kind == CONV:
        return int(layer.weight.shape[1])
    if kind in (CONV_TRANSPOSE, LINEAR, DEPTHWISE):
        return int(layer.weight.shape[0])
    if kind == BATCH_NORM:
        return int((layer.weight if layer.weight is not None else layer._mean).shape[0])
    if kind == RNN:
        return int(layer.input_size)
    raise ValueError(f"no input channel count for kind {kind}")


def channel_axis(layer: nn.Layer, kind: str) -> int:
    if kind in (CONV, CONV_TRANSPOSE, DEPTHWISE, BATCH_NORM):
        return 1 if str(getattr(layer, "_data_format", "NCHW")).startswith("NC") else -1
    return -1


def batch_axis(layer: nn.Layer, kind: str) -> int:
    return 1 if kind == RNN and getattr(layer, "time_major", False) else 0


def traceable_layers(model: nn.Layer) -> Dict[str, Tuple[nn.Layer, str]]:
    """Sub-layers with weights, by name, in model order (sub-cells of an RNN belong to the RNN)."""
    found: Dict[str, Tuple[nn.Layer, str]] = {}
    rnn_prefixes: List[str] = []
    for name, layer in model.named_sublayers():
        if any(name.startswith(prefix) for prefix in rnn_prefixes):
            continue
        kind = layer_kind(layer)
        if kind is None:
            continue
        if kind == RNN:
            rnn_prefixes.append(name + ".")
        found[name] = (layer, kind)
    return found


# -- tracing --------------------------------------------------------------------------------------------

def _leaves(obj: Any) -> List[paddle.Tensor]:
    if isinstance(obj, paddle.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [leaf for item in obj for leaf in _leaves(item)]
    if isinstance(obj, dict):
        return [leaf for key in obj for leaf in _leaves(obj[key])]
    return []


def _rebuild(obj: Any, replace: Callable[[Any], Any]) -> Any:
    """The same nesting of lists, tuples and dicts with every tensor or array leaf replaced."""
    if isinstance(obj, (paddle.Tensor, np.ndarray)):
        return replace(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rebuild(item, replace) for item in obj)
    if isinstance(obj, dict):
        return {key: _rebuild(value, replace) for key, value in obj.items()}
    return obj


def _is_float(t: paddle.Tensor) -> bool:
    return t.dtype in (paddle.float32, paddle.float64, paddle.float16, paddle.bfloat16)


def _axes_first(ndim: int, batch: int, channel: int) -> List[int]:
    """A permutation putting the batch axis first and the channel axis second."""
    batch, channel = batch % ndim, channel % ndim
    return [batch, channel] + [axis for axis in range(ndim) if axis not in (batch, channel)]


def _changed(new: paddle.Tensor, old: paddle.Tensor) -> paddle.Tensor:
    return paddle.logical_not(paddle.isclose(new, old, rtol=_CHANGE_TOL, atol=_CHANGE_TOL))


def _changed_channels(new: paddle.Tensor, old: paddle.Tensor, batch: int, channel: int) -> np.ndarray:
    """Boolean [batch, channels]: which channels of which sample differ anywhere."""
    changed = _changed(new, old).transpose(_axes_first(new.ndim, batch, channel))
    return changed.reshape([changed.shape[0], changed.shape[1], -1]).any(axis=2).numpy()


def _changed_samples(new: paddle.Tensor, old: paddle.Tensor) -> np.ndarray:
    return _changed(new, old).reshape([new.shape[0], -1]).any(axis=1).numpy()


class _Tracer:
    """Hooks and stand-in forwards for the two shape passes, the baseline pass and the probe pass."""

    def __init__(self, layers: Dict[str, Tuple[nn.Layer, str]], probes: Dict[str, List[Tuple[int, int]]],
                 rng: np.random.RandomState):
        self.layers = layers
        self.probes = probes
        self.rng = rng
        self.phase = "1"
        self.calls: Dict[str, int] = {}
        self.current: Dict[str, int] = {}
        self.shapes: Dict[str, Dict[Tuple[str, int], Any]] = {"1": {}, "2": {}}
        self.outputs: Dict[Tuple[str, int], Any] = {}
        self.pushes: Dict[str, paddle.Tensor] = {}
        self.inputs: Dict[Tuple[str, int], List[paddle.Tensor]] = {}
        self.masks: Dict[Tuple[str, int], np.ndarray] = {}
        self.opaque_hits: Dict[Tuple[str, int], np.ndarray] = {}
        self.handles = []

    def attach(self) -> None:
        for name, (layer, kind) in self.layers.items():
            self.handles.append(layer.register_forward_pre_hook(self._pre(name, kind)))
            if kind in FROZEN or kind == DEPTHWISE:
                self.handles.append(layer.register_forward_post_hook(self._post(name)))

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()

    def start(self, phase: str) -> None:
        self.phase = phase
        self.calls = {}

    def freeze(self, batch: int) -> None:
        """Swap the forwards: mixing layers emit fixed noise shaped as their output at ``batch`` (the batch
        axis of each output is where the batch-1 and batch-2 shapes differ); depthwise convs a stand-in."""
        for key, structure in self.shapes["1"].items():
            name = key[0]
            layer, kind = self.layers[name]
            if kind == DEPTHWISE:
                continue
            leaves = iter(_leaves(self.shapes["2"].get(key, structure)))

            def noise(t: paddle.Tensor) -> Any:
                other = next(leaves)
                if not _is_float(t):
                    return t
                # small values: no gate or activation starts saturated, so a push always shows
                value = self.rng.uniform(-0.5, 0.5, size=t.shape).astype("float32")
                for axis, (a, b) in enumerate(zip(t.shape, other.shape)):
                    if a != b:  # the batch axis: every sample starts from the same values
                        value = np.repeat(value, batch, axis=axis)
                return paddle.to_tensor(value)

            self.outputs[key] = _rebuild(structure, noise)
            if name in self.probes and key[1] == 0:
                first = _leaves(self.outputs[key])[0]
                self.pushes[name] = _push(first.shape, batch_axis(layer, kind), channel_axis(layer, kind),
                                          self.probes[name], float(first.abs().max()))
        for name, (layer, kind) in self.layers.items():
            if kind in FROZEN:
                layer.forward = self._fixed_forward(name)
            elif kind == DEPTHWISE:
                layer.forward = self._channelwise_forward(name, layer, batch)

    def _fixed_forward(self, name: str):
        def forward(*args, **kwargs):
            key = (name, self.current.get(name, 0))
            push = self.pushes.get(name) if self.phase == "probe" and key[1] == 0 else None
            first = [True]

            def emit(t: paddle.Tensor) -> paddle.Tensor:
                if not _is_float(t):
                    return t
                out = t + push if push is not None and first[0] else t.clone()
                first[0] = False
                return out

            return _rebuild(self.outputs[key], emit)

        return forward

    def _channelwise_forward(self, name: str, layer: nn.Layer, batch: int):
        """A cheap stand-in for a depthwise conv (Paddle's CPU kernel is slow at large batch): each output
        channel is its input channel's spatial mean, so a change still reaches exactly that channel."""
        channel = channel_axis(layer, DEPTHWISE)

        def forward(x):
            shape = list(self.shapes["1"][(name, self.current.get(name, 0))].shape)
            shape[0] = batch
            spatial = [axis for axis in range(x.ndim) if axis not in (0, channel % x.ndim)]
            return x.mean(axis=spatial, keepdim=True).expand(shape)

        return forward

    def _pre(self, name: str, kind: str):
        def hook(layer, inputs):
            k = self.calls.get(name, 0)
            self.calls[name] = k + 1
            self.current[name] = k
            if self.phase not in ("baseline", "probe"):
                return None
            tensors = [t for t in _leaves(inputs) if _is_float(t) and t.ndim > 0]
            if kind != OPAQUE:
                tensors = tensors[:1]
            if self.phase == "baseline":
                self.inputs[(name, k)] = [t.clone() for t in tensors]
                return None
            base = self.inputs.get((name, k))
            if base is None or [t.shape for t in base] != [t.shape for t in tensors]:
                return None
            if kind == OPAQUE:
                hits = [_changed_samples(new, old) for new, old in zip(tensors, base)]
                if hits:
                    self.opaque_hits[(name, k)] = np.logical_or.reduce(hits)
            elif tensors:
                self.masks[(name, k)] = _changed_channels(tensors[0], base[0], batch_axis(layer, kind),
                                                          channel_axis(layer, kind))
            return None

        return hook

    def _post(self, name: str):
        def hook(layer, inputs, outputs):
            if self.phase in self.shapes:
                self.shapes[self.phase][(name, self.current[name])] = outputs
            return None

        return hook


def _push(shape: Sequence[int], batch: int, channel: int, probes: List[Tuple[int, int]], level: float) -> paddle.Tensor:
    """A large positive offset on channel c of sample b for each probe (b, c), zero elsewhere.

    With all traced weights positive, a positive push survives ReLU, BN, pooling and gates.
    """
    perm = _axes_first(len(shape), batch, channel)
    delta = np.zeros([shape[axis] for axis in perm], dtype="float32")
    for b, c in probes:
        delta[b, c] = 10.0 * (level + 1.0)
    return paddle.to_tensor(np.transpose(delta, np.argsort(perm)))


def _randomize(model: nn.Layer, rng: np.random.RandomState) -> None:
    """Positive weights of 0.5–1.5: never zero (which would hide a path), never flipping a sign."""
    for param in model.parameters():
        param.set_value(rng.uniform(0.5, 1.5, size=param.shape).astype(param.numpy().dtype))


def _trace_mode(model: nn.Layer) -> None:
    """Training-mode forward (every branch runs) with sample-independent normalisation and no dropout."""
    model.train()
    for layer in model.sublayers():
        if isinstance(layer, (_BatchNormBase, nn.BatchNorm) + _DROPOUT):
            layer.eval()


def trace_channel_groups(model: nn.Layer, input_shape: Sequence[int], seed: int = 0) -> ChannelGraph:
    """Channel groups of ``model`` for an input of ``input_shape`` (C, H, W without batch).

    Works on a deep copy with random weights; ``model`` itself is untouched.
    """
    net = copy.deepcopy(model)
    rng = np.random.RandomState(seed)
    _randomize(net, rng)
    _trace_mode(net)
    layers = traceable_layers(net)
    order = {name: i for i, name in enumerate(layers)}

    channels = {INPUT: int(input_shape[0])}
    for name, (layer, kind) in layers.items():
        if kind in PRODUCERS or kind == RNN:
            channels[name] = out_channels(layer, kind)
    probes: Dict[str, List[Tuple[int, int]]] = {}
    batch = 0
    for source, count in channels.items():
        picks = [0] if count == 1 else [0, count - 1]
        probes[source] = [(batch + i, c) for i, c in enumerate(picks)]
        batch += len(picks)

    tracer = _Tracer(layers, {k: v for k, v in probes.items() if k != INPUT}, rng)
    tracer.attach()
    sample = rng.uniform(-1.0, 1.0, size=[1, *input_shape]).astype("float32")
    try:
        with paddle.no_grad():
            for size in (1, 2):
                tracer.start(str(size))
                net(paddle.to_tensor(np.repeat(sample, size, axis=0)))
            tracer.freeze(batch)
            x = paddle.to_tensor(np.repeat(sample, batch, axis=0))
            tracer.start("baseline")
            base_out = [t.clone() for t in _leaves(net(x)) if _is_float(t)]
            calls = dict(tracer.calls)
            tracer.start("probe")
            probe_out = [t for t in _leaves(net(x + _push(x.shape, 0, 1, probes[INPUT], 1.0))) if _is_float(t)]
    finally:
        tracer.detach()

    reaches_output = np.zeros(batch, dtype=bool)
    for new, old in zip(probe_out, base_out):
        if new.ndim and new.shape[0] == batch:
            reaches_output |= _changed_samples(new, old)
    return _build_groups(layers, order, channels, probes, calls, tracer, reaches_output)


# -- grouping -------------------------------------------------------------------------------------------

def _contiguous(idx: np.ndarray) -> bool:
    return idx.size > 0 and int(idx[-1]) - int(idx[0]) + 1 == idx.size


def _decode_slot(first: np.ndarray, last: np.ndarray, count: int) -> Optional[Tuple[int, int]]:
    """(offset, block) from the consumer positions hit by the first and the last source channel."""
    if not _contiguous(first):
        return None
    block = first.size
    if count == 1:
        return int(first[0]), block
    if last.size != block or not _contiguous(last) or int(last[0]) != int(first[0]) + (count - 1) * block:
        return None
    return int(first[0]), block


class _UnionFind:
    def __init__(self, items: Sequence[str]):
        self.parent = {item: item for item in items}

    def find(self, item: str) -> str:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def _build_groups(layers, order, channels, probes, calls, tracer: _Tracer, reaches_output) -> ChannelGraph:
    kinds = {name: kind for name, (_, kind) in layers.items()}
    reasons: Dict[str, List[str]] = {source: [] for source in channels}
    slots: Dict[str, List[Tuple[str, int, int]]] = {}

    for source, count in channels.items():
        why = reasons[source]
        samples = [b for b, _ in probes[source]]
        first, last = samples[0], samples[-1]
        if source == INPUT:
            why.append("carries the model input channels")
        elif kinds[source] == RNN:
            why.append("is a recurrent layer (its hidden size is not pruned)")
        elif calls.get(source, 0) == 0:
            why.append("is not called in the traced forward")
        elif calls[source] > 1:
            why.append(f"is called {calls[source]} times per forward (shared weights)")
        if reaches_output[first] or reaches_output[last]:
            why.append("its channels reach the model output")
        for (name, _), mask in tracer.masks.items():
            hit_first, hit_last = np.flatnonzero(mask[first]), np.flatnonzero(mask[last])
            if not hit_first.size and not hit_last.size:
                continue
            kind = kinds[name]
            slot = _decode_slot(hit_first, hit_last, count)
            if slot is None:
                why.append(f"its channels reach {name} mixed, sliced or reordered")
            elif calls.get(name, 0) > 1:
                why.append(f"feeds {name}, which is called {calls[name]} times per forward")
            elif slot[1] > 1 and kind not in _BLOCK_CONSUMERS:
                why.append(f"feeds {name} ({kind}) as blocks of {slot[1]} values per channel")
            else:
                slots.setdefault(name, []).append((source, slot[0], slot[1]))
        for (name, _), hit in tracer.opaque_hits.items():
            if hit[first] or hit[last]:
                type_name = type(layers[name][0]).__name__
                why.append(f"feeds {name} ({type_name}), which has no channel surgery")

    union = _UnionFind(list(channels))
    for name, entries in slots.items():
        for i, (src_a, off_a, blk_a) in enumerate(entries):
            span_a = (off_a, off_a + channels[src_a] * blk_a)
            for src_b, off_b, blk_b in entries[i + 1:]:
                span_b = (off_b, off_b + channels[src_b] * blk_b)
                if span_a == span_b and blk_a == blk_b:
                    union.union(src_a, src_b)
                elif span_a[0] < span_b[1] and span_b[0] < span_a[1]:
                    reasons[src_a].append(f"overlaps {src_b} partially at {name}")
                    reasons[src_b].append(f"overlaps {src_a} partially at {name}")

    members: Dict[str, List[str]] = {}
    for source in channels:
        members.setdefault(union.find(source), []).append(source)

    def rank(source: str) -> int:
        return -1 if source == INPUT else order[source]

    groups = []
    for sources in members.values():
        sources.sort(key=rank)
        consumers = sorted({Slot(name, off, blk) for name, entries in slots.items()
                            for src, off, blk in entries if src in sources},
                           key=lambda s: (order[s.layer], s.offset))
        why = list(dict.fromkeys(f"{src} {r}" if len(sources) > 1 else r for src in sources for r in reasons[src]))
        groups.append(ChannelGroup(name=sources[0], channels=channels[sources[0]],
                                   producers=[s for s in sources if s != INPUT], consumers=consumers,
                                   skip_reasons=why))
    groups.sort(key=lambda g: rank(g.name))
    return ChannelGraph(kinds=kinds, groups=groups)
