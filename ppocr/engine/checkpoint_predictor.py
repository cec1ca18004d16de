"""Predict with a training checkpoint (no export): what ``tools/infer_*.py`` use to check a model quickly."""
from __future__ import annotations

import copy
import logging
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import paddle

from ppocr.data.imaug import create_operators, transform
from ppocr.modeling.architectures import build_model, with_class_count
from ppocr.postprocess import build_post_process
from ppocr.utils.checkpoint import load_params_file, prepare_model
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)

_KEEP_BY_TYPE = {"rec": ["image"], "cls": ["image"], "det": ["image", "shape"], "objdet": ["image", "shape"]}
_LABEL_OPS = ("ObjDetLabelDecode",)


def _infer_ops(config: Dict[str, Any], model_type: str) -> List[Dict[str, Any]]:
    ops = copy.deepcopy(((config.get("Eval") or {}).get("dataset") or {}).get("transforms") or [])
    result = []
    for entry in ops:
        (name, args), = entry.items()
        if name.endswith("LabelEncode") or name in _LABEL_OPS:
            continue
        if name == "KeepKeys":
            args = {"keep_keys": _KEEP_BY_TYPE.get(model_type, ["image"])}
        result.append({name: args})
    if not result:
        raise ConfigError("inference from a checkpoint needs the Eval transforms", "Eval.dataset.transforms")
    return result


class CheckpointPredictor:
    """Model + preprocess + postprocess from a training config and its weights."""

    def __init__(self, config: Dict[str, Any], weights: Optional[str] = None):
        g = config.get("Global") or {}
        weights = weights or g.get("checkpoints") or g.get("pretrained_model")
        key = g.get("encryption_key")
        if not weights:
            raise ConfigError("set Global.pretrained_model or Global.checkpoints to the weights to use",
                              "Global.pretrained_model")
        self.model_type = config["Architecture"].get("model_type", "")
        self.post_process = build_post_process(config["PostProcess"], g)
        arch = with_class_count(config["Architecture"], self.post_process)
        self.model = prepare_model(build_model(arch), weights, key)
        self.model.set_state_dict(load_params_file(weights, key, prefer_ema=True))
        self.model.eval()
        self.ops = create_operators(_infer_ops(config, self.model_type), g, where="Eval.dataset.transforms")

    def predict_file(self, path: str) -> Any:
        """The image's decoded result; for a distillation model ``{sub-model name: result}``."""
        with open(path, "rb") as f:
            data = {"img_path": path, "image": f.read()}
        batch = transform(data, self.ops)
        if batch is None:
            raise ValueError("preprocessing dropped the image")
        images = paddle.to_tensor(np.expand_dims(batch[0], 0))
        with paddle.no_grad():
            preds = self.model(images)
        if self.model_type in ("det", "objdet"):
            results = self.post_process(preds, np.expand_dims(batch[1], 0))
        else:
            results = self.post_process(preds)
        if isinstance(results, dict):  # a distillation post-process decodes each sub-model: {name: per-image list}
            return {name: per_image[0] for name, per_image in results.items()}
        return results[0]

    def predict_files(self, paths: List[str]) -> Iterator[Tuple[str, Any, Optional[str]]]:
        """Yield ``(path, result, error)``; a bad file gives an error string instead of stopping."""
        for path in paths:
            try:
                yield path, self.predict_file(path), None
            except Exception as exc:  # one bad image must not stop a batch run
                logger.warning("skipped %s: %s", path, exc)
                yield path, None, str(exc) or type(exc).__name__


def predict_to_file(config: Dict[str, Any], out_path: str,
                    format_result: Callable[[str, Any], str]) -> Tuple[int, int, int]:
    """Run ``Global.infer_img`` through a CheckpointPredictor, writing one line per input.

    ``format_result(path, result)`` gives the text after ``path<TAB>``; a failed input gets
    ``path<TAB>ERROR: reason``; paths are escaped as in every results file (``ppocr.infer.results``).
    Returns (inputs, ok, failed).
    """
    from ppocr.infer.results import error_payload, format_line
    from ppocr.utils.files import list_inputs
    from ppocr.utils.io import atomic_write, ensure_output_file

    g = config.get("Global") or {}
    if not g.get("infer_img"):
        raise ConfigError("set Global.infer_img to an image, a folder or a list file", "Global.infer_img")
    paths = list_inputs(g["infer_img"])
    ensure_output_file(out_path, "Global.save_res_path")
    predictor = CheckpointPredictor(config)
    ok = failed = 0
    with atomic_write(out_path) as out:
        for path, result, error in predictor.predict_files(paths):
            if error is not None:
                failed += 1
                out.write(format_line(path, error_payload(error)))
                continue
            ok += 1
            line = format_result(path, result)
            logger.info("%s\t%s", path, line)
            out.write(format_line(path, line))
    logger.info("%d inputs: %d done, %d failed; results in %s", len(paths), ok, failed, out_path)
    return len(paths), ok, failed
