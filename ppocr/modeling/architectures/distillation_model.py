"""Several complete models trained together (PP-OCRv2's CML and U-DML distillation).

``Architecture: {name: DistillationModel, model_type, algorithm: Distillation, Models: {Teacher: {...},
Student: {...}}}``: every entry of ``Models`` is a full BaseModel section plus ``pretrained`` (weights to
start from, or null) and ``freeze_params``. Sub-models are registered under their names, so checkpoint
keys read ``Student.backbone...`` as in PaddleOCR and its distillation weights load by key.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, List, Optional, Tuple

import paddle
import paddle.nn as nn

from ppocr.modeling.architectures.base_model import BaseModel
from ppocr.utils.checkpoint import load_pretrained
from ppocr.utils.registry import ARCHITECTURES, ConfigError

logger = logging.getLogger(__name__)

# Keys of a Models entry that DistillationModel reads itself; the rest is the sub-model's BaseModel config.
OWN_KEYS = ("pretrained", "freeze_params")


def _rebase_error(err: ConfigError, where: str) -> ConfigError:
    """An error raised inside a sub-model names ``Architecture.Models.<name>...`` instead of ``Architecture``."""
    inner = err.where or ""
    if inner.startswith("Architecture") and not inner.startswith(where):
        inner = where + inner[len("Architecture"):]
    return ConfigError(err.message, inner or where)


def split_sub_model(name: str, entry: Any, model_type: Optional[str]) -> Tuple[Dict[str, Any], Optional[str], bool]:
    """``(BaseModel config, pretrained, freeze_params)`` of one ``Models`` entry; the sub-model's
    ``model_type`` defaults to the top-level one and must agree with it."""
    where = f"Architecture.Models.{name}"
    if not isinstance(entry, dict):
        raise ConfigError(f"expected a model section (Backbone, Head, ...), got {entry!r}", where)
    config = {k: copy.deepcopy(v) for k, v in entry.items() if k not in OWN_KEYS}
    if config.pop("name", "BaseModel") != "BaseModel":
        raise ConfigError(f"sub-models are BaseModel sections, got name {entry['name']!r}", f"{where}.name")
    pretrained = entry.get("pretrained")
    freeze = entry.get("freeze_params") or False
    if pretrained is not None and not isinstance(pretrained, str):
        raise ConfigError(f"must be a weights path or null, got {pretrained!r}", f"{where}.pretrained")
    if not isinstance(freeze, bool):
        raise ConfigError(f"must be true or false, got {freeze!r}", f"{where}.freeze_params")
    if model_type is not None:
        own_type = config.setdefault("model_type", model_type)
        if own_type != model_type:
            raise ConfigError(f"model_type {own_type!r} differs from Architecture.model_type {model_type!r}",
                              f"{where}.model_type")
    return config, pretrained or None, freeze


def _split_models(models: Any, model_type: Optional[str]) -> Dict[str, Tuple[Dict[str, Any], Optional[str], bool]]:
    if not isinstance(models, dict) or not models:
        raise ConfigError("needs at least one named sub-model, e.g. {Teacher: {...}, Student: {...}}",
                          "Architecture.Models")
    return {name: split_sub_model(name, entry, model_type) for name, entry in models.items()}


def sub_model_configs(arch: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The BaseModel config of every sub-model of a DistillationModel Architecture section, by name."""
    return {name: parts[0] for name, parts in _split_models(arch.get("Models"), arch.get("model_type")).items()}


def _hold_eval(layer: nn.Layer) -> None:
    # Flags only: Layer.eval() would also switch the global dygraph tracer to eval mode.
    for sub in [layer, *layer.sublayers()]:
        sub.training = False


@ARCHITECTURES.register()
class DistillationModel(nn.Layer):
    """Runs every sub-model on the same input; ``forward`` returns ``{name: sub-model output}``.

    A frozen sub-model (``freeze_params: true``, the CML teacher) gets no gradient and no optimizer
    update, as in PaddleOCR, and it also stays in eval mode when the model trains: its batch-norm layers
    keep normalising with, and never update, the statistics it was trained with, and its dropout is off.
    (PaddleOCR only stops the gradient, so a frozen teacher's running statistics drift towards the
    student's training batches and its outputs change while "frozen".) Its MultiHead still gives the
    training-form branch outputs (CTC logits, teacher-forced NRTR/SAR logits) the losses compare.
    """

    def __init__(self, Models: dict, model_type: Optional[str] = None, algorithm: str = "Distillation"):
        super().__init__()
        self.algorithm = algorithm
        entries = _split_models(Models, model_type)
        types = {config.get("model_type") for config, _, _ in entries.values()}
        if model_type is None and len(types) != 1:
            raise ConfigError(f"sub-models have different model_type values {sorted(map(str, types))}; "
                              "set Architecture.model_type", "Architecture.model_type")
        self.model_type = model_type if model_type is not None else types.pop()
        self.model_names: List[str] = []
        self.frozen_names: List[str] = []
        self._output_switches: Dict[str, List[nn.Layer]] = {}
        for name, (config, pretrained, freeze) in entries.items():
            where = f"Architecture.Models.{name}"
            if not name.isidentifier() or hasattr(self, name):
                raise ConfigError(f"sub-model name {name!r} must be an identifier not used by the layer itself",
                                  where)
            try:
                model = ARCHITECTURES.build({"name": "BaseModel", **config}, where=where)
            except ConfigError as err:
                raise _rebase_error(err, where) from None
            if pretrained:
                logger.info("%s: loading pretrained weights %s", name, pretrained)
                load_pretrained(model, pretrained)
            if freeze:
                if not pretrained:
                    logger.warning("%s is frozen without pretrained weights: it keeps its random initialisation "
                                   "unless Global.pretrained_model or Global.checkpoints fill it", name)
                for param in model.parameters():
                    param.trainable = False
                _hold_eval(model)
                self.frozen_names.append(name)
                # heads (MultiHead) that give the training-form outputs the losses compare in eval mode too
                self._output_switches[name] = [layer for layer in [model, *model.sublayers()]
                                               if hasattr(layer, "training_outputs")]
            self.add_sublayer(name, model)
            self.model_names.append(name)

    def sub_model(self, name: str) -> BaseModel:
        if name not in self.model_names:
            raise KeyError(f"no sub-model {name!r}; this DistillationModel has {self.model_names}")
        return getattr(self, name)

    def train(self, mode: bool = True) -> "DistillationModel":
        super().train(mode)
        for name in self.frozen_names:
            _hold_eval(self.sub_model(name))
        return self

    def forward(self, x: paddle.Tensor, data: Optional[Any] = None) -> Dict[str, Any]:
        outputs = {}
        for name in self.model_names:
            model = self.sub_model(name)
            if name in self.frozen_names:
                for layer in self._output_switches[name]:
                    layer.training_outputs = self.training
                with paddle.no_grad():
                    outputs[name] = model(x, data)
            else:
                outputs[name] = model(x, data)
        return outputs
