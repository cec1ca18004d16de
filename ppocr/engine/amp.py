"""Mixed-precision training from PaddleOCR's Global keys: ``use_amp``, ``amp_level``, ``amp_dtype``,
``amp_custom_black_list``, ``amp_custom_white_list``, ``scale_loss`` and ``use_dynamic_loss_scaling``.

``paddle.amp`` casts only on GPU/XPU/custom devices (on a CPU place its autocast does nothing), so on
the CPU, or on a device without support for the requested dtype, AMP is switched off with one warning
and training runs in float32 instead of pretending to be mixed precision.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any, Dict, Iterator, List, Optional, Tuple

import paddle

from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)

LEVELS = ("O0", "O1", "O2")
DTYPES = ("float16", "bfloat16")


def _dtype_supported(dtype: str) -> bool:
    check = paddle.amp.is_float16_supported if dtype == "float16" else paddle.amp.is_bfloat16_supported
    try:
        return bool(check())
    except Exception:  # older/unusual builds raise instead of answering
        return False


@dataclasses.dataclass
class AmpSettings:
    """What the trainer needs: whether to cast, how, and the loss scaler (float16 only)."""

    enabled: bool = False
    level: str = "O2"
    dtype: str = "float16"
    black_list: List[str] = dataclasses.field(default_factory=list)
    white_list: List[str] = dataclasses.field(default_factory=list)
    scale_loss: float = 1.0
    dynamic_scaling: bool = False
    scaler: Optional[Any] = None

    @classmethod
    def from_global(cls, g: Dict[str, Any], device: str) -> "AmpSettings":
        """Read the Global keys (PaddleOCR's defaults: O2, float16) and decide whether AMP can run here."""
        settings = cls(level=g.get("amp_level", "O2"), dtype=g.get("amp_dtype", "float16"),
                       black_list=list(g.get("amp_custom_black_list") or []),
                       white_list=list(g.get("amp_custom_white_list") or []),
                       scale_loss=float(g.get("scale_loss", 1.0)),
                       dynamic_scaling=bool(g.get("use_dynamic_loss_scaling", False)))
        if settings.level not in LEVELS:
            raise ConfigError(f"must be one of {', '.join(LEVELS)}, got {settings.level!r}", "Global.amp_level")
        if settings.dtype not in DTYPES:
            raise ConfigError(f"must be one of {', '.join(DTYPES)}, got {settings.dtype!r}", "Global.amp_dtype")
        if not g.get("use_amp", False) or settings.level == "O0":
            return settings
        if device.startswith("cpu"):
            logger.warning("Global.use_amp: paddle.amp casts on GPU/XPU only, so AMP is off and training on "
                           "the CPU runs in float32")
            return settings
        if not _dtype_supported(settings.dtype):
            logger.warning("Global.use_amp: this %s has no %s support, so AMP is off and training runs in float32",
                           device, settings.dtype)
            return settings
        settings.enabled = True
        if settings.dtype == "float16":
            settings.scaler = paddle.amp.GradScaler(init_loss_scaling=settings.scale_loss,
                                                    use_dynamic_loss_scaling=settings.dynamic_scaling)
        logger.info("AMP on: level %s, %s", settings.level, settings.dtype)
        return settings

    def decorate(self, model: paddle.nn.Layer,
                 optimizer: Optional[paddle.optimizer.Optimizer]) -> Tuple[paddle.nn.Layer, Any]:
        """O2 keeps the weights in the low precision with float32 master copies in the optimizer."""
        if not self.enabled or self.level != "O2":
            return model, optimizer
        if optimizer is None:
            return paddle.amp.decorate(models=model, level="O2", dtype=self.dtype), optimizer
        return paddle.amp.decorate(models=model, optimizers=optimizer, level="O2", dtype=self.dtype,
                                   master_weight=True)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        with paddle.amp.auto_cast(enable=True, level=self.level, dtype=self.dtype,
                                  custom_white_list=self.white_list or None,
                                  custom_black_list=self.black_list or None):
            yield

    def backward_and_step(self, loss: paddle.Tensor, optimizer: paddle.optimizer.Optimizer) -> None:
        """``loss.backward(); optimizer.step()``, through the loss scaler when float16 needs one."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
