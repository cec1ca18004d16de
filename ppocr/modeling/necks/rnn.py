"""Turns a 1-pixel-high feature map into a sequence (and optionally encodes it) for CTC heads."""
from __future__ import annotations

import paddle
import paddle.nn as nn

from ppocr.utils.registry import NECKS, ConfigError

# PaddleOCR decays the fc encoder's weights lightly; kept so recipes behave the same.
_FC_DECAY = 0.00001


class Im2Seq(nn.Layer):
    """N×C×1×W → N×W×C: each feature column becomes one time step."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.out_channels = in_channels

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        height = x.shape[2]
        # A static graph built with an unknown input height reports -1 here; that case cannot be checked.
        if isinstance(height, int) and height not in (1, -1):
            raise ValueError(
                f"SequenceEncoder needs backbone features of height 1, got shape {list(x.shape)}; "
                "check the backbone strides against the input image height (e.g. 32 or 48)"
            )
        return x.squeeze(axis=2).transpose([0, 2, 1])


class EncoderWithFC(nn.Layer):
    def __init__(self, in_channels: int, hidden_size: int):
        super().__init__()
        self.out_channels = hidden_size
        self.fc = nn.Linear(
            in_channels,
            hidden_size,
            weight_attr=paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(_FC_DECAY)),
            bias_attr=paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(_FC_DECAY)),
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc(x)


class EncoderWithRNN(nn.Layer):
    """Two stacked bidirectional LSTMs: each step sees the context of the whole line."""

    def __init__(self, in_channels: int, hidden_size: int):
        super().__init__()
        self.out_channels = hidden_size * 2
        self.lstm = nn.LSTM(in_channels, hidden_size, num_layers=2, direction="bidirectional")

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        output, _ = self.lstm(x)
        return output


_ENCODERS = {"fc": EncoderWithFC, "rnn": EncoderWithRNN}
ENCODER_TYPES = ("reshape", *_ENCODERS)


@NECKS.register()
class SequenceEncoder(nn.Layer):
    """``reshape`` (Im2Seq only), ``fc`` (+ Linear to ``hidden_size``) or ``rnn`` (+ 2-layer BiLSTM)."""

    def __init__(self, in_channels: int, encoder_type: str = "rnn", hidden_size: int = 48):
        super().__init__()
        if encoder_type not in ENCODER_TYPES:
            raise ConfigError(
                f"key 'encoder_type' of neck SequenceEncoder must be one of {', '.join(ENCODER_TYPES)}, "
                f"got {encoder_type!r}"
            )
        self.encoder_type = encoder_type
        self.encoder_reshape = Im2Seq(in_channels)
        self.only_reshape = encoder_type == "reshape"
        if self.only_reshape:
            self.out_channels = self.encoder_reshape.out_channels
        else:
            self.encoder = _ENCODERS[encoder_type](self.encoder_reshape.out_channels, hidden_size)
            self.out_channels = self.encoder.out_channels

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.encoder_reshape(x)
        if not self.only_reshape:
            x = self.encoder(x)
        return x
