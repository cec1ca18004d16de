"""CTC head: per-time-step class scores over the character list (index 0 = blank)."""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import HEADS


def _decayed_linear(in_channels: int, out_channels: int, decay: float) -> nn.Linear:
    # L2 decay on the head matters for recognition accuracy (PP-OCR ablation); uniform init as PaddleOCR.
    bound = 1.0 / math.sqrt(in_channels)

    def attr() -> paddle.ParamAttr:
        return paddle.ParamAttr(
            regularizer=paddle.regularizer.L2Decay(decay),
            initializer=nn.initializer.Uniform(-bound, bound),
        )

    return nn.Linear(in_channels, out_channels, weight_attr=attr(), bias_attr=attr())


@HEADS.register()
class CTCHead(nn.Layer):
    """Logits N×T×C while training, softmax probabilities in eval.

    ``return_feats`` (PP-OCRv2 Enhanced CTC / distillation) makes training output ``(feats, logits)``,
    where feats are the input of the last Linear; eval output stays the probabilities so exported
    models and post-processing see one tensor.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        fc_decay: float = 0.0004,
        mid_channels: Optional[int] = None,
        return_feats: bool = False,
    ):
        super().__init__()
        self.mid_channels = mid_channels
        self.return_feats = return_feats
        self.out_channels = out_channels
        if mid_channels is None:
            self.fc = _decayed_linear(in_channels, out_channels, fc_decay)
        else:
            self.fc1 = _decayed_linear(in_channels, mid_channels, fc_decay)
            self.fc2 = _decayed_linear(mid_channels, out_channels, fc_decay)

    def training_output(self, x: paddle.Tensor) -> Union[paddle.Tensor, Tuple[paddle.Tensor, paddle.Tensor]]:
        """What training returns (logits, or ``(feats, logits)``) in either mode: a frozen distillation teacher,
        whose layers stay in eval mode, gives its logits through this."""
        if self.mid_channels is None:
            logits = self.fc(x)
        else:
            x = self.fc1(x)
            logits = self.fc2(x)
        return (x, logits) if self.return_feats else logits

    def forward(
        self, x: paddle.Tensor, targets: Optional[object] = None
    ) -> Union[paddle.Tensor, Tuple[paddle.Tensor, paddle.Tensor]]:
        out = self.training_output(x)
        if self.training:
            return out
        return F.softmax(out[1] if self.return_feats else out, axis=2)
