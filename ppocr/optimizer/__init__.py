"""Build the optimizer and its per-iteration lr schedule from a PaddleOCR ``Optimizer`` section.

Keys of the section besides the optimizer's own hyper-parameters:
``lr`` (required schedule section), ``regularizer`` (``{name: L1|L2, factor}``), ``clip_norm``
(per-parameter gradient-norm clipping, as in PaddleOCR) and ``clip_norm_global`` (clipping by the
global norm over all gradients).
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Dict, Optional, Tuple

import paddle
from paddle.nn.clip import ClipGradBase
from paddle.optimizer.lr import LRScheduler

from ppocr.optimizer.regularizers import build_regularizer
from ppocr.utils.registry import LR_SCHEDULERS, OPTIMIZERS, ConfigError, closest, import_submodules

import_submodules(__name__)

__all__ = ["build_optimizer", "build_lr_scheduler", "build_grad_clip", "lr_section"]

SHARED_KEYS = ("lr", "regularizer", "clip_norm", "clip_norm_global")
FRAMEWORK_LR_KEYS = ("epochs", "step_each_epoch")


def lr_section(lr_config: Any) -> Any:
    """PaddleOCR reads an ``lr`` section without a ``name`` as a constant rate: that is our ``Const``."""
    if isinstance(lr_config, dict) and "name" not in lr_config and "learning_rate" in lr_config:
        return {"name": "Const", **lr_config}
    return lr_config


def build_lr_scheduler(lr_config: Dict[str, Any], epochs: int, step_each_epoch: int) -> LRScheduler:
    """A scheduler to step after every iteration; ``epochs``/``step_each_epoch`` come from training."""
    lr_config = lr_section(lr_config)
    if not isinstance(lr_config, dict):
        raise ConfigError(f"expected a section like {{name: Cosine, learning_rate: 0.001}}, got {lr_config!r}",
                          "Optimizer.lr")
    for key in FRAMEWORK_LR_KEYS:
        if key in lr_config:
            raise ConfigError(
                f"'{key}' is set by training (Global.epoch_num and the loader length), remove it here",
                "Optimizer.lr",
            )
    schedule = LR_SCHEDULERS.build(
        lr_config, where="Optimizer.lr", epochs=epochs, step_each_epoch=step_each_epoch
    )
    return schedule()


def _clip_value(config: Dict[str, Any], key: str) -> float:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{key} must be a number > 0, got {value!r}", "Optimizer")
    return float(value)


def build_grad_clip(config: Dict[str, Any]) -> Optional[ClipGradBase]:
    """``clip_norm`` clips each gradient tensor on its own; ``clip_norm_global`` clips all of them jointly."""
    if "clip_norm" in config and "clip_norm_global" in config:
        raise ConfigError("set either clip_norm or clip_norm_global, not both", "Optimizer")
    if "clip_norm" in config:
        return paddle.nn.ClipGradByNorm(clip_norm=_clip_value(config, "clip_norm"))
    if "clip_norm_global" in config:
        return paddle.nn.ClipGradByGlobalNorm(clip_norm=_clip_value(config, "clip_norm_global"))
    return None


def _check_keys(config: Dict[str, Any]) -> None:
    """Unknown keys name the shared keys too, so e.g. ``clip_grad_norm`` suggests ``clip_norm``."""
    name = config["name"]
    params = [p for p in inspect.signature(OPTIMIZERS.get(name, "Optimizer")).parameters if p != "self"]
    allowed = params + list(SHARED_KEYS)
    for key in config:
        if key != "name" and key not in allowed:
            msg = f"unknown key '{key}' for optimizer {name}; allowed: {', '.join(allowed)}"
            hint = closest(key, allowed)
            if hint:
                msg += f"; did you mean '{hint}'?"
            raise ConfigError(msg, "Optimizer")


def build_optimizer(
    config: Dict[str, Any], epochs: int, step_each_epoch: int, model: paddle.nn.Layer
) -> Tuple[paddle.optimizer.Optimizer, LRScheduler]:
    """Return ``(optimizer, lr_scheduler)``; the caller steps the scheduler after each iteration."""
    if not isinstance(config, dict) or "name" not in config:
        raise ConfigError(f"the Optimizer section needs a 'name' (e.g. Adam), got {config!r}", "Optimizer")
    config = copy.deepcopy(config)
    _check_keys(config)
    if config.get("lr") is None:
        raise ConfigError("missing lr section, e.g. {name: Cosine, learning_rate: 0.001}", "Optimizer.lr")
    lr_scheduler = build_lr_scheduler(config.pop("lr"), epochs, step_each_epoch)
    reg_config = config.pop("regularizer", None)
    regularizer = build_regularizer(reg_config) if reg_config is not None else None
    grad_clip = build_grad_clip(config)
    for key in ("clip_norm", "clip_norm_global"):
        config.pop(key, None)
    wrapper = OPTIMIZERS.build(config, where="Optimizer")
    optimizer = wrapper(model, lr_scheduler, grad_clip=grad_clip, weight_decay=regularizer)
    return optimizer, lr_scheduler
