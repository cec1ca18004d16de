"""SVTRNet: the SVTR recognition backbone (a vision transformer over a text-line image), PP-OCRv4's rec teacher.

A two- or three-conv patch embedding cuts the image into tokens at 1/4 (``sub_num: 2``) or 1/8 of its size; three
stages of blocks follow, each token mixer either ``Global`` (self-attention over all tokens), ``Local`` (attention
inside a ``local_mixer`` window) or ``Conv`` (a grouped ``local_mixer`` conv), with ``patch_merging`` (a stride-(2, 1)
``Conv`` or ``Pool``) halving the height between stages. The last stage's map is average-pooled to one row of
``out_char_num`` columns; ``last_stage: true`` then projects it to ``out_channels`` (1×1 conv, hardswish, dropout).

``last_stage: false`` returns that pooled N×``embed_dim[-1]``×1×``out_char_num`` map, the features PP-OCRv4's
distillation teacher feeds to its MultiHead. (PaddleOCR returns the unpooled token sequence instead, which only its
MultiHead ``use_pool`` can read; its PP-OCRv4 distillation config, which does not set that, fails there.)

An input of another size than ``img_size`` (e.g. a wider line) gets the position embedding resized bilinearly to its
token grid; ``Local`` mixers need the configured size. Parameter names follow PaddleOCR's ``SVTRNet`` so its
checkpoints load by key.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import BACKBONES, ConfigError

_TRUNC_NORMAL = nn.initializer.TruncatedNormal(std=0.02)
MIXERS = ("Global", "Local", "Conv")
# PaddleOCR writes layer classes as strings; these are the ones its configs use.
ACTIVATIONS = {"nn.GELU": nn.GELU, "nn.Swish": nn.Swish}
NORMS = ("nn.LayerNorm",)
PATCH_MERGING = ("Conv", "Pool")
_WHERE = "Architecture.Backbone"


def drop_path(x: paddle.Tensor, drop_prob: float, training: bool) -> paddle.Tensor:
    """Stochastic depth: zero the residual branch of whole samples with probability ``drop_prob``."""
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    mask = paddle.floor(keep + paddle.rand([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype))
    return x / keep * mask


class DropPath(nn.Layer):
    def __init__(self, drop_prob: float):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return drop_path(x, self.drop_prob, self.training)


class ConvBNLayer(nn.Layer):
    """Conv (with a bias, as PaddleOCR's patch embedding has), batch norm (``norm``), activation."""

    def __init__(self, in_channels: int, out_channels: int, act: type):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, out_channels, 3, stride=2, padding=1,
                              weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingUniform()))
        self.norm = nn.BatchNorm2D(out_channels)
        self.act = act()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.act(self.norm(self.conv(x)))


class PatchEmbed(nn.Layer):
    """``sub_num`` stride-2 convs: 3 → embed_dim/2 → embed_dim (or /4, /2, 1 for three)."""

    def __init__(self, in_channels: int, embed_dim: int, sub_num: int, act: type):
        super().__init__()
        widths = [in_channels] + [embed_dim // 2 ** (sub_num - 1 - i) for i in range(sub_num)]
        self.proj = nn.Sequential(*[ConvBNLayer(widths[i], widths[i + 1], act) for i in range(sub_num)])

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.proj(x)


class Mlp(nn.Layer):
    def __init__(self, dim: int, hidden: int, act: type, drop: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = act()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class ConvMixer(nn.Layer):
    """Token mixing by a grouped conv (one group per head) over the token map."""

    def __init__(self, dim: int, num_heads: int, local_k: Sequence[int]):
        super().__init__()
        self.dim = dim
        self.local_mixer = nn.Conv2D(dim, dim, list(local_k), 1, [local_k[0] // 2, local_k[1] // 2],
                                     groups=num_heads,
                                     weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingNormal()))

    def forward(self, x: paddle.Tensor, hw: Tuple[int, int]) -> paddle.Tensor:
        x = x.transpose([0, 2, 1]).reshape([0, self.dim, hw[0], hw[1]])
        return self.local_mixer(x).flatten(2).transpose([0, 2, 1])


def local_attention_mask(hw: Sequence[int], window: Sequence[int]) -> np.ndarray:
    """(H·W)×(H·W) additive attention mask: 0 where the key lies in the query's ``window`` (rows × columns),
    −inf elsewhere."""
    rows, cols = np.divmod(np.arange(hw[0] * hw[1]), hw[1])
    d_row = rows[None, :] - rows[:, None]
    d_col = cols[None, :] - cols[:, None]
    inside = ((d_row >= -(window[0] // 2)) & (d_row <= window[0] - 1 - window[0] // 2)
              & (d_col >= -(window[1] // 2)) & (d_col <= window[1] - 1 - window[1] // 2))
    return np.where(inside, 0.0, -np.inf).astype("float32")


class Attention(nn.Layer):
    """Multi-head self-attention over the tokens; ``Local`` restricts each query to a window around it."""

    def __init__(self, dim: int, num_heads: int, mixer: str, hw: Sequence[int], local_k: Sequence[int],
                 qkv_bias: bool, qk_scale: Optional[float], attn_drop: float, proj_drop: float):
        super().__init__()
        self.num_heads = num_heads
        self.dim = dim
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias_attr=None if qkv_bias else False)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.local = mixer == "Local"
        if self.local:
            self.hw = tuple(hw)
            self.register_buffer("mask", paddle.to_tensor(local_attention_mask(hw, local_k)[None, None]),
                                 persistable=False)

    def forward(self, x: paddle.Tensor, hw: Tuple[int, int]) -> paddle.Tensor:
        qkv = self.qkv(x).reshape([0, -1, 3, self.num_heads, self.head_dim]).transpose([2, 0, 3, 1, 4])
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q.matmul(k.transpose([0, 1, 3, 2]))
        if self.local:
            if tuple(hw) != self.hw:
                raise ValueError(f"SVTRNet: a Local mixer is built for a {self.hw[0]}x{self.hw[1]} token grid "
                                 f"(img_size), got {hw[0]}x{hw[1]}; resize the input to img_size")
            attn = attn + self.mask
        attn = self.attn_drop(F.softmax(attn, axis=-1))
        x = attn.matmul(v).transpose([0, 2, 1, 3]).reshape([0, -1, self.dim])
        return self.proj_drop(self.proj(x))


class Block(nn.Layer):
    """Mixer and MLP with residuals; ``prenorm`` normalises after each residual sum, otherwise before each branch."""

    def __init__(self, dim: int, num_heads: int, mixer: str, local_mixer: Sequence[int], hw: Sequence[int],
                 mlp_ratio: float, qkv_bias: bool, qk_scale: Optional[float], drop: float, attn_drop: float,
                 drop_path_prob: float, act: type, epsilon: float, prenorm: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, epsilon=epsilon)
        if mixer == "Conv":
            self.mixer = ConvMixer(dim, num_heads, local_mixer)
        else:
            self.mixer = Attention(dim, num_heads, mixer, hw, local_mixer, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = DropPath(drop_path_prob) if drop_path_prob > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, epsilon=epsilon)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act, drop)
        self.prenorm = prenorm

    def forward(self, x: paddle.Tensor, hw: Tuple[int, int]) -> paddle.Tensor:
        if self.prenorm:
            x = self.norm1(x + self.drop_path(self.mixer(x, hw)))
            return self.norm2(x + self.drop_path(self.mlp(x)))
        x = x + self.drop_path(self.mixer(self.norm1(x), hw))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SubSample(nn.Layer):
    """Patch merging between stages: stride-(2, 1) ``Conv`` or averaged avg/max ``Pool`` + Linear, then LayerNorm."""

    def __init__(self, in_channels: int, out_channels: int, types: str):
        super().__init__()
        self.types = types
        if types == "Pool":
            self.avgpool = nn.AvgPool2D(kernel_size=[3, 5], stride=[2, 1], padding=[1, 2])
            self.maxpool = nn.MaxPool2D(kernel_size=[3, 5], stride=[2, 1], padding=[1, 2])
            self.proj = nn.Linear(in_channels, out_channels)
        else:
            self.conv = nn.Conv2D(in_channels, out_channels, 3, stride=[2, 1], padding=1,
                                  weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingNormal()))
        self.norm = nn.LayerNorm(out_channels)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.types == "Pool":
            x = (self.avgpool(x) + self.maxpool(x)) * 0.5
            return self.norm(self.proj(x.flatten(2).transpose([0, 2, 1])))
        return self.norm(self.conv(x).flatten(2).transpose([0, 2, 1]))


def _int_list(value: object, key: str, length: Optional[int] = None) -> List[int]:
    ok = isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                   for v in value)
    if not ok or (length is not None and len(value) != length):
        size = f"{length} " if length is not None else ""
        raise ConfigError(f"key {key!r} of backbone SVTRNet must list {size}positive integers, got {value!r}", _WHERE)
    return list(value)


def _choice(value: object, key: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(f"key {key!r} of backbone SVTRNet must be one of {', '.join(allowed)}, got {value!r}",
                          _WHERE)
    return value


@BACKBONES.register()
class SVTRNet(nn.Layer):
    """N×3×H×W → N×C×1×``out_char_num`` (C = ``out_channels`` with ``last_stage``, else ``embed_dim[-1]``)."""

    def __init__(
        self,
        in_channels: int = 3,
        img_size: Sequence[int] = (32, 100),
        embed_dim: Sequence[int] = (64, 128, 256),
        depth: Sequence[int] = (3, 6, 3),
        num_heads: Sequence[int] = (2, 4, 8),
        mixer: Sequence[str] = ("Local",) * 6 + ("Global",) * 6,
        local_mixer: Sequence[Sequence[int]] = ((7, 11), (7, 11), (7, 11)),
        patch_merging: Optional[str] = "Conv",
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_scale: Optional[float] = None,
        drop_rate: float = 0.0,
        last_drop: float = 0.1,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        norm_layer: str = "nn.LayerNorm",
        sub_norm: str = "nn.LayerNorm",
        epsilon: float = 1e-6,
        out_channels: int = 192,
        out_char_num: int = 25,
        block_unit: str = "Block",
        act: str = "nn.GELU",
        last_stage: bool = True,
        sub_num: int = 2,
        prenorm: bool = True,
        use_lenhead: bool = False,
    ):
        super().__init__()
        img_size = _int_list(img_size, "img_size", 2)
        embed_dim = _int_list(embed_dim, "embed_dim", 3)
        depth = _int_list(depth, "depth", 3)
        num_heads = _int_list(num_heads, "num_heads", 3)
        local_mixer = [_int_list(k, "local_mixer", 2) for k in (local_mixer or [])]
        if len(local_mixer) != 3:
            raise ConfigError(f"key 'local_mixer' of backbone SVTRNet must list one [rows, cols] window per stage "
                              f"(3), got {len(local_mixer)}", _WHERE)
        mixer = [_choice(m, "mixer", MIXERS) for m in mixer]
        if len(mixer) != sum(depth):
            raise ConfigError(f"key 'mixer' of backbone SVTRNet must name one mixer per block (sum of depth = "
                              f"{sum(depth)}), got {len(mixer)}", _WHERE)
        for stage, (dim, heads) in enumerate(zip(embed_dim, num_heads)):
            if dim % heads:
                raise ConfigError(f"embed_dim[{stage}] = {dim} is not divisible by num_heads[{stage}] = {heads}",
                                  _WHERE)
        if sub_num not in (2, 3):
            raise ConfigError(f"key 'sub_num' of backbone SVTRNet must be 2 or 3, got {sub_num!r}", _WHERE)
        _choice(norm_layer, "norm_layer", NORMS)
        _choice(sub_norm, "sub_norm", NORMS)
        _choice(block_unit, "block_unit", ("Block",))
        act_layer = ACTIVATIONS[_choice(act, "act", tuple(ACTIVATIONS))]
        if use_lenhead:
            raise ConfigError("key 'use_lenhead' of backbone SVTRNet: the length head is not supported; use false",
                              _WHERE)
        if isinstance(out_char_num, bool) or not isinstance(out_char_num, int) or out_char_num < 1:
            raise ConfigError(f"key 'out_char_num' of backbone SVTRNet must be a positive integer, "
                              f"got {out_char_num!r}", _WHERE)
        # PaddleOCR treats any other value (None, "None") as no merging
        self.patch_merging = patch_merging if patch_merging in PATCH_MERGING else None
        scale = 2 ** sub_num
        if img_size[0] % scale or img_size[1] % scale:
            raise ConfigError(f"key 'img_size' of backbone SVTRNet must be divisible by {scale} (2**sub_num), "
                              f"got {img_size}", _WHERE)
        self.img_size = img_size
        self.embed_dim = embed_dim
        self.prenorm = prenorm
        self.last_stage = last_stage
        self.grid = (img_size[0] // scale, img_size[1] // scale)

        self.patch_embed = PatchEmbed(in_channels, embed_dim[0], sub_num, act_layer)
        self.pos_embed = self.create_parameter([1, self.grid[0] * self.grid[1], embed_dim[0]],
                                               default_initializer=_TRUNC_NORMAL)
        self.pos_drop = nn.Dropout(drop_rate)
        rates = np.linspace(0, drop_path_rate, sum(depth)).tolist()
        grid = self.grid
        starts = [0, depth[0], depth[0] + depth[1]]
        for stage in range(3):
            if stage and self.patch_merging is not None:
                self.add_sublayer(f"sub_sample{stage}",
                                  SubSample(embed_dim[stage - 1], embed_dim[stage], self.patch_merging))
                grid = (grid[0] // 2, grid[1])
            blocks = nn.LayerList([
                Block(embed_dim[stage], num_heads[stage], mixer[starts[stage] + i], local_mixer[stage], grid,
                      mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate, rates[starts[stage] + i], act_layer,
                      epsilon, prenorm)
                for i in range(depth[stage])])
            self.add_sublayer(f"blocks{stage + 1}", blocks)
        if not prenorm:
            self.norm = nn.LayerNorm(embed_dim[-1], epsilon=epsilon)
        self.avg_pool = nn.AdaptiveAvgPool2D([1, out_char_num])
        if last_stage:
            self.last_conv = nn.Conv2D(embed_dim[-1], out_channels, 1, bias_attr=False)
            self.hardswish = nn.Hardswish()
            self.dropout = nn.Dropout(p=last_drop, mode="downscale_in_infer")
        self.out_channels = out_channels if last_stage else embed_dim[-1]
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(layer: nn.Layer) -> None:
        if isinstance(layer, nn.Linear):
            _TRUNC_NORMAL(layer.weight)
            if layer.bias is not None:
                nn.initializer.Constant(0.0)(layer.bias)
        elif isinstance(layer, nn.LayerNorm):
            nn.initializer.Constant(0.0)(layer.bias)
            nn.initializer.Constant(1.0)(layer.weight)

    def _position(self, x: paddle.Tensor, hw: Tuple[int, int]) -> paddle.Tensor:
        if tuple(hw) == self.grid:
            return x + self.pos_embed
        table = self.pos_embed.transpose([0, 2, 1]).reshape([1, self.embed_dim[0], self.grid[0], self.grid[1]])
        table = F.interpolate(table, size=list(hw), mode="bilinear", align_corners=False)
        return x + table.flatten(2).transpose([0, 2, 1])

    def _to_map(self, x: paddle.Tensor, channels: int, hw: Tuple[int, int]) -> paddle.Tensor:
        return x.transpose([0, 2, 1]).reshape([0, channels, hw[0], hw[1]])

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.patch_embed(x)
        hw = (x.shape[2], x.shape[3])
        x = self.pos_drop(self._position(x.flatten(2).transpose([0, 2, 1]), hw))
        for stage in range(3):
            if stage and self.patch_merging is not None:
                x = getattr(self, f"sub_sample{stage}")(self._to_map(x, self.embed_dim[stage - 1], hw))
                hw = ((hw[0] - 1) // 2 + 1, hw[1])
            for block in getattr(self, f"blocks{stage + 1}"):
                x = block(x, hw)
        if not self.prenorm:
            x = self.norm(x)
        x = self.avg_pool(self._to_map(x, self.embed_dim[-1], hw))
        if not self.last_stage:
            return x
        return self.dropout(self.hardswish(self.last_conv(x)))
