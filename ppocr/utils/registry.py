"""Name → class registries, so YAML configs can assemble components by name.

A component is built from a dict ``{"name": X, **kwargs}``. Keyword arguments are checked
against the constructor's signature before the call, so a typo in a config becomes an error
naming the key (and the closest valid one) instead of a TypeError deep inside a constructor.
"""
from __future__ import annotations

import difflib
import inspect
import typing
from typing import Any, Callable, Dict, Iterable, List, Optional


class ConfigError(ValueError):
    """A config names something that does not exist or gives a value of the wrong type.

    ``where`` is the dotted config path (e.g. ``Architecture.Backbone``); tools prefix the
    config file name when they report it.
    """

    def __init__(self, message: str, where: str = ""):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


def closest(name: str, candidates: Iterable[str]) -> Optional[str]:
    matches = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    hint = closest(name, known)
    msg = f"unknown {kind} '{name}'; known: {', '.join(known) if known else '(none)'}"
    if hint:
        msg += f"; did you mean '{hint}'?"
    return msg


def prefixed_model_name(name: str, prefix: str, known: Iterable[str], kind: str) -> str:
    """``<prefix>x`` for ``<prefix>x``, ``<prefix with _>x`` or ``x`` (``efficientnet-b0``, ``efficientnet_b0``,
    ``b0``); an unknown one is a ConfigError at ``model_name`` listing ``known``."""
    key = str(name).lower().replace("_", "-")
    if not key.startswith(prefix):
        key = prefix + key
    if key not in known:
        raise ConfigError(unknown_name_message(kind, name, known), "model_name")
    return key


_SIMPLE_TYPES = (bool, int, float, str, list, tuple, dict)


def _value_matches(value: Any, annotation: Any) -> bool:
    """Loose runtime check of a YAML value against a type hint; unknown hints always pass."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        return any(_value_matches(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin in (list, tuple, List, typing.Sequence):
        return isinstance(value, (list, tuple))
    if origin in (dict, Dict):
        return isinstance(value, dict)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation in _SIMPLE_TYPES:
        if annotation in (list, tuple):
            return isinstance(value, (list, tuple))
        return isinstance(value, annotation)
    return True


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "")


class Registry:
    """A named table of components; ``@REG.register()`` adds a class or function."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, Callable] = {}

    def register(self, obj: Optional[Callable] = None, name: Optional[str] = None):
        def add(target: Callable) -> Callable:
            key = name or target.__name__
            if key in self._items and self._items[key] is not target:
                raise KeyError(f"{self.kind} '{key}' is registered twice")
            self._items[key] = target
            return target

        return add(obj) if obj is not None else add

    def names(self) -> List[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def get(self, name: str, where: str = "") -> Callable:
        if name not in self._items:
            raise ConfigError(unknown_name_message(self.kind, name, self._items), where)
        return self._items[name]

    def check(self, name: str, kwargs: Dict[str, Any], where: str = "", extra: Iterable[str] = ()) -> None:
        """Raise ConfigError for kwargs the constructor does not take or values of a wrong type.

        ``extra`` names arguments the builder passes itself, so they are not reported as missing.
        """
        target = self.get(name, where)
        signature = inspect.signature(target)
        params = signature.parameters
        accepts_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        try:
            hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
        except Exception:  # unresolvable forward references: skip type checks, keep name checks
            hints = {}
        allowed = [k for k, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        for key, value in kwargs.items():
            if key not in params:
                if accepts_var_kw:
                    continue
                hint = closest(key, allowed)
                msg = f"unknown key '{key}' for {self.kind} {name}; allowed: {', '.join(allowed) or '(none)'}"
                if hint:
                    msg += f"; did you mean '{hint}'?"
                raise ConfigError(msg, where)
            annotation = hints.get(key, inspect.Parameter.empty)
            if not _value_matches(value, annotation):
                raise ConfigError(
                    f"key '{key}' of {self.kind} {name} must be {_type_name(annotation)}, "
                    f"got {type(value).__name__} {value!r}",
                    where,
                )
        missing = [
            k
            for k, p in params.items()
            if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and k not in kwargs
            and k not in extra
            and k != "self"
        ]
        if missing:
            raise ConfigError(f"{self.kind} {name} needs key(s): {', '.join(missing)}", where)

    def build(self, config: Dict[str, Any], where: str = "", **extra: Any) -> Any:
        """Build from ``{"name": X, **kwargs}``; ``extra`` are arguments the framework supplies."""
        if not isinstance(config, dict) or "name" not in config:
            raise ConfigError(f"a {self.kind} needs a 'name' key, got {config!r}", where)
        kwargs = {k: v for k, v in config.items() if k != "name"}
        self.check(config["name"], kwargs, where, extra=extra.keys())
        kwargs.update(extra)
        return self.get(config["name"], where)(**kwargs)


TRANSFORMS = Registry("transform")
BACKBONES = Registry("backbone")
NECKS = Registry("neck")
HEADS = Registry("head")
ARCHITECTURES = Registry("architecture")
LOSSES = Registry("loss")
POSTPROCESS = Registry("postprocess")
METRICS = Registry("metric")
OPERATORS = Registry("operator")
DATASETS = Registry("dataset")
SAMPLERS = Registry("sampler")
OPTIMIZERS = Registry("optimizer")
LR_SCHEDULERS = Registry("lr scheduler")


def import_submodules(package_name: str) -> None:
    """Import every module of a package so their ``@register`` decorators run."""
    import importlib
    import pkgutil

    package = importlib.import_module(package_name)
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package_name}.{info.name}")
