"""PP-LCNetV3: the PP-OCRv4 mobile backbone, for detection (``det: true``, four stage outputs) and recognition.

Every convolution of its blocks is a *learnable re-parameterisable layer*: while training it sums several
conv-BN branches (``conv_kxk``, a 1×1 ``conv_1x1`` and a BN ``identity`` shortcut), scaled by a learnable affine
block (``lab``: one scalar scale and bias); ``rep()`` folds the branches into one conv with a bias
(``reparam_conv``), which computes the same function in eval mode. A model can train in either form
(``fused: true`` builds the one-conv form directly, as checkpoints imported from deployed models need) and export
always writes the fused form (:func:`ppocr.modeling.reparam.fuse_rep_layers`).

Parameter names and shapes follow PaddleOCR's ``PPLCNetV3`` so its checkpoints load by key.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import BACKBONES, ConfigError

Stride = Union[int, Tuple[int, int]]

# Per stage: (depthwise kernel, in channels, out channels, stride, use SE) at scale 1.
_DET_STAGES = {
    "blocks2": [(3, 16, 32, 1, False)],
    "blocks3": [(3, 32, 64, 2, False), (3, 64, 64, 1, False)],
    "blocks4": [(3, 64, 128, 2, False), (3, 128, 128, 1, False)],
    "blocks5": [(3, 128, 256, 2, False)] + [(5, 256, 256, 1, False)] * 4,
    "blocks6": [(5, 256, 512, 2, True), (5, 512, 512, 1, True), (5, 512, 512, 1, False), (5, 512, 512, 1, False)],
}
# Recognition keeps the width resolution: strides are (h, w) pairs where the det variant halves both.
_REC_STAGES = {
    "blocks2": [(3, 16, 32, 1, False)],
    "blocks3": [(3, 32, 64, 1, False), (3, 64, 64, 1, False)],
    "blocks4": [(3, 64, 128, (2, 1), False), (3, 128, 128, 1, False)],
    "blocks5": [(3, 128, 256, (1, 2), False)] + [(5, 256, 256, 1, False)] * 4,
    "blocks6": [(5, 256, 512, (2, 1), True), (5, 512, 512, 1, True), (5, 512, 512, (2, 1), False),
                (5, 512, 512, 1, False)],
}
STAGES = ("blocks2", "blocks3", "blocks4", "blocks5", "blocks6")
# Det: 1×1 projections of the four stage outputs (at scale 1) the FPN neck takes.
_DET_PROJECTIONS = (16, 24, 56, 480)
# Rec: the feature map is pooled to one row; training pools adaptively to this many columns (the
# eval/export graph uses a fixed 3×2 window, equal for 48-pixel-high inputs and valid for any width).
_REC_TRAIN_COLUMNS = 40
_REC_EVAL_POOL = (3, 2)


def make_divisible(value: float, divisor: int = 16, min_value: Optional[int] = None) -> int:
    """A scaled channel count rounded to a multiple of ``divisor``, never more than 10% below ``value``."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _no_decay(lr_mult: float) -> paddle.ParamAttr:
    return paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(0.0), learning_rate=lr_mult)


class LearnableAffineBlock(nn.Layer):
    """``scale * x + bias`` with two learnable scalars (learning rate ``lr_mult * lab_lr``)."""

    def __init__(self, scale_value: float = 1.0, bias_value: float = 0.0, lr_mult: float = 1.0, lab_lr: float = 0.1):
        super().__init__()
        self.scale = self.create_parameter([1], attr=paddle.ParamAttr(learning_rate=lr_mult * lab_lr),
                                           default_initializer=nn.initializer.Constant(scale_value))
        self.bias = self.create_parameter([1], attr=paddle.ParamAttr(learning_rate=lr_mult * lab_lr),
                                          default_initializer=nn.initializer.Constant(bias_value))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.scale * x + self.bias


class ConvBNLayer(nn.Layer):
    """Bias-free conv + batch norm (no activation); BN parameters are not weight-decayed."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: Stride, groups: int = 1,
                 lr_mult: float = 1.0):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2,
                              groups=groups, bias_attr=False,
                              weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingNormal(),
                                                           learning_rate=lr_mult))
        self.bn = nn.BatchNorm2D(out_channels, weight_attr=_no_decay(lr_mult), bias_attr=_no_decay(lr_mult))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.bn(self.conv(x))


class Act(nn.Layer):
    """Hard-swish (or ReLU) followed by a learnable affine block."""

    def __init__(self, act: str = "hswish", lr_mult: float = 1.0, lab_lr: float = 0.1):
        super().__init__()
        if act not in ("hswish", "relu"):
            raise ConfigError(f"PPLCNetV3 activation must be hswish or relu, got {act!r}")
        self.act = nn.Hardswish() if act == "hswish" else nn.ReLU()
        self.lab = LearnableAffineBlock(lr_mult=lr_mult, lab_lr=lab_lr)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.lab(self.act(x))


def _fold_bn(kernel: paddle.Tensor, bn: nn.BatchNorm2D) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """Kernel and bias of ``bn(conv(x))`` as one conv, with BN's running statistics (eval behaviour)."""
    std = paddle.sqrt(bn._variance + bn._epsilon)
    factor = bn.weight / std
    return kernel * factor.reshape([-1, 1, 1, 1]), bn.bias - bn._mean * factor


class LearnableRepLayer(nn.Layer):
    """``lab(sum of branches)`` then ``act`` (except on stride-2 layers), branches or one fused conv.

    Branches: ``num_conv_branches`` k×k conv-BNs, a 1×1 conv-BN when k > 1, and a BN ``identity`` when the
    layer keeps shape. In eval mode every branch is linear, so their sum is one k×k conv with a bias: ``rep()``
    builds it (``reparam_conv``) and drops the branches.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: Stride = 1, groups: int = 1,
                 num_conv_branches: int = 1, lr_mult: float = 1.0, lab_lr: float = 0.1, fused: bool = False):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.groups = groups
        self.lr_mult = lr_mult
        # PaddleOCR skips the activation only on layers with a plain stride of 2 (det down-sampling).
        self.use_act = stride != 2
        self.is_repped = fused
        if fused:
            self.reparam_conv = self._fused_conv()
        else:
            keeps_shape = in_channels == out_channels and stride == 1
            self.identity = nn.BatchNorm2D(in_channels, weight_attr=paddle.ParamAttr(learning_rate=lr_mult),
                                           bias_attr=paddle.ParamAttr(learning_rate=lr_mult)) if keeps_shape else None
            self.conv_kxk = nn.LayerList([
                ConvBNLayer(in_channels, out_channels, kernel_size, stride, groups=groups, lr_mult=lr_mult)
                for _ in range(num_conv_branches)])
            self.conv_1x1 = (ConvBNLayer(in_channels, out_channels, 1, stride, groups=groups, lr_mult=lr_mult)
                             if kernel_size > 1 else None)
        self.lab = LearnableAffineBlock(lr_mult=lr_mult, lab_lr=lab_lr)
        self.act = Act(lr_mult=lr_mult, lab_lr=lab_lr)

    def _fused_conv(self) -> nn.Conv2D:
        return nn.Conv2D(self.in_channels, self.out_channels, self.kernel_size, stride=self.stride,
                         padding=(self.kernel_size - 1) // 2, groups=self.groups,
                         weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingNormal(),
                                                      learning_rate=self.lr_mult),
                         bias_attr=paddle.ParamAttr(learning_rate=self.lr_mult))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.is_repped:
            out = self.reparam_conv(x)
        else:
            out = 0
            if self.identity is not None:
                out = out + self.identity(x)
            if self.conv_1x1 is not None:
                out = out + self.conv_1x1(x)
            for branch in self.conv_kxk:
                out = out + branch(x)
        out = self.lab(out)
        return self.act(out) if self.use_act else out

    def fused_kernel_bias(self) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """The k×k kernel and bias equal to the sum of the branches in eval mode."""
        kernel = paddle.zeros([self.out_channels, self.in_channels // self.groups, self.kernel_size,
                               self.kernel_size], dtype="float32")
        bias = paddle.zeros([self.out_channels], dtype="float32")
        for branch in self.conv_kxk:
            k, b = _fold_bn(branch.conv.weight, branch.bn)
            kernel, bias = kernel + k, bias + b
        pad = self.kernel_size // 2
        if self.conv_1x1 is not None:
            k, b = _fold_bn(self.conv_1x1.conv.weight, self.conv_1x1.bn)
            kernel, bias = kernel + F.pad(k, [pad, pad, pad, pad]), bias + b
        if self.identity is not None:
            per_group = self.in_channels // self.groups
            eye = paddle.zeros_like(kernel)
            for channel in range(self.in_channels):
                eye[channel, channel % per_group, pad, pad] = 1.0
            k, b = _fold_bn(eye, self.identity)
            kernel, bias = kernel + k, bias + b
        return kernel, bias

    @paddle.no_grad()
    def rep(self) -> None:
        """Replace the branches by the one conv they add up to (no-op when already fused)."""
        if self.is_repped:
            return
        kernel, bias = self.fused_kernel_bias()
        conv = self._fused_conv()
        conv.weight.set_value(kernel)
        conv.bias.set_value(bias)
        conv.training = self.training
        del self.conv_kxk
        del self.conv_1x1
        del self.identity
        self.reparam_conv = conv
        self.is_repped = True


class SELayer(nn.Layer):
    """Squeeze-and-excitation with Paddle's default hard sigmoid (slope 1/6), as PP-LCNetV3 uses."""

    def __init__(self, channels: int, reduction: int = 4, lr_mult: float = 1.0):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2D(1)

        def attr() -> paddle.ParamAttr:
            return paddle.ParamAttr(learning_rate=lr_mult)

        self.conv1 = nn.Conv2D(channels, channels // reduction, 1, weight_attr=attr(), bias_attr=attr())
        self.conv2 = nn.Conv2D(channels // reduction, channels, 1, weight_attr=attr(), bias_attr=attr())

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        gate = F.hardsigmoid(self.conv2(F.relu(self.conv1(self.avg_pool(x)))))
        return x * gate


class LCNetV3Block(nn.Layer):
    """Depthwise rep layer, optional SE, pointwise rep layer."""

    def __init__(self, in_channels: int, out_channels: int, stride: Stride, dw_size: int, use_se: bool = False,
                 conv_kxk_num: int = 4, lr_mult: float = 1.0, lab_lr: float = 0.1, fused: bool = False):
        super().__init__()
        self.use_se = use_se
        self.dw_conv = LearnableRepLayer(in_channels, in_channels, dw_size, stride=stride, groups=in_channels,
                                         num_conv_branches=conv_kxk_num, lr_mult=lr_mult, lab_lr=lab_lr, fused=fused)
        if use_se:
            self.se = SELayer(in_channels, lr_mult=lr_mult)
        self.pw_conv = LearnableRepLayer(in_channels, out_channels, 1, stride=1, num_conv_branches=conv_kxk_num,
                                         lr_mult=lr_mult, lab_lr=lab_lr, fused=fused)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.dw_conv(x)
        if self.use_se:
            x = self.se(x)
        return self.pw_conv(x)


@BACKBONES.register()
class PPLCNetV3(nn.Layer):
    """``scale`` multiplies the channel counts (0.75 for PP-OCRv4 det, 0.95 for rec).

    ``det: true``: four feature maps at strides 4/8/16/32, projected to (16, 24, 56, 480)×scale channels.
    Otherwise (rec): a one-row map of ``make_divisible(512 × scale)`` channels, width = input width / 8.
    ``fused: true`` builds every rep layer in its one-conv form (see the module docstring).
    ``lr_mult_list`` scales the learning rate of the stem and the five stages.
    """

    def __init__(self, in_channels: int = 3, scale: float = 1.0, conv_kxk_num: int = 4,
                 lr_mult_list: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0), lab_lr: float = 0.1,
                 det: bool = False, fused: bool = False):
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
            raise ConfigError(f"key 'scale' of backbone PPLCNetV3 must be a positive number, got {scale!r}")
        if not isinstance(lr_mult_list, (list, tuple)) or len(lr_mult_list) != 6:
            raise ConfigError(f"key 'lr_mult_list' of backbone PPLCNetV3 must list 6 numbers (stem + 5 stages), "
                              f"got {lr_mult_list!r}")
        if isinstance(conv_kxk_num, bool) or not isinstance(conv_kxk_num, int) or conv_kxk_num < 1:
            raise ConfigError(f"key 'conv_kxk_num' of backbone PPLCNetV3 must be a positive integer, got {conv_kxk_num!r}")
        self.scale = scale
        self.det = det
        stages = _DET_STAGES if det else _REC_STAGES
        self.conv1 = ConvBNLayer(in_channels, make_divisible(16 * scale), 3, stride=2, lr_mult=lr_mult_list[0])
        for index, name in enumerate(STAGES, start=1):
            blocks = [LCNetV3Block(make_divisible(cin * scale), make_divisible(cout * scale), stride=stride,
                                   dw_size=kernel, use_se=se, conv_kxk_num=conv_kxk_num,
                                   lr_mult=lr_mult_list[index], lab_lr=lab_lr, fused=fused)
                      for kernel, cin, cout, stride, se in stages[name]]
            self.add_sublayer(name, nn.Sequential(*blocks))
        if det:
            stage_channels = [make_divisible(stages[name][-1][2] * scale) for name in STAGES[1:]]
            projected = [int(channels * scale) for channels in _DET_PROJECTIONS]
            self.layer_list = nn.LayerList([nn.Conv2D(cin, cout, 1) for cin, cout in zip(stage_channels, projected)])
            self.out_channels: Union[int, List[int]] = projected
        else:
            self.out_channels = make_divisible(512 * scale)

    def forward(self, x: paddle.Tensor) -> Union[paddle.Tensor, List[paddle.Tensor]]:
        x = self.blocks2(self.conv1(x))
        features = []
        for name in STAGES[1:]:
            x = getattr(self, name)(x)
            features.append(x)
        if self.det:
            return [projection(feature) for projection, feature in zip(self.layer_list, features)]
        if self.training:
            return F.adaptive_avg_pool2d(x, [1, _REC_TRAIN_COLUMNS])
        return F.avg_pool2d(x, _REC_EVAL_POOL)
