"""Checkpoints: ``<prefix>.pdparams`` + ``.pdopt`` + ``.states`` (+ ``.pdema`` with model EMA), written
atomically and resumed exactly.

The files of one save carry one random token; a set whose tokens differ (a crash between the renames)
is refused on resume instead of mixing weights from one step with optimizer moments from another.
With an encryption key every file is encrypted (``ppocr.utils.crypto``).
"""
from __future__ import annotations

import io
import json
import logging
import os
import pickle
import uuid
from typing import Any, Dict, Optional

import paddle

from ppocr.utils import crypto
from ppocr.utils.errors import CheckpointError
from ppocr.utils.io import atomic_write
from ppocr.utils.paddleocr_checkpoint import clean_states, restore_optimizer

logger = logging.getLogger(__name__)

TOKEN_KEY = "@checkpoint_token"


def _strip_suffix(path: str) -> str:
    for suffix in (".pdparams", ".pdopt", ".pdema", ".states"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _stage(data: bytes, path: str, key: Optional[str]) -> str:
    """Write ``data`` (encrypted with ``key``) beside ``path`` under a temporary name."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(crypto.encrypt_bytes(data, key) if key else data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _paddle_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    paddle.save(obj, buffer)
    return buffer.getvalue()


def save_checkpoint(model: paddle.nn.Layer, optimizer: Optional[paddle.optimizer.Optimizer], prefix: str,
                    states: Dict[str, Any], ema_params: Optional[Dict[str, Any]] = None,
                    key: Optional[str] = None) -> None:
    """Write every file to a temporary name, then rename them into place, ``.states`` last.

    A pruned model also writes its channel plan (``<prefix>.prune.json``) so the checkpoint can be rebuilt.
    """
    from ppocr.slim.prune.plan import model_plan, plan_path

    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    token = uuid.uuid4().hex
    parts = [(".pdparams", dict(model.state_dict()))]
    if optimizer is not None:
        parts.append((".pdopt", dict(optimizer.state_dict())))
    if ema_params is not None:
        parts.append((".pdema", dict(ema_params)))
    staged = []
    try:
        for suffix, obj in parts:
            obj[TOKEN_KEY] = token
            staged.append((_stage(_paddle_bytes(obj), prefix + suffix, key), prefix + suffix))
        plan = model_plan(model)
        if plan is not None:
            staged.append((_stage(json.dumps(plan).encode("utf-8"), plan_path(prefix), key), plan_path(prefix)))
        elif os.path.exists(plan_path(prefix)):
            os.unlink(plan_path(prefix))  # a plan left by an earlier pruned run must not reshape this one
        staged.append((_stage(pickle.dumps(dict(states, **{TOKEN_KEY: token})), prefix + ".states", key),
                       prefix + ".states"))
        for tmp, final in staged:
            os.replace(tmp, final)
        staged = []
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _read(path: str, key: Optional[str]) -> bytes:
    try:
        return crypto.read_file(path, key)
    except crypto.EncryptionError as exc:
        raise CheckpointError(str(exc)) from None


def _load(path: str, key: Optional[str] = None) -> Dict[str, Any]:
    data = _read(path, key)
    try:
        return paddle.load(io.BytesIO(data))
    except Exception as exc:
        raise CheckpointError(f"cannot read '{path}': {exc}") from None


def load_params_file(path: str, key: Optional[str] = None, prefer_ema: bool = False) -> Dict[str, Any]:
    """Weights dict from ``path`` (with or without ``.pdparams``), without the token.

    ``prefer_ema`` takes the moving-average weights when the checkpoint has them (eval and export).
    """
    prefix = _strip_suffix(path)
    file = prefix + ".pdparams"
    if prefer_ema and os.path.isfile(prefix + ".pdema"):
        file = prefix + ".pdema"
        logger.info("using the EMA weights of %s", prefix)
    if not os.path.isfile(file):
        raise CheckpointError(f"weights file '{file}' not found")
    params = _load(file, key)
    if not isinstance(params, dict):
        raise CheckpointError(f"'{file}' does not hold a parameter dict")
    params.pop(TOKEN_KEY, None)
    return params


def prepare_model(model: paddle.nn.Layer, weights: Optional[str], key: Optional[str] = None) -> paddle.nn.Layer:
    """Give a freshly built model the shapes of the checkpoint it is about to load.

    A pruned checkpoint carries its channel plan beside the weights; every place that loads weights
    (training, export, checkpoint prediction) calls this first.
    """
    if weights:
        from ppocr.slim.prune.plan import apply_plan_file

        apply_plan_file(model, _strip_suffix(weights), key)
    return model


def load_pretrained(model: paddle.nn.Layer, path: str, key: Optional[str] = None,
                    prefer_ema: bool = False) -> Dict[str, list]:
    """Load matching weights only; report every parameter skipped and why."""
    params = load_params_file(path, key, prefer_ema=prefer_ema)
    own = model.state_dict()
    report = {"loaded": [], "missing": [], "unexpected": [], "shape_mismatch": []}
    to_load = {}
    for key, value in own.items():
        if key not in params:
            report["missing"].append(key)
            continue
        src = params[key]
        src_shape = list(src.shape)
        if src_shape != list(value.shape):
            report["shape_mismatch"].append(f"{key}: file {src_shape} vs model {list(value.shape)}")
            continue
        to_load[key] = src
        report["loaded"].append(key)
    report["unexpected"] = [k for k in params if k not in own]
    # parameters not loaded keep their current values (listed in the report, not re-warned by paddle)
    model.set_state_dict({key: to_load.get(key, value) for key, value in own.items()})
    logger.info("loaded %d/%d parameters from %s", len(report["loaded"]), len(own), path)
    for kind in ("missing", "unexpected", "shape_mismatch"):
        for item in report[kind]:
            logger.warning("pretrained %s: %s", kind.replace("_", " "), item)
    return report


def load_checkpoint(model: paddle.nn.Layer, optimizer: Optional[paddle.optimizer.Optimizer],
                    path: str, key: Optional[str] = None) -> Dict[str, Any]:
    """Restore model, optimizer (with its lr scheduler) and return the saved training states.

    A ``.pdema`` file's weights come back in ``states["ema_params"]``.
    """
    prefix = _strip_suffix(path)
    states_file = prefix + ".states"
    if not os.path.isfile(states_file):
        raise CheckpointError(f"checkpoint '{prefix}' has no .states file (expected {states_file})")
    data = _read(states_file, key)
    try:
        states = pickle.loads(data)
    except Exception as exc:
        raise CheckpointError(f"cannot read '{states_file}': {exc}") from None
    token = states.pop(TOKEN_KEY, None)
    if token is None:  # written by PaddleOCR's trainer
        states = clean_states(states)
    params_file = prefix + ".pdparams"
    if not os.path.isfile(params_file):
        raise CheckpointError(f"checkpoint '{prefix}' has no .pdparams file")
    params = _load(params_file, key)
    if params.pop(TOKEN_KEY, None) != token:
        raise CheckpointError(f"checkpoint '{prefix}' is inconsistent: .pdparams and .states come from different saves")
    own = model.state_dict()
    missing = [k for k in own if k not in params]
    mismatch = [k for k in own if k in params and list(params[k].shape) != list(own[k].shape)]
    if missing or mismatch:
        raise CheckpointError(
            f"checkpoint '{prefix}' does not fit the model: missing {missing[:5]}, shape mismatch {mismatch[:5]}"
            " (use Global.pretrained_model to load weights partially)")
    model.set_state_dict(params)
    if optimizer is not None:
        opt_file = prefix + ".pdopt"
        if os.path.isfile(opt_file):
            opt_state = _load(opt_file, key)
            if opt_state.pop(TOKEN_KEY, None) != token:
                raise CheckpointError(f"checkpoint '{prefix}' is inconsistent: .pdopt comes from a different save")
            if not restore_optimizer(optimizer, opt_state, prefix):
                states["lr_state_missing"] = True
        else:
            logger.warning("checkpoint %s has no optimizer state; optimizer starts fresh", prefix)
            states["lr_state_missing"] = True
    ema_file = prefix + ".pdema"
    if os.path.isfile(ema_file):
        ema_params = _load(ema_file, key)
        if ema_params.pop(TOKEN_KEY, None) != token:
            raise CheckpointError(f"checkpoint '{prefix}' is inconsistent: .pdema comes from a different save")
        states["ema_params"] = ema_params
    logger.info("resumed from %s (epoch %s, step %s)", prefix, states.get("epoch"), states.get("global_step"))
    return states

