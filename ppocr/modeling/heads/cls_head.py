"""Direction-classifier head: global average pool, one Linear layer over the classes."""
from __future__ import annotations

import math
from typing import Optional

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import HEADS, ConfigError

DEFAULT_CLASSES = 2  # 0° and 180°


@HEADS.register()
class ClsHead(nn.Layer):
    """Logits N×C while training, softmax probabilities in eval.

    The class count is ``out_channels`` (the framework supplies len(PostProcess.label_list));
    ``class_dim`` is PaddleOCR's name for it and is used when no label list gives the count.
    Pooling is a mean over H and W, so the exported graph has no adaptive pooling op.
    """

    def __init__(self, in_channels: int, out_channels: Optional[int] = None, class_dim: Optional[int] = None):
        super().__init__()
        if out_channels is not None and class_dim is not None and out_channels != class_dim:
            raise ConfigError(f"class_dim {class_dim} disagrees with the {out_channels} labels of "
                              "PostProcess.label_list; drop class_dim or fix the label list", "Architecture.Head")
        classes = out_channels or class_dim or DEFAULT_CLASSES
        if classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {classes}", "Architecture.Head")
        self.out_channels = classes
        bound = 1.0 / math.sqrt(in_channels)
        self.fc = nn.Linear(in_channels, classes,
                            weight_attr=paddle.ParamAttr(initializer=nn.initializer.Uniform(-bound, bound)))

    def forward(self, x: paddle.Tensor, targets: Optional[object] = None) -> paddle.Tensor:
        logits = self.fc(x.mean(axis=[2, 3]))
        if not self.training:
            return F.softmax(logits, axis=1)
        return logits
