"""Filter importance: how much a layer would lose without each of its output channels.

Norm criteria (L1, L2) assume small filters matter little. FPGM (Filter Pruning via Geometric Median)
instead treats every filter as a point and calls a filter redundant when it sits near the geometric
median of all of them, i.e. when the others can stand in for it; its score is the summed distance to
the other filters, so filters near the median score lowest and go first.
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence

import numpy as np


def filter_matrix(weight: np.ndarray, out_axis: int) -> np.ndarray:
    """One row per output channel (the filter that produces it), flattened, in float64."""
    weight = np.asarray(weight, dtype=np.float64)
    return np.moveaxis(weight, out_axis, 0).reshape(weight.shape[out_axis], -1)


def l1_scores(filters: np.ndarray) -> np.ndarray:
    return np.abs(filters).sum(axis=1)


def l2_scores(filters: np.ndarray) -> np.ndarray:
    return np.sqrt(np.square(filters).sum(axis=1))


def fpgm_scores(filters: np.ndarray) -> np.ndarray:
    """Sum of Euclidean distances from each filter to all others (low = near the geometric median)."""
    sq = np.square(filters).sum(axis=1)
    dist2 = sq[:, None] + sq[None, :] - 2.0 * filters @ filters.T
    return np.sqrt(np.maximum(dist2, 0.0)).sum(axis=1)


CRITERIA: Dict[str, Callable[[np.ndarray], np.ndarray]] = {"fpgm": fpgm_scores, "l1": l1_scores, "l2": l2_scores}


def filter_scores(weight: np.ndarray, out_axis: int, criterion: str) -> np.ndarray:
    """Importance of each output channel of one weight tensor; higher means keep."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown pruning criterion '{criterion}'; expected one of {sorted(CRITERIA)}")
    return CRITERIA[criterion](filter_matrix(weight, out_axis))


def normalize(scores: np.ndarray, normalizer: str) -> np.ndarray:
    """TAO's normalisers: ``max`` divides by the largest score, ``L2`` by the L2 norm of all scores."""
    scores = np.asarray(scores, dtype=np.float64)
    if normalizer == "max":
        denom = float(scores.max()) if scores.size else 0.0
    elif normalizer == "L2":
        denom = float(np.linalg.norm(scores))
    else:
        raise ValueError(f"unknown normalizer '{normalizer}'; expected max or L2")
    return scores / denom if denom > 0 else np.zeros_like(scores)


def equalize(per_layer: Sequence[np.ndarray], criterion: str) -> np.ndarray:
    """One score per channel for channels shared by several layers (residual adds, SE gates).

    ``union`` keeps a channel any layer values (max), ``intersection`` only what all value (min).
    """
    stack = np.stack([np.asarray(s, dtype=np.float64) for s in per_layer])
    if criterion == "union":
        return stack.max(axis=0)
    if criterion == "intersection":
        return stack.min(axis=0)
    if criterion == "arithmetic_mean":
        return stack.mean(axis=0)
    if criterion == "geometric_mean":
        return np.exp(np.log(np.maximum(stack, 1e-12)).mean(axis=0))
    raise ValueError(f"unknown equalization criterion '{criterion}'")
