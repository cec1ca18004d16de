"""Optimizers named in ``Optimizer.name``.

Each class is built from the YAML section (its own hyper-parameters only) and then called as
``wrapper(model, learning_rate, grad_clip, weight_decay)`` by ``build_optimizer``, which owns the
parts shared by all optimizers (lr schedule, gradient clipping, regularizer). Only trainable
parameters are handed to Paddle, so frozen sub-models (distillation teachers) stay fixed.
"""
from __future__ import annotations

from typing import List, Optional, Union

import paddle
from paddle.nn.clip import ClipGradBase
from paddle.optimizer.lr import LRScheduler

from ppocr.utils.registry import OPTIMIZERS, ConfigError

LearningRate = Union[float, LRScheduler]
Regularizer = paddle.regularizer.WeightDecayRegularizer


def trainable_parameters(model: paddle.nn.Layer) -> list:
    return [p for p in model.parameters() if p.trainable]


class _Wrapper:
    """Shared ``weight_decay`` handling: YAML ``weight_decay`` unless a regularizer section is given."""

    def __init__(self, weight_decay: Optional[float]):
        if weight_decay is not None and weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {weight_decay}", "Optimizer")
        self.weight_decay = weight_decay

    def _decay(self, regularizer: Optional[Regularizer]) -> Union[float, Regularizer, None]:
        if regularizer is not None and self.weight_decay is not None:
            raise ConfigError("set either weight_decay or a regularizer section, not both", "Optimizer")
        return regularizer if regularizer is not None else self.weight_decay

    def __call__(
        self,
        model: paddle.nn.Layer,
        learning_rate: LearningRate,
        grad_clip: Optional[ClipGradBase] = None,
        weight_decay: Optional[Regularizer] = None,
    ) -> paddle.optimizer.Optimizer:
        """Create the Paddle optimizer over ``model``'s trainable parameters."""
        return self._create(model, learning_rate, grad_clip, self._decay(weight_decay))

    def _create(self, model, learning_rate, grad_clip, decay) -> paddle.optimizer.Optimizer:
        raise NotImplementedError


@OPTIMIZERS.register()
class Adam(_Wrapper):
    def __init__(
        self,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: Optional[float] = None,
        lazy_mode: bool = False,
    ):
        super().__init__(weight_decay)
        self.beta1, self.beta2, self.epsilon, self.lazy_mode = beta1, beta2, epsilon, lazy_mode

    def _create(self, model, learning_rate, grad_clip, decay):
        return paddle.optimizer.Adam(
            learning_rate=learning_rate,
            beta1=self.beta1,
            beta2=self.beta2,
            epsilon=self.epsilon,
            parameters=trainable_parameters(model),
            weight_decay=decay,
            grad_clip=grad_clip,
            lazy_mode=self.lazy_mode,
        )


@OPTIMIZERS.register()
class AdamW(_Wrapper):
    """Decoupled weight decay, skipped for parameters whose structured name contains a listed substring.

    ``no_weight_decay_name`` is a list, or PaddleOCR's space-separated string (``"norm pos_embed"``).
    ``one_dim_param_no_weight_decay`` also skips biases and norm scales.
    """

    def __init__(
        self,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
        no_weight_decay_name: Optional[Union[str, List[str]]] = None,
        one_dim_param_no_weight_decay: bool = False,
        lazy_mode: bool = False,
        multi_precision: bool = False,
    ):
        super().__init__(weight_decay)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        if isinstance(no_weight_decay_name, str):
            no_weight_decay_name = no_weight_decay_name.split()
        self.no_weight_decay_name = list(no_weight_decay_name or [])
        self.one_dim_param_no_weight_decay = one_dim_param_no_weight_decay
        self.lazy_mode, self.multi_precision = lazy_mode, multi_precision

    def excluded_parameter_names(self, model: paddle.nn.Layer) -> set:
        """Paddle's internal names (``linear_0.b_0``) of parameters that get no decay."""
        return {
            p.name
            for n, p in model.named_parameters()
            if any(part in n for part in self.no_weight_decay_name)
            or (self.one_dim_param_no_weight_decay and len(p.shape) == 1)
        }

    def _decay(self, regularizer):
        if regularizer is not None:
            raise ConfigError(
                "AdamW decays weights itself; set Optimizer.weight_decay instead of a regularizer section",
                "Optimizer.regularizer",
            )
        return self.weight_decay

    def _create(self, model, learning_rate, grad_clip, decay):
        excluded = self.excluded_parameter_names(model)
        return paddle.optimizer.AdamW(
            learning_rate=learning_rate,
            beta1=self.beta1,
            beta2=self.beta2,
            epsilon=self.epsilon,
            parameters=trainable_parameters(model),
            weight_decay=decay,
            apply_decay_param_fun=lambda name: name not in excluded,
            grad_clip=grad_clip,
            lazy_mode=self.lazy_mode,
            multi_precision=self.multi_precision,
        )


@OPTIMIZERS.register()
class Momentum(_Wrapper):
    def __init__(self, momentum: float = 0.9, use_nesterov: bool = False, weight_decay: Optional[float] = None):
        super().__init__(weight_decay)
        self.momentum, self.use_nesterov = momentum, use_nesterov

    def _create(self, model, learning_rate, grad_clip, decay):
        return paddle.optimizer.Momentum(
            learning_rate=learning_rate,
            momentum=self.momentum,
            parameters=trainable_parameters(model),
            use_nesterov=self.use_nesterov,
            weight_decay=decay,
            grad_clip=grad_clip,
        )


@OPTIMIZERS.register()
class SGD(_Wrapper):
    def __init__(self, weight_decay: Optional[float] = None):
        super().__init__(weight_decay)

    def _create(self, model, learning_rate, grad_clip, decay):
        return paddle.optimizer.SGD(
            learning_rate=learning_rate,
            parameters=trainable_parameters(model),
            weight_decay=decay,
            grad_clip=grad_clip,
        )


@OPTIMIZERS.register()
class Adadelta(_Wrapper):
    def __init__(self, epsilon: float = 1e-8, rho: float = 0.95, weight_decay: Optional[float] = None):
        super().__init__(weight_decay)
        self.epsilon, self.rho = epsilon, rho

    def _create(self, model, learning_rate, grad_clip, decay):
        return paddle.optimizer.Adadelta(
            learning_rate=learning_rate,
            epsilon=self.epsilon,
            rho=self.rho,
            parameters=trainable_parameters(model),
            weight_decay=decay,
            grad_clip=grad_clip,
        )
