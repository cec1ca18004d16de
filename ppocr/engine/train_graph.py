"""How the training model runs, from PaddleOCR's Global keys: ``use_sync_bn`` (batch-norm statistics over
all ranks) and ``to_static`` with ``d2s_train_image_shape`` (training through a compiled static graph); and
ppocr's ``freeze_norm_stats`` (batch norms keep their loaded statistics, for fine-tuning)."""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Sequence

import paddle
import paddle.nn.functional as F
from paddle import nn

from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)


class _RankMean(paddle.autograd.PyLayer):
    """Mean of a tensor over all ranks; its gradient is averaged over the ranks the same way."""

    @staticmethod
    def forward(ctx, tensor: paddle.Tensor) -> paddle.Tensor:
        total = tensor.clone()
        paddle.distributed.all_reduce(total)
        return total / paddle.distributed.get_world_size()

    @staticmethod
    def backward(ctx, grad: paddle.Tensor) -> paddle.Tensor:
        total = grad.clone()
        paddle.distributed.all_reduce(total)
        return total / paddle.distributed.get_world_size()


class RankSyncedBatchNorm(nn.Layer):
    """A BatchNorm2D whose training statistics are the mean over all ranks (all_reduce of each rank's mean
    and mean square, equal batches per rank assumed): paddle's SyncBatchNorm has GPU kernels only.

    It takes over the BatchNorm2D's own parameters and buffers under the same names, so state_dict keys,
    checkpoints and the optimizer's parameter order stay as they were.
    """

    def __init__(self, bn: nn.BatchNorm2D):
        super().__init__()
        if bn._data_format not in ("NCHW", "NC", "NCL") or bn.weight is None or bn.bias is None:
            raise ValueError("RankSyncedBatchNorm needs a channel-first BatchNorm with weight and bias")
        self.weight, self.bias = bn.weight, bn.bias
        self._mean, self._variance = bn._mean, bn._variance
        self._momentum, self._epsilon = bn._momentum, bn._epsilon

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if not self.training:
            return F.batch_norm(x, self._mean, self._variance, self.weight, self.bias, training=False,
                                epsilon=self._epsilon)
        axes = [0] + list(range(2, x.ndim))
        stats = paddle.concat([x.mean(axis=axes), (x * x).mean(axis=axes)])
        if paddle.distributed.get_world_size() > 1:
            stats = _RankMean.apply(stats)
        mean, mean_square = paddle.split(stats, 2)
        variance = mean_square - mean * mean
        with paddle.no_grad():
            self._mean.set_value(self._mean * self._momentum + mean * (1 - self._momentum))
            self._variance.set_value(self._variance * self._momentum + variance * (1 - self._momentum))
        shape = [1, -1] + [1] * (x.ndim - 2)
        scale = self.weight / paddle.sqrt(variance + self._epsilon)
        return (x - mean.reshape(shape)) * scale.reshape(shape) + self.bias.reshape(shape)


def _replace_batch_norms(layer: nn.Layer) -> int:
    count = 0
    for name, child in list(layer.named_children()):
        if isinstance(child, nn.BatchNorm2D):
            setattr(layer, name, RankSyncedBatchNorm(child))
            count += 1
        else:
            count += _replace_batch_norms(child)
    return count


def freeze_norm_statistics(model: nn.Layer) -> int:
    """``Global.freeze_norm_stats``: every batch norm normalises with its running statistics in training too and
    leaves them as loaded, so a fine-tuned model trains as the function it is evaluated as.

    A released model's statistics can be far from the batch statistics of a small new data set: PP-OCRv4 rec
    reads 75.0 % of ICDAR 2015/IIIT5K validation words with its own statistics and 62.4 % with batch statistics,
    and ordinary fine-tuning starts from the second. Returns the number of batch norms frozen."""
    count = 0
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, (nn.layer.norm._BatchNormBase, nn.BatchNorm)):
            layer._use_global_stats = True
            count += 1
    return count


def apply_sync_bn(model: nn.Layer, enabled: bool, world_size: int, device: str) -> nn.Layer:
    """``Global.use_sync_bn``: batch-norm statistics over the batches of all ranks.

    One process already normalises over its whole batch, so nothing changes there; GPU ranks use paddle's
    SyncBatchNorm, CPU ranks ``RankSyncedBatchNorm``.
    """
    if not enabled:
        return model
    if world_size <= 1:
        logger.info("Global.use_sync_bn: a single process already normalises over its whole batch")
        return model
    if device.startswith("cpu"):
        count = _replace_batch_norms(model)
        logger.info("Global.use_sync_bn: %d batch norms synchronised over %d CPU ranks", count, world_size)
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
