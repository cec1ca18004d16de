"""Which channels each group keeps: importance scores, the three TAO modes, granularity and minimums."""
from __future__ import annotations

import dataclasses
import fnmatch
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import paddle.nn as nn

from ppocr.slim.prune.criteria import equalize, filter_scores, normalize
from ppocr.slim.prune.graph import CONV, CONV_TRANSPOSE, LINEAR, ChannelGraph, ChannelGroup, layer_kind
from ppocr.slim.prune.settings import PruneSettings

_OUT_AXIS = {CONV: 0, CONV_TRANSPOSE: 1, LINEAR: 1}


@dataclasses.dataclass
class GroupDecision:
    group: ChannelGroup
    scores: np.ndarray  # normalised importance per channel
    keep: np.ndarray  # sorted indices of the channels kept

    @property
    def pruned(self) -> bool:
        return len(self.keep) < self.group.channels


def matches(name: str, patterns: Sequence[str]) -> bool:
    return any(name == p or fnmatch.fnmatchcase(name, p) for p in patterns)


def group_scores(model: nn.Layer, group: ChannelGroup, settings: PruneSettings) -> np.ndarray:
    """Normalised importance of each channel, combined over the group's producers."""
    layers = dict(model.named_sublayers(include_self=True))
    per_layer = []
    for name in group.producers:
        layer = layers[name]
        raw = filter_scores(layer.weight.numpy(), _OUT_AXIS[layer_kind(layer)], settings.criterion)
        per_layer.append(normalize(raw, settings.normalizer))
    return normalize(equalize(per_layer, settings.equalization_criterion), settings.normalizer)


def kept_count(channels: int, wanted: int, granularity: int, min_num_filters: int) -> int:
    """At least ``min_num_filters`` (or all, if fewer), at least one, rounded up to a multiple of
    ``granularity``; a group whose rounded count would exceed its size keeps everything."""
    keep = max(int(wanted), min(min_num_filters, channels), 1)
    keep = int(math.ceil(keep / granularity) * granularity)
    return min(keep, channels)


def top_channels(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` highest scores (ties go to the lower index), in channel order."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return np.sort(order[:count])


def _ratio_for(group: ChannelGroup, ratios: Dict[str, float]) -> Optional[float]:
    for pattern, ratio in ratios.items():
        if matches(group.name, [pattern]) or any(matches(p, [pattern]) for p in group.producers):
            return float(ratio)
    return None


def skipped_groups(graph: ChannelGraph, settings: PruneSettings) -> List[Tuple[ChannelGroup, str]]:
    """Groups left alone, with the reason: unsafe to prune, or matched by ``excluded_layers``."""
    skipped = []
    for group in graph.groups:
        if not group.prunable:
            skipped.append((group, "; ".join(group.skip_reasons)))
        elif any(matches(p, settings.excluded_layers) for p in group.producers):
            skipped.append((group, "excluded_layers"))
    return skipped


def candidate_groups(graph: ChannelGraph, settings: PruneSettings) -> List[ChannelGroup]:
    skipped = {id(group) for group, _ in skipped_groups(graph, settings)}
    return [group for group in graph.groups if id(group) not in skipped]


def all_scores(model: nn.Layer, graph: ChannelGraph, settings: PruneSettings) -> Dict[str, np.ndarray]:
    """Scores of every candidate group by name, to reuse across many :func:`plan_groups` calls."""
    return {g.name: group_scores(model, g, settings) for g in candidate_groups(graph, settings)}


def plan_groups(model: nn.Layer, graph: ChannelGraph, settings: PruneSettings,
                ratios: Optional[Dict[str, float]] = None,
                scores: Optional[Dict[str, np.ndarray]] = None) -> List[GroupDecision]:
    """Decide the kept channels of every candidate group.

    ``ratios`` (group or layer name → amount) add to and override ``settings.ratios``; a group with a
    ratio is pruned by that amount whatever the mode. ``scores`` come from :func:`all_scores`.
    """
    overrides = {**settings.ratios, **(ratios or {})}
    groups = candidate_groups(graph, settings)
    cached = scores or {}
    scored = [(g, cached[g.name] if g.name in cached else group_scores(model, g, settings)) for g in groups]
    threshold = settings.threshold
    if settings.mode == "experimental_hybrid":
        threshold = hybrid_threshold([s for g, s in scored if _ratio_for(g, overrides) is None],
                                     settings.amount_required())
    decisions = []
    for group, importance in scored:
        ratio = _ratio_for(group, overrides)
        if ratio is None and settings.mode == "amount":
            ratio = settings.amount_required()
        if ratio is not None:
            wanted = group.channels - int(math.floor(group.channels * ratio + 1e-9))
        else:
            wanted = int((importance >= threshold).sum())
        count = kept_count(group.channels, wanted, settings.granularity, settings.min_num_filters)
        decisions.append(GroupDecision(group, importance, top_channels(importance, count)))
    return decisions


def hybrid_threshold(scores: Sequence[np.ndarray], amount: float) -> float:
    """The importance below which ``amount`` of all candidate channels fall (one threshold for all)."""
    if not scores:
        return 0.0
    flat = np.sort(np.concatenate(list(scores)))
    index = int(math.floor(len(flat) * amount + 1e-9))
    return float(flat[index]) if index < len(flat) else float(flat[-1]) + 1.0
