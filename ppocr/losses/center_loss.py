"""Center loss for PP-OCRv2's Enhanced CTC: pulls each time step's feature towards the center of the
character predicted there, so look-alike characters separate further.

Used with CTCLoss in a CombinedLoss on a model whose CTCHead has ``return_feats: true`` (training output
``(features, logits)``). Centers are fixed during training; ``tools/export_center.py`` builds them from a
trained model (``ppocr.engine.center``).
"""
from __future__ import annotations

import logging
import os
import pickle
from typing import Any, Dict, Optional, Sequence

import numpy as np
import paddle
import paddle.nn as nn

from ppocr.utils.registry import LOSSES, ConfigError

logger = logging.getLogger(__name__)


def load_centers(path: str, num_classes: int, feat_dim: int) -> Dict[int, np.ndarray]:
    """``{class index: center}`` from a ``center_file_path`` pickle, checked against the loss's shape."""
    where = "Loss.CenterLoss.center_file_path"
    if not os.path.isfile(path):
        raise ConfigError(f"center file '{path}' not found (make it with tools/export_center.py)", where)
    with open(path, "rb") as f:
        try:
            centers = pickle.load(f)
        except Exception as exc:  # any unpickling failure means the file is not a center file
            raise ConfigError(f"cannot read center file '{path}': {exc}", where) from None
    if not isinstance(centers, dict):
        raise ConfigError(f"center file '{path}' must hold a dict {{class index: vector}}, "
                          f"got {type(centers).__name__}", where)
    checked = {}
    for index, vector in centers.items():
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if not isinstance(index, (int, np.integer)) or not 0 <= index < num_classes:
            raise ConfigError(f"center file '{path}': class index {index!r} is outside [0, {num_classes})", where)
        if vector.shape[0] != feat_dim:
            raise ConfigError(f"center file '{path}': class {index} has {vector.shape[0]} values, "
                              f"feat_dim is {feat_dim}", where)
        checked[int(index)] = vector
    return checked


@LOSSES.register()
class CenterLoss(nn.Layer):
    """Mean over all time steps of ‖feature − center[argmax class]‖², the label being the model's own
    greedy prediction (blank included), as PP-OCRv2 defines it.

    ``num_classes`` counts blank + characters (the head's out_channels); ``feat_dim`` is the feature width
    (CTCHead ``mid_channels``). Classes missing from ``center_file_path`` (or every class without a file)
    start from a standard normal draw.
    """

    def __init__(self, num_classes: int = 6625, feat_dim: int = 96, center_file_path: Optional[str] = None):
        super().__init__()
        self.num_classes = num_classes
        self.feat_dim = feat_dim
        centers = np.random.standard_normal((num_classes, feat_dim)).astype(np.float32)
        if center_file_path:
            loaded = load_centers(center_file_path, num_classes, feat_dim)
            for index, vector in loaded.items():
                centers[index] = vector
            logger.info("CenterLoss: %d of %d centers from %s", len(loaded), num_classes, center_file_path)
        else:
            logger.warning("CenterLoss: no center_file_path; centers are random (see tools/export_center.py)")
        self.register_buffer("centers", paddle.to_tensor(centers), persistable=False)

    def forward(self, predicts: Any, batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        if isinstance(predicts, dict):
            predicts = predicts.get("head_out")
        if not isinstance(predicts, (list, tuple)) or len(predicts) != 2:
            raise ValueError("CenterLoss needs the head's (features, logits): set return_feats: true on the CTCHead")
        features, logits = predicts
        if features.shape[-1] != self.feat_dim or logits.shape[-1] != self.num_classes:
            raise ValueError(f"CenterLoss(num_classes={self.num_classes}, feat_dim={self.feat_dim}) got features "
                             f"{list(features.shape)} and logits {list(logits.shape)}")
        features = features.reshape([-1, self.feat_dim])
        labels = paddle.argmax(logits, axis=-1).reshape([-1])
        centers = paddle.gather(self.centers, labels)
        loss = paddle.square(features - centers).sum(axis=1).mean()
        return {"loss": loss, "loss_center": loss}
