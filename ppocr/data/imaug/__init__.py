"""Data operators: each takes the item dict and returns it (changed) or None to drop the item."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional

from ppocr.utils.registry import OPERATORS, ConfigError, import_submodules

# Global keys an operator receives when its own config does not set them (PaddleOCR behaviour).
GLOBAL_KEYS = ("character_dict_path", "use_space_char", "max_text_length", "label_list")


def _operator_spec(entry: Any, where: str):
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ConfigError(f"each transform must be a one-key mapping {{OpName: {{...}}}}, got {entry!r}", where)
    (name, kwargs), = entry.items()
    kwargs = dict(kwargs or {})
    if not isinstance(kwargs, dict):
        raise ConfigError(f"arguments of {name} must be a mapping, got {kwargs!r}", where)
    return name, kwargs


def operator_kwargs(entry: Any, global_config: Optional[Dict[str, Any]], where: str):
    """Name and keyword arguments for one transform entry, with Global keys filled in."""
    name, kwargs = _operator_spec(entry, where)
    params = inspect.signature(OPERATORS.get(name, where)).parameters
    for key in GLOBAL_KEYS:
        if key in params and key not in kwargs and global_config and key in global_config:
            kwargs[key] = global_config[key]
    return name, kwargs


def create_operators(op_configs: Optional[List[Any]], global_config: Optional[Dict[str, Any]] = None,
                     where: str = "transforms") -> List[Callable]:
    ops = []
    for index, entry in enumerate(op_configs or []):
        name, kwargs = operator_kwargs(entry, global_config, f"{where}[{index}]")
        ops.append(OPERATORS.build({"name": name, **kwargs}, where=f"{where}[{index}].{name}"))
    return ops


def transform(data: Dict[str, Any], ops: List[Callable]) -> Optional[Any]:
    """Run the operators in order; stop at the first that drops the item."""
    for op in ops:
        data = op(data)
        if data is None:
            return None
    return data


import_submodules(__name__)
