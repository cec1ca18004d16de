"""Aggregation cross-entropy (ACE, Xie et al. 2019), the extra term of PP-OCRv2's enhanced CTC recipe.

The per-step class probabilities are summed over the sequence and compared with how often each class
occurs in the label (``label_ace`` from CTCLabelEncode, the blank slot holding the unused steps): it
teaches character counts without any alignment.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.losses.rec_ctc_loss import ctc_logits
from ppocr.utils.registry import LOSSES

# Keeps log() finite where a class gets no probability at all.
EPS = 1e-10


@LOSSES.register()
class ACELoss(nn.Layer):
    """Batch mean of -Σ_k ȳ_k log p̄_k with p̄ the time-averaged softmax and ȳ the label's class counts
    divided by the number of steps (blank count = steps - label length).

    Needs the batch as ``[image, label, length, label_ace]`` (KeepKeys order of PaddleOCR's configs).
    """

    def forward(self, predicts: Any, batch: Sequence[paddle.Tensor]) -> Dict[str, paddle.Tensor]:
        if len(batch) < 4:
            raise ValueError("ACELoss needs the batch [image, label, length, label_ace]; add label_ace to KeepKeys")
        logits = ctc_logits(predicts)
        steps = logits.shape[1]
        mean_probs = F.softmax(logits, axis=-1).mean(axis=1)
        counts = batch[3].astype("float32")
        if counts.shape[-1] != logits.shape[-1]:
            raise ValueError(f"label_ace has {counts.shape[-1]} classes but the model predicts {logits.shape[-1]}")
        lengths = batch[2].astype("float32").reshape([-1, 1])
        counts = paddle.concat([steps - lengths, counts[:, 1:]], axis=1) / steps
        loss = -(counts * paddle.log(mean_probs + EPS)).sum(axis=1).mean()
        return {"loss": loss}
