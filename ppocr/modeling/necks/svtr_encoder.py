"""EncoderWithSVTR: the PP-OCRv3/v4 recognition neck (``SequenceEncoder`` with ``encoder_type: svtr``).

A few global self-attention blocks over the backbone's feature map, between channel-reducing convs, joined to the
input by a shortcut. With ``use_guide`` the neck reads a gradient-free copy of the backbone features, so in
multi-head training the backbone learns from the attention (GTC) branch only, as in PaddleOCR.
Sub-layer names follow PaddleOCR so its checkpoints load by key.
"""
from __future__ import annotations

from typing import List, Optional

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import ConfigError

_TRUNC_NORMAL = nn.initializer.TruncatedNormal(std=0.02)


class ConvBNLayer(nn.Layer):
    """Bias-free conv, batch norm (``norm``), Swish."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: List[int], padding: List[int]):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, out_channels, kernel_size, padding=padding, bias_attr=False,
                              weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingUniform()))
        self.norm = nn.BatchNorm2D(out_channels)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return F.swish(self.norm(self.conv(x)))


def _linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    return nn.Linear(in_features, out_features, weight_attr=paddle.ParamAttr(initializer=_TRUNC_NORMAL),
                     bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)) if bias else False)


class Mlp(nn.Layer):
    def __init__(self, dim: int, hidden: int, drop: float):
        super().__init__()
        self.fc1 = _linear(dim, hidden)
        self.fc2 = _linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.drop(self.fc2(self.drop(F.swish(self.fc1(x)))))


class Attention(nn.Layer):
    """Global multi-head self-attention over the N×L×C token sequence."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, qk_scale: Optional[float], attn_drop: float,
                 proj_drop: float):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"SVTR attention: dim {dim} is not divisible by num_heads {num_heads}")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim ** -0.5
        self.qkv = _linear(dim, dim * 3, bias=qkv_bias)
        self.proj = _linear(dim, dim)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        qkv = self.qkv(x).reshape([0, -1, 3, self.num_heads, self.head_dim]).transpose([2, 0, 3, 1, 4])
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = self.attn_drop(F.softmax(q.matmul(k.transpose([0, 1, 3, 2])), axis=-1))
        x = attn.matmul(v).transpose([0, 2, 1, 3]).reshape([0, -1, self.dim])
        return self.proj_drop(self.proj(x))


class Block(nn.Layer):
    """Post-norm-free transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, qk_scale: Optional[float],
                 drop: float, attn_drop: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, epsilon=1e-5)
        self.mixer = Attention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim, epsilon=1e-5)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class EncoderWithSVTR(nn.Layer):
    """N×C×H×W → N×dims×H×W: conv k (C → C/8), 1×1 (→ hidden_dims), ``depth`` attention blocks + LayerNorm,
    1×1 back to C, concat with the input, conv k (2C → C/8), 1×1 (→ ``dims``)."""

    def __init__(self, in_channels: int, dims: int = 64, depth: int = 2, hidden_dims: int = 120,
                 use_guide: bool = False, num_heads: int = 8, qkv_bias: bool = True, mlp_ratio: float = 2.0,
                 drop_rate: float = 0.1, attn_drop_rate: float = 0.1, drop_path: float = 0.0,
                 kernel_size: List[int] = (3, 3), qk_scale: Optional[float] = None):
        super().__init__()
        if drop_path:
            raise ConfigError("key 'drop_path' of the svtr encoder: stochastic depth is not supported (PP-OCR recipes use 0.0)")
        kernel = [int(k) for k in kernel_size]
        padding = [kernel[0] // 2, kernel[1] // 2]
        reduced = in_channels // 8
        self.use_guide = use_guide
        self.hidden_dims = hidden_dims
        self.conv1 = ConvBNLayer(in_channels, reduced, kernel, padding)
        self.conv2 = ConvBNLayer(reduced, hidden_dims, [1, 1], [0, 0])
        self.svtr_block = nn.LayerList([
            Block(hidden_dims, num_heads, mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate)
            for _ in range(depth)])
        self.norm = nn.LayerNorm(hidden_dims, epsilon=1e-6)
        self.conv3 = ConvBNLayer(hidden_dims, in_channels, [1, 1], [0, 0])
        self.conv4 = ConvBNLayer(2 * in_channels, reduced, kernel, padding)
        self.conv1x1 = ConvBNLayer(reduced, dims, [1, 1], [0, 0])
        self.out_channels = dims

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        shortcut = x.detach() if self.use_guide else x
        z = self.conv2(self.conv1(shortcut))
        height = z.shape[2]  # the width may be dynamic in an exported graph: reshape infers it
        z = z.flatten(2).transpose([0, 2, 1])
        for block in self.svtr_block:
            z = block(z)
        z = self.norm(z).transpose([0, 2, 1]).reshape([0, self.hidden_dims, height, -1])
        z = paddle.concat([shortcut, self.conv3(z)], axis=1)
        return self.conv1x1(self.conv4(z))
