"""Exponential moving average of model weights (``Global.model_ema``), used for evaluation and export."""
from __future__ import annotations

import contextlib
from typing import Dict, Iterator

import paddle


class ModelEMA:
    """Keeps ``shadow = decay * shadow + (1 - decay) * weights`` after every optimizer step.

    The decay ramps up from ~0.1 over the first steps (``(1 + n) / (10 + n)``) so early, poor weights
    do not dominate the average; buffers such as BatchNorm statistics are averaged the same way.
    """

    def __init__(self, model: paddle.nn.Layer, decay: float = 0.9999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"Global.model_ema_decay must be in (0, 1), got {decay}")
        self.model = model
        self.decay = decay
        self.updates = 0
        self.shadow: Dict[str, paddle.Tensor] = {
            name: value.detach().clone() for name, value in model.state_dict().items()
        }

    @paddle.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, value in self.model.state_dict().items():
            shadow = self.shadow[name]
            if paddle.is_floating_point(value):
                shadow.set_value(shadow * decay + value.detach() * (1.0 - decay))
            else:
                shadow.set_value(value.detach())

    def state(self) -> Dict[str, paddle.Tensor]:
        return dict(self.shadow)

    def load(self, params: Dict[str, paddle.Tensor], updates: int) -> None:
        for name, value in params.items():
            if name in self.shadow:
                self.shadow[name].set_value(paddle.to_tensor(value))
        self.updates = updates

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Temporarily put the averaged weights into the model (for evaluation)."""
        backup = {name: value.detach().clone() for name, value in self.model.state_dict().items()}
        self.model.set_state_dict(self.shadow)
        try:
            yield
        finally:
            self.model.set_state_dict(backup)
