"""Prune a model in place: trace its channel groups, decide the kept channels, cut, check, record."""
from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Any, Dict, Optional, Sequence

import paddle
import paddle.nn as nn

from ppocr.slim.flops import count_flops, count_params
from ppocr.slim.prune.graph import ChannelGraph, trace_channel_groups
from ppocr.slim.prune.plan import record_stage
from ppocr.slim.prune.planner import GroupDecision, plan_groups, skipped_groups
from ppocr.slim.prune.settings import PruneSettings
from ppocr.slim.prune.surgery import PrunePlanError, apply_edits, layer_edits

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


def measure(model: nn.Layer, kind: str, input_shape: Sequence[int]) -> int:
    if kind == "params":
        return count_params(model)
    if kind == "flops":
        return count_flops(model, input_shape)
    raise ValueError(f"reduction kind must be one of {REDUCTION_KINDS}, got {kind!r}")


def estimate_reduction(model: nn.Layer, graph: ChannelGraph, settings: PruneSettings,
                       input_shape: Sequence[int], kind: str = "params",
                       ratios: Optional[Dict[str, float]] = None, baseline: Optional[int] = None) -> float:
    """Fraction of params (or FLOPs) a plan would remove, measured on a pruned copy."""
    baseline = baseline if baseline is not None else measure(model, kind, input_shape)
    trial = copy.deepcopy(model)
    apply_edits(trial, layer_edits(model, graph, plan_groups(model, graph, settings, ratios)), source="pruning")
    return 1.0 - measure(trial, kind, input_shape) / max(baseline, 1)


def search_amount(model: nn.Layer, settings: PruneSettings, input_shape: Sequence[int], target: float,
                  kind: str = "params", graph: Optional[ChannelGraph] = None, steps: int = 14) -> float:
    """The smallest uniform ``amount`` whose plan removes at least ``target`` of the params/FLOPs.

    Returns the largest amount tried (0.95) with a warning when the target is out of reach.
    """
    graph = graph or trace_channel_groups(model, input_shape)
    baseline = measure(model, kind, input_shape)

    def reduction(amount: float) -> float:
        trial_settings = dataclasses.replace(settings, mode="amount", amount=amount)
        return estimate_reduction(model, graph, trial_settings, input_shape, kind, baseline=baseline)

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
    return high
