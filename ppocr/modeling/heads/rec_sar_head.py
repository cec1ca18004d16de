"""SAR head (Show, Attend and Read): the GTC branch of PP-OCRv3's MultiHead.

An LSTM encodes the column-max-pooled feature map into one holistic vector; an LSTM decoder, fed that vector and
the label's embeddings, attends in 2D over the feature map at each step. Class ids follow ``SARLabelEncode``:
characters, then unknown, start/end (``out_channels - 2``) and padding (``out_channels - 1``, never predicted).
Sub-layer names follow PaddleOCR so its checkpoints load by key.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import HEADS


def _valid_ratios(targets: Optional[Sequence[Any]]) -> Optional[paddle.Tensor]:
    if not targets:
        return None
    return paddle.to_tensor(targets[-1]).astype("float32").reshape([-1])


class SAREncoder(nn.Layer):
    def __init__(self, d_model: int, d_enc: int, bidirectional: bool, dropout: float, use_gru: bool):
        super().__init__()
        rnn = nn.GRU if use_gru else nn.LSTM
        self.rnn_encoder = rnn(d_model, d_enc, num_layers=2, dropout=dropout,
                               direction="bidirectional" if bidirectional else "forward")
        out_size = d_enc * (2 if bidirectional else 1)
        self.linear = nn.Linear(out_size, out_size)

    def forward(self, feat: paddle.Tensor, valid_ratios: Optional[paddle.Tensor]) -> paddle.Tensor:
        columns = F.max_pool2d(feat, kernel_size=[feat.shape[2], 1], stride=1).squeeze(2).transpose([0, 2, 1])
        states = self.rnn_encoder(columns)[0]  # N×W×C
        steps = states.shape[1]
        if valid_ratios is None:
            last = paddle.full([states.shape[0]], steps - 1, dtype="int64")
        else:
            last = paddle.clip(paddle.ceil(valid_ratios * steps), max=steps).astype("int64") - 1
        picked = paddle.take_along_axis(states, last.reshape([-1, 1, 1]).expand([-1, 1, states.shape[2]]), axis=1)
        return self.linear(picked.squeeze(1))


class ParallelSARDecoder(nn.Layer):
    def __init__(self, out_channels: int, d_model: int, d_enc: int, d_k: int, enc_bi_rnn: bool, dec_bi_rnn: bool,
                 dec_drop_rnn: float, dec_gru: bool, pred_dropout: float, max_text_length: int, pred_concat: bool):
        super().__init__()
        self.num_classes = out_channels
        self.start_idx = out_channels - 2
        self.padding_idx = out_channels - 1
        self.max_seq_len = max_text_length
        self.pred_concat = pred_concat
        enc_size = d_enc * (2 if enc_bi_rnn else 1)
        dec_size = enc_size * (2 if dec_bi_rnn else 1)
        self.conv1x1_1 = nn.Linear(dec_size, d_k)
        self.conv3x3_1 = nn.Conv2D(d_model, d_k, 3, padding=1)
        self.conv1x1_2 = nn.Linear(d_k, 1)
        rnn = nn.GRU if dec_gru else nn.LSTM
        self.rnn_decoder = rnn(enc_size, enc_size, num_layers=2, dropout=dec_drop_rnn,
                               direction="bidirectional" if dec_bi_rnn else "forward")
        self.embedding = nn.Embedding(out_channels, enc_size, padding_idx=self.padding_idx)
        self.pred_dropout = nn.Dropout(pred_dropout)
        fc_in = dec_size + d_model + enc_size if pred_concat else d_model
        self.prediction = nn.Linear(fc_in, out_channels - 1)

    def _attend(self, decoder_input: paddle.Tensor, feat: paddle.Tensor, holistic: paddle.Tensor,
                valid_ratios: Optional[paddle.Tensor]) -> paddle.Tensor:
        y = self.rnn_decoder(decoder_input)[0]  # N×T×C
        query = self.conv1x1_1(y).unsqueeze([3, 4])  # N×T×d_k×1×1
        key = self.conv3x3_1(feat).unsqueeze(1)  # N×1×d_k×H×W
        scores = self.conv1x1_2(paddle.tanh(key + query).transpose([0, 1, 3, 4, 2])).squeeze(-1)  # N×T×H×W
        batch, steps, height, width = scores.shape
        if valid_ratios is not None:
            valid_width = paddle.clip(paddle.ceil(valid_ratios * width), max=width)
            outside = paddle.arange(width, dtype="float32").reshape([1, 1, 1, -1]) >= valid_width.reshape([-1, 1, 1, 1])
            scores = paddle.where(outside, paddle.full_like(scores, float("-inf")), scores)
        weights = F.softmax(scores.reshape([batch, steps, -1]), axis=-1).reshape([batch, steps, 1, height, width])
        glimpse = (feat.unsqueeze(1) * weights).sum(axis=[3, 4])  # N×T×C
        if self.pred_concat:
            holistic = holistic.expand([batch, steps, holistic.shape[-1]])
            out = self.prediction(paddle.concat([y, glimpse, holistic], axis=2))
        else:
            out = self.prediction(glimpse)
        return self.pred_dropout(out) if self.training else out

    def forward_train(self, feat: paddle.Tensor, holistic: paddle.Tensor, label: paddle.Tensor,
                      valid_ratios: Optional[paddle.Tensor]) -> paddle.Tensor:
        embedded = self.embedding(label.astype("int64"))
        holistic = holistic.unsqueeze(1)
        out = self._attend(paddle.concat([holistic, embedded], axis=1), feat, holistic, valid_ratios)
        return out[:, 1:, :]

    def forward_test(self, feat: paddle.Tensor, holistic: paddle.Tensor,
                     valid_ratios: Optional[paddle.Tensor]) -> paddle.Tensor:
        batch = feat.shape[0]
        start = self.embedding(paddle.full([batch], self.start_idx, dtype="int64"))
        holistic = holistic.unsqueeze(1)
        inputs = [holistic] + [start.unsqueeze(1)] * self.max_seq_len
        outputs = []
        for step in range(1, self.max_seq_len + 1):
            probs = F.softmax(self._attend(paddle.concat(inputs, axis=1), feat, holistic, valid_ratios)[:, step, :],
                              axis=-1)
            outputs.append(probs)
            if step < self.max_seq_len:
                inputs[step + 1] = self.embedding(probs.argmax(axis=1)).unsqueeze(1)
        return paddle.stack(outputs, axis=1)


@HEADS.register()
class SARHead(nn.Layer):
    """Training: ``targets = [label_sar, ..., valid_ratio]`` → N×max_text_length×(out_channels - 1) logits
    (teacher forcing). Eval: greedy per-step probabilities of the same shape."""

    def __init__(self, in_channels: int, out_channels: int, enc_dim: int = 512, max_text_length: int = 30,
                 enc_bi_rnn: bool = False, enc_drop_rnn: float = 0.1, enc_gru: bool = False,
                 dec_bi_rnn: bool = False, dec_drop_rnn: float = 0.0, dec_gru: bool = False, d_k: int = 512,
                 pred_dropout: float = 0.1, pred_concat: bool = True):
        super().__init__()
        self.out_channels = out_channels - 1
        self.encoder = SAREncoder(in_channels, enc_dim, enc_bi_rnn, enc_drop_rnn, enc_gru)
        self.decoder = ParallelSARDecoder(out_channels, in_channels, enc_dim, d_k, enc_bi_rnn, dec_bi_rnn,
                                          dec_drop_rnn, dec_gru, pred_dropout, max_text_length, pred_concat)

    def teacher_forced(self, feat: paddle.Tensor, targets: Optional[Sequence[Any]]) -> paddle.Tensor:
        """The training output (logits with the label as decoder input) in either mode."""
        if not targets:
            raise ValueError("SARHead needs [label_sar, ..., valid_ratio] while training (MultiLabelEncode and "
                             "KeepKeys label_sar, length, valid_ratio)")
        valid_ratios = _valid_ratios(targets)
        holistic = self.encoder(feat, valid_ratios)
        return self.decoder.forward_train(feat, holistic, paddle.to_tensor(targets[0]), valid_ratios)

    def forward(self, feat: paddle.Tensor, targets: Optional[Sequence[Any]] = None) -> paddle.Tensor:
        if self.training:
            return self.teacher_forced(feat, targets)
        valid_ratios = _valid_ratios(targets)
        return self.decoder.forward_test(feat, self.encoder(feat, valid_ratios), valid_ratios)
