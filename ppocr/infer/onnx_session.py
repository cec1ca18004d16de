"""ONNX Runtime settings from PaddleOCR's ``--onnx_providers`` and ``--onnx_sess_options`` flags.

``--onnx_providers CUDAExecutionProvider,CPUExecutionProvider`` picks the execution providers in order;
``--onnx_sess_options intra_op_num_threads=2 graph_optimization_level=ORT_ENABLE_BASIC`` sets attributes
of ``onnxruntime.SessionOptions`` (enum values by name); a dotted name (``session.intra_op.allow_spinning=1``)
is a session config entry. PaddleOCR's default ``False`` means "not set".
"""
from __future__ import annotations

import difflib
from typing import Any, List, Optional, Sequence

_UNSET = ("", "false", "none")


def _is_unset(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, str) and value.strip().lower() in _UNSET)


def choose_providers(requested: Optional[str], default: List[Any], available: Sequence[str]) -> List[Any]:
    """The providers to use: the requested ones (each must be available here) or ``default``."""
    if _is_unset(requested):
        return default
    names = [name.strip() for name in str(requested).replace(";", ",").split(",") if name.strip()]
    missing = [name for name in names if name not in available]
    if missing:
        raise ValueError(f"onnx_providers: {', '.join(missing)} not available in this onnxruntime; "
                         f"available: {', '.join(available)}")
    return names


def _convert(ort: Any, current: Any, text: str) -> Any:
    if isinstance(current, bool):
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(f"expected True or False, got {text!r}")
        return lowered in ("true", "1")
    if isinstance(current, int) and not hasattr(current, "name"):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if hasattr(current, "name"):  # pybind enum: GraphOptimizationLevel, ExecutionMode
        enum = type(current)
        members = [name for name in dir(enum) if name.isupper() or name.startswith("ORT_")]
        if text not in members:
            raise ValueError(f"expected one of {', '.join(members)}, got {text!r}")
        return getattr(enum, text)
    return text


def apply_session_options(session_options: Any, entries: Optional[Sequence[str]]) -> None:
    """Set each ``NAME=VALUE`` of ``entries`` on ``session_options``; a bad entry is a one-line ValueError."""
    if entries is None or _is_unset(entries) or (len(entries) == 1 and _is_unset(entries[0])):
        return
    import onnxruntime as ort

    known = sorted(name for name in dir(session_options) if not name.startswith("_")
                   and not callable(getattr(session_options, name)))
    for entry in entries:
        name, sep, value = str(entry).partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"onnx_sess_options: expected NAME=VALUE, got {entry!r}")
        if "." in name:
            session_options.add_session_config_entry(name, value.strip())
            continue
        if name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            raise ValueError(f"onnx_sess_options: unknown SessionOptions attribute {name!r}"
                             + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(known)}"))
        try:
            setattr(session_options, name, _convert(ort, getattr(session_options, name), value.strip()))
        except ValueError as err:
            raise ValueError(f"onnx_sess_options: {name}: {err}") from None
