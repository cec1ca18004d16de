"""MultiLoss: the losses of MultiHead's branches (PP-OCRv3/v4 recognition), summed."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import paddle
import paddle.nn as nn

from ppocr.utils.registry import LOSSES, ConfigError

# branch loss → (MultiHead output key, weight attribute)
_BRANCHES = {"CTCLoss": ("ctc", "weight_1"), "SARLoss": ("sar", "weight_2"), "NRTRLoss": ("nrtr", "weight_2")}


def ctc_batch(batch: Sequence[Any]) -> List[Any]:
    """``[image, label_ctc, length, valid_ratio]`` out of a multi-head batch
    ``[image, label_ctc, label_sar | label_gtc, length, valid_ratio]``; a plain CTC batch
    ``[image, label, length]`` (a CTC-only MultiHead) is returned as it is."""
    if len(batch) < 4:
        return list(batch)
    return list(batch[:2]) + list(batch[3:])


def attention_batch(batch: Sequence[Any]) -> List[Any]:
    """``[image, label_sar | label_gtc, length, valid_ratio]`` out of a multi-head batch."""
    return list(batch[:1]) + list(batch[2:])


@LOSSES.register()
class MultiLoss(nn.Layer):
    """``loss_config_list: [{CTCLoss: ...}, {SARLoss | NRTRLoss: ...}]``; the CTC term is scaled by
    ``weight_1``, the attention term by ``weight_2``. Output: ``loss`` and one term per branch loss."""

    def __init__(self, loss_config_list: list, weight_1: float = 1.0, weight_2: float = 1.0):
        super().__init__()
        if not isinstance(loss_config_list, (list, tuple)) or not loss_config_list:
            raise ConfigError("key 'loss_config_list' of loss MultiLoss must list the branch losses, "
                              "e.g. [{CTCLoss: null}, {NRTRLoss: null}]", "Loss")
        self.weights = {"weight_1": float(weight_1), "weight_2": float(weight_2)}
        self.names: List[str] = []
        losses = []
        for index, entry in enumerate(loss_config_list):
            where = f"Loss.loss_config_list[{index}]"
            if not isinstance(entry, dict) or len(entry) != 1:
                raise ConfigError(f"each entry must be {{LossName: {{...}} or null}}, got {entry!r}", where)
            (name, params), = entry.items()
            if name not in _BRANCHES:
                raise ConfigError(f"unknown branch loss {name!r}; MultiLoss takes {', '.join(_BRANCHES)}", where)
            losses.append(LOSSES.build({"name": name, **(params or {})}, where=f"{where}.{name}"))
            self.names.append(name)
        self.loss_funcs = nn.LayerList(losses)

    def forward(self, predicts: Dict[str, Any], batch: Sequence[Any]) -> Dict[str, paddle.Tensor]:
        if not isinstance(predicts, dict):
            raise TypeError("MultiLoss needs MultiHead's training output (a dict of branch outputs), "
                            f"got {type(predicts).__name__}")
        terms: Dict[str, paddle.Tensor] = {}
        for name, loss_func in zip(self.names, self.loss_funcs):
            key, weight = _BRANCHES[name]
            if key not in predicts:
                raise KeyError(f"MultiLoss: {name} needs the model's {key!r} branch; it gives {sorted(predicts)}")
            branch_batch = ctc_batch(batch) if key == "ctc" else attention_batch(batch)
            terms[name] = loss_func(predicts[key], branch_batch)["loss"] * self.weights[weight]
        return {"loss": paddle.add_n(list(terms.values())), **terms}
