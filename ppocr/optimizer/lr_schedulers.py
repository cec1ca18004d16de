"""Learning-rate schedules named in ``Optimizer.lr``, stepped once per training iteration.

Each class is built from the YAML section plus ``epochs`` and ``step_each_epoch`` (supplied by
``build_lr_scheduler``), and calling the instance returns a ``paddle.optimizer.lr.LRScheduler``.
Using Paddle's own schedulers keeps ``state_dict()``/``set_state_dict()`` working, so a resumed
run continues the exact lr sequence.

Warmup follows PaddleOCR: the lr rises linearly from 0 to the schedule's first value over
``round(warmup_epoch * step_each_epoch)`` iterations, and the decay schedule then starts from its
own iteration 0. Epoch-based settings (cosine length, piecewise boundaries) therefore count from
the end of warmup, which reproduces PaddleOCR's lr curves exactly.
"""
from __future__ import annotations

import logging
import math
import warnings
from typing import List

from paddle.optimizer import lr as paddle_lr

from ppocr.utils.registry import LR_SCHEDULERS, ConfigError

logger = logging.getLogger(__name__)

WHERE = "Optimizer.lr"


class ConstantLR(paddle_lr.LRScheduler):
    """The same lr at every step; a real LRScheduler so checkpoints and warmup treat it like the rest."""

    def get_lr(self) -> float:
        return self.base_lr


class LinearWarmup(paddle_lr.LinearWarmup):
    """Paddle's warmup without the "unused values" warning its own nested state triggers on every resume."""

    def set_state_dict(self, state_dict: dict) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="There are some unused values in state_dict")
            super().set_state_dict(state_dict)


def _positive(value: float, key: str) -> float:
    if value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value}", WHERE)
    return float(value)


def _warmup_steps(warmup_epoch: float, step_each_epoch: int) -> int:
    if warmup_epoch < 0:
        raise ConfigError(f"warmup_epoch must be >= 0, got {warmup_epoch}", WHERE)
    if warmup_epoch == 0:
        return 0
    # A fractional warmup shorter than one iteration still means "some warmup".
    return max(1, round(warmup_epoch * step_each_epoch))


def _check_last_epoch(last_epoch: int) -> int:
    if last_epoch < -1:
        raise ConfigError(f"last_epoch must be >= -1, got {last_epoch}", WHERE)
    return last_epoch


class _Schedule:
    """Holds the iteration counts every schedule needs."""

    def __init__(self, epochs: int, step_each_epoch: int, warmup_epoch: float, last_epoch: int):
        if epochs <= 0 or step_each_epoch <= 0:
            raise ConfigError(
                f"epochs ({epochs}) and iterations per epoch ({step_each_epoch}) must be > 0 "
                "(Global.epoch_num and the training loader length)",
                WHERE,
            )
        self.epochs = int(epochs)
        self.step_each_epoch = int(step_each_epoch)
        self.total_steps = self.epochs * self.step_each_epoch
        self.warmup_steps = _warmup_steps(warmup_epoch, self.step_each_epoch)
        self.last_epoch = _check_last_epoch(last_epoch)

    def __call__(self) -> paddle_lr.LRScheduler:
        raise NotImplementedError

    def _with_warmup(self, make_schedule, target_lr: float) -> paddle_lr.LRScheduler:
        """Wrap the schedule in a linear warmup from 0 to ``target_lr``; ``last_epoch`` goes to the outermost."""
        if self.warmup_steps == 0:
            return make_schedule(self.last_epoch)
        return LinearWarmup(
            learning_rate=make_schedule(-1),
            warmup_steps=self.warmup_steps,
            start_lr=0.0,
            end_lr=target_lr,
            last_epoch=self.last_epoch,
        )


@LR_SCHEDULERS.register()
class Const(_Schedule):
    """A fixed lr, optionally after warmup."""

    def __init__(
        self,
        learning_rate: float,
        warmup_epoch: float = 0,
        last_epoch: int = -1,
        *,
        epochs: int,
        step_each_epoch: int,
    ):
        super().__init__(epochs, step_each_epoch, warmup_epoch, last_epoch)
        self.learning_rate = _positive(learning_rate, "learning_rate")

    def __call__(self) -> paddle_lr.LRScheduler:
        return self._with_warmup(
            lambda last: ConstantLR(self.learning_rate, last_epoch=last),
            self.learning_rate,
        )


@LR_SCHEDULERS.register()
class Cosine(Const):
    """Cosine decay to 0 over ``epochs * step_each_epoch`` iterations, counted after warmup."""

    def __call__(self) -> paddle_lr.LRScheduler:
        return self._with_warmup(
            lambda last: paddle_lr.CosineAnnealingDecay(
                learning_rate=self.learning_rate, T_max=self.total_steps, last_epoch=last
            ),
            self.learning_rate,
        )


@LR_SCHEDULERS.register()
class Linear(_Schedule):
    """Polynomial decay (linear for ``power: 1``) from ``learning_rate`` to ``end_lr`` after warmup."""

    def __init__(
        self,
        learning_rate: float,
        end_lr: float = 0.0,
        power: float = 1.0,
        warmup_epoch: float = 0,
        last_epoch: int = -1,
        *,
        epochs: int,
        step_each_epoch: int,
    ):
        super().__init__(epochs, step_each_epoch, warmup_epoch, last_epoch)
        self.learning_rate = _positive(learning_rate, "learning_rate")
        if end_lr < 0:
            raise ConfigError(f"end_lr must be >= 0, got {end_lr}", WHERE)
        self.end_lr = float(end_lr)
        self.power = _positive(power, "power")

    def __call__(self) -> paddle_lr.LRScheduler:
        return self._with_warmup(
            lambda last: paddle_lr.PolynomialDecay(
                learning_rate=self.learning_rate,
                decay_steps=self.total_steps,
                end_lr=self.end_lr,
                power=self.power,
                last_epoch=last,
            ),
            self.learning_rate,
        )


@LR_SCHEDULERS.register()
class Piecewise(_Schedule):
    """``values[i]`` until boundary ``decay_epochs[i]`` (in epochs, converted to iterations).

    PaddleOCR recipes sometimes list as many values as boundaries; PaddleOCR then kept the last
    value after the last boundary, so that form is accepted (with a warning) and means the same.
    """

    def __init__(
        self,
        decay_epochs: List[float],
        values: List[float],
        warmup_epoch: float = 0,
        last_epoch: int = -1,
        *,
        epochs: int,
        step_each_epoch: int,
    ):
        super().__init__(epochs, step_each_epoch, warmup_epoch, last_epoch)
        if not decay_epochs:
            raise ConfigError("decay_epochs must list at least one epoch", WHERE)
        numbers = list(decay_epochs) + list(values)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            raise ConfigError(f"decay_epochs and values must be numbers, got {decay_epochs} and {values}", WHERE)
        if len(values) == len(decay_epochs):
            logger.warning(
                "%s: %d values for %d decay_epochs; keeping %s after the last boundary "
                "(write %d values to make this explicit)",
                WHERE, len(values), len(decay_epochs), values[-1], len(decay_epochs) + 1,
            )
            values = list(values) + [values[-1]]
        if len(values) != len(decay_epochs) + 1:
            raise ConfigError(
                f"values needs len(decay_epochs) + 1 = {len(decay_epochs) + 1} entries, got {len(values)}", WHERE
            )
        boundaries = [round(e * self.step_each_epoch) for e in decay_epochs]
        if any(e < 0 for e in decay_epochs) or any(b >= a for b, a in zip(boundaries, boundaries[1:])):
            raise ConfigError(
                f"decay_epochs must be >= 0 and strictly ascending (in whole iterations), got {decay_epochs}", WHERE
            )
        if any(v < 0 for v in values):
            raise ConfigError(f"values must be >= 0, got {values}", WHERE)
        self.boundaries = boundaries
        self.values = [float(v) for v in values]
        if self.warmup_steps > 0:
            _positive(self.values[0], "values[0] (the lr warmup rises to)")

    def __call__(self) -> paddle_lr.LRScheduler:
        return self._with_warmup(
            lambda last: paddle_lr.PiecewiseDecay(boundaries=self.boundaries, values=self.values, last_epoch=last),
            self.values[0],
        )


class _WarmupCosineLR(paddle_lr.LRScheduler):
    """Linear from ``start_lr`` to ``base_lr`` over ``warmup_steps``, then cosine to 0 at ``total_steps``."""

    def __init__(self, learning_rate: float, start_lr: float, warmup_steps: int, total_steps: int,
                 last_epoch: int = -1):
        self.start_lr, self.warmup_steps, self.total_steps = start_lr, warmup_steps, total_steps
        super().__init__(learning_rate, last_epoch)

    def get_lr(self) -> float:
        step = self.last_epoch
        if step < self.warmup_steps:
            return self.start_lr + (self.base_lr - self.start_lr) * step / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return 0.5 * self.base_lr * (1.0 + math.cos(math.pi * progress))


@LR_SCHEDULERS.register()
class WarmupCosine(_Schedule):
    """TAO EfficientDet's schedule: linear warmup from ``warmup_start_lr`` (``lr_warmup_init``) to
    ``learning_rate`` over ``warmup_epoch`` (``lr_warmup_epoch``), then cosine decay to 0 over the remaining
    iterations (PaddleOCR's ``Cosine`` instead warms up from 0 and counts its cosine from the end of warmup)."""

    def __init__(
        self,
        learning_rate: float,
        warmup_epoch: float = 0,
        warmup_start_lr: float = 0.0,
        last_epoch: int = -1,
        *,
        epochs: int,
        step_each_epoch: int,
    ):
        super().__init__(epochs, step_each_epoch, warmup_epoch, last_epoch)
        self.learning_rate = _positive(learning_rate, "learning_rate")
        if not 0 <= warmup_start_lr <= learning_rate:
            raise ConfigError(f"warmup_start_lr must be in [0, learning_rate], got {warmup_start_lr}", WHERE)
        self.warmup_start_lr = float(warmup_start_lr)

    def __call__(self) -> paddle_lr.LRScheduler:
        return _WarmupCosineLR(self.learning_rate, self.warmup_start_lr, self.warmup_steps, self.total_steps,
                               last_epoch=self.last_epoch)
