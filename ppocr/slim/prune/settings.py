"""The ``Prune`` config section: names follow NVIDIA TAO's prune settings, criteria PaddleSlim's filter pruners."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from ppocr.utils.registry import ConfigError, closest

CRITERIA = ("fpgm", "l1", "l2")
MODES = ("amount", "threshold", "experimental_hybrid")
NORMALIZERS = ("max", "L2")
EQUALIZATION = ("union", "intersection", "arithmetic_mean", "geometric_mean")


@dataclasses.dataclass
class PruneSettings:
    """How many filters to remove and which.

    ``mode`` amount: each layer loses ``amount`` of its filters; threshold: filters whose normalised
    importance is below ``threshold`` go; experimental_hybrid: one importance threshold for the whole
    model, set so that ``amount`` of all prunable filters fall below it. Kept counts are rounded up to
    a multiple of ``granularity`` and never go below ``min_num_filters``. ``ratios`` maps layer names
    (glob patterns) to their own amount. ``pruned_params``/``pruned_flops`` ask for a whole-model
    reduction instead: per-layer ratios come from the sensitivity table (``use_sensitivity``) or one
    uniform amount is searched.
    """

    criterion: str = "fpgm"
    mode: str = "amount"
    amount: Optional[float] = None
    threshold: float = 0.1
    normalizer: str = "max"
    equalization_criterion: str = "union"
    granularity: int = 8
    min_num_filters: int = 16
    excluded_layers: List[str] = dataclasses.field(default_factory=list)
    ratios: Dict[str, float] = dataclasses.field(default_factory=dict)
    pruned_params: Optional[float] = None
    pruned_flops: Optional[float] = None
    use_sensitivity: bool = True
    sensitivity_ratios: List[float] = dataclasses.field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    sensitivity_file: Optional[str] = None
    input_shape: Optional[List[int]] = None
    export: bool = False

    @classmethod
    def from_config(cls, section: Optional[Dict[str, Any]], where: str = "Prune") -> "PruneSettings":
        """Check every key and value of the section; errors name ``Prune.<key>``."""
        section = dict(section or {})
        if "raw_prune_score" in section:  # TAO's name for the criterion
            if "criterion" in section:
                raise ConfigError("set either 'criterion' or TAO's 'raw_prune_score', not both", where)
            section["criterion"] = section.pop("raw_prune_score")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in section:
            if key not in fields:
                match = closest(key, list(fields))
                raise ConfigError(f"unknown key '{key}'" + (f"; did you mean '{match}'?" if match else ""), where)
        # an empty YAML value means "use the default"
        settings = cls(**{k: v for k, v in section.items() if v is not None})
        settings.validate(where)
        return settings

    def validate(self, where: str = "Prune") -> None:
        def fail(key: str, expected: str) -> None:
            raise ConfigError(f"must be {expected}, got {getattr(self, key)!r}", f"{where}.{key}")

        if isinstance(self.criterion, str) and self.criterion.lower() in CRITERIA:
            self.criterion = self.criterion.lower()
        else:
            fail("criterion", " or ".join(CRITERIA))
        if self.mode not in MODES:
            fail("mode", " or ".join(MODES))
        if self.normalizer not in NORMALIZERS:
            fail("normalizer", " or ".join(NORMALIZERS))
        if self.equalization_criterion not in EQUALIZATION:
            fail("equalization_criterion", " or ".join(EQUALIZATION))
        if self.amount is not None and not _is_fraction(self.amount):
            fail("amount", "a number in [0, 1)")
        if not _is_number(self.threshold) or self.threshold < 0:
            fail("threshold", "a number >= 0")
        for key in ("granularity", "min_num_filters"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "granularity" else 0):
                fail(key, "an integer >= 1" if key == "granularity" else "an integer >= 0")
        if not isinstance(self.excluded_layers, list) or not all(isinstance(x, str) for x in self.excluded_layers):
            fail("excluded_layers", "a list of layer names or glob patterns")
        if not isinstance(self.ratios, dict) or not all(
                isinstance(k, str) and _is_fraction(v) for k, v in self.ratios.items()):
            fail("ratios", "a mapping of layer name (or glob pattern) to a ratio in [0, 1)")
        for key in ("pruned_params", "pruned_flops"):
            value = getattr(self, key)
            if value is not None and not (_is_number(value) and 0 < value < 1):
                fail(key, "a fraction in (0, 1)")
        if self.pruned_params is not None and self.pruned_flops is not None:
            raise ConfigError("set pruned_params or pruned_flops, not both", where)
        if not isinstance(self.use_sensitivity, bool):
            fail("use_sensitivity", "true or false")
        ratios = self.sensitivity_ratios
        if not isinstance(ratios, list) or not ratios or not all(_is_fraction(r) and r > 0 for r in ratios):
            fail("sensitivity_ratios", "a non-empty list of ratios in (0, 1)")
        self.sensitivity_ratios = sorted(float(r) for r in ratios)
        if self.sensitivity_file is not None and not isinstance(self.sensitivity_file, str):
            fail("sensitivity_file", "a path (.csv or .json)")
        shape = self.input_shape
        if shape is not None and not (isinstance(shape, list) and len(shape) == 3
                                      and all(isinstance(s, int) and s > 0 for s in shape)):
            fail("input_shape", "[channels, height, width] of positive integers")
        if not isinstance(self.export, bool):
            fail("export", "true or false")

    def amount_required(self, where: str = "Prune") -> float:
        if self.amount is None:
            raise ConfigError(f"mode '{self.mode}' needs an amount (a ratio in [0, 1))", f"{where}.amount")
        return float(self.amount)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_fraction(value: Any) -> bool:
    return _is_number(value) and 0 <= value < 1
