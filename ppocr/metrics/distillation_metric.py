"""Metrics of every sub-model of a DistillationModel, from DistillationCTCLabelDecode / DistillationDBPostProcess
output (``{sub-model name: decoded}``)."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Optional, Sequence

from ppocr.utils.registry import METRICS, ConfigError


@METRICS.register()
class DistillationMetric:
    """One ``base_metric_name`` metric (RecMetric, DetMetric, ...) per sub-model.

    ``get_metric()`` reports the ``key`` sub-model's figures under their plain names (``acc``, ``hmean``), so
    ``main_indicator`` — and so best-model tracking — follows that model, and every other sub-model's under
    ``<name>_<figure>`` (``Teacher_acc``), as PaddleOCR logs them. Without ``key`` the first sub-model in the
    predictions is the one tracked. ``is_filter`` / ``ignore_space`` go to the base metric when set.
    """

    def __init__(
        self,
        base_metric_name: str,
        main_indicator: str,
        key: Optional[str] = None,
        is_filter: Optional[bool] = None,
        ignore_space: Optional[bool] = None,
    ):
        target = METRICS.get(base_metric_name, "Metric.base_metric_name")
        self.base_config: Dict[str, Any] = {"name": base_metric_name, "main_indicator": main_indicator}
        params = inspect.signature(target).parameters
        for option, value in (("is_filter", is_filter), ("ignore_space", ignore_space)):
            if value is None:
                continue
            if option not in params:
                raise ConfigError(f"key '{option}' does not apply to base metric {base_metric_name}", "Metric")
            self.base_config[option] = value
        METRICS.check(base_metric_name, {k: v for k, v in self.base_config.items() if k != "name"}, "Metric")
        self.main_indicator = main_indicator
        self.key = key
        self.metrics: Dict[str, Any] = {}

    def _metric(self, model_name: str) -> Any:
        if model_name not in self.metrics:
            self.metrics[model_name] = METRICS.build(dict(self.base_config), where="Metric")
        return self.metrics[model_name]

    def __call__(self, post_result: Dict[str, Any], batch: Optional[Sequence[Any]] = None) -> None:
        if not isinstance(post_result, dict):
            raise ValueError("DistillationMetric needs {sub-model name: result} from a Distillation* postprocess, "
                             f"got {type(post_result).__name__}")
        if self.key is not None and self.key not in post_result:
            raise KeyError(f"DistillationMetric key {self.key!r} is not among the decoded sub-models "
                           f"{sorted(post_result)}; add it to PostProcess.model_name")
        for model_name, result in post_result.items():
            self._metric(model_name)(result, batch)

    def get_metric(self) -> Dict[str, float]:
        """Figures since the last call (each base metric resets)."""
        tracked = self.key if self.key is not None else next(iter(self.metrics), None)
        figures: Dict[str, float] = dict(self.metrics[tracked].get_metric()) if tracked in self.metrics else {}
        for model_name, metric in self.metrics.items():
            if model_name != tracked:
                figures.update({f"{model_name}_{name}": value for name, value in metric.get_metric().items()})
        return figures

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()
