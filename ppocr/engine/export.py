"""Export a trained model for deployment: ``inference.json`` + ``inference.pdiparams`` + ``inference.yml``.

``inference.yml`` carries what a predictor needs (preprocess, postprocess, character list), so
deployment never needs the training YAML.
"""
from __future__ import annotations

import copy
import logging
import os
import tempfile
from typing import Any, Dict, List, Optional

import paddle
import yaml

from ppocr.modeling.architectures import build_model, with_class_count
from ppocr.postprocess import build_post_process
from ppocr.utils.checkpoint import load_params_file
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)

# Training-only operators that an inference pipeline leaves out.
_LABEL_OPS_SUFFIX = ("LabelEncode",)
_SKIP_AT_INFERENCE = {"DecodeImage", "KeepKeys", "RecAug", "IaaAugment", "EastRandomCropData",
                      "MakeBorderMap", "MakeShrinkMap", "CopyPaste", "RandAugment"}


def inference_transforms(config: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Eval transforms minus decoding, labels and augmentation: the preprocess a predictor runs."""
    ops = ((config.get("Eval") or {}).get("dataset") or {}).get("transforms") or []
    kept = []
    for entry in ops:
        (name, args), = entry.items()
        if name in _SKIP_AT_INFERENCE or name.endswith(_LABEL_OPS_SUFFIX):
            continue
        kept.append({name: copy.deepcopy(args)})
    return kept


def find_op_arg(transforms: List[Dict[str, Any]], op: str, key: str) -> Optional[Any]:
    for entry in transforms:
        (name, args), = entry.items()
        if name == op and args and key in args:
            return args[key]
    return None


def input_spec(config: Dict[str, Any]) -> paddle.static.InputSpec:
    """Dynamic batch; rec keeps its height and a dynamic width, det is dynamic in both."""
    arch = config["Architecture"]
    model_type = arch.get("model_type")
    in_channels = arch.get("in_channels", 3)
    transforms = inference_transforms(config)
    if model_type == "rec":
        shape = find_op_arg(transforms, "RecResizeImg", "image_shape")
        if shape is None:
            raise ConfigError("rec export needs RecResizeImg.image_shape in the Eval transforms", "Eval.dataset")
        return paddle.static.InputSpec([None, shape[0], shape[1], -1], "float32", name="x")
    if model_type == "cls":
        shape = find_op_arg(transforms, "ClsResizeImg", "image_shape") or [3, 48, 192]
        return paddle.static.InputSpec([None] + list(shape), "float32", name="x")
    return paddle.static.InputSpec([None, in_channels, -1, -1], "float32", name="x")


class _ExportWrapper(paddle.nn.Layer):
    """Inference graphs take only the image and return one tensor (probabilities or maps)."""

    def __init__(self, model: paddle.nn.Layer, output_key: Optional[str]):
        super().__init__()
        self.model = model
        self.output_key = output_key

    def forward(self, x):
        out = self.model(x)
        if self.output_key is not None:
            out = out[self.output_key]
        return out


def _output_key(arch: Dict[str, Any]) -> Optional[str]:
    if arch.get("model_type") == "det":
        return "maps"
    return "head_out" if arch.get("return_all_feats") else None


def inference_meta(config: Dict[str, Any], post_process: Any) -> Dict[str, Any]:
    post_cfg = copy.deepcopy(config["PostProcess"])
    for key in ("character_dict_path",):
        post_cfg.pop(key, None)
    character = getattr(post_process, "character", None)
    if character is not None:
        post_cfg["character_dict"] = [c for c in character if c != "blank"] if character[0] == "blank" else list(character)
    label_list = getattr(post_process, "label_list", None)
    if label_list is not None:
        post_cfg["label_list"] = list(label_list)
    arch = config["Architecture"]
    return {
        "Global": {"model_type": arch.get("model_type"), "algorithm": arch.get("algorithm", "")},
        "PreProcess": {"transform_ops": inference_transforms(config)},
        "PostProcess": post_cfg,
    }


def export_model(config: Dict[str, Any], save_dir: Optional[str] = None,
                 weights: Optional[str] = None) -> str:
    """Build, load weights (``weights`` or Global.checkpoints / pretrained_model) and save for inference."""
    g = config.get("Global") or {}
    save_dir = save_dir or g.get("save_inference_dir")
    if not save_dir:
        raise ConfigError("set Global.save_inference_dir (or pass an output dir)", "Global.save_inference_dir")
    weights = weights or g.get("checkpoints") or g.get("pretrained_model")
    if not weights:
        raise ConfigError("no weights to export: set Global.checkpoints or Global.pretrained_model",
                          "Global.pretrained_model")
    paddle.set_device("cpu")
    post_process = build_post_process(config["PostProcess"], g)
    config = dict(config, Architecture=with_class_count(config["Architecture"], post_process))
    model = build_model(config["Architecture"])
    params = load_params_file(weights)
    own = model.state_dict()
    missing = [k for k in own if k not in params]
    if missing:
        raise ConfigError(f"weights '{weights}' lack {len(missing)} parameters of this model, e.g. {missing[:3]}",
                          "Global.pretrained_model")
    model.set_state_dict(params)
    model.eval()
    spec = input_spec(config)
    static = paddle.jit.to_static(_ExportWrapper(model, _output_key(config["Architecture"])), input_spec=[spec], full_graph=True)
    os.makedirs(save_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export.", dir=save_dir) as tmp:
        paddle.jit.save(static, os.path.join(tmp, "inference"))
        with open(os.path.join(tmp, "inference.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(inference_meta(config, post_process), f, sort_keys=False, allow_unicode=True)
        # each file lands whole; other files already in save_dir are left alone
        for name in sorted(os.listdir(tmp)):
            os.replace(os.path.join(tmp, name), os.path.join(save_dir, name))
    logger.info("exported inference model to %s (input %s)", save_dir, spec.shape)
    return save_dir
