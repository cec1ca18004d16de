"""PACT: a learnable clipping threshold α on activations, trained with the network during QAT.

Clipping the rare large activations lets the int8 step of the next layer's input shrink. Following the
PACT paper, a ReLU becomes ``clip(x, 0, α)``; hard-swish (MobileNetV3), which is signed and unbounded
above, gets PP-OCR's symmetric variant ``clip(x, -α, α)`` after it. Inputs beyond α pass α on, so α
receives their gradient and learns where to clip; a small L2 decay pulls it down otherwise.
"""
from __future__ import annotations

import logging

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

logger = logging.getLogger(__name__)


class PACT(nn.Layer):
    """``clip(x, -α, α)`` (``signed``) or ``clip(x, 0, α)``, with α a trainable scalar."""

    def __init__(self, init_alpha: float = 20.0, signed: bool = True, alpha_decay: float = 2.0e-5):
        super().__init__()
        if init_alpha <= 0:
            raise ValueError(f"PACT init_alpha must be > 0, got {init_alpha}")
        self.signed = signed
        self.alpha = self.create_parameter(
            shape=[1],
            attr=paddle.ParamAttr(initializer=nn.initializer.Constant(float(init_alpha)),
                                  regularizer=paddle.regularizer.L2Decay(alpha_decay)),
            dtype="float32",
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        # minimum/maximum route the gradient of clipped elements to alpha (±1 each)
        y = paddle.minimum(x, self.alpha)
        return paddle.maximum(y, -self.alpha) if self.signed else F.relu(y)

    def extra_repr(self) -> str:
        return f"signed={self.signed}"


def insert_pact(model: nn.Layer, init_alpha: float = 20.0, alpha_decay: float = 2.0e-5) -> int:
    """Replace every ``nn.ReLU`` by an unsigned PACT and follow every ``nn.Hardswish`` by a signed one,
    in place; returns how many PACT layers were added."""
    count = 0
    for parent in [model, *model.sublayers()]:
        for name, child in list(parent.named_children()):
            if type(child) is nn.ReLU:
                setattr(parent, name, PACT(init_alpha, signed=False, alpha_decay=alpha_decay))
            elif type(child) is nn.Hardswish:
                setattr(parent, name, nn.Sequential(child, PACT(init_alpha, signed=True, alpha_decay=alpha_decay)))
            else:
                continue
            count += 1
    logger.info("PACT: %d activations clipped by a learnable alpha (initial %g)", count, init_alpha)
    return count


class FrozenClip(nn.Layer):
    """A trained PACT for inference: ``clip`` with constant bounds, which oneDNN fuses into the conv before it."""

    def __init__(self, low: float, high: float):
        super().__init__()
        self.low, self.high = float(low), float(high)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return paddle.clip(x, self.low, self.high)

    def extra_repr(self) -> str:
        return f"low={self.low:g}, high={self.high:g}"


def freeze_pact(model: nn.Layer) -> int:
    """Replace every PACT by a :class:`FrozenClip` with its learned alpha, in place; returns the count."""
    count = 0
    for parent in [model, *model.sublayers()]:
        for name, child in list(parent.named_children()):
            if isinstance(child, PACT):
                alpha = float(child.alpha.numpy().reshape(-1)[0])
                setattr(parent, name, FrozenClip(-alpha if child.signed else 0.0, alpha))
                count += 1
    return count
