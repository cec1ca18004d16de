"""What an inference model says about itself, and how it combines with the user's options.

Two sources: an exported model's ``inference.yml`` (``Global.model_type``, ``PreProcess.transform_ops``,
``PostProcess`` with ``character_dict`` / ``label_list``) and an ONNX file's custom metadata map
(PaddleOCR's converted recognisers carry ``character``, newline-separated).

Precedence: a setting the model records is the default; an option the user set explicitly wins.
"Explicitly set" means the ``InferOptions`` field differs from its dataclass default – so passing a
value equal to the default (e.g. ``det_db_box_thresh=0.6``) cannot override a model's recorded value;
change the model's ``inference.yml`` for that.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

import yaml

from ppocr.infer.options import InferOptions

logger = logging.getLogger(__name__)

INFERENCE_YML = "inference.yml"
ONNX_CHARACTER_KEY = "character"


def load_inference_yml(model_dir: str, key: Optional[str] = None) -> Dict[str, Any]:
    """The exported model's ``inference.yml`` as a dict (decrypted with ``key`` when encrypted); empty when
    the folder has none."""
    from ppocr.utils.crypto import read_file

    path = os.path.join(model_dir, INFERENCE_YML)
    if not os.path.isfile(path):
        return {}
    try:
        meta = yaml.safe_load(read_file(path, key).decode("utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from err
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a mapping with Global/PreProcess/PostProcess, got {type(meta).__name__}")
    return meta


def transform_args(metadata: Dict[str, Any], op_name: str) -> Dict[str, Any]:
    """Arguments of ``op_name`` in ``PreProcess.transform_ops`` ({} when the model records none)."""
    ops = (metadata.get("PreProcess") or {}).get("transform_ops") or []
    for entry in ops:
        if isinstance(entry, dict) and op_name in entry:
            return dict(entry[op_name] or {})
    return {}


def postprocess_args(metadata: Dict[str, Any]) -> Dict[str, Any]:
    post = metadata.get("PostProcess")
    return dict(post) if isinstance(post, dict) else {}


def model_character_list(metadata: Dict[str, Any]) -> Tuple[Optional[List[str]], bool]:
    """``(characters, complete)`` the model records, without the CTC blank.

    ``complete`` is True for ``inference.yml``'s ``character_dict``, which already holds the space when the
    model was trained with one; ONNX ``character`` lists are dict files, so ``use_space_char`` still applies.
    """
    chars = postprocess_args(metadata).get("character_dict")
    if chars:
        return [str(c) for c in chars], True
    text = metadata.get(ONNX_CHARACTER_KEY)
    if isinstance(text, str) and text:
        return text.splitlines(), False
    return None, False


def explicitly_set(options: InferOptions, name: str) -> bool:
    field = {f.name: f for f in dataclasses.fields(InferOptions)}[name]
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    return getattr(options, name) != default


def pick(options: InferOptions, name: str, model_value: Any) -> Any:
    """The option when set explicitly or when the model records nothing, else the model's value."""
    if model_value is None or explicitly_set(options, name):
        return getattr(options, name)
    if model_value != getattr(options, name):
        logger.debug("%s=%r from the model's metadata (option default %r)", name, model_value, getattr(options, name))
    return model_value


def parse_image_shape(value: Any, name: str) -> List[int]:
    """``"3, 48, 320"`` (PaddleOCR's flag format) or ``[3, 48, 320]`` to three positive ints."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        shape = [int(p) for p in parts]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be 'C, H, W' (e.g. '3, 48, 320'), got {value!r}") from err
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{name} must be three positive sizes 'C, H, W', got {value!r}")
    return shape
