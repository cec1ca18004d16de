"""Re-parameterisable layers (PP-LCNetV3's): train with several branches, deploy as one conv.

A layer is re-parameterisable when it has ``rep()`` and an ``is_repped`` flag. Exported graphs and checkpoints
imported from deployed models hold the fused form; :func:`fuse_rep_layers` turns a model into it, and
:func:`params_are_fused` tells whether a weights file is in that form.
"""
from __future__ import annotations

import logging
from typing import Any, Dict

import paddle

logger = logging.getLogger(__name__)

FUSED_KEY_MARK = ".reparam_conv."


def rep_layers(model: paddle.nn.Layer) -> list:
    return [layer for layer in model.sublayers(include_self=True)
            if callable(getattr(layer, "rep", None)) and hasattr(layer, "is_repped")]


def has_unfused_layers(model: paddle.nn.Layer) -> bool:
    return any(not layer.is_repped for layer in rep_layers(model))


def fuse_rep_layers(model: paddle.nn.Layer) -> int:
    """Fold every re-parameterisable layer into its one-conv form; returns how many were fused.

    The fused conv equals the branches with batch norm in eval mode (running statistics).
    """
    count = 0
    for layer in rep_layers(model):
        if not layer.is_repped:
            layer.rep()
            count += 1
    if count:
        logger.info("fused %d re-parameterisable layers into single convolutions", count)
    return count


def params_are_fused(params: Dict[str, Any]) -> bool:
    """Whether a state dict holds re-parameterisable layers in their fused form."""
    return any(FUSED_KEY_MARK in key for key in params)
