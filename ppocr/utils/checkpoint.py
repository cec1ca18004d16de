"""Checkpoints: ``<prefix>.pdparams`` + ``.pdopt`` + ``.states`` (+ ``.pdema`` with model EMA, ``.prune.json``
for a pruned model), PaddleOCR's file names, replaced as one set and resumed exactly.

A save writes every file under a temporary name, then commits with ONE atomic rename: a small journal
``.<name>.checkpoint.json`` naming the new files. Only then are they renamed over the old ones and the
journal removed. A kill before the commit leaves the old set (plus temporary files, cleaned later); a kill
after it is rolled forward by the next save, by ``recover_checkpoints`` at the start of training, or by
any load once the writer is gone; a load while the writer is still renaming reads the new files where
they are. Either way each prefix loads as one complete set, old or new.

The files of one save also carry one random token, so a set mixed by hand is refused on resume.
With an encryption key every file is encrypted (``ppocr.utils.crypto``).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pickle
import re
import uuid
from typing import Any, Dict, List, Optional, Tuple

import paddle

from ppocr.utils import crypto
from ppocr.utils.errors import CheckpointError
from ppocr.utils.io import atomic_write, clean_stale_temps, fsync_dir, make_temp_file, pid_alive
from ppocr.utils.paddleocr_checkpoint import clean_states, restore_optimizer

logger = logging.getLogger(__name__)

TOKEN_KEY = "@checkpoint_token"
PLAN_SUFFIX = ".prune.json"  # ppocr.slim.prune.plan.plan_path
SET_SUFFIXES = (".pdparams", ".pdopt", ".pdema", ".states", PLAN_SUFFIX)
JOURNAL_SUFFIX = ".checkpoint.json"
# Names shown when a summary lists parameters.
EXAMPLES = 3


def _strip_suffix(path: str) -> str:
    for suffix in SET_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _journal_path(prefix: str) -> str:
    directory, name = os.path.split(os.path.abspath(prefix))
    return os.path.join(directory, f".{name}{JOURNAL_SUFFIX}")


def _read_journal(prefix: str) -> Optional[Dict[str, Any]]:
    """The commit record of a save whose renames may be unfinished, or None."""
    path = _journal_path(prefix)
    try:
        with open(path, encoding="utf-8") as f:
            journal = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint journal '{path}': {exc}") from None
    files, remove = journal.get("files"), journal.get("remove")
    if (not isinstance(files, dict) or not isinstance(remove, list)
            or not all(s in SET_SUFFIXES and isinstance(n, str) and n == os.path.basename(n) and n.startswith(".")
                       for s, n in files.items())
            or not all(s in SET_SUFFIXES for s in remove)):
        raise CheckpointError(f"checkpoint journal '{path}' is malformed; delete it and the checkpoint "
                              f"'{prefix}' keeps the files it has")
    return journal


def _roll_forward(prefix: str, journal: Dict[str, Any]) -> None:
    """Put every file of a committed save in place, then drop the journal (safe to repeat after a kill)."""
    directory = os.path.dirname(os.path.abspath(prefix))
    for suffix, name in journal["files"].items():
        with contextlib.suppress(FileNotFoundError):  # already renamed
            os.replace(os.path.join(directory, name), prefix + suffix)
    for suffix in journal["remove"]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(prefix + suffix)
    fsync_dir(directory)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_journal_path(prefix))


def recover_checkpoint(prefix: str) -> bool:
    """Finish the renames of a save of ``prefix`` killed after its commit; False when there is none, its
    writer still runs, or the folder is read-only (loads then read the committed files where they are)."""
    journal = _read_journal(prefix)
    if journal is None or pid_alive(int(journal.get("pid", -1))):
        return False
    try:
        _roll_forward(prefix, journal)
    except OSError:  # a read-only folder or file system
        return False
    logger.warning("completed the interrupted save of checkpoint %s", prefix)
    return True


def recover_checkpoints(folder: str) -> None:
    """Before training writes into ``folder``: finish interrupted checkpoint saves, then remove the
    temporary files that killed writers left there."""
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        if name.startswith(".") and name.endswith(JOURNAL_SUFFIX):
            recover_checkpoint(os.path.join(folder, name[1:-len(JOURNAL_SUFFIX)]))
    clean_stale_temps(folder)


def _set_files(prefix: str) -> Dict[str, Tuple[str, str]]:
    """``{suffix: (path to read, final path)}`` of the set's current files: the committed new file where
    a save's renames are still running, else the file under its final name."""
    recover_checkpoint(prefix)
    journal = _read_journal(prefix)
    directory = os.path.dirname(os.path.abspath(prefix))
    files = {}
    for suffix in SET_SUFFIXES:
        final = prefix + suffix
        if journal is not None and suffix in journal["files"]:
            staged = os.path.join(directory, journal["files"][suffix])
            files[suffix] = (staged if os.path.exists(staged) else final, final)
        elif journal is not None and suffix in journal["remove"]:
            continue
        elif os.path.isfile(final):
            files[suffix] = (final, final)
    return files


def _read(entry: Tuple[str, str], key: Optional[str]) -> bytes:
    path, final = entry
    try:
        try:
            return crypto.read_file(path, key)
        except FileNotFoundError:
            if path == final:
                raise
            return crypto.read_file(final, key)  # renamed into place meanwhile
    except crypto.EncryptionError as exc:
        raise CheckpointError(str(exc)) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read '{final}': {exc}") from None


def _load(entry: Tuple[str, str], key: Optional[str] = None) -> Dict[str, Any]:
    data = _read(entry, key)
    try:
        return paddle.load(io.BytesIO(data))
    except Exception as exc:
        raise CheckpointError(f"cannot read '{entry[1]}': {exc}") from None


def _stage(data: bytes, path: str, key: Optional[str]) -> str:
    """Write ``data`` (encrypted with ``key``) beside ``path`` under a temporary name."""
    fd, tmp = make_temp_file(path)
    with os.fdopen(fd, "wb") as f:
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
    """Replace the set at ``prefix`` as a whole (see the module docstring): stage, commit, rename.

    Files of the old set the new one does not have (``.pdopt`` without optimizer, ``.pdema``, a prune
    plan) are removed with the commit. A pruned model writes its channel plan so it can be rebuilt.
    """
    from ppocr.slim.prune.plan import model_plan

    directory = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(directory, exist_ok=True)
    journal = _read_journal(prefix)
    if journal is not None:
        _roll_forward(prefix, journal)
    token = uuid.uuid4().hex
    parts = [(".pdparams", dict(model.state_dict()))]
    if optimizer is not None:
        parts.append((".pdopt", dict(optimizer.state_dict())))
    if ema_params is not None:
        parts.append((".pdema", dict(ema_params)))
    staged: Dict[str, str] = {}
    try:
        for suffix, obj in parts:
            obj[TOKEN_KEY] = token
            staged[suffix] = _stage(_paddle_bytes(obj), prefix + suffix, key)
        plan = model_plan(model)
        if plan is not None:
            staged[PLAN_SUFFIX] = _stage(json.dumps(plan).encode("utf-8"), prefix + PLAN_SUFFIX, key)
        staged[".states"] = _stage(pickle.dumps(dict(states, **{TOKEN_KEY: token})), prefix + ".states", key)
        journal = {"token": token, "pid": os.getpid(),
                   "files": {suffix: os.path.basename(tmp) for suffix, tmp in staged.items()},
                   "remove": [s for s in SET_SUFFIXES if s not in staged and os.path.lexists(prefix + s)]}
        with atomic_write(_journal_path(prefix)) as f:  # the commit
            json.dump(journal, f)
        fsync_dir(directory)
    except BaseException:
        for tmp in staged.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    _roll_forward(prefix, journal)


def _params_entry(prefix: str, files: Dict[str, Tuple[str, str]], prefer_ema: bool) -> Tuple[str, str]:
    if prefer_ema and ".pdema" in files:
        logger.info("using the EMA weights of %s", prefix)
        return files[".pdema"]
    if ".pdparams" not in files:
        raise CheckpointError(f"weights file '{prefix}.pdparams' not found")
    return files[".pdparams"]


def _load_params(path: str, key: Optional[str], prefer_ema: bool) -> Tuple[str, Dict[str, Any]]:
    prefix = _strip_suffix(path)
    entry = _params_entry(prefix, _set_files(prefix), prefer_ema)
    params = _load(entry, key)
    if not isinstance(params, dict):
        raise CheckpointError(f"'{entry[1]}' does not hold a parameter dict")
    params.pop(TOKEN_KEY, None)
    return entry[1], params


def load_params_file(path: str, key: Optional[str] = None, prefer_ema: bool = False) -> Dict[str, Any]:
    """Weights dict from ``path`` (with or without ``.pdparams``), without the token.

    ``prefer_ema`` takes the moving-average weights when the checkpoint has them (eval and export).
    """
    return _load_params(path, key, prefer_ema)[1]


def match_rep_form(model: paddle.nn.Layer, params: Dict[str, Any]) -> None:
    """Fuse the model's re-parameterisable layers when the weights hold them fused (e.g. imported from a
    deployed model), so the weights load by key; the model then trains in the fused form."""
    from ppocr.modeling.reparam import fuse_rep_layers, has_unfused_layers, params_are_fused

    if has_unfused_layers(model) and params_are_fused(params):
        logger.info("the weights hold re-parameterisable layers in fused form: fusing the model to match")
        fuse_rep_layers(model)


def prepare_model(model: paddle.nn.Layer, weights: Optional[str], key: Optional[str] = None) -> paddle.nn.Layer:
    """Give a freshly built model the shapes of the checkpoint it is about to load.

    A pruned checkpoint carries its channel plan beside the weights; a checkpoint with fused
    re-parameterisable layers makes the model fuse them. Every place that loads weights (training, export,
    checkpoint prediction) calls this first.
    """
    if weights:
        from ppocr.modeling.reparam import has_unfused_layers
        from ppocr.slim.prune.plan import apply_plan_file

        prefix = _strip_suffix(weights)
        recover_checkpoint(prefix)
        apply_plan_file(model, prefix, key)
        if has_unfused_layers(model) and os.path.isfile(prefix + ".pdparams"):
            match_rep_form(model, load_params_file(weights, key))
    return model


def _examples(names: List[str]) -> str:
    shown = ", ".join(names[:EXAMPLES])
    return f"{shown}, ..." if len(names) > EXAMPLES else shown


def load_pretrained(model: paddle.nn.Layer, path: str, key: Optional[str] = None,
                    prefer_ema: bool = False, skip: Optional[str] = None) -> Dict[str, list]:
    """Load the parameters whose names and shapes match; log one summary of what was left out.

    A file that matches none of the model's parameters (say a det checkpoint for a rec model) is an error:
    training would silently start from scratch. ``skip`` is a regular expression (``re.search``) of parameter
    names left at their initial values, for transfer learning to other classes (TAO's
    ``skip_checkpoint_variables``).
    """
    file, params = _load_params(path, key, prefer_ema)
    match_rep_form(model, params)
    own = model.state_dict()
    report = {"loaded": [], "missing": [], "unexpected": [], "shape_mismatch": [], "skipped": []}
    pattern = None
    if skip:
        try:
            pattern = re.compile(skip)
        except re.error as exc:
            raise CheckpointError(f"Global.skip_checkpoint_variables {skip!r} is not a valid regular expression: "
                                  f"{exc}") from None
    to_load = {}
    for name, value in own.items():
        if pattern is not None and pattern.search(name):
            report["skipped"].append(name)
            continue
        if name not in params:
            report["missing"].append(name)
            continue
        src_shape = list(params[name].shape)
        if src_shape != list(value.shape):
            report["shape_mismatch"].append(f"{name}: file {src_shape} vs model {list(value.shape)}")
            continue
        to_load[name] = params[name]
        report["loaded"].append(name)
    report["unexpected"] = [name for name in params if name not in own]
    if own and not report["loaded"]:
        detail = f"; {len(report['shape_mismatch'])} differ in shape, e.g. {report['shape_mismatch'][0]}" \
            if report["shape_mismatch"] else ""
        raise CheckpointError(
            f"pretrained weights '{file}' match 0 of {len(own)} parameters of the model (the file has "
            f"{len(params)}, e.g. {_examples(list(params))}; the model expects e.g. {_examples(list(own))}{detail}); "
            "is it a checkpoint of another model type or architecture?")
    # parameters not loaded keep their current values (summarised below, not re-warned by paddle)
    model.set_state_dict({name: to_load.get(name, value) for name, value in own.items()})
    left_out = [f"{label}: {len(report[kind])} (e.g. {_examples(report[kind])})"
                for kind, label in (("missing", "not in the file"), ("shape_mismatch", "shape mismatch"),
                                    ("unexpected", "unused from the file")) if report[kind]]
    logger.log(logging.WARNING if left_out else logging.INFO, "loaded %d/%d parameters from %s%s",
               len(report["loaded"]), len(own), file, "; " + "; ".join(left_out) if left_out else "")
    if pattern is not None:
        if report["skipped"]:
            logger.info("not loaded (skip_checkpoint_variables %r): %d parameters", skip, len(report["skipped"]))
        else:
            logger.warning("skip_checkpoint_variables %r matches no parameter name (e.g. %s)", skip, next(iter(own)))
    return report


def load_checkpoint(model: paddle.nn.Layer, optimizer: Optional[paddle.optimizer.Optimizer],
                    path: str, key: Optional[str] = None) -> Dict[str, Any]:
    """Restore model, optimizer (with its lr scheduler) and return the saved training states.

    A ``.pdema`` file's weights come back in ``states["ema_params"]``.
    """
    prefix = _strip_suffix(path)
    files = _set_files(prefix)
    if ".states" not in files:
        raise CheckpointError(f"checkpoint '{prefix}' has no .states file (expected {prefix}.states)")
    try:
        states = pickle.loads(_read(files[".states"], key))
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"cannot read '{prefix}.states': {exc}") from None
    token = states.pop(TOKEN_KEY, None)
    if token is None:  # written by PaddleOCR's trainer
        states = clean_states(states)
    if ".pdparams" not in files:
        raise CheckpointError(f"checkpoint '{prefix}' has no .pdparams file")
    params = _load(files[".pdparams"], key)
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
        if ".pdopt" in files:
            opt_state = _load(files[".pdopt"], key)
            if opt_state.pop(TOKEN_KEY, None) != token:
                raise CheckpointError(f"checkpoint '{prefix}' is inconsistent: .pdopt comes from a different save")
            if not restore_optimizer(optimizer, opt_state, prefix):
                states["lr_state_missing"] = True
        else:
            logger.warning("checkpoint %s has no optimizer state; optimizer starts fresh", prefix)
            states["lr_state_missing"] = True
    if ".pdema" in files:
        ema_params = _load(files[".pdema"], key)
        if ema_params.pop(TOKEN_KEY, None) != token:
            raise CheckpointError(f"checkpoint '{prefix}' is inconsistent: .pdema comes from a different save")
        states["ema_params"] = ema_params
    logger.info("resumed from %s (epoch %s, step %s)", prefix, states.get("epoch"), states.get("global_step"))
    return states
