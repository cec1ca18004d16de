"""CTC loss for recognition: aligns T per-step predictions with a shorter label, blank = index 0."""
from __future__ import annotations

from typing import Any, Dict, Sequence

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import LOSSES


def ctc_logits(predicts: Any) -> paddle.Tensor:
    """The N×T×C logits from a head output, a ``return_all_feats`` dict, MultiHead's training dict (its
    ``ctc`` branch) or a ``(feats, logits)`` pair."""
    if isinstance(predicts, dict) and "ctc" in predicts:
        predicts = predicts["ctc"]
    if isinstance(predicts, dict):
        if "head_out" not in predicts:
            raise KeyError(f"CTCLoss needs the 'head_out' entry of the model output, got keys {sorted(predicts)}")
        predicts = predicts["head_out"]
    if isinstance(predicts, dict) and "ctc" in predicts:
        predicts = predicts["ctc"]
    if isinstance(predicts, (list, tuple)):
        predicts = predicts[-1]
    return predicts


@LOSSES.register()
class CTCLoss(nn.Layer):
    """Mean over the batch of each sample's CTC loss (not divided by label length, as PaddleOCR).

    ``use_focal_loss`` scales each sample by (1 - p)^2 with p = exp(-loss), so lines the model
    already reads well contribute less.
    """

    def __init__(self, use_focal_loss: bool = False):
        super().__init__()
        self.use_focal_loss = use_focal_loss

    def forward(self, predicts: Any, batch: Sequence[paddle.Tensor]) -> Dict[str, paddle.Tensor]:
        logits = ctc_logits(predicts).transpose([1, 0, 2])
        steps, batch_size = logits.shape[0], logits.shape[1]
        input_lengths = paddle.full([batch_size], steps, dtype="int64")
        labels = batch[1].astype("int32")
        label_lengths = batch[2].astype("int64").reshape([-1])
        # warp-ctc applies the softmax itself, so it gets the raw logits.
        loss = F.ctc_loss(logits, labels, input_lengths, label_lengths, blank=0, reduction="none")
        if self.use_focal_loss:
            loss = loss * paddle.square(1.0 - paddle.exp(-loss))
        return {"loss": loss.mean()}
