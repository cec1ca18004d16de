"""Prune a model in place: trace its channel groups, decide the kept channels, cut, check, record."""
from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Any, Dict, Optional, Sequence

import numpy as np
import paddle
import paddle.nn as nn

from ppocr.slim.flops import count_flops, count_params, layer_flops, rnn_input_share
from ppocr.slim.prune.graph import RNN, ChannelGraph, in_channels, out_channels, trace_channel_groups
from ppocr.slim.prune.plan import record_stage
from ppocr.slim.prune.planner import GroupDecision, all_scores, plan_groups, skipped_groups
from ppocr.slim.prune.settings import PruneSettings
from ppocr.slim.prune.surgery import Edits, PrunePlanError, apply_edits, edited_params, layer_edits

logger = logging.getLogger(__name__)

REDUCTION_KINDS = ("params", "flops")


def check_forward(model: nn.Layer, input_shape: Sequence[int]) -> None:
    """Run a train-mode and an eval-mode forward; the model is a throwaway copy (BN statistics move)."""
    for training in (True, False):
        model.train() if training else model.eval()
        try:
            with paddle.no_grad():
                model(paddle.rand([2, *input_shape], dtype="float32"))
        except Exception as exc:
            mode = "train" if training else "eval"
            raise PrunePlanError(f"the pruned model fails its {mode}-mode forward: {' '.join(str(exc).split())[:500]}")


def prune_model(model: nn.Layer, settings: PruneSettings, input_shape: Sequence[int],
                ratios: Optional[Dict[str, float]] = None, graph: Optional[ChannelGraph] = None) -> Dict[str, Any]:
    """Remove channels from ``model`` in place and return the stage recorded in its prune plan.

    ``input_shape`` (C, H, W) is the input used to trace the model and check the result; ``ratios``
    are per-group amounts (e.g. from the sensitivity analysis) on top of ``settings.ratios``.
    """
    graph = graph or trace_channel_groups(model, input_shape)
    decisions = plan_groups(model, graph, settings, ratios)
    edits = layer_edits(model, graph, decisions)
    trial = copy.deepcopy(model)
    apply_edits(trial, edits, source="pruning")
    check_forward(trial, input_shape)
    before = count_params(model)
    apply_edits(model, edits, source="pruning")
    after = count_params(model)
    stage = {
        "settings": dataclasses.asdict(settings),
        "ratios": dict(ratios or {}),
        "input_shape": list(input_shape),
        "params": {"before": before, "after": after},
        "groups": [_group_summary(d) for d in decisions],
        "layers": edits,
    }
    record_stage(model, stage)
    for group, reason in skipped_groups(graph, settings):
        logger.info("not pruned: %s (%s)", group.name, reason)
    pruned = [d for d in decisions if d.pruned]
    logger.info("pruned %d of %d channel groups (%d filters removed); params %d -> %d (-%.1f%%)",
                len(pruned), len(graph.groups), sum(d.group.channels - len(d.keep) for d in pruned),
                before, after, 100.0 * (1 - after / max(before, 1)))
    for d in pruned:
        logger.info("  %s: %d -> %d channels", d.group.name, d.group.channels, len(d.keep))
    return stage


def _group_summary(decision: GroupDecision) -> Dict[str, Any]:
    group = decision.group
    return {"name": group.name, "channels": group.channels, "kept": int(len(decision.keep)),
            "producers": list(group.producers)}


def _trainable(param: paddle.Tensor) -> bool:
    return param.trainable and not param.stop_gradient


def removed_params(model: nn.Layer, edits: Edits) -> int:
    """Trainable parameters the edits would remove (computed from shapes, without cutting)."""
    layers = dict(model.named_sublayers(include_self=True))
    removed, seen = 0, set()
    for name, edit in edits.items():
        for param, cuts in edited_params(layers[name], edit):
            if id(param) in seen or not _trainable(param):
                continue
            seen.add(id(param))
            size = float(np.prod(param.shape))
            kept = size
            for axis, keep in cuts.items():
                kept *= len(keep) / param.shape[axis]
            removed += int(round(size - kept))
    return removed


def removed_flops(model: nn.Layer, edits: Edits, costs: Dict[str, int]) -> int:
    """MACs the edits would remove, from the per-layer MACs of :func:`layer_flops`."""
    layers = dict(model.named_sublayers(include_self=True))
    removed = 0.0
    for name, edit in edits.items():
        if name not in costs:
            continue
        layer, kind = layers[name], edit["kind"]
        fraction = 1.0
        for side, count in (("in", in_channels), ("out", out_channels)):
            if side in edit:
                fraction *= len(edit[side]["keep"]) / count(layer, kind)
        if kind == RNN:
            fraction = 1.0 - rnn_input_share(layer) * (1.0 - fraction)
        removed += costs[name] * (1.0 - fraction)
    return int(round(removed))


def measure(model: nn.Layer, kind: str, input_shape: Sequence[int]) -> int:
    if kind == "params":
        return count_params(model)
    if kind == "flops":
        return count_flops(model, input_shape)
    raise ValueError(f"reduction kind must be one of {REDUCTION_KINDS}, got {kind!r}")


def estimate_reduction(model: nn.Layer, graph: ChannelGraph, settings: PruneSettings,
                       input_shape: Sequence[int], kind: str = "params",
                       ratios: Optional[Dict[str, float]] = None,
                       costs: Optional[Dict[str, int]] = None,
                       scores: Optional[Dict[str, np.ndarray]] = None) -> float:
    """Fraction of params (or FLOPs) a plan would remove, computed from shapes (the model is untouched).

    ``costs`` (:func:`layer_flops`) and ``scores`` (:func:`all_scores`) cache work across calls."""
    edits = layer_edits(model, graph, plan_groups(model, graph, settings, ratios, scores))
    if kind == "params":
        return removed_params(model, edits) / max(count_params(model), 1)
    if kind == "flops":
        costs = costs if costs is not None else layer_flops(model, input_shape)
        return removed_flops(model, edits, costs) / max(sum(costs.values()), 1)
    raise ValueError(f"reduction kind must be one of {REDUCTION_KINDS}, got {kind!r}")


def search_amount(model: nn.Layer, settings: PruneSettings, input_shape: Sequence[int], target: float,
                  kind: str = "params", graph: Optional[ChannelGraph] = None, steps: int = 14) -> float:
    """The uniform ``amount`` whose plan removes the share of params/FLOPs nearest to ``target``.

    Granularity makes the reduction jump in steps, so the amounts just below and just above the target
    are compared. Returns 0.95 with a warning when even that falls short.
    """
    graph = graph or trace_channel_groups(model, input_shape)
    costs = layer_flops(model, input_shape) if kind == "flops" else None
    scores = all_scores(model, graph, settings)

    def reduction(amount: float) -> float:
        trial_settings = dataclasses.replace(settings, mode="amount", amount=amount)
        return estimate_reduction(model, graph, trial_settings, input_shape, kind, costs=costs, scores=scores)

    low, high = 0.0, 0.95
    if reduction(high) < target:
        logger.warning("a uniform amount cannot remove %.1f%% of the %s (at most %.1f%%)",
                       100 * target, kind, 100 * reduction(high))
        return high
    for _ in range(steps):
        mid = (low + high) / 2
        if reduction(mid) >= target:
            high = mid
        else:
            low = mid
    above, below = reduction(high), reduction(low)
    chosen, reached = (high, above) if above - target <= target - below else (low, below)
    if abs(reached - target) > 0.02:
        logger.warning("granularity %d / min_num_filters %d allow %.1f%% or %.1f%% fewer %s, not %.1f%%: using "
                       "%.1f%% (a smaller granularity gets closer)", settings.granularity, settings.min_num_filters,
                       100 * below, 100 * above, kind, 100 * target, 100 * reached)
    return chosen
