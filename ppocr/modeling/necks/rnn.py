"""Turns a 1-pixel-high feature map into a sequence (and optionally encodes it) for CTC heads."""
from __future__ import annotations

from typing import List, Optional

import paddle
import paddle.nn as nn

from ppocr.modeling.necks.svtr_encoder import EncoderWithSVTR
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
ENCODER_TYPES = ("reshape", *_ENCODERS, "svtr")


@NECKS.register()
class SequenceEncoder(nn.Layer):
    """``reshape`` (Im2Seq only), ``fc`` (+ Linear to ``hidden_size``), ``rnn`` (+ 2-layer BiLSTM) or ``svtr``
    (:class:`EncoderWithSVTR` on the feature map, then Im2Seq).

    The svtr keys (``dims``, ``depth``, ``hidden_dims``, ``use_guide``, ``num_heads``, ``qkv_bias``,
    ``mlp_ratio``, ``drop_rate``, ``attn_drop_rate``, ``drop_path``, ``kernel_size``, ``qk_scale``) configure
    the svtr encoder only; ``hidden_size`` the fc and rnn ones.
    """

    def __init__(self, in_channels: int, encoder_type: str = "rnn", hidden_size: int = 48, dims: int = 64,
                 depth: int = 2, hidden_dims: int = 120, use_guide: bool = False, num_heads: int = 8,
                 qkv_bias: bool = True, mlp_ratio: float = 2.0, drop_rate: float = 0.1,
                 attn_drop_rate: float = 0.1, drop_path: float = 0.0, kernel_size: List[int] = (3, 3),
                 qk_scale: Optional[float] = None):
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
        elif encoder_type == "svtr":
            if not isinstance(kernel_size, (list, tuple)) or len(kernel_size) != 2:
                raise ConfigError(f"key 'kernel_size' of the svtr encoder must be [h, w], got {kernel_size!r}")
            self.encoder = EncoderWithSVTR(
                in_channels, dims=dims, depth=depth, hidden_dims=hidden_dims, use_guide=use_guide,
                num_heads=num_heads, qkv_bias=qkv_bias, mlp_ratio=mlp_ratio, drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate, drop_path=drop_path, kernel_size=kernel_size, qk_scale=qk_scale)
            self.out_channels = self.encoder.out_channels
        else:
            self.encoder = _ENCODERS[encoder_type](self.encoder_reshape.out_channels, hidden_size)
            self.out_channels = self.encoder.out_channels

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.encoder_type == "svtr":
            return self.encoder_reshape(self.encoder(x))
        x = self.encoder_reshape(x)
        if not self.only_reshape:
            x = self.encoder(x)
        return x
