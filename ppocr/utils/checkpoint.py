"""Checkpoints: ``<prefix>.pdparams`` + ``.pdopt`` + ``.states``, written atomically and resumed exactly.

The three files carry one random token; a set whose tokens differ (a crash between the renames)
is refused on resume instead of mixing weights from one step with optimizer moments from another.
"""
from __future__ import annotations

import logging
import os
import pickle
import uuid
from typing import Any, Dict, Optional

import numpy as np
import paddle

from ppocr.utils.io import atomic_write

logger = logging.getLogger(__name__)

TOKEN_KEY = "@checkpoint_token"


class CheckpointError(ValueError):
    pass


def _strip_suffix(path: str) -> str:
    for suffix in (".pdparams", ".pdopt", ".states"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _save(obj: Any, path: str) -> str:
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    paddle.save(obj, tmp)
    return tmp


def save_checkpoint(model: paddle.nn.Layer, optimizer: Optional[paddle.optimizer.Optimizer], prefix: str,
                    states: Dict[str, Any]) -> None:
    """Write the three files to temporary names, then rename them into place."""
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    token = uuid.uuid4().hex
    params = dict(model.state_dict())
    params[TOKEN_KEY] = token
    staged = [(_save(params, prefix + ".pdparams"), prefix + ".pdparams")]
    try:
        if optimizer is not None:
            opt_state = dict(optimizer.state_dict())
            opt_state[TOKEN_KEY] = token
            staged.append((_save(opt_state, prefix + ".pdopt"), prefix + ".pdopt"))
        with atomic_write(prefix + ".states", "wb") as f:
            # written last via its own atomic rename, after the others are in place
            staged_states = dict(states, **{TOKEN_KEY: token})
            for tmp, final in staged:
                os.replace(tmp, final)
            staged = []
            pickle.dump(staged_states, f)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _load(path: str) -> Dict[str, Any]:
    try:
        return paddle.load(path)
    except Exception as exc:
        raise CheckpointError(f"cannot read '{path}': {exc}") from None


def load_params_file(path: str) -> Dict[str, Any]:
    """Weights dict from ``path`` (with or without ``.pdparams``), without the token."""
    prefix = _strip_suffix(path)
    file = prefix + ".pdparams"
    if not os.path.isfile(file):
        raise CheckpointError(f"weights file '{file}' not found")
    params = _load(file)
    if not isinstance(params, dict):
        raise CheckpointError(f"'{file}' does not hold a parameter dict")
    params.pop(TOKEN_KEY, None)
    return params


def load_pretrained(model: paddle.nn.Layer, path: str) -> Dict[str, list]:
    """Load matching weights only; report every parameter skipped and why."""
    params = load_params_file(path)
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
                    path: str) -> Dict[str, Any]:
    """Restore model, optimizer (with its lr scheduler) and return the saved training states."""
    prefix = _strip_suffix(path)
    states_file = prefix + ".states"
    if not os.path.isfile(states_file):
        raise CheckpointError(f"checkpoint '{prefix}' has no .states file (expected {states_file})")
    try:
        with open(states_file, "rb") as f:
            states = pickle.load(f)
    except Exception as exc:
        raise CheckpointError(f"cannot read '{states_file}': {exc}") from None
    token = states.pop(TOKEN_KEY, None)
    params_file = prefix + ".pdparams"
    if not os.path.isfile(params_file):
        raise CheckpointError(f"checkpoint '{prefix}' has no .pdparams file")
    params = _load(params_file)
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
            opt_state = _load(opt_file)
            if opt_state.pop(TOKEN_KEY, None) != token:
                raise CheckpointError(f"checkpoint '{prefix}' is inconsistent: .pdopt comes from a different save")
            optimizer.set_state_dict(opt_state)
        else:
            logger.warning("checkpoint %s has no optimizer state; optimizer starts fresh", prefix)
    logger.info("resumed from %s (epoch %s, step %s)", prefix, states.get("epoch"), states.get("global_step"))
    return states


def rng_state() -> Dict[str, Any]:
    import random

    return {"python": random.getstate(), "numpy": np.random.get_state()}


def set_rng_state(state: Dict[str, Any]) -> None:
    import random

    if state:
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
