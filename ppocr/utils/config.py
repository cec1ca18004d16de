"""YAML config: load, ``-o Section.key=value`` overrides, and validation that names the key and file."""
from __future__ import annotations

import argparse
import copy
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

import yaml

from ppocr.utils.registry import (
    ARCHITECTURES,
    BACKBONES,
    HEADS,
    LOSSES,
    LR_SCHEDULERS,
    METRICS,
    NECKS,
    OPTIMIZERS,
    POSTPROCESS,
    SAMPLERS,
    TRANSFORMS,
    ConfigError,
    closest,
)
from ppocr.utils.paddleocr_compat import (
    FEATURE_GLOBAL_SCHEMA,
    UnsupportedConfig,
    missing_dicts,
    unsupported_components,
    without_ignored,
)

SECTIONS = ("Global", "Architecture", "Loss", "Optimizer", "PostProcess", "Metric", "Train", "Eval",
            "Quant", "Prune")  # Quant: tools/quant.py (ppocr.slim.quant.settings); Prune: tools/prune.py
# Sections a -o override may create when the YAML has none (all their keys have defaults).
OPTIONAL_SECTIONS = ("Quant", "Prune")

# Global keys and the Python types their values may take. Keys PaddleOCR reads that we accept but do not
# need are listed too, so its configs load unchanged.
_NUM = (int, float)
_OPT_STR = (str, type(None))
GLOBAL_SCHEMA: Dict[str, Tuple[type, ...]] = {
    "use_gpu": (bool,),
    "use_xpu": (bool,),
    "use_npu": (bool,),
    "use_mlu": (bool,),
    "epoch_num": (int,),
    "log_smooth_window": (int,),
    "print_batch_step": (int,),
    "save_model_dir": (str,),
    "save_epoch_step": (int,),
    "eval_batch_step": (list, int),
    "cal_metric_during_train": (bool,),
    "pretrained_model": _OPT_STR,
    "checkpoints": _OPT_STR,
    "save_inference_dir": _OPT_STR,
    "use_visualdl": (bool,),
    "infer_img": _OPT_STR,
    "character_dict_path": _OPT_STR,
    "character_type": _OPT_STR,
    "max_text_length": (int,),
    "label_list": (list,),
    "infer_mode": (bool,),
    "use_space_char": (bool,),
    "save_res_path": _OPT_STR,
    "distributed": (bool,),
    "seed": (int, type(None)),
    "log_file": _OPT_STR,
    "model_ema": (bool,),
    "model_ema_decay": (float,),
    "encryption_key": _OPT_STR,
    "results_dir": _OPT_STR,
    # DistillationModel export: the sub-model written at the top of save_inference_dir (default Student).
    "export_model_name": _OPT_STR,
    # regex of parameter names pretrained_model does not load (TAO skip_checkpoint_variables)
    "skip_checkpoint_variables": _OPT_STR,
    # batch norms keep the pretrained model's statistics in training (fine-tuning on small data)
    "freeze_norm_stats": (bool,),
}

LOADER_SCHEMA: Dict[str, Tuple[type, ...]] = {
    "shuffle": (bool,),
    "drop_last": (bool,),
    "batch_size_per_card": (int,),
    "num_workers": (int,),
    "use_shared_memory": (bool,),
    "collate_fn": (str,),  # PaddleOCR's named collators; refused by unsupported_components (ppocr has its own)
}

# PyYAML follows YAML 1.1, where "1e-5" is a string; configs write learning rates that way.
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def load_config(path: str) -> Dict[str, Any]:
    """Read a YAML config; a missing file or broken YAML is a ConfigError naming the file."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file '{path}' not found")
    try:
        with open(path, encoding="utf-8") as f:
            config = yaml_load(f.read())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at top level")
    return config


def parse_override(text: str) -> Tuple[List[str], Any]:
    """``A.b.c=value`` → (["A","b","c"], YAML-typed value)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like Section.key=value")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override '{text}' has an empty key part")
    try:
        parsed = yaml_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.split("."), parsed


def apply_overrides(config: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Set each override in a copy of ``config``. Intermediate keys must exist; list items are
    addressed by index (``Train.dataset.transforms.2.RecResizeImg.image_shape=[3,48,320]``)."""
    config = copy.deepcopy(config)
    for text in overrides or []:
        path, value = parse_override(text)
        node: Any = config
        for depth, part in enumerate(path[:-1]):
            where = ".".join(path[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override '{text}': '{where}' must be a list index < {len(node)}")
                node = node[int(part)]
            elif isinstance(node, dict):
                if part not in node and depth == 0 and part in OPTIONAL_SECTIONS:
                    node[part] = {}  # e.g. -o Quant.mode=ptq on a recipe without a Quant section
                if part not in node:
                    if depth == 0 and part in SECTIONS:
                        # Creating it would let a typo deeper in the key create keys too; say what is missing.
                        raise ConfigError(f"override '{text}': section '{part}' is missing from the file; "
                                          f"add it there (-o only changes keys the file has)")
                    if depth == 0:
                        raise ConfigError(
                            f"override '{text}': unknown section '{part}'" + _hint(part, SECTIONS)
                        )
                    raise ConfigError(
                        f"override '{text}': '{where}' does not exist" + _hint(part, node.keys())
                    )
                if node[part] is None:
                    node[part] = {}
                node = node[part]
            else:
                raise ConfigError(f"override '{text}': '{where}' is a value, not a section")
        last = path[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(f"override '{text}': '{last}' must be a list index < {len(node)}")
            node[int(last)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"override '{text}': cannot set a key inside a value")
    return config


def _hint(name: str, candidates: Iterable[str]) -> str:
    match = closest(name, list(candidates))
    return f"; did you mean '{match}'?" if match else ""


def _check_schema(section: Dict[str, Any], schema: Dict[str, Tuple[type, ...]], where: str) -> None:
    for key, value in section.items():
        if key not in schema:
            raise ConfigError(f"unknown key '{key}'" + _hint(key, schema), where)
        types = schema[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ConfigError(f"key '{key}' must be {names}, got {type(value).__name__} {value!r}", f"{where}.{key}")


def _check_component(registry, section: Any, where: str, extra: Iterable[str] = ()) -> None:
    if section is None:
        return
    if not isinstance(section, dict) or "name" not in section:
        raise ConfigError(f"expected a mapping with a 'name' key, got {section!r}", where)
    kwargs = {k: v for k, v in section.items() if k != "name"}
    registry.check(section["name"], kwargs, where, extra=extra)


def _import_components() -> None:
    # Importing the packages fills the registries the validator checks against.
    import ppocr.data

    ppocr.data.register_datasets()
    import ppocr.losses  # noqa: F401
    import ppocr.metrics  # noqa: F401
    import ppocr.modeling.architectures  # noqa: F401
    import ppocr.modeling.backbones  # noqa: F401
    import ppocr.modeling.heads  # noqa: F401
    import ppocr.modeling.necks  # noqa: F401
    import ppocr.modeling.transforms  # noqa: F401
    import ppocr.optimizer  # noqa: F401
    import ppocr.postprocess  # noqa: F401


def _check_base_model(arch: Dict[str, Any], where: str) -> None:
    """The parts of a BaseModel section (the Architecture itself or a DistillationModel sub-model)."""
    if "model_type" not in arch:
        raise ConfigError("missing required key 'model_type'", where)
    parts = (("Transform", TRANSFORMS, ()), ("Backbone", BACKBONES, ()),
             ("Neck", NECKS, ()), ("Head", HEADS, ("out_channels",)))
    from ppocr.modeling.backbones import resolve_backbone

    sections = dict(arch, Backbone=resolve_backbone(arch["model_type"], arch.get("Backbone")))
    for key, registry, extra in parts:
        _check_component(registry, sections.get(key), f"{where}.{key}", extra=("in_channels",) + extra)


def validate_config(config: Dict[str, Any], path: str = "<config>", require: Iterable[str] = ()) -> None:
    """Check sections, Global keys and every component's name and keyword arguments.

    Errors are ConfigError whose text starts with the file name, then the dotted key. PaddleOCR keys
    without effect here are not checked (tools drop them with ``paddleocr_compat.strip_ignored``).
    """
    try:
        _validate(without_ignored(config)[0], require)
    except UnsupportedConfig as exc:
        raise UnsupportedConfig([f"{path}: {line}" for line in exc.lines]) from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _validate(config: Dict[str, Any], require: Iterable[str]) -> None:
    _import_components()
    for section in config:
        if section not in SECTIONS:
            raise ConfigError(f"unknown section '{section}'" + _hint(section, SECTIONS))
    unsupported = unsupported_components(config) + missing_dicts(config)
    if unsupported:
        raise UnsupportedConfig(unsupported)
    for section in require:
        if section not in config or config[section] is None:
            raise ConfigError(f"missing required section '{section}'")
    _check_schema(config.get("Global") or {}, {**GLOBAL_SCHEMA, **FEATURE_GLOBAL_SCHEMA}, "Global")
    if config.get("Quant") is not None:
        from ppocr.slim.quant.settings import QuantSettings

        QuantSettings.from_config(config["Quant"])
    if config.get("Prune") is not None:
        from ppocr.slim.prune.settings import PruneSettings

        PruneSettings.from_config(config["Prune"])

    arch = config.get("Architecture")
    if arch is not None:
        if not isinstance(arch, dict):
            raise ConfigError("expected a mapping", "Architecture")
        name = arch.get("name", "BaseModel")
        kwargs = {k: v for k, v in arch.items() if k != "name"}
        ARCHITECTURES.check(name, kwargs, "Architecture")
        if name == "BaseModel":
            _check_base_model(arch, "Architecture")
        elif name == "DistillationModel":
            from ppocr.modeling.architectures.distillation_model import sub_model_configs

            for sub_name, sub in sub_model_configs(arch).items():
                where = f"Architecture.Models.{sub_name}"
                ARCHITECTURES.check("BaseModel", sub, where)
                _check_base_model(sub, where)

    _check_component(LOSSES, config.get("Loss"), "Loss")
    _check_component(POSTPROCESS, config.get("PostProcess"), "PostProcess",
                     extra=("character_dict_path", "use_space_char", "label_list"))
    _check_component(METRICS, config.get("Metric"), "Metric")

    optim = config.get("Optimizer")
    if optim is not None:
        if not isinstance(optim, dict) or "name" not in optim:
            raise ConfigError("expected a mapping with a 'name' key", "Optimizer")
        if optim.get("lr") is not None:
            from ppocr.optimizer import lr_section

            _check_component(LR_SCHEDULERS, lr_section(optim["lr"]), "Optimizer.lr",
                             extra=("epochs", "step_each_epoch"))

    for mode in ("Train", "Eval"):
        section = config.get(mode)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ConfigError("expected a mapping with 'dataset' and 'loader'", mode)
        for key in section:
            if key not in ("dataset", "loader", "sampler"):
                raise ConfigError(f"unknown key '{key}'" + _hint(key, ("dataset", "loader", "sampler")), mode)
        if "dataset" not in section:
            raise ConfigError("missing required key 'dataset'", mode)
        _check_schema(section.get("loader") or {}, LOADER_SCHEMA, f"{mode}.loader")
        _check_component(SAMPLERS, section.get("sampler"), f"{mode}.sampler", extra=("dataset",))


class ArgsParser(argparse.ArgumentParser):
    """``-c config.yml -o Section.key=value ...`` shared by every training-side tool."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.add_argument("-c", "--config", required=True, help="YAML config file")
        self.add_argument("-o", "--opt", nargs="+", default=[], metavar="Section.key=value",
                          help="override config values, YAML-typed (e.g. Global.epoch_num=10)")
        self.add_argument("-k", "--key", default=None,
                          help="encryption key for checkpoints and exported models "
                               "(default: Global.encryption_key or $PPOCR_ENCRYPTION_KEY)")


def load_and_override(path: str, overrides: Optional[Iterable[str]] = None,
                      require: Iterable[str] = ()) -> Dict[str, Any]:
    """What tools call: read, override, validate — every error names the file."""
    config = load_config(path)
    try:
        config = apply_overrides(config, overrides or [])
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    validate_config(config, path, require=require)
    return config


RESULT_TASKS = ("train", "evaluate", "inference", "export", "prune", "quant")


def apply_results_dir(config: Dict[str, Any], task: str) -> Dict[str, Any]:
    """TAO-style layout: with ``Global.results_dir`` each task writes under ``<results_dir>/<task>/``, and
    tasks after training read ``<results_dir>/train/best_accuracy`` unless weights are given."""
    if task not in RESULT_TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(RESULT_TASKS)}")
    g = config.setdefault("Global", {}) or {}
    root = g.get("results_dir")
    if not root:
        return config
    task_dir = os.path.join(root, task)
    if task == "train":
        g["save_model_dir"] = task_dir
    else:
        if not (g.get("pretrained_model") or g.get("checkpoints")):
            g["pretrained_model"] = os.path.join(root, "train", "best_accuracy")
        if task == "export":
            g["save_inference_dir"] = task_dir
        elif task == "inference":
            g["save_res_path"] = os.path.join(task_dir, os.path.basename(g.get("save_res_path") or "predicts.txt"))
        elif task in ("prune", "quant"):
            g["save_model_dir"] = task_dir
    config["Global"] = g
    return config


def dump_config(config: Dict[str, Any]) -> str:
    """The config as YAML for logs, with the encryption key masked."""
    config = copy.deepcopy(config)
    if (config.get("Global") or {}).get("encryption_key"):
        config["Global"]["encryption_key"] = "***"
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=None)
