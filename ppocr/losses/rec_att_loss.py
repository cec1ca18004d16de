"""Cross-entropy for attention decoders, over each text's characters and its eos only."""
from __future__ import annotations

from typing import Any, Dict, Sequence

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import LOSSES


@LOSSES.register()
class AttentionLoss(nn.Layer):
    """Mean token cross-entropy; padding steps after eos do not count.

    ``batch`` is ``[image, label, length]`` from AttnLabelEncode: step t of the N×S×C logits is
    scored against ``label[:, t + 1]`` (label[:, 0] is the sos the decoder starts from), for
    t ≤ length (the characters, then eos).
    """

    def forward(self, predicts: Any, batch: Sequence[paddle.Tensor]) -> Dict[str, paddle.Tensor]:
        if isinstance(predicts, dict):
            if "head_out" not in predicts:
                raise KeyError(f"AttentionLoss needs the 'head_out' entry of the model output, got {sorted(predicts)}")
            predicts = predicts["head_out"]
        steps = predicts.shape[1]
        labels = batch[1].astype("int64")
        if labels.shape[1] != steps + 1:
            raise ValueError(
                f"AttentionLoss: {steps} decoding steps need labels of width {steps + 1} (sos + max_text_length "
                f"+ eos), got {labels.shape[1]}; Global.max_text_length and Architecture.Head.max_text_length "
                "must agree")
        targets = labels[:, 1:]
        lengths = batch[2].astype("int64").reshape([-1, 1])
        mask = (paddle.arange(steps, dtype="int64").unsqueeze(0) <= lengths).astype(predicts.dtype)
        token_loss = F.cross_entropy(predicts, targets.unsqueeze(-1), reduction="none").squeeze(-1)
        return {"loss": (token_loss * mask).sum() / mask.sum()}
