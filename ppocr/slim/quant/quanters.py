"""Fake quantizers for quantization-aware training, as ``paddle.quantization`` quanters.

Activation quanters (and the PTQ observers) report their result as ``quant_params() -> (step, zero_point)``
and ``quant_range() -> (qmin, qmax)``: ``q = clip(round(x / step) + zero_point, qmin, qmax)`` and
``x ≈ (q - zero_point) * step``, the convention of ONNX QuantizeLinear, so conversion never has to know
which quanter produced them. The weight quanter derives its per-channel steps from the weight it is given.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import paddle
from paddle import _C_ops
from paddle.quantization.base_quanter import BaseQuanter
from paddle.quantization.factory import QuanterFactory
from paddle.quantization.quanters.abs_max import FakeQuanterWithAbsMaxObserverLayer

# Below this magnitude a channel or tensor is treated as all zeros (its step would underflow).
_TINY = 1e-8


def int_range(bits: int, symmetric: bool = True) -> Tuple[int, int]:
    """Signed integer range; symmetric drops the most negative code (8 bits: -127..127) so that
    +x and -x quantize alike, as abs-max scales assume."""
    qmax = 2 ** (bits - 1) - 1
    return (-qmax, qmax) if symmetric else (-qmax - 1, qmax)


def weight_axis(layer: paddle.nn.Layer) -> int:
    """Axis of a weight that holds its output channels: Conv2D [out, in, kh, kw], Linear [in, out]."""
    if isinstance(layer, paddle.nn.Linear):
        return 1
    if isinstance(layer, paddle.nn.Conv2D):
        return 0
    raise TypeError(f"no per-channel weight quantization for {type(layer).__name__}")


def per_channel_abs_max(weight: paddle.Tensor, axis: int) -> paddle.Tensor:
    axes = [i for i in range(weight.ndim) if i != axis]
    return paddle.max(paddle.abs(weight), axis=axes)


def fake_quant(x: paddle.Tensor, step: paddle.Tensor, zero_point: float, qmin: int, qmax: int) -> paddle.Tensor:
    """Quantize then dequantize; the gradient passes straight through (STE)."""
    q = paddle.clip(paddle.round(x / step) + zero_point, qmin, qmax)
    return x + ((q - zero_point) * step - x).detach()


class PerChannelAbsMaxQuanterLayer(BaseQuanter):
    """Weights to ``bits`` per output channel, each channel's step from its own largest magnitude."""

    def __init__(self, layer: paddle.nn.Layer, bit_length: int = 8):
        super().__init__()
        self._bits = bit_length
        self._axis = weight_axis(layer)
        self._qmin, self._qmax = int_range(bit_length)
        # last seen per-channel abs-max, for paddle's scales() API; conversion recomputes from the weight
        self.register_buffer("_abs_max", per_channel_abs_max(layer.weight.detach(), self._axis), persistable=False)

    def _steps(self, weight: paddle.Tensor) -> paddle.Tensor:
        abs_max = per_channel_abs_max(weight.detach(), self._axis)
        self._abs_max = abs_max
        shape = [1] * weight.ndim
        shape[self._axis] = -1
        return (paddle.clip(abs_max, min=_TINY) / self._qmax).reshape(shape)

    def forward(self, weight: paddle.Tensor) -> paddle.Tensor:
        return fake_quant(weight, self._steps(weight), 0.0, self._qmin, self._qmax)

    def quant_params(self, weight: paddle.Tensor) -> Tuple[np.ndarray, np.ndarray]:
        step = np.maximum(per_channel_abs_max(weight.detach(), self._axis).numpy(), _TINY) / self._qmax
        return step.astype("float32"), np.zeros_like(step, dtype="float32")

    def scales(self) -> paddle.Tensor:
        return self._abs_max

    def zero_points(self) -> paddle.Tensor:
        return paddle.zeros_like(self._abs_max)

    def quant_axis(self) -> int:
        return self._axis

    def bit_length(self) -> int:
        return self._bits


class PerChannelAbsMaxQuanter(QuanterFactory):
    """Factory for :class:`PerChannelAbsMaxQuanterLayer` (``QuantConfig(weight=...)``)."""

    def __init__(self, bit_length: int = 8):
        super().__init__(bit_length=bit_length)

    def _get_class(self):
        return PerChannelAbsMaxQuanterLayer


class MovingAverageAbsMaxQuanterLayer(FakeQuanterWithAbsMaxObserverLayer):
    """Paddle's fused moving-average abs-max fake quantizer (``scale = accum / state`` with
    ``state ← rate·state + 1``, ``accum ← rate·accum + max|x|``), with three changes: the average starts
    at the first batch (paddle seeds state and accum with 1.0, which biases short fine-tunes); the
    dygraph update is kept for a zero state (paddle's ``if state:`` skips it then); ``zero_points()``
    returns zeros (paddle's None breaks ``Quantization.convert`` on 3.3.1)."""

    def __init__(self, layer: paddle.nn.Layer, moving_rate: float = 0.9, bit_length: int = 8):
        super().__init__(layer, moving_rate=moving_rate, bit_length=bit_length)
        self._state.set_value(paddle.zeros([1]))
        self._accum.set_value(paddle.zeros([1]))

    def dynamic_forward(self, input: paddle.Tensor) -> paddle.Tensor:
        training = self.training
        out, scale, state, accum = _C_ops.fake_quantize_dequantize_moving_average_abs_max(
            input, self._scale, self._accum if training else None, self._state if training else None,
            self._moving_rate, self._bit_length, not training, 1)
        if training:
            for new, old in ((scale, self._scale), (state, self._state), (accum, self._accum)):
                _C_ops.assign_out_(new, old)
        return out

    def quant_params(self) -> Tuple[np.ndarray, np.ndarray]:
        abs_max = max(float(self._scale.numpy().reshape(-1)[0]), _TINY)
        return np.array([abs_max / int_range(self._bit_length)[1]], "float32"), np.zeros([1], "float32")

    def quant_range(self) -> Tuple[int, int]:
        return int_range(self._bit_length)

    def zero_points(self) -> paddle.Tensor:
        return paddle.zeros([1])


class MovingAverageAbsMaxQuanter(QuanterFactory):
    """Factory for :class:`MovingAverageAbsMaxQuanterLayer` (``QuantConfig(activation=...)``)."""

    def __init__(self, moving_rate: float = 0.9, bit_length: int = 8):
        super().__init__(moving_rate=moving_rate, bit_length=bit_length)

    def _get_class(self):
        return MovingAverageAbsMaxQuanterLayer
