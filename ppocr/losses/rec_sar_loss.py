"""Cross-entropy for the SAR branch: each step predicts the next label id; padding does not count."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import LOSSES


@LOSSES.register()
class SARLoss(nn.Layer):
    """``batch = [image, label_sar, ...]``; step t of the N×T×C logits is scored against label[:, t + 1].

    The padding id is the class count of the logits (SAR never predicts padding); ``ignore_index`` overrides
    it. (PaddleOCR defaults to 92, the padding id of its 90-character English dict only.)
    """

    def __init__(self, ignore_index: Optional[int] = None):
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, predicts: Any, batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        logits = predicts[:, :-1, :]
        labels = paddle.to_tensor(batch[1]).astype("int64")[:, 1:]
        num_classes = logits.shape[2]
        ignore = num_classes if self.ignore_index is None else self.ignore_index
        loss = F.cross_entropy(logits.reshape([-1, num_classes]), labels.reshape([-1, 1]), ignore_index=ignore,
                               reduction="mean")
        return {"loss": loss}
