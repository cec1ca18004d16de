"""Thin-plate-spline spatial transformer (RARE / STR benchmark "TPS" stage).

A small CNN looks at the whole line and predicts where ``num_fiducial`` control points sit in the
input: half along the top edge, half along the bottom. A thin-plate spline maps the rectified
output's fixed control points onto the predicted ones, and every output pixel samples the input
there, so curved or slanted text comes out straight before the backbone sees it.

Coordinates are normalised to [-1, 1] with pixel centres at ``(2 i + 1) / size - 1``, the
convention of ``grid_sample(align_corners=False)``; with the predicted points equal to the base
points the transform is the identity, which is how the localisation head is initialised.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppocr.utils.registry import TRANSFORMS, ConfigError

# conv widths and fc width of the localisation network
_LOC_SIZES = {"large": ((64, 128, 256, 512), 256), "small": ((16, 32, 64, 128), 64)}
_EPS = 1e-6


def base_fiducials(num_fiducial: int) -> np.ndarray:
    """F×2 control points: F/2 evenly spaced along the top edge (y=-1), then the bottom edge (y=1)."""
    xs = np.linspace(-1.0, 1.0, num_fiducial // 2)
    top = np.stack([xs, -np.ones_like(xs)], axis=1)
    bottom = np.stack([xs, np.ones_like(xs)], axis=1)
    return np.concatenate([top, bottom], axis=0)


def _spline_kernel_np(sq_dist: np.ndarray) -> np.ndarray:
    # U(r) = r² log r = ½ r² log r²; U(0) = 0
    return 0.5 * sq_dist * np.log(np.maximum(sq_dist, _EPS))


def inverse_system(fiducials: np.ndarray) -> np.ndarray:
    """Inverse of the (F+3)×(F+3) TPS system, columns ordered [1, x, y, U(·, c_1..c_F)].

    Multiplying it by the target points (padded with three zero rows) gives the spline
    coefficients that carry each base point onto its target.
    """
    count = fiducials.shape[0]
    sq_dist = ((fiducials[:, None, :] - fiducials[None, :, :]) ** 2).sum(-1)
    system = np.zeros((count + 3, count + 3))
    system[:count, 0] = 1.0
    system[:count, 1:3] = fiducials
    system[:count, 3:] = _spline_kernel_np(sq_dist)
    system[count, 3:] = 1.0
    system[count + 1:, 3:] = fiducials.T
    return np.linalg.inv(system)


def _pixel_centres(size) -> paddle.Tensor:
    """Normalised centres of ``size`` pixels; ``size`` is an int or (in an exported graph) a 0-D tensor."""
    scale = paddle.cast(size, "float32") if isinstance(size, paddle.Tensor) else float(size)
    return (paddle.arange(size, dtype="float32") * 2.0 + 1.0) / scale - 1.0


class LocalizationNetwork(nn.Layer):
    """Image → N×F×2 predicted fiducial points in normalised coordinates (conv stack, global pool, two FCs)."""

    def __init__(self, in_channels: int, num_fiducial: int, model_name: str, loc_lr: float):
        super().__init__()
        widths, fc_dim = _LOC_SIZES[model_name]

        def attr() -> paddle.ParamAttr:
            return paddle.ParamAttr(learning_rate=loc_lr)

        layers: List[nn.Layer] = []
        channels = in_channels
        for index, width in enumerate(widths):
            layers += [nn.Conv2D(channels, width, 3, padding=1, weight_attr=attr(), bias_attr=False),
                       nn.BatchNorm2D(width, weight_attr=attr(), bias_attr=attr()), nn.ReLU()]
            layers.append(nn.MaxPool2D(2, 2) if index < len(widths) - 1 else nn.AdaptiveAvgPool2D(1))
            channels = width
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(channels, fc_dim, weight_attr=attr(), bias_attr=attr())
        base = base_fiducials(num_fiducial).reshape(-1).astype("float32")
        # zero weights + base points as bias: the first prediction is the base layout (identity warp)
        self.fc2 = nn.Linear(
            fc_dim, num_fiducial * 2,
            weight_attr=paddle.ParamAttr(learning_rate=loc_lr, initializer=nn.initializer.Constant(0.0)),
            bias_attr=paddle.ParamAttr(learning_rate=loc_lr, initializer=nn.initializer.Assign(base)),
        )
        self.num_fiducial = num_fiducial

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        feats = self.features(x).flatten(start_axis=1)
        points = self.fc2(F.relu(self.fc1(feats)))
        return points.reshape([-1, self.num_fiducial, 2])


@TRANSFORMS.register()
class TPS(nn.Layer):
    """Learnable TPS rectification; output N×C×H×W with (H, W) = ``image_shape`` or the input's size.

    ``loc_lr`` scales the learning rate of the localisation network (PaddleOCR's knob);
    ``model_name`` ``large``/``small`` picks its width.
    """

    def __init__(self, in_channels: int, num_fiducial: int = 20, loc_lr: float = 1.0, model_name: str = "large",
                 image_shape: Optional[list] = None):
        super().__init__()
        if num_fiducial < 6 or num_fiducial % 2:
            raise ConfigError(f"key 'num_fiducial' of transform TPS must be an even number >= 6, got {num_fiducial}")
        if model_name not in _LOC_SIZES:
            raise ConfigError(f"key 'model_name' of transform TPS must be one of {', '.join(_LOC_SIZES)}, "
                              f"got {model_name!r}")
        if image_shape is not None and (len(image_shape) != 2 or any(int(v) < 1 for v in image_shape)):
            raise ConfigError(f"key 'image_shape' of transform TPS must be [H, W], got {image_shape!r}")
        if loc_lr <= 0:
            raise ConfigError(f"key 'loc_lr' of transform TPS must be > 0, got {loc_lr}")
        self.out_channels = in_channels
        self.num_fiducial = num_fiducial
        self.image_shape: Optional[Tuple[int, int]] = tuple(int(v) for v in image_shape) if image_shape else None
        self.loc_net = LocalizationNetwork(in_channels, num_fiducial, model_name, loc_lr)
        fiducials = base_fiducials(num_fiducial)
        # constants of the spline, kept out of the state dict: they follow from num_fiducial alone
        self.register_buffer("fiducials", paddle.to_tensor(fiducials.astype("float32")), persistable=False)
        self.register_buffer("inv_system", paddle.to_tensor(inverse_system(fiducials)[:, :num_fiducial]
                                                            .astype("float32")), persistable=False)

    def _output_size(self, x: paddle.Tensor):
        if self.image_shape is not None:
            return self.image_shape
        shape = paddle.shape(x)
        return shape[2], shape[3]

    def sampling_grid(self, height, width) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """Output pixel centres P ((H·W)×2) and spline weights W ((H·W)×F).

        Output pixel p samples the input at ``P[p] + W[p] · (predicted - base)``: W·base equals P
        in exact arithmetic, and writing the offset explicitly keeps float32 rounding from
        blurring an (initially) identity warp.
        """
        grid_y, grid_x = paddle.meshgrid(_pixel_centres(height), _pixel_centres(width))
        points = paddle.stack([grid_x.flatten(), grid_y.flatten()], axis=1)
        sq_dist = (points.unsqueeze(1) - self.fiducials.unsqueeze(0)).pow(2).sum(axis=2)
        kernel = 0.5 * sq_dist * paddle.log(paddle.clip(sq_dist, min=_EPS))
        lifted = paddle.concat([paddle.ones_like(points[:, :1]), points, kernel], axis=1)
        return points, paddle.matmul(lifted, self.inv_system)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        offsets = self.loc_net(x) - self.fiducials
        height, width = self._output_size(x)
        points, weights = self.sampling_grid(height, width)
        grid = points + paddle.matmul(weights, offsets)  # N×(H·W)×2, (x, y) in [-1, 1]
        grid = paddle.reshape(grid, [-1, height, width, 2])
        if self.training and x.stop_gradient:
            # Paddle's grid_sample backward needs an input gradient buffer (it crashes without one,
            # see PaddlePaddle/Paddle#70147), so an image input is made a gradient leaf.
            x = x.detach()
            x.stop_gradient = False
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
