"""A weighted sum of several losses, each configured like a top-level Loss section."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import paddle
import paddle.nn as nn

from ppocr.utils.registry import LOSSES, ConfigError


@LOSSES.register()
class CombinedLoss(nn.Layer):
    """``loss_config_list: [{LossName: {weight: w, **kwargs}}, ...]``.

    Output: ``loss`` (the weighted total) plus every weighted term. A sub-loss's own total is
    reported as ``<LossName>_<index>``; its other named terms keep their names, with ``_<index>``
    appended when a name is already taken. A sub-loss without a ``loss`` key counts as the sum
    of its terms.
    """

    def __init__(self, loss_config_list: list):
        super().__init__()
        if not loss_config_list:
            raise ConfigError("key 'loss_config_list' of loss CombinedLoss must list at least one loss", "Loss")
        self.names: List[str] = []
        self.weights: List[float] = []
        losses = []
        for index, item in enumerate(loss_config_list):
            where = f"Loss.loss_config_list[{index}]"
            if not isinstance(item, dict) or len(item) != 1:
                raise ConfigError(f"each entry must be {{LossName: {{weight: w, ...}}}}, got {item!r}", where)
            name, params = next(iter(item.items()))
            params = dict(params or {})
            if "weight" not in params:
                raise ConfigError(f"loss {name} needs a 'weight'", where)
            weight = params.pop("weight")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise ConfigError(f"'weight' of loss {name} must be a number, got {weight!r}", where)
            # not LOSSES.build: a loss may take a ``name`` argument of its own (DistillationDBLoss name: DBLoss)
            LOSSES.check(name, params, where=f"{where}.{name}")
            losses.append(LOSSES.get(name, where)(**params))
            self.names.append(name)
            self.weights.append(float(weight))
        self.loss_funcs = nn.LayerList(losses)

    def forward(self, predicts: Any, batch: Sequence[paddle.Tensor]) -> Dict[str, paddle.Tensor]:
        terms: Dict[str, paddle.Tensor] = {}
        total = None
        for index, (name, weight, loss_func) in enumerate(zip(self.names, self.weights, self.loss_funcs)):
            out = loss_func(predicts, batch)
            if isinstance(out, paddle.Tensor):
                out = {"loss": out}
            weighted = {key: value * weight for key, value in out.items()}
            sub_total = weighted.pop("loss") if "loss" in weighted else paddle.add_n(list(weighted.values()))
            terms[f"{name}_{index}"] = sub_total
            for key, value in weighted.items():
                terms[f"{key}_{index}" if key in terms else key] = value
            total = sub_total if total is None else total + sub_total
        terms["loss"] = total
        return terms
