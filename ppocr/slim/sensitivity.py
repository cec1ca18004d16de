"""Sensitivity analysis: how much the eval metric drops when one channel group alone is pruned.

Uniform ratios hurt (PP-OCR: "the same ratio for every layer usually costs a lot of accuracy"), so each
prunable group is pruned on its own at several ratios and evaluated. The table is saved after every
group (atomically, CSV or JSON by extension) so an interrupted run resumes where it stopped. From the
table, :func:`ratios_for_target` picks per-group ratios for a whole-model params/FLOPs reduction: one
tolerated metric drop for all groups, each group pruned as far as that tolerance allows, the tolerance
searched until the reduction is reached.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import paddle.nn as nn

from ppocr.slim.flops import layer_flops
from ppocr.slim.prune.graph import ChannelGraph, trace_channel_groups
from ppocr.slim.prune.planner import all_scores, candidate_groups, plan_groups
from ppocr.slim.prune.pruner import estimate_reduction
from ppocr.slim.prune.settings import PruneSettings
from ppocr.slim.prune.surgery import layer_edits, masked
from ppocr.utils.io import atomic_write

logger = logging.getLogger(__name__)

COLUMNS = ("group", "channels", "ratio", "kept", "metric", "baseline", "drop")


@dataclasses.dataclass
class SensitivityTable:
    metric: str
    baseline: float
    rows: List[Dict[str, float]] = dataclasses.field(default_factory=list)
    model: str = ""  # which weights were analysed; a table for other weights is not reused

    def has(self, group: str, channels: int, ratio: float) -> bool:
        return any(r["group"] == group and r["channels"] == channels and abs(r["ratio"] - ratio) < 1e-9
                   for r in self.rows)

    def curves(self) -> Dict[str, List[Tuple[float, float]]]:
        """group → [(ratio, metric drop)] sorted by ratio."""
        found: Dict[str, List[Tuple[float, float]]] = {}
        for row in self.rows:
            found.setdefault(row["group"], []).append((float(row["ratio"]), float(row["drop"])))
        return {group: sorted(points) for group, points in found.items()}


def save_table(table: SensitivityTable, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith(".json"):
        text = json.dumps(dataclasses.asdict(table), indent=1)
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS) + ["metric_name", "model"])
        writer.writeheader()
        for row in table.rows:
            writer.writerow({**row, "metric_name": table.metric, "model": table.model})
        text = buffer.getvalue()
    with atomic_write(path, "w") as f:
        f.write(text)


def load_table(path: str) -> SensitivityTable:
    """Read a table written by :func:`save_table`; a malformed file is a one-line ValueError."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if path.endswith(".json"):
            data = json.loads(text)
            return SensitivityTable(data["metric"], float(data["baseline"]),
                                    [_typed(row) for row in data["rows"]], data.get("model", ""))
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows:
            raise ValueError("no rows")
        return SensitivityTable(rows[0]["metric_name"], float(rows[0]["baseline"]), [_typed(r) for r in rows],
                                rows[0].get("model") or "")
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"sensitivity table '{path}' cannot be read: {exc}") from None


def _typed(row: Dict) -> Dict:
    return {"group": str(row["group"]), "channels": int(row["channels"]), "ratio": float(row["ratio"]),
            "kept": int(row["kept"]), "metric": float(row["metric"]), "baseline": float(row["baseline"]),
            "drop": float(row["drop"])}


def _single(graph: ChannelGraph, name: str) -> ChannelGraph:
    return ChannelGraph(kinds=graph.kinds, groups=[graph.group(name)])


def analyze_sensitivity(model: nn.Layer, evaluate: Callable[[nn.Layer], float], input_shape: Sequence[int],
                        settings: PruneSettings, ratios: Optional[Sequence[float]] = None,
                        path: Optional[str] = None, metric: str = "metric",
                        graph: Optional[ChannelGraph] = None, model_id: str = "") -> SensitivityTable:
    """Prune each candidate group alone at each ratio (granularity and minimums apply) and record
    ``evaluate(model)``; rows already in the table at ``path`` for the same ``model_id`` are reused.

    Pruning is simulated by zeroing the removed channels' input weights in place (exactly what the
    pruned model computes in eval mode), restored after each evaluation."""
    ratios = sorted(ratios or settings.sensitivity_ratios)
    graph = graph or trace_channel_groups(model, input_shape)
    table = load_table(path) if path and os.path.isfile(path) else None
    if table is not None and (table.metric, table.model) == (metric, model_id):
        logger.info("resuming the sensitivity table %s (%d rows)", path, len(table.rows))
    else:
        if table is not None:
            logger.info("%s was made for other weights or another metric; starting a new table", path)
        baseline = float(evaluate(model))
        logger.info("sensitivity baseline %s: %.4f", metric, baseline)
        table = SensitivityTable(metric, baseline, model=model_id)
    for group in candidate_groups(graph, settings):
        for ratio in ratios:
            if table.has(group.name, group.channels, ratio):
                continue
            single = dataclasses.replace(settings, mode="amount", amount=ratio, ratios={})
            decisions = plan_groups(model, _single(graph, group.name), single)
            kept = len(decisions[0].keep)
            if decisions[0].pruned:
                with masked(model, layer_edits(model, graph, decisions)):
                    value = float(evaluate(model))
            else:
                value = table.baseline  # granularity / min_num_filters leave the group whole at this ratio
            table.rows.append({"group": group.name, "channels": group.channels, "ratio": ratio, "kept": kept,
                               "metric": value, "baseline": table.baseline, "drop": table.baseline - value})
            logger.info("sensitivity %s ratio %.2f (%d/%d kept): %s %.4f (drop %.4f)", group.name, ratio, kept,
                        group.channels, metric, value, table.baseline - value)
        if path:
            save_table(table, path)
    return table


def ratios_at_tolerance(table: SensitivityTable, tolerance: float) -> Dict[str, float]:
    """Per group, the largest ratio whose metric drop stays within ``tolerance`` (linear in between)."""
    chosen = {}
    for group, points in table.curves().items():
        best, prev_ratio, prev_drop = 0.0, 0.0, 0.0
        for ratio, drop in points:
            if drop <= tolerance:
                best, prev_ratio, prev_drop = ratio, ratio, drop
                continue
            if drop > prev_drop:
                best = prev_ratio + (ratio - prev_ratio) * (tolerance - prev_drop) / (drop - prev_drop)
            break
        chosen[group] = max(0.0, best)
    return chosen


def ratios_for_target(table: SensitivityTable, model: nn.Layer, settings: PruneSettings,
                      input_shape: Sequence[int], target: float, kind: str = "params",
                      graph: Optional[ChannelGraph] = None, steps: int = 20) -> Dict[str, float]:
    """Per-group ratios that remove at least ``target`` of the params (or FLOPs) at the smallest
    tolerated metric drop, then scaled down together as far as the target allows. Groups missing from
    the table are not pruned."""
    graph = graph or trace_channel_groups(model, input_shape)
    plan_settings = dataclasses.replace(settings, mode="amount", amount=0.0)
    costs = layer_flops(model, input_shape) if kind == "flops" else None
    scores = all_scores(model, graph, plan_settings)

    def reduction(ratios: Dict[str, float]) -> float:
        return estimate_reduction(model, graph, plan_settings, input_shape, kind, ratios, costs, scores)

    drops = [row["drop"] for row in table.rows] or [0.0]
    low, high = min(min(drops), 0.0), max(drops)
    best = ratios_at_tolerance(table, high)
    reached = reduction(best)
    if reached < target:
        logger.warning("the sensitivity ratios remove at most %.1f%% of the %s (asked %.1f%%); "
                       "add larger sensitivity_ratios", 100 * reached, kind, 100 * target)
        return best
    for _ in range(steps):
        mid = (low + high) / 2
        ratios = ratios_at_tolerance(table, mid)
        if reduction(ratios) >= target:
            high, best = mid, ratios
        else:
            low = mid
    # groups with equal drops move together and may overshoot: shrink all their ratios alike
    shrink_low, shrink_high = 0.0, 1.0
    for _ in range(steps):
        mid = (shrink_low + shrink_high) / 2
        if reduction({g: r * mid for g, r in best.items()}) >= target:
            shrink_high = mid
        else:
            shrink_low = mid
    best = {g: r * shrink_high for g, r in best.items()}
    logger.info("tolerated %s drop %.4f gives %.1f%% fewer %s", table.metric, high, 100 * reduction(best), kind)
    return best
