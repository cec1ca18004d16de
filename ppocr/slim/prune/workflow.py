"""What ``tools/prune.py`` runs: load the trained model, prune it, save ``<save_model_dir>/pruned`` (+ plan).

The pruned checkpoint retrains with ``Global.pretrained_model=<save_model_dir>/pruned`` (the plan beside
it rebuilds the pruned shapes) and exports like any other checkpoint.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import os
from typing import Any, Dict, List, Optional

from ppocr.slim.flops import count_flops, count_params
from ppocr.slim.prune.graph import trace_channel_groups
from ppocr.slim.prune.pruner import prune_model, search_amount
from ppocr.slim.prune.settings import PruneSettings
from ppocr.utils.checkpoint import save_checkpoint
from ppocr.utils.io import ensure_output_dir, ensure_output_file
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)

PRUNED_PREFIX = "pruned"
_TRACE_SIDE = 32  # smallest side a stride-32 detector accepts; the groups do not depend on it


def prune_settings(config: Dict[str, Any]) -> PruneSettings:
    return PruneSettings.from_config(config.get("Prune"))


def trace_input_shape(config: Dict[str, Any], settings: PruneSettings) -> List[int]:
    """``Prune.input_shape``, else the export input with dynamic sides made small (tracing is per sample)."""
    if settings.input_shape:
        return list(settings.input_shape)
    from ppocr.engine.export import input_spec

    channels, height, width = input_spec(config).shape[1:]
    height = height if height and height > 0 else _TRACE_SIDE
    width = width if width and width > 0 else max(_TRACE_SIDE, 2 * height)
    return [int(channels), int(height), int(width)]


def _trainer(config: Dict[str, Any]):
    """An eval-mode Trainer holding the weights to prune (it applies any earlier prune plan)."""
    from ppocr.engine.trainer import Trainer

    config = copy.deepcopy(config)
    g = config.setdefault("Global", {})
    weights = g.get("checkpoints") or g.get("pretrained_model")
    if not weights:
        raise ConfigError("set Global.pretrained_model (or Global.checkpoints) to the trained weights to prune",
                          "Global.pretrained_model")
    g.update(pretrained_model=weights, checkpoints=None, model_ema=False)
    return Trainer(config, mode="eval")


def _evaluator(trainer):
    def evaluate(model) -> float:
        original = trainer.model
        trainer.model = model
        try:
            return float(trainer.evaluate()[trainer.metric.main_indicator])
        finally:
            trainer.model = original

    return evaluate


def _weights_id(config: Dict[str, Any]) -> str:
    """The weights file and its modification time: a sensitivity table is only reused for the same."""
    g = config.get("Global") or {}
    weights = g.get("checkpoints") or g.get("pretrained_model") or ""
    path = weights if weights.endswith(".pdparams") else weights + ".pdparams"
    return f"{os.path.abspath(path)}@{os.path.getmtime(path):.0f}" if os.path.isfile(path) else weights


def _sensitivity_path(config: Dict[str, Any], settings: PruneSettings) -> str:
    save_dir = (config.get("Global") or {}).get("save_model_dir", "./output/model")
    path = settings.sensitivity_file or os.path.join(save_dir, "sensitivity.csv")
    return ensure_output_file(path, "Prune.sensitivity_file" if settings.sensitivity_file else "Global.save_model_dir")


def run_sensitivity(config: Dict[str, Any], settings: Optional[PruneSettings] = None):
    """Write the sensitivity table of the trained model (``Prune.sensitivity_file``) and return it."""
    from ppocr.slim.sensitivity import analyze_sensitivity

    settings = settings or prune_settings(config)
    path = _sensitivity_path(config, settings)
    trainer = _trainer(config)
    if trainer.eval_loader is None:
        raise ConfigError("sensitivity analysis evaluates the model: the config needs an Eval section")
    table = analyze_sensitivity(trainer.model, _evaluator(trainer), trace_input_shape(config, settings), settings,
                                path=path, metric=trainer.metric.main_indicator, model_id=_weights_id(config))
    logger.info("sensitivity table: %s (%d rows)", path, len(table.rows))
    return table


def run_prune(config: Dict[str, Any], evaluate: bool = False) -> Dict[str, Any]:
    """Prune the trained model as the ``Prune`` section says and save it; returns a summary of figures."""
    settings = prune_settings(config)
    g = config.get("Global") or {}
    ensure_output_dir(g.get("save_model_dir", "./output/model"), "Global.save_model_dir")
    if settings.export and g.get("save_inference_dir"):
        ensure_output_dir(g["save_inference_dir"], "Global.save_inference_dir")
    if settings.use_sensitivity and (settings.pruned_params is not None or settings.pruned_flops is not None):
        _sensitivity_path(config, settings)
    trainer = _trainer(config)
    model = trainer.model
    shape = trace_input_shape(config, settings)
    graph = trace_channel_groups(model, shape)
    summary: Dict[str, Any] = {"params_before": count_params(model), "flops_before": count_flops(model, shape)}
    if evaluate and trainer.eval_loader is not None:
        summary["metric_before"] = _evaluator(trainer)(model)

    ratios = None
    target = settings.pruned_params if settings.pruned_params is not None else settings.pruned_flops
    if target is not None:
        kind = "params" if settings.pruned_params is not None else "flops"
        if settings.use_sensitivity:
            from ppocr.slim.sensitivity import analyze_sensitivity, ratios_for_target

            if trainer.eval_loader is None:
                raise ConfigError("Prune.use_sensitivity evaluates the model: add an Eval section "
                                  "or set Prune.use_sensitivity=false", "Prune.use_sensitivity")
            table = analyze_sensitivity(model, _evaluator(trainer), shape, settings,
                                        path=_sensitivity_path(config, settings),
                                        metric=trainer.metric.main_indicator, graph=graph,
                                        model_id=_weights_id(config))
            ratios = ratios_for_target(table, model, settings, shape, target, kind, graph=graph)
            settings = dataclasses.replace(settings, mode="amount", amount=0.0)
        else:
            amount = search_amount(model, settings, shape, target, kind, graph=graph)
            logger.info("uniform amount %.3f (asked: %.1f%% fewer %s)", amount, 100 * target, kind)
            settings = dataclasses.replace(settings, mode="amount", amount=amount)

    prune_model(model, settings, shape, ratios=ratios, graph=graph)
    summary.update(params_after=count_params(model), flops_after=count_flops(model, shape))
    if evaluate and trainer.eval_loader is not None:
        summary["metric_after"] = _evaluator(trainer)(model)

    prefix = os.path.join(trainer.save_dir, PRUNED_PREFIX)
    saved_config = copy.deepcopy(trainer.config)
    saved_config["Global"].pop("encryption_key", None)
    states = {"epoch": 0, "global_step": 0, "best_model_dict": {}, "config": saved_config}
    save_checkpoint(model, None, prefix, states, key=trainer.key)
    summary["checkpoint"] = prefix
    logger.info("pruned checkpoint: %s (retrain with Global.pretrained_model=%s)", prefix, prefix)
    if settings.export:
        from ppocr.engine.export import export_model

        summary["inference_dir"] = export_model(config, weights=prefix)
    for key, value in summary.items():
        logger.info("%s: %s", key, value)
    return summary
