"""Weight-decay regularizers named in ``Optimizer.regularizer``.

PaddleOCR configs write ``name: L2`` (and sometimes ``L2Decay``); both spellings are registered
so either config works. The regularizer is added to each parameter's gradient by the optimizer,
so it shrinks weights even where the loss gives no gradient.
"""
from __future__ import annotations

from typing import Any, Dict

import paddle

from ppocr.utils.registry import ConfigError, Registry

REGULARIZERS = Registry("regularizer")


def _checked_factor(factor: float) -> float:
    if factor < 0:
        raise ConfigError(f"factor must be >= 0, got {factor}", "Optimizer.regularizer")
    return float(factor)


@REGULARIZERS.register(name="L1Decay")
@REGULARIZERS.register(name="L1")
def l1_decay(factor: float = 0.0) -> paddle.regularizer.L1Decay:
    """Adds ``factor * sign(w)`` to the gradient (pushes weights to exactly zero)."""
    return paddle.regularizer.L1Decay(_checked_factor(factor))


@REGULARIZERS.register(name="L2Decay")
@REGULARIZERS.register(name="L2")
def l2_decay(factor: float = 0.0) -> paddle.regularizer.L2Decay:
    """Adds ``factor * w`` to the gradient (classic weight decay)."""
    return paddle.regularizer.L2Decay(_checked_factor(factor))


class L1L2Decay(paddle.regularizer.WeightDecayRegularizer):
    """Adds ``l1 * sign(w) + l2 * w`` to each gradient: TAO's ``l1_weight_decay`` and ``l2_weight_decay`` together."""

    def __init__(self, l1_factor: float, l2_factor: float):
        super().__init__()
        self.l1_factor, self.l2_factor = l1_factor, l2_factor

    def __call__(self, param, grad, block=None):
        return paddle.sign(param) * self.l1_factor + param * self.l2_factor

    def __str__(self) -> str:
        return f"L1L2Decay, l1_factor={self.l1_factor}, l2_factor={self.l2_factor}"


@REGULARIZERS.register(name="L1L2")
def l1_l2_decay(l1_factor: float = 0.0, l2_factor: float = 0.0) -> L1L2Decay:
    """Both decays at once (dynamic graph training only, which is how the trainer runs)."""
    return L1L2Decay(_checked_factor(l1_factor), _checked_factor(l2_factor))


def build_regularizer(config: Dict[str, Any]) -> paddle.regularizer.WeightDecayRegularizer:
    """Build from ``{"name": "L2", "factor": 1e-5}``; errors name ``Optimizer.regularizer``."""
    return REGULARIZERS.build(config, where="Optimizer.regularizer")
