"""Resuming from checkpoints written by PaddleOCR's own trainer.

Their ``.pdparams`` use the same structured names as ours, but two things differ:

- the ``.pdopt`` keys optimizer accumulators by paddle's generated parameter names (``conv2d_0.w_0_moment1_0``),
  which depend on the order layers were created in their process, so they are mapped to our parameters
  by position in the optimizer's parameter list, checked shape by shape;
- a constant learning rate saves no ``LR_Scheduler`` state: the schedule then restarts at the saved
  epoch (the trainer says so once).

Their ``.states`` holds ``epoch``, ``global_step`` and ``best_model_dict`` like ours, plus an
``is_float16`` flag inside the metrics, which is dropped.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Tuple

import paddle
from paddle.optimizer.lr import LRScheduler

from ppocr.utils.errors import CheckpointError

logger = logging.getLogger(__name__)

LR_KEY = "LR_Scheduler"
# ``<parameter name>_<accumulator>_<index>`` as paddle's optimizers name their state entries
_ACCUMULATOR = re.compile(r"^(?P<param>.+?)_(?P<acc>moment1|moment2|beta1_pow_acc|beta2_pow_acc|velocity|"
                          r"moment|avg_squared_grad|avg_squared_update|mean_square|mean_grad)_(?P<index>\d+)$")


def clean_states(states: Dict[str, Any]) -> Dict[str, Any]:
    """PaddleOCR's ``.states`` in our layout (its metric dict carries an ``is_float16`` flag)."""
    best = dict(states.get("best_model_dict") or {})
    best.pop("is_float16", None)
    states["best_model_dict"] = best
    return states


def _split(opt_state: Dict[str, Any]) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, Any]]:
    """Accumulators grouped by parameter name (in the saved order) and the remaining entries."""
    by_param: Dict[str, Dict[str, Any]] = {}
    rest: Dict[str, Any] = {}
    for key, value in opt_state.items():
        match = _ACCUMULATOR.match(key) if isinstance(value, paddle.Tensor) else None
        if match is None:
            rest[key] = value
            continue
        by_param.setdefault(match["param"], {})[f"{match['acc']}_{match['index']}"] = value
    return by_param, rest


def _optimizer_parameters(optimizer: paddle.optimizer.Optimizer) -> List[paddle.Tensor]:
    params = optimizer._parameter_list or []
    if params and isinstance(params[0], dict):  # parameter groups
        params = [p for group in params for p in group["params"]]
    return [p for p in params if not p.stop_gradient]


def map_optimizer_state(opt_state: Dict[str, Any], optimizer: paddle.optimizer.Optimizer,
                        where: str) -> Dict[str, Any]:
    """The saved optimizer state keyed by our parameters' names.

    A state already keyed by our names is returned as it is. Otherwise the i-th saved parameter is
    the i-th trainable parameter of the optimizer (both follow the model's structure); a different
    count or any moment whose shape differs from its parameter's is a CheckpointError.
    """
    by_param, rest = _split(opt_state)
    params = _optimizer_parameters(optimizer)
    if set(by_param) <= {p.name for p in params}:
        return opt_state
    saved = list(by_param.items())
    if len(saved) != len(params):
        raise CheckpointError(f"optimizer state of '{where}' holds {len(saved)} parameters, the model trains "
                              f"{len(params)}: the checkpoint comes from another model")
    mapped = dict(rest)
    for (saved_name, accumulators), param in zip(saved, params):
        for suffix, value in accumulators.items():
            is_moment = not suffix.startswith(("beta1_pow", "beta2_pow"))
            if is_moment and list(value.shape) != list(param.shape):
                raise CheckpointError(f"optimizer state of '{where}': {saved_name} {list(value.shape)} does not fit "
                                      f"the model parameter of shape {list(param.shape)} at the same position")
            mapped[f"{param.name}_{suffix}"] = value
    logger.info("mapped the optimizer state of %s (%d parameters) to this model by position", where, len(params))
    return mapped


def restore_optimizer(optimizer: paddle.optimizer.Optimizer, opt_state: Dict[str, Any], where: str) -> bool:
    """Load a (possibly PaddleOCR) optimizer state; returns False when it has no lr-scheduler state
    although the optimizer has a schedule (the caller then restarts the schedule)."""
    opt_state = map_optimizer_state(opt_state, optimizer, where)
    scheduler: Optional[LRScheduler] = optimizer._learning_rate \
        if isinstance(optimizer._learning_rate, LRScheduler) else None
    has_lr = scheduler is None or LR_KEY in opt_state
    if not has_lr:
        opt_state = dict(opt_state, **{LR_KEY: scheduler.state_dict()})
    optimizer.set_state_dict(opt_state)
    return has_lr
