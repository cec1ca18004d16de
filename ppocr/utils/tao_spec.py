"""TAO EfficientDet experiment specs (protobuf text) → our YAML config, field by field.

A spec has ``training_config``, ``eval_config``, ``dataset_config``, ``model_config`` and ``augmentation_config``
blocks of ``key: value`` lines. Every field TAO documents is either mapped (see the recipes' header comment) or
listed once as ignored with the reason; an unknown field or block is a one-line ConfigError naming file, block and
field with the closest known name. The base recipe is ``configs/objdet/efficientdet_d0.yml`` (EfficientNet-B
models) or ``efficientdet_lite0.yml`` (Lite models), re-targeted to the spec's ``model_name``.
"""
from __future__ import annotations

import copy
import glob
import logging
import math
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ppocr.utils.registry import ConfigError, closest

logger = logging.getLogger(__name__)

RECIPE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "configs", "objdet")
FIELDS: Dict[str, Tuple[str, ...]] = {
    "training_config": ("train_batch_size", "iterations_per_loop", "checkpoint_period", "num_examples_per_epoch",
                        "num_epochs", "model_name", "profile_skip_steps", "tf_random_seed", "lr_warmup_epoch",
                        "lr_warmup_init", "learning_rate", "amp", "moving_average_decay", "l2_weight_decay",
                        "l1_weight_decay", "checkpoint", "pruned_model_path", "clip_gradients_norm",
                        "skip_checkpoint_variables"),
    "eval_config": ("eval_batch_size", "eval_epoch_cycle", "eval_after_training", "eval_samples", "min_score_thresh",
                    "max_detections_per_image"),
    "dataset_config": ("num_classes", "image_size", "training_file_pattern", "validation_file_pattern",
                       "validation_json_file", "val_json_file", "max_instances_per_image",
                       "skip_crowd_during_training"),
    "model_config": ("model_name", "min_level", "max_level", "num_scales", "max_instances_per_image",
                     "aspect_ratios", "anchor_scale"),
    "augmentation_config": ("rand_hflip", "random_crop_min_scale", "random_crop_max_scale"),
}
IGNORED = {
    "iterations_per_loop": "TPU loop length; the trainer logs every Global.print_batch_step steps",
    "profile_skip_steps": "profiling is not part of the trainer",
    "eval_after_training": "the trainer evaluates every eval_epoch_cycle epochs (and tools/eval.py after training)",
    "eval_samples": "the whole validation set is evaluated",
    "validation_json_file": "the ground truth travels with the validation shards",
    "val_json_file": "the ground truth travels with the validation shards",
}
_TOKEN = re.compile(r"""\s*(?:(\#[^\n]*)|([A-Za-z_][A-Za-z0-9_]*)|(\{)|(\})|(:)|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
                        |([-+]?[0-9][0-9.eE+-]*|[-+]?\.[0-9][0-9eE+-]*))""", re.X)


def parse_spec_text(text: str, path: str = "<spec>") -> Dict[str, Any]:
    """Protobuf text → nested dict (a repeated field becomes a list)."""
    tokens: List[Tuple[str, Any, int]] = []
    pos, line = 0, 1
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ConfigError(f"{path}, line {line}: cannot read {text[pos:].strip()[:30]!r}")
        line_start = line
        line += text.count("\n", pos, match.end())
        pos = match.end()
        comment, ident, lbrace, rbrace, colon, string, number = match.groups()
        if comment is not None:
            continue
        if ident is not None:
            tokens.append(("ident", ident, line_start))
        elif lbrace or rbrace or colon:
            tokens.append(("punct", lbrace or rbrace or colon, line_start))
        elif string is not None:
            tokens.append(("value", bytes(string[1:-1], "utf-8").decode("unicode_escape"), line_start))
        else:
            try:
                value = float(number) if any(c in number for c in ".eE") else int(number)
            except ValueError:
                raise ConfigError(f"{path}, line {line_start}: bad number {number!r}") from None
            tokens.append(("value", value, line_start))
    index = 0

    def block(depth: int) -> Dict[str, Any]:
        nonlocal index
        out: Dict[str, Any] = {}
        while index < len(tokens):
            kind, value, at = tokens[index]
            if kind == "punct" and value == "}":
                if depth == 0:
                    raise ConfigError(f"{path}, line {at}: unmatched '}}'")
                index += 1
                return out
            if kind != "ident":
                raise ConfigError(f"{path}, line {at}: expected a field name, got {value!r}")
            index += 1
            if index < len(tokens) and tokens[index][1] == ":":
                index += 1
            if index >= len(tokens):
                raise ConfigError(f"{path}, line {at}: field '{value}' has no value")
            nkind, nvalue, nat = tokens[index]
            if nkind == "punct" and nvalue == "{":
                index += 1
                item: Any = block(depth + 1)
            elif nkind == "value":
                item = nvalue
                index += 1
            elif nkind == "ident" and nvalue in ("true", "false", "True", "False"):
                item = nvalue in ("true", "True")
                index += 1
            elif nkind == "ident":
                item = nvalue  # an enum value
                index += 1
            else:
                raise ConfigError(f"{path}, line {nat}: field '{value}' has no value")
            if value in out:
                out[value] = (out[value] if isinstance(out[value], list) else [out[value]]) + [item]
            else:
                out[value] = item
        if depth:
            raise ConfigError(f"{path}: a block is not closed (missing '}}')")
        return out

    return block(0)


def _check_fields(spec: Dict[str, Any], path: str) -> None:
    for section, body in spec.items():
        if section not in FIELDS:
            hint = closest(section, FIELDS)
            raise ConfigError(f"{path}: unknown block '{section}'" + (f"; did you mean '{hint}'?" if hint else "")
                              + f"; known: {', '.join(FIELDS)}")
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: '{section}' must be a block {{ ... }}")
        for field in body:
            if field not in FIELDS[section]:
                hint = closest(field, FIELDS[section])
                raise ConfigError(f"{path}: {section}.{field}: unknown field"
                                  + (f"; did you mean '{hint}'?" if hint else ""))


def _model_name(spec: Dict[str, Any], path: str) -> str:
    from ppocr.modeling.necks.bifpn import compound_name

    names = {s.get("model_name") for s in (spec.get("model_config", {}), spec.get("training_config", {}))
             if s.get("model_name")}
    if len(names) > 1:
        raise ConfigError(f"{path}: model_config.model_name and training_config.model_name differ: {sorted(names)}")
    name = names.pop() if names else "efficientdet-d0"
    try:
        return compound_name(name)
    except ConfigError as exc:
        raise ConfigError(f"{path}: model_config.model_name: {exc.message}") from None


def _shards(pattern: str, where: str, path: str) -> List[str]:
    matches = sorted(p for p in glob.glob(pattern) if os.path.isdir(p))
    if not matches:
        raise ConfigError(f"{path}: {where}: no LMDB shard matches '{pattern}' (write them with "
                          "tools/dataset_convert.py -i -a -o -t)")
    return matches


def _set_op(transforms: List[Dict[str, Any]], name: str, **values: Any) -> None:
    for op in transforms:
        if name in op:
            op[name] = dict(op[name] or {}, **values)
            return
    raise KeyError(name)


def spec_to_config(spec: Dict[str, Any], path: str = "<spec>", check_paths: bool = True) -> Dict[str, Any]:
    """Our config dict for a parsed spec (unknown fields refused, ignored ones logged once)."""
    from ppocr.data.imaug.objdet_ops import parse_image_size
    from ppocr.utils.config import load_config

    _check_fields(spec, path)
    name = _model_name(spec, path)
    lite = "lite" in name
    config = copy.deepcopy(load_config(os.path.join(RECIPE_DIR, f"efficientdet_{'lite0' if lite else 'd0'}.yml")))
    backbone = name.replace("efficientdet-", "efficientnet-").replace("efficientnet-d", "efficientnet-b")
    arch = config["Architecture"]
    arch["Backbone"]["model_name"] = backbone
    arch["Neck"]["model_name"] = arch["Head"]["model_name"] = name
    g, opt = config["Global"], config["Optimizer"]
    train_ops = config["Train"]["dataset"]["transforms"]
    eval_ops = config["Eval"]["dataset"]["transforms"]
    tc, ec = spec.get("training_config", {}), spec.get("eval_config", {})
    dc, mc, ac = spec.get("dataset_config", {}), spec.get("model_config", {}), spec.get("augmentation_config", {})
    for section in spec.values():
        for field in section:
            if field in IGNORED:
                logger.info("%s: %s is ignored: %s", path, field, IGNORED[field])

    def number(block: Dict[str, Any], field: str, where: str, minimum: float = 0.0, integer: bool = False) -> Any:
        value = block[field]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum or (
                integer and not float(value).is_integer()):
            kind = "an integer" if integer else "a number"
            raise ConfigError(f"{path}: {where}.{field} must be {kind} >= {minimum}, got {value!r}")
        return int(value) if integer else float(value)

    if "train_batch_size" in tc:
        config["Train"]["loader"]["batch_size_per_card"] = number(tc, "train_batch_size", "training_config", 1, True)
    if "num_epochs" in tc:
        g["epoch_num"] = number(tc, "num_epochs", "training_config", 1, True)
    if "checkpoint_period" in tc:
        g["save_epoch_step"] = number(tc, "checkpoint_period", "training_config", 1, True)
    if "tf_random_seed" in tc:
        g["seed"] = number(tc, "tf_random_seed", "training_config", 0, True)
    for field, key in (("learning_rate", "learning_rate"), ("lr_warmup_epoch", "warmup_epoch"),
                       ("lr_warmup_init", "warmup_start_lr")):
        if field in tc:
            opt["lr"][key] = number(tc, field, "training_config")
    if "amp" in tc:
        g["use_amp"] = bool(tc["amp"])
    if "moving_average_decay" in tc:
        decay = number(tc, "moving_average_decay", "training_config")
        g["model_ema"] = 0.0 < decay < 1.0
        if g["model_ema"]:
            g["model_ema_decay"] = decay
    l1 = number(tc, "l1_weight_decay", "training_config") if "l1_weight_decay" in tc else 0.0
    l2 = number(tc, "l2_weight_decay", "training_config") if "l2_weight_decay" in tc else None
    if l1 and l2:
        opt["regularizer"] = {"name": "L1L2", "l1_factor": l1, "l2_factor": l2}
    elif l1:
        opt["regularizer"] = {"name": "L1", "factor": l1}
    elif l2 is not None:
        opt["regularizer"] = {"name": "L2", "factor": l2}
    if "clip_gradients_norm" in tc:
        clip = number(tc, "clip_gradients_norm", "training_config")
        if clip > 0:
            opt["clip_norm_global"] = clip
        else:
            opt.pop("clip_norm_global", None)
    if tc.get("checkpoint"):
        g["pretrained_model"] = str(tc["checkpoint"])
    if tc.get("pruned_model_path"):
        if tc.get("checkpoint"):
            logger.warning("%s: both checkpoint and pruned_model_path are set; retraining the pruned model", path)
        g["pretrained_model"] = str(tc["pruned_model_path"])
    if tc.get("skip_checkpoint_variables"):
        g["skip_checkpoint_variables"] = str(tc["skip_checkpoint_variables"])

    if "eval_batch_size" in ec:
        config["Eval"]["loader"]["batch_size_per_card"] = number(ec, "eval_batch_size", "eval_config", 1, True)
    if "eval_epoch_cycle" in ec:
        cycle = number(ec, "eval_epoch_cycle", "eval_config", 1, True)
        examples = tc.get("num_examples_per_epoch")
        if examples is None:
            raise ConfigError(f"{path}: eval_config.eval_epoch_cycle needs training_config.num_examples_per_epoch "
                              "(the trainer counts evaluation intervals in steps)")
        steps = math.ceil(number(tc, "num_examples_per_epoch", "training_config", 1, True)
                          / config["Train"]["loader"]["batch_size_per_card"])
        g["eval_batch_step"] = [0, cycle * steps]
    for field in ("min_score_thresh",):
        if field in ec:
            config["PostProcess"][field] = number(ec, field, "eval_config")
    if "max_detections_per_image" in ec:
        config["PostProcess"]["max_detections_per_image"] = number(ec, "max_detections_per_image", "eval_config",
                                                                   1, True)

    if "num_classes" in dc:
        classes = number(dc, "num_classes", "dataset_config", 2, True)
        arch["Head"]["num_classes"] = classes - 1  # TAO counts the background
    if "image_size" in dc:
        try:
            size = parse_image_size(dc["image_size"])
        except ConfigError as exc:
            raise ConfigError(f"{path}: dataset_config.image_size: {exc.message}") from None
        for ops in (train_ops, eval_ops):
            _set_op(ops, "ObjDetResizePad", image_size=list(size))
    for block, where in ((dc, "dataset_config"), (mc, "model_config")):
        if "max_instances_per_image" in block:
            value = number(block, "max_instances_per_image", where, 1, True)
            for ops in (train_ops, eval_ops):
                _set_op(ops, "ObjDetLabelDecode", max_instances=value)
    if "skip_crowd_during_training" in dc:
        _set_op(train_ops, "ObjDetLabelDecode", skip_crowd=bool(dc["skip_crowd_during_training"]))
    for field, section in (("training_file_pattern", "Train"), ("validation_file_pattern", "Eval")):
        if field in dc:
            dataset = config[section]["dataset"]
            pattern = str(dc[field])
            shards = _shards(pattern, f"dataset_config.{field}", path) if check_paths else [pattern]
            config[section]["dataset"] = {"name": "LMDBDataSet", "data_dir": shards,
                                          "transforms": dataset["transforms"]}

    for field in ("min_level", "max_level"):
        if field in mc and mc[field] != (3 if field == "min_level" else 7):
            raise ConfigError(f"{path}: model_config.{field}: only levels 3 to 7 are supported, got {mc[field]}")
    if "num_scales" in mc:
        arch["Head"]["num_scales"] = number(mc, "num_scales", "model_config", 1, True)
    if "aspect_ratios" in mc:
        from ppocr.modeling.heads.objdet_anchors import parse_aspect_ratios

        try:
            parse_aspect_ratios(mc["aspect_ratios"])
        except ConfigError as exc:
            raise ConfigError(f"{path}: model_config.aspect_ratios: {exc.message}") from None
        arch["Head"]["aspect_ratios"] = mc["aspect_ratios"]
    if "anchor_scale" in mc:
        arch["Head"]["anchor_scale"] = number(mc, "anchor_scale", "model_config")

    if "rand_hflip" in ac and not ac["rand_hflip"]:
        config["Train"]["dataset"]["transforms"] = [op for op in train_ops if "ObjDetRandomHFlip" not in op]
        train_ops = config["Train"]["dataset"]["transforms"]
    crop = {}
    for field in ("random_crop_min_scale", "random_crop_max_scale"):
        if field in ac:
            crop[field] = number(ac, field, "augmentation_config")
    if crop:
        _set_op(train_ops, "ObjDetResizePad", **crop)
    return config


def load_spec(path: str, check_paths: bool = True) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read spec file {path}: {exc.strerror or exc}") from None
    return spec_to_config(parse_spec_text(text, path), path, check_paths)


def is_yaml(path: str) -> bool:
    return path.lower().endswith((".yml", ".yaml"))


def load_experiment(path: str, overrides: Optional[Iterable[str]] = None,
                    require: Iterable[str] = ()) -> Dict[str, Any]:
    """Our YAML, or a TAO spec converted on the fly; then ``-o`` overrides and validation."""
    from ppocr.utils.config import apply_overrides, load_and_override, validate_config

    if is_yaml(path):
        return load_and_override(path, overrides, require=require)
    config = apply_overrides(load_spec(path), overrides or [])
    validate_config(config, path, require=require)
    return config
