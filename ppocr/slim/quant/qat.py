"""Quantization-aware training on ``paddle.quantization.QAT``: fake-quant Conv2D/Linear, PACT, LSTMs in float.

Only the layer types in ``Quant.quantizable_layer_type`` are mapped (to :mod:`ppocr.slim.quant.layers`);
nothing else gets a quanter, so LSTMs (and pooling, BN, element-wise ops) stay float, as in PP-OCR,
where LSTM quantization was left out.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, Type

import paddle
import paddle.nn as nn
from paddle.quantization import QAT, QuantConfig
from paddle.quantization.factory import QuanterFactory

from ppocr.slim.quant.layers import QuantConv2D, QuantLinear
from ppocr.slim.quant.pact import freeze_pact, insert_pact
from ppocr.slim.quant.quanters import MovingAverageAbsMaxQuanter, PerChannelAbsMaxQuanter
from ppocr.slim.quant.settings import QuantSettings

logger = logging.getLogger(__name__)

LAYER_TYPES: Dict[str, Type[nn.Layer]] = {"Conv2D": nn.Conv2D, "Linear": nn.Linear}
QUANT_LAYERS: Dict[Type[nn.Layer], Type[nn.Layer]] = {nn.Conv2D: QuantConv2D, nn.Linear: QuantLinear}


def build_quant_config(settings: QuantSettings, activation: QuanterFactory) -> QuantConfig:
    """Per-channel abs-max weights and ``activation`` inputs for the configured layer types only."""
    config = QuantConfig(activation=None, weight=None)
    types = [LAYER_TYPES[name] for name in settings.quantizable_layer_type]
    config.add_type_config(types, activation=activation, weight=PerChannelAbsMaxQuanter(settings.weight_bits))
    for source in types:
        config.add_qat_layer_mapping(source, QUANT_LAYERS[source])
    return config


def quantize_for_training(model: nn.Layer, settings: QuantSettings) -> nn.Layer:
    """Insert PACT (when configured) and fake quantizers in place; the model must be in train mode."""
    if settings.activation_preprocess_type == "PACT":
        insert_pact(model, settings.pact_init_alpha, settings.pact_alpha_decay)
    activation = MovingAverageAbsMaxQuanter(settings.moving_rate, settings.activation_bits)
    model.train()
    quantized = QAT(build_quant_config(settings, activation)).quantize(model, inplace=True)
    logger.info("QAT: %d layers fake-quantized (%s)", count_quantized(quantized),
                ", ".join(settings.quantizable_layer_type))
    return quantized


def qat_hook(settings: QuantSettings) -> Callable[[nn.Layer], nn.Layer]:
    """A ``Trainer(model_hooks=[...])`` hook: runs after float weights load, before the optimizer."""

    def hook(model: nn.Layer) -> nn.Layer:
        return quantize_for_training(model, settings)

    return hook


def count_quantized(model: nn.Layer) -> int:
    return sum(isinstance(layer, (QuantConv2D, QuantLinear)) for layer in model.sublayers())


def convert_for_inference(model: nn.Layer) -> nn.Layer:
    """Freeze a QAT or calibrated PTQ model (in place) into the deployable graph of :mod:`layers`,
    PACT layers becoming constant clips."""
    model.eval()
    with paddle.no_grad():
        converted = QAT(QuantConfig(activation=None, weight=None)).convert(model, inplace=True)
    freeze_pact(converted)
    return converted
