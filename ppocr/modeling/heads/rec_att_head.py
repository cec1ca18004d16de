"""Attention decoder head (the "Attn" prediction stage of the STR benchmark / TAO OCRNet).

An LSTM emits one character per step; before each step, additive (Bahdanau) attention over the
encoder sequence picks the columns to read, and the previous character (one-hot) is fed back in.
Class ids follow ``AttnLabelEncode``: 0 = ``sos`` (start and padding), last = ``eos``.

Training uses teacher forcing: step t reads the true character t-1 (``sos`` first) and the head
returns logits N×(max_text_length+1)×C (called in training mode without targets, it feeds back its
own predictions instead). Evaluation decodes greedily, feeding back its own argmax, for the same
fixed number of steps and returns softmax probabilities; the loop length is a Python
constant, so an exported graph is the unrolled loop with no data-dependent control flow, and the
post-process cuts each row at its first ``eos``.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import HEADS, ConfigError

State = Tuple[paddle.Tensor, paddle.Tensor]


class AttentionCell(nn.Layer):
    """One decoding step: attend over the encoder features, then advance the LSTM."""

    def __init__(self, in_channels: int, hidden_size: int, num_classes: int):
        super().__init__()
        self.feature_proj = nn.Linear(in_channels, hidden_size, bias_attr=False)
        self.hidden_proj = nn.Linear(hidden_size, hidden_size)
        self.score = nn.Linear(hidden_size, 1, bias_attr=False)
        self.rnn = nn.LSTMCell(in_channels + num_classes, hidden_size)

    def forward(self, state: State, feats: paddle.Tensor, feats_proj: paddle.Tensor,
                prev_onehot: paddle.Tensor) -> Tuple[paddle.Tensor, State, paddle.Tensor]:
        """``feats`` N×T×D and their projection N×T×H (computed once per sequence)."""
        energy = self.score(paddle.tanh(feats_proj + self.hidden_proj(state[0]).unsqueeze(1)))
        alpha = F.softmax(energy, axis=1)  # N×T×1
        context = paddle.matmul(alpha, feats, transpose_x=True).squeeze(1)  # N×D
        output, new_state = self.rnn(paddle.concat([context, prev_onehot], axis=1), state)
        return output, new_state, alpha


def _label_ids(targets: Any) -> paddle.Tensor:
    """The N×L label ids from the head's ``targets``: the tensor itself or ``[label, length, ...]``."""
    if isinstance(targets, (list, tuple)):
        if not targets:
            raise ValueError("AttentionHead got empty targets; expected [label, length] from AttnLabelEncode")
        targets = targets[0]
    return targets


@HEADS.register()
class AttentionHead(nn.Layer):
    """``out_channels`` classes (``sos`` + characters + ``eos``), ``max_text_length`` + 1 decoding steps.

    ``max_text_length`` must match the label encoder's (Global.max_text_length).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_size: int = 256, max_text_length: int = 25):
        super().__init__()
        if out_channels < 3:
            raise ConfigError(f"AttentionHead needs sos, eos and at least one character, got {out_channels} classes")
        if max_text_length < 1:
            raise ConfigError(f"key 'max_text_length' of head AttentionHead must be >= 1, got {max_text_length}")
        self.hidden_size = hidden_size
        self.num_classes = out_channels
        self.max_text_length = max_text_length
        self.num_steps = max_text_length + 1  # characters + eos
        self.out_channels = out_channels
        self.cell = AttentionCell(in_channels, hidden_size, out_channels)
        self.generator = nn.Linear(hidden_size, out_channels)

    def _initial_state(self, feats: paddle.Tensor) -> State:
        zeros = paddle.zeros([paddle.shape(feats)[0], self.hidden_size], dtype=feats.dtype)
        return zeros, zeros

    def _teacher_inputs(self, targets: Any) -> paddle.Tensor:
        labels = _label_ids(targets)
        if labels.ndim != 2 or labels.shape[1] < self.num_steps:
            raise ValueError(
                f"AttentionHead(max_text_length={self.max_text_length}) needs labels of width >= {self.num_steps} "
                f"(sos + text + eos, padded), got shape {list(labels.shape)}; Global.max_text_length and "
                "Architecture.Head.max_text_length must agree")
        return F.one_hot(labels[:, : self.num_steps].astype("int64"), self.num_classes)

    def forward(self, x: paddle.Tensor, targets: Optional[Any] = None) -> paddle.Tensor:
        feats_proj = self.cell.feature_proj(x)
        state = self._initial_state(x)
        if self.training and targets is not None:
            onehots = self._teacher_inputs(targets)
            outputs: List[paddle.Tensor] = []
            for step in range(self.num_steps):
                output, state, _ = self.cell(state, x, feats_proj, onehots[:, step])
                outputs.append(output)
            return self.generator(paddle.stack(outputs, axis=1))
        prev = paddle.zeros([paddle.shape(x)[0]], dtype="int64")  # sos
        step_logits: List[paddle.Tensor] = []
        for step in range(self.num_steps):
            output, state, _ = self.cell(state, x, feats_proj, F.one_hot(prev, self.num_classes))
            logits = self.generator(output)
            step_logits.append(logits)
            prev = logits.argmax(axis=1)
        logits = paddle.stack(step_logits, axis=1)
        return logits if self.training else F.softmax(logits, axis=2)
