"""How the training model runs, from PaddleOCR's Global keys: ``use_sync_bn`` (batch-norm statistics over
all ranks) and ``to_static`` with ``d2s_train_image_shape`` (training through a compiled static graph)."""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Sequence

import paddle

from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)


def apply_sync_bn(model: paddle.nn.Layer, enabled: bool, world_size: int, device: str) -> paddle.nn.Layer:
    """Replace BatchNorm layers by SyncBatchNorm where that changes something and paddle has the kernel.

    One process already normalises over its whole batch; paddle's ``sync_batch_norm`` kernel exists for
    GPUs only, so CPU ranks keep per-rank statistics (said once).
    """
    if not enabled:
        return model
    if world_size <= 1:
        logger.info("Global.use_sync_bn: a single process already normalises over its whole batch")
        return model
    if device.startswith("cpu"):
        logger.warning("Global.use_sync_bn: paddle has no CPU kernel for synchronised batch norm; "
                       "each of the %d CPU ranks keeps its own batch-norm statistics", world_size)
        return model
    logger.info("Global.use_sync_bn: batch-norm statistics synchronised over %d ranks", world_size)
    return paddle.nn.SyncBatchNorm.convert_sync_batchnorm(model)


def _input_spec(shape: Optional[Sequence[int]]) -> Optional[list]:
    if shape is None:
        return None
    if not isinstance(shape, (list, tuple)) or len(shape) != 3 or \
            not all(isinstance(v, int) and not isinstance(v, bool) and (v > 0 or v == -1) for v in shape):
        raise ConfigError(f"must be [channels, height, width] with positive sizes or -1 (any), got {shape!r}",
                          "Global.d2s_train_image_shape")
    dims = [None] + [None if v == -1 else v for v in shape]
    return [paddle.static.InputSpec(dims, "float32", "x")]


def apply_to_static(model: paddle.nn.Layer, g: Dict[str, Any]) -> paddle.nn.Layer:
    """``Global.to_static``: compile the model's forward (PaddleOCR's dynamic-to-static training).

    ``d2s_train_image_shape`` fixes the image input ([C, H, W], -1 for any size); label tensors the
    head reads in training are traced from the first batch. Parameters and state_dict keys stay the same.
    """
    spec = _input_spec(g.get("d2s_train_image_shape"))
    if not g.get("to_static", False):
        return model
    logger.info("Global.to_static: training through a static graph (input %s)",
                g.get("d2s_train_image_shape") or "traced from the first batch")
    return paddle.jit.to_static(model, input_spec=spec)
