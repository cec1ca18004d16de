"""Numpy views of model outputs and batch items, for code that must not import paddle (post-processing)."""
from __future__ import annotations

from typing import Any

import numpy as np


def as_numpy(value: Any) -> np.ndarray:
    """A paddle Tensor (anything with ``.numpy()``), array or nested list as a numpy array."""
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    return np.asarray(value)
