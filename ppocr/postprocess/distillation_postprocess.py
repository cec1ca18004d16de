"""Post-processing for DistillationModel outputs: decode each named sub-model with the single-model decoder.

The result is ``{sub-model name: decoded}``; DistillationMetric scores each one. An exported sub-model is a
plain model again, so :func:`single_model_config` gives the plain PostProcess section it is exported with.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

from ppocr.postprocess.db_postprocess import DBPostProcess
from ppocr.postprocess.rec_postprocess import CTCLabelDecode
from ppocr.utils.registry import POSTPROCESS, ConfigError

# Keys that select sub-model outputs; the rest of the section configures the single-model decoder.
SELECTION_KEYS = ("model_name", "key", "multi_head")


def select_output(outputs: Any, model_name: str, key: Optional[str], owner: str) -> Any:
    """``outputs[model_name]``, then its ``key`` entry when given, with errors naming what exists."""
    if not isinstance(outputs, dict) or model_name not in outputs:
        names = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
        raise KeyError(f"{owner}: no output of sub-model {model_name!r}; the model gives {names}")
    output = outputs[model_name]
    if key is None:
        return output
    if not isinstance(output, dict) or key not in output:
        keys = sorted(output) if isinstance(output, dict) else type(output).__name__
        raise KeyError(f"{owner}: sub-model {model_name!r} output has no {key!r} (it has {keys}); "
                       "set return_all_feats: true on the sub-model for backbone_out / neck_out / head_out")
    return output[key]


def _names(model_name: Union[str, List[str]]) -> List[str]:
    names = [model_name] if isinstance(model_name, str) else list(model_name)
    if not names or not all(isinstance(name, str) for name in names):
        raise ConfigError(f"key 'model_name' must name one or more sub-models, got {model_name!r}", "PostProcess")
    return names


def single_model_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """The plain PostProcess section (e.g. CTCLabelDecode) behind a Distillation* one; others unchanged."""
    target = POSTPROCESS.get(config.get("name", ""), "PostProcess")
    base = getattr(target, "single_model_postprocess", None)
    if base is None:
        return dict(config)
    plain = {k: v for k, v in config.items() if k not in SELECTION_KEYS}
    plain["name"] = base
    return plain


@POSTPROCESS.register()
class DistillationCTCLabelDecode(CTCLabelDecode):
    """CTC greedy decoding of each sub-model in ``model_name``; ``key`` picks ``head_out`` from
    ``return_all_feats`` outputs. ``multi_head`` is accepted for PaddleOCR configs: a MultiHead output is
    decoded from its CTC branch either way."""

    single_model_postprocess = "CTCLabelDecode"

    def __init__(
        self,
        character_dict_path: Optional[str] = None,
        use_space_char: bool = False,
        model_name: Union[str, List[str]] = "Student",
        key: Optional[str] = None,
        multi_head: bool = False,
    ):
        super().__init__(character_dict_path, use_space_char)
        self.model_name = _names(model_name)
        self.key = key

    def __call__(self, preds: Any, batch: Optional[Sequence[Any]] = None) -> Dict[str, Any]:
        decode = super().__call__
        return {name: decode(select_output(preds, name, self.key, type(self).__name__), batch)
                for name in self.model_name}


@POSTPROCESS.register()
class DistillationDBPostProcess(DBPostProcess):
    """DB boxes from each sub-model in ``model_name`` (``key: maps`` or the whole det output)."""

    single_model_postprocess = "DBPostProcess"

    def __init__(
        self,
        model_name: Union[str, List[str]] = "Student",
        key: Optional[str] = None,
        thresh: float = 0.3,
        box_thresh: float = 0.7,
        max_candidates: int = 1000,
        unclip_ratio: float = 2.0,
        use_dilation: bool = False,
        score_mode: str = "fast",
        box_type: str = "quad",
    ):
        super().__init__(thresh=thresh, box_thresh=box_thresh, max_candidates=max_candidates, unclip_ratio=unclip_ratio,
                         use_dilation=use_dilation, score_mode=score_mode, box_type=box_type)
        self.model_name = _names(model_name)
        self.key = key

    def __call__(self, outs_dict: Any, shape_list: Any = None) -> Dict[str, List[Dict[str, Any]]]:
        decode = super().__call__
        return {name: decode(select_output(outs_dict, name, self.key, type(self).__name__), shape_list)
                for name in self.model_name}
