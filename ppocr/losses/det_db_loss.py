"""DBNet loss: supervises the shrink (probability), threshold and approximate binary maps."""
from __future__ import annotations

from typing import Dict, Sequence

import paddle
from paddle import nn

from ppocr.losses.det_basic_loss import BalanceLoss, DiceLoss, MaskL1Loss
from ppocr.utils.registry import LOSSES


def _as_tensor(value, dtype) -> paddle.Tensor:
    tensor = value if isinstance(value, paddle.Tensor) else paddle.to_tensor(value)
    return paddle.cast(tensor, dtype)


@LOSSES.register()
class DBLoss(nn.Layer):
    """``alpha`` × balanced loss on the shrink map + ``beta`` × masked L1 on the threshold map
    + Dice on the binary map.

    The weights sit where PaddleOCR puts them (alpha on the shrink map, not on the binary map
    as in the DB paper), so PaddleOCR configs (alpha 5, beta 10) train with the same balance.
    ``batch`` follows the det KeepKeys order:
    ``[image, threshold_map, threshold_mask, shrink_map, shrink_mask]``.
    """

    def __init__(
        self,
        balance_loss: bool = True,
        main_loss_type: str = "DiceLoss",
        alpha: float = 5,
        beta: float = 10,
        ohem_ratio: float = 3,
        eps: float = 1e-6,
    ):
        super().__init__()
        self.alpha = alpha
        self.beta = beta
        self.shrink_loss = BalanceLoss(
            balance_loss=balance_loss, main_loss_type=main_loss_type, negative_ratio=ohem_ratio, eps=eps
        )
        self.threshold_loss = MaskL1Loss(eps=eps)
        self.binary_loss = DiceLoss(eps=eps)

    def forward(self, predicts: Dict[str, paddle.Tensor], batch: Sequence[paddle.Tensor]) -> Dict[str, paddle.Tensor]:
        if len(batch) < 5:
            raise ValueError(
                "DBLoss: batch must be [image, threshold_map, threshold_mask, shrink_map, shrink_mask], "
                f"got {len(batch)} item(s)"
            )
        maps = predicts["maps"]
        if maps.shape[1] < 3:
            raise ValueError(f"DBLoss: predicts['maps'] needs 3 channels (train mode), got shape {list(maps.shape)}")
        threshold_map, threshold_mask, shrink_map, shrink_mask = (_as_tensor(t, maps.dtype) for t in batch[1:5])
        loss_shrink_maps = self.alpha * self.shrink_loss(maps[:, 0], shrink_map, shrink_mask)
        loss_threshold_maps = self.beta * self.threshold_loss(maps[:, 1], threshold_map, threshold_mask)
        loss_binary_maps = self.binary_loss(maps[:, 2], shrink_map, shrink_mask)
        return {
            "loss": loss_shrink_maps + loss_threshold_maps + loss_binary_maps,
            "loss_shrink_maps": loss_shrink_maps,
            "loss_threshold_maps": loss_threshold_maps,
            "loss_binary_maps": loss_binary_maps,
        }
