"""What an inference model says about itself, and how it combines with the user's options.

Two sources: an exported model's ``inference.yml`` (``Global.model_type``, ``PreProcess.transform_ops``,
``PostProcess`` with ``character_dict`` / ``label_list``) and an ONNX file's custom metadata map
(PaddleOCR's converted recognisers carry ``character``, newline-separated). A model's role (det, rec or
cls) comes from that metadata, else from its declared output shape, so a model given for the
wrong stage is refused when it loads instead of failing on every image.

Precedence: a setting the model records is the default; an option the user set explicitly wins.
"Explicitly set" means the ``InferOptions`` field differs from its dataclass default – so passing a
value equal to the default (e.g. ``det_db_box_thresh=0.6``) cannot override a model's recorded value;
change the model's ``inference.yml`` for that.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from ppocr.infer.options import InferOptions

logger = logging.getLogger(__name__)

INFERENCE_YML = "inference.yml"
ONNX_CHARACTER_KEY = "character"

ROLE_NAMES = {"det": "a text detection model", "rec": "a text recognition model",
              "cls": "a text direction classifier"}
ROLE_OPTIONS = {"det": "det_model_dir", "rec": "rec_model_dir", "cls": "cls_model_dir"}
# PostProcess names in PaddleOCR's and our inference.yml files; recognisers' decoders all end in LabelDecode
_DET_POSTPROCESS = ("DBPostProcess", "DistillationDBPostProcess", "EASTPostProcess", "SASTPostProcess",
                    "PSEPostProcess", "FCEPostProcess", "CTPostProcess", "DRRGPostprocess")
_ROLE_TRANSFORMS = {"DetResizeForTest": "det", "RecResizeImg": "rec", "ClsResizeImg": "cls"}
Shape = List[Optional[int]]


class ModelRoleError(ValueError):
    """A model given for one stage (det, rec, cls) is a model of another."""


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
    """Whether the caller set ``name`` (to any value, its default included)."""
    return name in options.given


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


def recorded_role(metadata: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """``(role, evidence)`` from what the model records: inference.yml ``Global.model_type`` (ours),
    ``Global.model_name`` (PaddleOCR's, e.g. ``PP-OCRv4_mobile_det``), the PostProcess or resize
    operator, or an ONNX ``character`` list; None when it records none of them. A role may be other than
    det/rec/cls (``model_type: table``)."""
    global_section = metadata.get("Global") if isinstance(metadata.get("Global"), dict) else {}
    model_type = global_section.get("model_type")
    if isinstance(model_type, str) and model_type:
        return model_type, f"inference.yml Global.model_type: {model_type}"
    model_name = global_section.get("model_name")
    if isinstance(model_name, str) and model_name:
        lowered = model_name.lower()
        for suffix, role in (("_det", "det"), ("_rec", "rec"), ("_cls", "cls"), ("textline_ori", "cls")):
            if lowered.endswith(suffix):
                return role, f"inference.yml Global.model_name: {model_name}"
    post_name = postprocess_args(metadata).get("name")
    if isinstance(post_name, str) and post_name:
        role = ("det" if post_name in _DET_POSTPROCESS else "rec" if post_name.endswith("LabelDecode")
                else "cls" if post_name == "ClsPostProcess" else None)
        if role is not None:
            return role, f"inference.yml PostProcess: {post_name}"
    for op_name, role in _ROLE_TRANSFORMS.items():
        if _has_transform(metadata, op_name):
            return role, f"inference.yml PreProcess: {op_name}"
    if isinstance(metadata.get(ONNX_CHARACTER_KEY), str):
        return "rec", f"its metadata has a '{ONNX_CHARACTER_KEY}' list"
    return None


def _has_transform(metadata: Dict[str, Any], op_name: str) -> bool:
    ops = (metadata.get("PreProcess") or {}).get("transform_ops") or []
    return any(isinstance(entry, dict) and op_name in entry for entry in ops)


def role_from_shapes(output_shapes: Sequence[Shape]) -> Optional[Tuple[str, str]]:
    """``(role, evidence)`` from the first output's declared shape: DB detectors give N×1×H×W maps,
    CTC recognisers N×T×classes, direction classifiers N×classes; None for anything else."""
    if not output_shapes:
        return None
    out = list(output_shapes[0])
    if len(out) == 4 and out[1] in (1, None):
        role = "det"
    elif len(out) == 3 and (out[2] is None or out[2] > 2):
        role = "rec"
    elif len(out) == 2:
        role = "cls"
    else:
        return None
    letters = {4: "NCHW", 3: "NTC", 2: "NC"}[len(out)]
    dims = "x".join(str(d) if d is not None else letter for d, letter in zip(out, letters))
    return role, f"output {dims}"


def check_model_role(expected: str, model_path: str, metadata: Dict[str, Any],
                     output_shapes: Sequence[Shape]) -> None:
    """Refuse a model whose role (recorded, else from its shapes) is not ``expected``; a model that
    tells nothing is let through."""
    found = recorded_role(metadata) or role_from_shapes(output_shapes)
    if found is None or found[0] == expected:
        return
    role, evidence = found
    what = ROLE_NAMES.get(role, f"a '{role}' model")
    hint = f"; pass it as {ROLE_OPTIONS[role]}" if role in ROLE_OPTIONS else ""
    raise ModelRoleError(f"{ROLE_OPTIONS[expected]} '{model_path}' is {what} ({evidence}), expected "
                         f"{ROLE_NAMES[expected]}{hint}")


def paddle_program_shapes(program_path: str, key: Optional[str] = None) -> Tuple[Shape, List[Shape]]:
    """``(input shape, output shapes)`` a Paddle program declares (None for dynamic dimensions), read
    without loading the model; empty when the file's format is not understood.

    PIR programs (``inference.json``) declare them on their ``data`` and ``fetch`` operators; legacy
    ``inference.pdmodel`` files (PaddleOCR 2.x exports, often without inference.yml) on the variables
    their ``feed`` and ``fetch`` operators use.
    """
    from ppocr.utils.crypto import read_file

    data = read_file(program_path, key)
    try:
        if program_path.endswith(".json"):
            inputs, outputs = _pir_io_shapes(json.loads(data.decode("utf-8")))
        else:
            inputs, outputs = _legacy_io_shapes(data)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, ImportError) as err:
        logger.debug("%s: could not read its input/output shapes (%s)", program_path, err)
        return [], []
    dims = [[d if isinstance(d, int) and d > 0 else None for d in shape] for shape in inputs + outputs]
    return (dims[0] if inputs else []), dims[len(inputs):]


def _pir_io_shapes(program: Dict[str, Any]) -> Tuple[List[List[int]], List[List[int]]]:
    ops = program["program"]["regions"][0]["blocks"][0]["ops"]
    declared = {"data": [], "fetch": []}
    for op in ops:
        kind = str(op.get("#", "")).rsplit(".", 1)[-1]
        if kind in declared:
            declared[kind].append(list(op["O"][0]["TT"]["D"][1]))
    return declared["data"], declared["fetch"]


def _legacy_io_shapes(data: bytes) -> Tuple[List[List[int]], List[List[int]]]:
    from google.protobuf.message import DecodeError
    from paddle.base.proto import framework_pb2

    try:
        block = framework_pb2.ProgramDesc.FromString(data).blocks[0]
    except DecodeError as err:
        raise ValueError(f"not a Paddle program ({err})") from err
    variables = {var.name: var for var in block.vars}

    def dims(name: str) -> List[int]:
        return list(variables[name].type.dense_tensor.tensor.dims)

    inputs = [dims(op.outputs[0].arguments[0]) for op in block.ops if op.type == "feed"]
    outputs = [dims(op.inputs[0].arguments[0]) for op in block.ops if op.type == "fetch"]
    return inputs, outputs
