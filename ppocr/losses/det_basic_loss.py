"""Masked map losses shared by segmentation-style text detectors (DBNet).

Every loss takes ``pred``, ``gt`` and ``mask`` of the same N×H×W shape; ``mask`` is 0 where a
pixel must not contribute (ignored "###" text, padding).
"""
from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from ppocr.utils.registry import ConfigError


class DiceLoss(nn.Layer):
    """1 − Dice coefficient over the masked pixels: insensitive to the text/background imbalance."""

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, pred: paddle.Tensor, gt: paddle.Tensor, mask: paddle.Tensor) -> paddle.Tensor:
        intersection = paddle.sum(pred * gt * mask)
        union = paddle.sum(pred * mask) + paddle.sum(gt * mask) + self.eps
        return 1.0 - 2.0 * intersection / union


class MaskL1Loss(nn.Layer):
    """Mean absolute error over the masked pixels (the threshold map is only supervised near borders)."""

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, pred: paddle.Tensor, gt: paddle.Tensor, mask: paddle.Tensor) -> paddle.Tensor:
        return paddle.sum(paddle.abs(pred - gt) * mask) / (paddle.sum(mask) + self.eps)


def _bce_map(pred: paddle.Tensor, gt: paddle.Tensor, mask: paddle.Tensor) -> paddle.Tensor:
    return F.binary_cross_entropy(pred, gt, reduction="none")


def _squared_error_map(pred: paddle.Tensor, gt: paddle.Tensor, mask: paddle.Tensor) -> paddle.Tensor:
    return paddle.square(pred - gt)


def _abs_error_map(pred: paddle.Tensor, gt: paddle.Tensor, mask: paddle.Tensor) -> paddle.Tensor:
    return paddle.abs(pred - gt)


# Per-pixel losses: these get online hard negative mining.
_PIXEL_LOSSES = {"BCELoss": _bce_map, "Euclidean": _squared_error_map, "MaskL1Loss": _abs_error_map}
# Whole-map losses: already balanced by construction, returned as they are.
_MAP_LOSSES = {"DiceLoss": DiceLoss}


class BalanceLoss(nn.Layer):
    """Positive pixels plus the hardest negatives (at most ``negative_ratio`` × positives).

    With a per-pixel ``main_loss_type`` (BCELoss, Euclidean, MaskL1Loss) the loss is averaged
    over the positives and the top-k negatives (OHEM). DiceLoss is a whole-map ratio, so
    there is nothing to mine: it is returned directly — which is what PaddleOCR's DB configs
    (``main_loss_type: DiceLoss``) effectively train with.
    """

    def __init__(
        self,
        balance_loss: bool = True,
        main_loss_type: str = "DiceLoss",
        negative_ratio: float = 3,
        eps: float = 1e-6,
    ):
        super().__init__()
        known = sorted([*_PIXEL_LOSSES, *_MAP_LOSSES])
        if main_loss_type not in known:
            raise ConfigError(f"main_loss_type must be one of {', '.join(known)}, got {main_loss_type!r}")
        self.balance_loss = balance_loss
        self.main_loss_type = main_loss_type
        self.negative_ratio = negative_ratio
        self.eps = eps
        self.map_loss = _MAP_LOSSES[main_loss_type](eps) if main_loss_type in _MAP_LOSSES else None

    def forward(self, pred: paddle.Tensor, gt: paddle.Tensor, mask: paddle.Tensor) -> paddle.Tensor:
        if self.map_loss is not None:
            return self.map_loss(pred, gt, mask)
        pixel_loss = _PIXEL_LOSSES[self.main_loss_type](pred, gt, mask)
        positive = gt * mask
        negative = (1.0 - gt) * mask
        if not self.balance_loss:
            return paddle.sum(pixel_loss * mask) / (paddle.sum(mask) + self.eps)
        positive_count = int(positive.sum().item())
        negative_count = int(min(negative.sum().item(), positive_count * self.negative_ratio))
        positive_sum = paddle.sum(pixel_loss * positive)
        if negative_count > 0:
            hardest, _ = paddle.topk((pixel_loss * negative).flatten(), k=negative_count)
            return (positive_sum + hardest.sum()) / (positive_count + negative_count + self.eps)
        return positive_sum / (positive_count + self.eps)
