"""Export a trained model for deployment: ``inference.json`` + ``inference.pdiparams`` + ``inference.yml``.

``inference.yml`` carries what a predictor needs (preprocess, postprocess, character list), so
deployment never needs the training YAML.
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
from typing import Any, Dict, List, Optional

import paddle
import yaml

from ppocr.modeling.architectures import build_model, with_class_count
from ppocr.modeling.architectures.distillation_model import DistillationModel, sub_model_configs
from ppocr.postprocess import build_post_process
from ppocr.postprocess.distillation_postprocess import single_model_config
from ppocr.engine.onnx_export import convert_to_onnx
from ppocr.modeling.reparam import fuse_rep_layers
from ppocr.utils.checkpoint import load_params_file, prepare_model
from ppocr.utils.crypto import encrypt_file_in_place
from ppocr.utils.io import ensure_output_dir, temp_dir
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)

# Training-only operators that an inference pipeline leaves out.
_LABEL_OPS_SUFFIX = ("LabelEncode",)
_SKIP_AT_INFERENCE = {"DecodeImage", "KeepKeys", "RecAug", "IaaAugment", "EastRandomCropData",
                      "MakeBorderMap", "MakeShrinkMap", "CopyPaste", "RandAugment",
                      "ObjDetLabelDecode", "ObjDetRandomHFlip"}


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
    if model_type == "objdet":  # anchors are fixed by the input size: export that size
        from ppocr.data.imaug.objdet_ops import parse_image_size

        size = find_op_arg(transforms, "ObjDetResizePad", "image_size")
        if size is None:
            raise ConfigError("objdet export needs ObjDetResizePad.image_size in the Eval transforms", "Eval.dataset")
        return paddle.static.InputSpec([None, in_channels] + parse_image_size(size), "float32", name="x")
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


def _eval_img_mode(config: Dict[str, Any]) -> str:
    """The channel order the model was trained on (the Eval DecodeImage's ``img_mode``; BGR by default)."""
    ops = ((config.get("Eval") or {}).get("dataset") or {}).get("transforms") or []
    return find_op_arg(ops, "DecodeImage", "img_mode") or "BGR"


def inference_meta(config: Dict[str, Any], post_process: Any) -> Dict[str, Any]:
    post_cfg = copy.deepcopy(config["PostProcess"])
    for key in ("character_dict_path",):
        post_cfg.pop(key, None)
    character = getattr(post_process, "character", None)
    dict_character = getattr(post_process, "dict_character", None)  # without special tokens (attention)
    if dict_character is not None:
        post_cfg["character_dict"] = list(dict_character)
    elif character is not None:
        post_cfg["character_dict"] = [c for c in character if c != "blank"] if character[0] == "blank" else list(character)
    label_list = getattr(post_process, "label_list", None)
    if label_list is not None:
        post_cfg["label_list"] = list(label_list)
    arch = config["Architecture"]
    meta_global = {"model_type": arch.get("model_type"), "algorithm": arch.get("algorithm", "")}
    if arch.get("model_type") == "objdet":
        meta_global["img_mode"] = _eval_img_mode(config)
    return {
        "Global": meta_global,
        "PreProcess": {"transform_ops": inference_transforms(config)},
        "PostProcess": post_cfg,
    }


def export_model(config: Dict[str, Any], save_dir: Optional[str] = None,
                 weights: Optional[str] = None, onnx: bool = False) -> str:
    """Build, load weights (``weights`` or Global.checkpoints / pretrained_model; EMA weights when the
    checkpoint has them), fuse re-parameterisable layers and save for inference. ``onnx`` adds ``inference.onnx``, checked against Paddle
    Inference. With ``Global.encryption_key`` every written file is encrypted. A DistillationModel writes each
    sub-model to ``<save_dir>/<name>/`` and the deployed one (``Global.export_model_name``, default Student)
    to ``save_dir`` too."""
    g = config.get("Global") or {}
    save_dir = save_dir or g.get("save_inference_dir")
    if not save_dir:
        raise ConfigError("set Global.save_inference_dir (or pass an output dir)", "Global.save_inference_dir")
    ensure_output_dir(save_dir, "Global.save_inference_dir")
    weights = weights or g.get("checkpoints") or g.get("pretrained_model")
    if not weights:
        raise ConfigError("no weights to export: set Global.checkpoints or Global.pretrained_model",
                          "Global.pretrained_model")
    paddle.set_device("cpu")
    post_process = build_post_process(config["PostProcess"], g)
    config = dict(config, Architecture=with_class_count(config["Architecture"], post_process))
    key = g.get("encryption_key")
    model = prepare_model(build_model(config["Architecture"]), weights, key)
    params = load_params_file(weights, key, prefer_ema=True)
    own = model.state_dict()
    missing = [k for k in own if k not in params]
    if missing:
        raise ConfigError(f"weights '{weights}' lack {len(missing)} parameters of this model, e.g. {missing[:3]}",
                          "Global.pretrained_model")
    model.set_state_dict(params)
    model.eval()
    fuse_rep_layers(model)  # deployed graphs hold one conv per re-parameterisable layer
    if isinstance(model, DistillationModel):
        return _export_distillation(model, config, save_dir, onnx, key)
    _write_inference(model, config, post_process, save_dir, onnx, key)
    return save_dir


def _write_inference(model: paddle.nn.Layer, config: Dict[str, Any], post_process: Any, save_dir: str,
                     onnx: bool, key: Optional[str]) -> None:
    spec = input_spec(config)
    wrapper = _ExportWrapper(model, _output_key(config["Architecture"]))
    static = paddle.jit.to_static(wrapper, input_spec=[spec], full_graph=True)
    os.makedirs(save_dir, exist_ok=True)
    with temp_dir(save_dir, "export") as tmp:
        paddle.jit.save(static, os.path.join(tmp, "inference"))
        with open(os.path.join(tmp, "inference.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(inference_meta(config, post_process), f, sort_keys=False, allow_unicode=True)
        if onnx:
            convert_to_onnx(tmp, spec.shape)
        if key:
            for name in os.listdir(tmp):
                encrypt_file_in_place(os.path.join(tmp, name), key)
        _move_files(tmp, save_dir)
    logger.info("exported inference model to %s (input %s)", save_dir, spec.shape)


def _move_files(src_dir: str, dst_dir: str) -> None:
    # each file lands whole; other files already in dst_dir are left alone
    for name in sorted(os.listdir(src_dir)):
        os.replace(os.path.join(src_dir, name), os.path.join(dst_dir, name))


def deployed_sub_model(config: Dict[str, Any], names: List[str]) -> str:
    """The DistillationModel sub-model exported at the top of save_inference_dir: ``Global.export_model_name``,
    else ``Student``, else the first one."""
    chosen = (config.get("Global") or {}).get("export_model_name")
    if chosen is None:
        return "Student" if "Student" in names else names[0]
    if chosen not in names:
        raise ConfigError(f"{chosen!r} is not a sub-model; Architecture.Models has {names}", "Global.export_model_name")
    return chosen


def _export_distillation(model: DistillationModel, config: Dict[str, Any], save_dir: str, onnx: bool,
                         key: Optional[str]) -> str:
    """Every sub-model as a plain model in ``<save_dir>/<name>/`` (PaddleOCR's layout), and the deployed one
    (:func:`deployed_sub_model`) also in ``save_dir`` itself, so predictors load ``save_dir`` like any model."""
    post_config = single_model_config(config["PostProcess"])
    post_process = build_post_process(post_config, config.get("Global") or {})
    sub_configs = sub_model_configs(config["Architecture"])
    deployed = deployed_sub_model(config, model.model_names)
    for name in model.model_names:
        sub_config = dict(config, Architecture=sub_configs[name], PostProcess=post_config)
        _write_inference(model.sub_model(name), sub_config, post_process, os.path.join(save_dir, name), onnx, key)
    with temp_dir(save_dir, "export") as tmp:
        source = os.path.join(save_dir, deployed)
        for name in os.listdir(source):
            if os.path.isfile(os.path.join(source, name)):
                shutil.copy2(os.path.join(source, name), os.path.join(tmp, name))
        _move_files(tmp, save_dir)
    logger.info("deployable model: %s (the %s sub-model; every sub-model is in %s/<name>/)",
                save_dir, deployed, save_dir)
    return save_dir
