"""The single-model architecture: Transform → Backbone → Neck → Head, each built from its config section."""
from __future__ import annotations

from typing import Any, Dict, Optional

import paddle
import paddle.nn as nn

from ppocr.modeling.backbones import resolve_backbone
import ppocr.modeling.heads  # noqa: F401  (registers heads)
import ppocr.modeling.necks  # noqa: F401  (registers necks)
import ppocr.modeling.transforms  # noqa: F401  (registers transforms)
from ppocr.utils.registry import ARCHITECTURES, BACKBONES, HEADS, NECKS, TRANSFORMS, ConfigError, Registry


def _build_part(registry: Registry, config: Dict[str, Any], where: str, in_channels: int) -> nn.Layer:
    """Build one part, making sure errors raised inside its constructor also name the config section."""
    try:
        return registry.build(config, where=where, in_channels=in_channels)
    except ConfigError as err:
        if err.where:
            raise
        raise ConfigError(err.message, where) from None


@ARCHITECTURES.register()
class BaseModel(nn.Layer):
    """Chains the configured parts; each part's ``in_channels`` is the previous part's ``out_channels``.

    ``return_all_feats`` exposes intermediate features (distillation losses compare them):
    ``{"backbone_out", "neck_out", "head_out"}``; a head returning a dict (det) is merged instead, except
    MultiHead's training dict, which is ``head_out`` (its CTC neck output is ``neck_out``).
    """

    def __init__(
        self,
        model_type: str,
        algorithm: str = "",
        Transform: Optional[dict] = None,
        Backbone: Optional[dict] = None,
        Neck: Optional[dict] = None,
        Head: Optional[dict] = None,
        return_all_feats: bool = False,
        in_channels: int = 3,
    ):
        super().__init__()
        if Backbone is None:
            raise ConfigError("a 'Backbone' section with a 'name' is required", "Architecture")
        self.model_type = model_type
        self.algorithm = algorithm
        self.return_all_feats = return_all_feats

        self.use_transform = Transform is not None
        if self.use_transform:
            self.transform = _build_part(TRANSFORMS, Transform, "Architecture.Transform", in_channels)
            in_channels = self.transform.out_channels
        backbone = resolve_backbone(model_type, Backbone)
        self.backbone = _build_part(BACKBONES, backbone, "Architecture.Backbone", in_channels)
        in_channels = self.backbone.out_channels
        self.use_neck = Neck is not None
        if self.use_neck:
            self.neck = _build_part(NECKS, Neck, "Architecture.Neck", in_channels)
            in_channels = self.neck.out_channels
        self.use_head = Head is not None
        if self.use_head:
            self.head = _build_part(HEADS, Head, "Architecture.Head", in_channels)
            in_channels = self.head.out_channels
        self.out_channels = in_channels

    def forward(self, x: paddle.Tensor, data: Optional[Any] = None) -> Any:
        feats: Dict[str, Any] = {}
        if self.use_transform:
            x = self.transform(x)
        x = self.backbone(x)
        feats["backbone_out"] = x
        if self.use_neck:
            x = self.neck(x)
            feats["neck_out"] = x
        if self.use_head:
            x = self.head(x, targets=data)
            if isinstance(x, dict) and "ctc_neck" in x:  # MultiHead while training: its branches stay together
                feats["neck_out"] = x["ctc_neck"]
                feats["head_out"] = x
            elif isinstance(x, dict):
                feats.update(x)
            else:
                feats["head_out"] = x
        return feats if self.return_all_feats else x
