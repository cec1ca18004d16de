"""Cross-entropy for the NRTR branch (teacher forcing), optionally label-smoothed; padding (id 0) does not count."""
from __future__ import annotations

from typing import Any, Dict, Sequence

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import LOSSES

_SMOOTHING = 0.1


@LOSSES.register()
class NRTRLoss(nn.Layer):
    """``batch = [image, label_gtc, length, ...]``: the logits of the steps after the start token are scored
    against ``label_gtc[:, 1 : 2 + max(length)]`` (the characters, then the end token).

    ``smoothing`` (PaddleOCR's default) moves 0.1 of each target's probability mass evenly onto the other
    classes; ``ignore_index`` is the padding id left out of the mean.
    """

    def __init__(self, smoothing: bool = True, ignore_index: int = 0):
        super().__init__()
        self.smoothing = smoothing
        self.ignore_index = ignore_index

    def forward(self, predicts: Any, batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        longest = int(paddle.to_tensor(batch[2]).max())
        target = paddle.to_tensor(batch[1]).astype("int64")[:, 1: 2 + longest].reshape([-1])
        logits = predicts.reshape([-1, predicts.shape[2]])
        if not self.smoothing:
            return {"loss": F.cross_entropy(logits, target.unsqueeze(1), ignore_index=self.ignore_index)}
        classes = logits.shape[1]
        one_hot = F.one_hot(target, classes)
        soft = one_hot * (1 - _SMOOTHING) + (1 - one_hot) * _SMOOTHING / (classes - 1)
        per_token = -(soft * F.log_softmax(logits, axis=1)).sum(axis=1)
        keep = (target != self.ignore_index).astype(per_token.dtype)
        return {"loss": (per_token * keep).sum() / paddle.clip(keep.sum(), min=1.0)}
