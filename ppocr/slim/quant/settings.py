"""The ``Quant`` config section. Key names follow PaddleOCR's quantization script (which fed PaddleSlim)."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from ppocr.utils.registry import ConfigError, closest

MODES = ("qat", "ptq")
ALGORITHMS = ("abs_max", "min_max", "KL")
ACTIVATION_PREPROCESS = ("PACT", None)
LAYER_TYPES = ("Conv2D", "Linear")


@dataclasses.dataclass
class QuantSettings:
    """How a model is quantized.

    QAT (``mode: qat``) fake-quantizes weights per output channel (abs-max) and layer inputs with a
    moving-average abs-max scale (``moving_rate``); ``activation_preprocess_type: PACT`` adds a learnable
    clip (initial ``pact_init_alpha``, L2-decayed by ``pact_alpha_decay``) after every ReLU and hard-swish.
    PTQ (``mode: ptq``) runs up to ``batch_nums`` calibration batches, of ``batch_size`` images from
    ``calibration_dir`` or as the Eval loader batches them, and picks activation ranges with ``algorithm``:
    ``abs_max`` (largest magnitude), ``min_max`` (observed range with a zero point) or ``KL``
    (the clipping threshold whose ``hist_bins``-bin histogram loses the least information).
    ``onnx`` also writes a QDQ ``inference.onnx`` next to the exported model.
    """

    mode: str = "qat"
    quantizable_layer_type: List[str] = dataclasses.field(default_factory=lambda: list(LAYER_TYPES))
    weight_bits: int = 8
    activation_bits: int = 8
    moving_rate: float = 0.9
    activation_preprocess_type: Optional[str] = "PACT"
    pact_init_alpha: float = 20.0
    pact_alpha_decay: float = 2.0e-5
    algorithm: str = "KL"
    calibration_dir: Optional[str] = None
    batch_nums: int = 10
    batch_size: int = 8
    hist_bins: int = 2048
    onnx: bool = True

    @classmethod
    def from_config(cls, section: Optional[Dict[str, Any]], where: str = "Quant") -> "QuantSettings":
        """Check every key and value; errors name ``Quant.<key>``. An empty value means the default,
        except ``activation_preprocess_type`` where null turns PACT off."""
        section = dict(section or {})
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in section:
            if key not in fields:
                match = closest(key, sorted(fields))
                raise ConfigError(f"unknown key '{key}'" + (f"; did you mean '{match}'?" if match else ""), where)
        kwargs = {k: v for k, v in section.items() if v is not None or k == "activation_preprocess_type"}
        settings = cls(**kwargs)
        settings.validate(where)
        return settings

    def validate(self, where: str = "Quant") -> None:
        def fail(key: str, expected: str) -> None:
            raise ConfigError(f"must be {expected}, got {getattr(self, key)!r}", f"{where}.{key}")

        if self.mode not in MODES:
            fail("mode", " or ".join(MODES))
        if self.algorithm not in ALGORITHMS:
            fail("algorithm", " or ".join(ALGORITHMS))
        if self.activation_preprocess_type not in ACTIVATION_PREPROCESS:
            fail("activation_preprocess_type", "PACT or null")
        if (not isinstance(self.quantizable_layer_type, list) or not self.quantizable_layer_type
                or any(t not in LAYER_TYPES for t in self.quantizable_layer_type)):
            fail("quantizable_layer_type", f"a non-empty list of {', '.join(LAYER_TYPES)}")
        for key in ("weight_bits", "activation_bits"):
            if not _is_int(getattr(self, key)) or not 2 <= getattr(self, key) <= 8:
                fail(key, "an integer from 2 to 8")
        if not _is_number(self.moving_rate) or not 0 < self.moving_rate < 1:
            fail("moving_rate", "a number in (0, 1)")
        if not _is_number(self.pact_init_alpha) or self.pact_init_alpha <= 0:
            fail("pact_init_alpha", "a number > 0")
        if not _is_number(self.pact_alpha_decay) or self.pact_alpha_decay < 0:
            fail("pact_alpha_decay", "a number >= 0")
        for key in ("batch_nums", "batch_size"):
            if not _is_int(getattr(self, key)) or getattr(self, key) < 1:
                fail(key, "an integer >= 1")
        if not _is_int(self.hist_bins) or self.hist_bins < 256:
            fail("hist_bins", "an integer >= 256")
        if self.calibration_dir is not None and not isinstance(self.calibration_dir, str):
            fail("calibration_dir", "a folder path or null")
        if not isinstance(self.onnx, bool):
            fail("onnx", "true or false")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
