"""The pruned channel plan stored beside a checkpoint, so a freshly built model can take its shapes.

``<prefix>.prune.json`` holds one *stage* per pruning run (a model may be pruned again after retraining);
each stage lists the layer edits of :mod:`ppocr.slim.prune.surgery`. Applying the stages in order to a
model built from the same Architecture gives exactly the pruned shapes, after which the checkpoint's
weights load normally. A model carrying a plan keeps it in ``model._prune_plan`` so that every
checkpoint saved from it (latest, best_accuracy, iter_epoch_N) carries the plan too.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, Optional

import paddle.nn as nn

from ppocr.slim.prune.surgery import PrunePlanError, apply_edits
from ppocr.utils import crypto
from ppocr.utils.io import atomic_write

logger = logging.getLogger(__name__)

PLAN_SUFFIX = ".prune.json"
PLAN_FORMAT = "ppocr-prune-plan"
PLAN_VERSION = 1
PLAN_ATTR = "_prune_plan"

Plan = Dict[str, Any]


def plan_path(prefix: str) -> str:
    return prefix + PLAN_SUFFIX


def new_plan() -> Plan:
    return {"format": PLAN_FORMAT, "version": PLAN_VERSION, "stages": []}


def model_plan(model: nn.Layer) -> Optional[Plan]:
    return getattr(model, PLAN_ATTR, None)


def record_stage(model: nn.Layer, stage: Dict[str, Any]) -> Plan:
    """Append a pruning stage to the plan the model carries (starting one if needed)."""
    plan = model_plan(model) or new_plan()
    plan = dict(plan, stages=list(plan["stages"]) + [stage])
    setattr(model, PLAN_ATTR, plan)
    return plan


def save_plan(plan: Plan, prefix: str, key: Optional[str] = None) -> str:
    """Write ``<prefix>.prune.json`` atomically (encrypted with ``key`` like the checkpoint files)."""
    path = plan_path(prefix)
    data = json.dumps(plan, indent=1).encode("utf-8")
    with atomic_write(path, "wb") as f:
        f.write(crypto.encrypt_bytes(data, key) if key else data)
    return path


def load_plan(prefix: str, key: Optional[str] = None) -> Optional[Plan]:
    """The plan stored beside ``prefix``, or None when the checkpoint is not pruned."""
    path = plan_path(prefix)
    if not os.path.isfile(path):
        return None
    try:
        plan = json.loads(crypto.read_file(path, key).decode("utf-8"))
    except crypto.EncryptionError as exc:
        raise PrunePlanError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise PrunePlanError(f"cannot read prune plan '{path}': {exc}") from None
    check_plan(plan, path)
    return plan


def check_plan(plan: Any, where: str) -> None:
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise PrunePlanError(f"'{where}' is not a prune plan (expected format '{PLAN_FORMAT}')")
    if plan.get("version") != PLAN_VERSION:
        raise PrunePlanError(f"'{where}': prune plan version {plan.get('version')!r} is not supported "
                             f"(expected {PLAN_VERSION})")
    stages = plan.get("stages")
    if not isinstance(stages, list) or not all(isinstance(s, dict) and isinstance(s.get("layers"), dict)
                                               for s in stages):
        raise PrunePlanError(f"'{where}': 'stages' must be a list of objects with 'layers'")


def apply_plan(model: nn.Layer, plan: Plan, where: str = "prune plan") -> nn.Layer:
    """Give a freshly built model the pruned shapes (weights are whatever it had; load them next)."""
    check_plan(plan, where)
    if model_plan(model) is not None:
        raise PrunePlanError(f"{where}: the model already carries a prune plan; build a fresh model to apply one")
    for index, stage in enumerate(plan["stages"]):
        apply_edits(model, stage["layers"], source=f"{where} (stage {index + 1})")
    setattr(model, PLAN_ATTR, plan)
    return model


def apply_plan_file(model: nn.Layer, prefix: str, key: Optional[str] = None) -> nn.Layer:
    """Apply the plan stored beside a checkpoint prefix, if there is one."""
    plan = load_plan(prefix, key)
    if plan is not None:
        apply_plan(model, plan, where=plan_path(prefix))
        logger.info("applied prune plan %s (%d stage(s))", plan_path(prefix), len(plan["stages"]))
    return model
