"""Structural filter pruning on Paddle's own APIs (FPGM / L1 / L2), with plans stored beside checkpoints."""
from ppocr.slim.prune.graph import ChannelGraph, ChannelGroup, Slot, trace_channel_groups
from ppocr.slim.prune.plan import apply_plan, apply_plan_file, load_plan, model_plan, plan_path, save_plan
from ppocr.slim.prune.planner import plan_groups
from ppocr.slim.prune.pruner import estimate_reduction, prune_model, search_amount
from ppocr.slim.prune.settings import PruneSettings
from ppocr.slim.prune.surgery import PrunePlanError

__all__ = [
    "ChannelGraph", "ChannelGroup", "Slot", "trace_channel_groups", "apply_plan", "apply_plan_file", "load_plan",
    "model_plan", "plan_path", "save_plan", "plan_groups", "estimate_reduction", "prune_model", "search_amount",
    "PruneSettings", "PrunePlanError",
]
