"""What ``tools/quant.py`` runs: QAT through the Trainer, PTQ by calibration, or export of a QAT checkpoint."""
from __future__ import annotations

import logging
import os
from typing import Any, Dict

import paddle

from ppocr.modeling.architectures import build_model, with_class_count
from ppocr.postprocess import build_post_process
from ppocr.slim.quant.export import build_quantized_from_checkpoint, export_quantized
from ppocr.slim.quant.ptq import calibrate, calibration_batches, prepare_for_calibration
from ppocr.slim.quant.qat import qat_hook
from ppocr.slim.quant.settings import QuantSettings
from ppocr.utils.checkpoint import load_params_file, prepare_model
from ppocr.utils.io import ensure_output_dir
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)


def quant_settings(config: Dict[str, Any]) -> QuantSettings:
    """The checked ``Quant`` section; the model must be a single one (quantize a distilled Student alone)."""
    if (config.get("Architecture") or {}).get("name", "BaseModel") != "BaseModel":
        raise ConfigError("quantization works on a single model; export the DistillationModel's sub-model config "
                          "(its Architecture.Models entry) and quantize that", "Architecture.name")
    return QuantSettings.from_config(config.get("Quant"))


def check_inference_dir(config: Dict[str, Any]) -> str:
    """``Global.save_inference_dir``, made and checked now: a bad path must not surface after QAT or calibration."""
    save_dir = (config.get("Global") or {}).get("save_inference_dir")
    if not save_dir:
        raise ConfigError("set Global.save_inference_dir to the folder for the quantized model",
                          "Global.save_inference_dir")
    return ensure_output_dir(save_dir, "Global.save_inference_dir")


def run_qat(config: Dict[str, Any], settings: QuantSettings) -> str:
    """Fine-tune ``Global.pretrained_model`` (float) with PACT and fake quantization, saving checkpoints
    like training does (``Global.checkpoints`` resumes a QAT run), then export the best checkpoint."""
    from ppocr.engine.trainer import Trainer

    g = config.get("Global") or {}
    if not g.get("pretrained_model") and not g.get("checkpoints"):
        raise ConfigError("QAT fine-tunes a trained float model: set Global.pretrained_model "
                          "(or Global.checkpoints to resume a QAT run)", "Global.pretrained_model")
    check_inference_dir(config)
    trainer = Trainer(config, mode="train", model_hooks=[qat_hook(settings)])
    trainer.train()
    if trainer.rank != 0:
        return ""
    save_dir = trainer.save_dir
    best = os.path.join(save_dir, "best_accuracy")
    weights = best if os.path.isfile(best + ".pdparams") else os.path.join(save_dir, "latest")
    logger.info("exporting the QAT checkpoint %s", weights)
    return export_quantized(build_quantized_from_checkpoint(config, settings, weights), config, settings)


def run_ptq(config: Dict[str, Any], settings: QuantSettings) -> str:
    """Calibrate the float model in ``Global.pretrained_model`` (or ``Global.checkpoints``) and export it."""
    g = config.get("Global") or {}
    weights = g.get("checkpoints") or g.get("pretrained_model")
    if not weights:
        raise ConfigError("PTQ needs trained float weights: set Global.pretrained_model", "Global.pretrained_model")
    check_inference_dir(config)
    paddle.set_device("cpu")
    key = g.get("encryption_key")
    post_process = build_post_process(config["PostProcess"], g)
    model = prepare_model(build_model(with_class_count(config["Architecture"], post_process)), weights, key)
    params = load_params_file(weights, key, prefer_ema=True)
    missing = [k for k in model.state_dict() if k not in params]
    if missing:
        raise ConfigError(f"weights '{weights}' lack {len(missing)} parameters of this model, e.g. {missing[:3]}",
                          "Global.pretrained_model")
    model.set_state_dict(params)
    model = prepare_for_calibration(model, settings)
    calibrate(model, calibration_batches(config, settings), settings.batch_nums)
    return export_quantized(model, config, settings)


def export_checkpoint(config: Dict[str, Any], settings: QuantSettings) -> str:
    """Export a checkpoint saved during QAT (``Global.checkpoints``, else ``Global.pretrained_model``)."""
    g = config.get("Global") or {}
    weights = g.get("checkpoints") or g.get("pretrained_model")
    if not weights:
        raise ConfigError("set Global.checkpoints to the QAT checkpoint to export", "Global.checkpoints")
    check_inference_dir(config)
    paddle.set_device("cpu")
    return export_quantized(build_quantized_from_checkpoint(config, settings, weights), config, settings)
