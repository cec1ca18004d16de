"""Quantized Conv2D/Linear whose ``convert`` yields a graph Paddle Inference and paddle2onnx both handle.

Paddle's own conversion (``LinearQuanterDequanter``) emits ``quantize_linear``/``dequantize_linear`` ops;
on paddle 3.3.1 those fail at ``jit.save`` with a dynamic input shape, Paddle Inference aborts on the
weight dequantize, and paddle2onnx 2.1 maps them for float8 only. So the converted layers here keep the
same numerics in plain ops instead: weights are stored already rounded to their int8 grid and each
input passes through :class:`FakeQuant` (scale, floor, clip, scale), which
:mod:`ppocr.slim.quant.onnx_qdq` later rewrites into ONNX QuantizeLinear/DequantizeLinear.
"""
from __future__ import annotations

import paddle
from paddle.nn.quant.qat import QuantedConv2D, QuantedLinear


class FakeQuant(paddle.nn.Layer):
    """Fixed quantize-dequantize of an activation: ``(clip(round(x/step) + zp, qmin, qmax) - zp) * step``.

    Rounding is ``floor(v + 0.5)``: Paddle Inference runs ``round`` outside oneDNN with a layout
    conversion each time (20× slower end to end); ``floor`` keeps to oneDNN. Only exact ties of negative
    values round differently from training (up instead of away from zero)."""

    def __init__(self, step: float, zero_point: float, qmin: int, qmax: int):
        super().__init__()
        self.step = float(step)
        self.zero_point = float(zero_point)
        self.qmin, self.qmax = int(qmin), int(qmax)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        # scale ops carrying the zero point (+0.5 for rounding) keep one fixed op pattern for the ONNX rewrite
        q = paddle.floor(paddle.scale(x, scale=1.0 / self.step, bias=self.zero_point + 0.5))
        q = paddle.clip(q, float(self.qmin), float(self.qmax))
        return paddle.scale(q, scale=self.step, bias=-self.zero_point * self.step)

    def extra_repr(self) -> str:
        return f"step={self.step:.6g}, zero_point={self.zero_point:g}, range=[{self.qmin}, {self.qmax}]"


class _Convertible:
    """``_convert`` shared by both layer types (called by ``paddle.quantization`` ``convert``)."""

    def _convert(self, remain_weight: bool = False) -> None:
        if self.weight_quanter is not None:
            if not remain_weight:
                self.weight.set_value(self.weight_quanter(self.weight).detach())
            self.weight_quanter = None
        if self.activation_quanter is not None:
            step, zero_point = self.activation_quanter.quant_params()
            qmin, qmax = self.activation_quanter.quant_range()
            self.activation_quanter = FakeQuant(float(step[0]), float(zero_point[0]), qmin, qmax)
        self.converted = True


class QuantConv2D(_Convertible, QuantedConv2D):
    """paddle's QuantedConv2D (fake-quantized input and weight) with the conversion above."""


class QuantLinear(_Convertible, QuantedLinear):
    """paddle's QuantedLinear (fake-quantized input and weight) with the conversion above."""

