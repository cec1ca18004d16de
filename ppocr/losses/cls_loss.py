"""Direction-classifier loss: softmax cross entropy over the orientation classes."""
from __future__ import annotations

from typing import Any, Dict, Sequence

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import LOSSES


@LOSSES.register()
class ClsLoss(nn.Layer):
    """Mean cross entropy of the head's N×C logits against ``batch[1]`` (class indices, KeepKeys [image, label])."""

    def forward(self, predicts: Any, batch: Sequence[paddle.Tensor]) -> Dict[str, paddle.Tensor]:
        if isinstance(predicts, dict):
            if "head_out" not in predicts:
                raise KeyError(f"ClsLoss needs the 'head_out' entry of the model output, got keys {sorted(predicts)}")
            predicts = predicts["head_out"]
        labels = batch[1].astype("int64").reshape([-1])
        return {"loss": F.cross_entropy(predicts, labels, reduction="mean")}
