"""NRTR transformer decoder: the GTC branch of PP-OCRv4's MultiHead (training-time guidance for the CTC branch).

Decoder-only here (``num_encoder_layers`` ≤ 0, as MultiHead builds it): the tokens of the label attend to the
backbone's feature sequence. Token ids follow ``NRTRLabelEncode``: 0 padding/blank, 1 unknown, 2 start, 3 end,
then the characters. Sub-layer names follow PaddleOCR (``embedding``, ``positional_encoding``, ``decoder.N``
with ``self_attn``/``cross_attn``/``mlp``/``norm1..3``, ``tgt_word_prj``) so its checkpoints load by key.
"""
from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

START_ID = 2
END_ID = 3
_MAX_POSITIONS = 5000


def _linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    return nn.Linear(in_features, out_features, weight_attr=paddle.ParamAttr(initializer=nn.initializer.XavierNormal()),
                     bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)) if bias else False)


class Embeddings(nn.Layer):
    """Token embedding, scaled by sqrt(d_model) when ``scale_embedding``."""

    def __init__(self, d_model: int, vocab: int, padding_idx: int = 0, scale_embedding: bool = True):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d_model, padding_idx=padding_idx, weight_attr=paddle.ParamAttr(
            initializer=nn.initializer.Normal(0.0, d_model ** -0.5)))
        self.factor = math.sqrt(d_model) if scale_embedding else 1.0

    def forward(self, ids: paddle.Tensor) -> paddle.Tensor:
        return self.embedding(ids) * self.factor


class PositionalEncoding(nn.Layer):
    """Sinusoidal positions added to an N×T×C sequence (``pe`` is a saved buffer, as in PaddleOCR)."""

    def __init__(self, dim: int, dropout: float, max_len: int = _MAX_POSITIONS):
        super().__init__()
        position = np.arange(max_len, dtype="float32")[:, None]
        div_term = np.exp(np.arange(0, dim, 2, dtype="float32") * (-math.log(10000.0) / dim))
        pe = np.zeros([max_len, dim], dtype="float32")
        pe[:, 0::2] = np.sin(position * div_term)
        pe[:, 1::2] = np.cos(position * div_term)
        self.register_buffer("pe", paddle.to_tensor(pe[:, None, :]))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        steps = x.shape[1]
        return self.dropout(x + self.pe[:steps].transpose([1, 0, 2]))


class MultiheadAttention(nn.Layer):
    """Self-attention (one ``qkv`` projection) or cross-attention (``q`` from the query, ``kv`` from the key)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, self_attn: bool = False):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"NRTR attention: embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.self_attn = self_attn
        if self_attn:
            self.qkv = _linear(embed_dim, embed_dim * 3)
        else:
            self.q = _linear(embed_dim, embed_dim)
            self.kv = _linear(embed_dim, embed_dim * 2)
        self.attn_drop = nn.Dropout(dropout)
        self.out_proj = _linear(embed_dim, embed_dim)

    def forward(self, query: paddle.Tensor, key: Optional[paddle.Tensor] = None,
                attn_mask: Optional[paddle.Tensor] = None) -> paddle.Tensor:
        heads, dim = self.num_heads, self.head_dim
        if self.self_attn:
            qkv = self.qkv(query).reshape([0, -1, 3, heads, dim]).transpose([2, 0, 3, 1, 4])
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            q = self.q(query).reshape([0, -1, heads, dim]).transpose([0, 2, 1, 3])
            kv = self.kv(key).reshape([0, -1, 2, heads, dim]).transpose([2, 0, 3, 1, 4])
            k, v = kv[0], kv[1]
        attn = q.matmul(k.transpose([0, 1, 3, 2])) * self.scale
        if attn_mask is not None:
            attn = attn + attn_mask
        attn = self.attn_drop(F.softmax(attn, axis=-1))
        out = attn.matmul(v).transpose([0, 2, 1, 3]).reshape([0, -1, self.embed_dim])
        return self.out_proj(out)


class FeedForward(nn.Layer):
    def __init__(self, dim: int, hidden: int, drop: float):
        super().__init__()
        self.fc1 = _linear(dim, hidden)
        self.fc2 = _linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.drop(self.fc2(self.drop(F.relu(self.fc1(x)))))


class TransformerBlock(nn.Layer):
    """Post-norm block: self-attention, cross-attention to ``memory`` (decoder), feed-forward."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, attention_dropout_rate: float,
                 residual_dropout_rate: float, with_self_attn: bool = True, with_cross_attn: bool = False):
        super().__init__()
        self.with_self_attn = with_self_attn
        self.with_cross_attn = with_cross_attn
        if with_self_attn:
            self.self_attn = MultiheadAttention(d_model, nhead, attention_dropout_rate, self_attn=True)
            self.norm1 = nn.LayerNorm(d_model, epsilon=1e-5)
            self.dropout1 = nn.Dropout(residual_dropout_rate)
        if with_cross_attn:
            self.cross_attn = MultiheadAttention(d_model, nhead, attention_dropout_rate)
            self.norm2 = nn.LayerNorm(d_model, epsilon=1e-5)
            self.dropout2 = nn.Dropout(residual_dropout_rate)
        self.mlp = FeedForward(d_model, dim_feedforward, residual_dropout_rate)
        self.norm3 = nn.LayerNorm(d_model, epsilon=1e-5)
        self.dropout3 = nn.Dropout(residual_dropout_rate)

    def forward(self, tgt: paddle.Tensor, memory: Optional[paddle.Tensor] = None,
                self_mask: Optional[paddle.Tensor] = None) -> paddle.Tensor:
        if self.with_self_attn:
            tgt = self.norm1(tgt + self.dropout1(self.self_attn(tgt, attn_mask=self_mask)))
        if self.with_cross_attn:
            tgt = self.norm2(tgt + self.dropout2(self.cross_attn(tgt, key=memory)))
        return self.norm3(tgt + self.dropout3(self.mlp(tgt)))


def causal_mask(steps: int) -> paddle.Tensor:
    """1×1×T×T additive mask: -inf above the diagonal, so step t sees steps ≤ t only."""
    mask = paddle.triu(paddle.full([steps, steps], float("-inf"), dtype="float32"), diagonal=1)
    return mask.unsqueeze([0, 1])


class NRTRHead(nn.Layer):
    """Transformer decoder over an N×L×d_model memory.

    Training (teacher forcing): ``targets = [label_gtc, length, ...]``; returns N×T×(out_channels + 1) logits
    for the label's steps after the start token. Eval: greedy decoding, ``[ids N×S, probs N×S]``.
    """

    def __init__(self, out_channels: int, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = -1,
                 num_decoder_layers: int = 6, max_len: int = 25, dim_feedforward: int = 1024,
                 attention_dropout_rate: float = 0.0, residual_dropout_rate: float = 0.1,
                 scale_embedding: bool = True):
        super().__init__()
        self.out_channels = out_channels + 1
        self.max_len = max_len
        self.embedding = Embeddings(d_model, self.out_channels, padding_idx=0, scale_embedding=scale_embedding)
        self.positional_encoding = PositionalEncoding(d_model, residual_dropout_rate)
        self.encoder = nn.LayerList([
            TransformerBlock(d_model, nhead, dim_feedforward, attention_dropout_rate, residual_dropout_rate)
            for _ in range(num_encoder_layers)]) if num_encoder_layers > 0 else None
        self.decoder = nn.LayerList([
            TransformerBlock(d_model, nhead, dim_feedforward, attention_dropout_rate, residual_dropout_rate,
                             with_cross_attn=True)
            for _ in range(num_decoder_layers)])
        self.tgt_word_prj = _linear(d_model, self.out_channels, bias=False)

    def _memory(self, src: paddle.Tensor) -> paddle.Tensor:
        if self.encoder is None:
            return src
        src = self.positional_encoding(src)
        for layer in self.encoder:
            src = layer(src)
        return src

    def _decode(self, ids: paddle.Tensor, memory: paddle.Tensor) -> paddle.Tensor:
        tgt = self.positional_encoding(self.embedding(ids))
        mask = causal_mask(tgt.shape[1])
        for layer in self.decoder:
            tgt = layer(tgt, memory, self_mask=mask)
        return tgt

    def teacher_forced(self, src: paddle.Tensor, targets: Optional[Sequence[Any]]) -> paddle.Tensor:
        """The training output (logits with the label as decoder input) in either mode."""
        if targets is None or len(targets) < 2:
            raise ValueError("NRTRHead needs [label_gtc, length, ...] while training (MultiLabelEncode with "
                             "gtc_encode: NRTRLabelEncode and KeepKeys label_gtc, length)")
        label, length = targets[0], targets[1]
        longest = int(paddle.to_tensor(length).max())
        ids = paddle.to_tensor(label)[:, : longest + 1].astype("int64")  # start + characters (inputs)
        return self.tgt_word_prj(self._decode(ids, self._memory(src)))

    def forward(self, src: paddle.Tensor, targets: Optional[Sequence[Any]] = None) -> Any:
        if self.training:
            return self.teacher_forced(src, targets)
        return self._greedy(src)

    def _greedy(self, src: paddle.Tensor) -> List[paddle.Tensor]:
        memory = self._memory(src)
        batch = memory.shape[0]
        ids = paddle.full([batch, 1], START_ID, dtype="int64")
        probs = paddle.ones([batch, 1], dtype="float32")
        for _ in range(1, self.max_len):
            word_prob = F.softmax(self.tgt_word_prj(self._decode(ids, memory)[:, -1, :]), axis=-1)
            best = word_prob.argmax(axis=-1)
            if bool((best == END_ID).all()):
                break
            ids = paddle.concat([ids, best.reshape([-1, 1])], axis=1)
            probs = paddle.concat([probs, word_prob.max(axis=-1).reshape([-1, 1])], axis=1)
        return [ids, probs]
