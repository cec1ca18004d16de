"""The training loop: one object that builds every component from a config and trains or evaluates it."""
from __future__ import annotations

import collections
import copy
import logging
import os
import random
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import paddle

from ppocr.data import build_dataloader
from ppocr.engine.amp import AmpSettings
from ppocr.engine.ema import ModelEMA
from ppocr.engine.train_graph import apply_sync_bn, apply_to_static, freeze_norm_statistics
from ppocr.losses import build_loss
from ppocr.metrics import build_metric
from ppocr.modeling.architectures import build_model, with_class_count
from ppocr.optimizer import build_optimizer
from ppocr.postprocess import build_post_process
from ppocr.utils.checkpoint import (load_checkpoint, load_pretrained, prepare_model, recover_checkpoints,
                                    save_checkpoint)
from ppocr.utils.config import dump_config
from ppocr.utils.io import ensure_output_dir
from ppocr.utils.paddleocr_compat import strip_ignored
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)

GLOBAL_DEFAULTS = {
    "use_gpu": False,
    "epoch_num": 1,
    "log_smooth_window": 20,
    "print_batch_step": 10,
    "save_model_dir": "./output/model",
    "save_epoch_step": 1,
    "eval_batch_step": [0, 500],
    "cal_metric_during_train": False,
    "pretrained_model": None,
    "checkpoints": None,
    "use_visualdl": False,
    "seed": None,
    "model_ema": False,
    "model_ema_decay": 0.9999,
    "encryption_key": None,
    "freeze_norm_stats": False,
}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    paddle.seed(seed)


def select_device(use_gpu: bool) -> str:
    if use_gpu and not paddle.is_compiled_with_cuda():
        logger.warning("Global.use_gpu is set but this paddle has no CUDA support; using the CPU")
        use_gpu = False
    device = "gpu" if use_gpu else "cpu"
    if use_gpu and paddle.distributed.get_world_size() > 1:
        device = f"gpu:{paddle.distributed.ParallelEnv().dev_id}"
    paddle.set_device(device)
    return device


def eval_steps(value: Any) -> tuple:
    """``eval_batch_step`` as (start, every): PaddleOCR accepts ``[start, every]`` or a bare ``every``."""
    if isinstance(value, int):
        return 0, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    raise ConfigError(f"must be [start, every] or an integer, got {value!r}", "Global.eval_batch_step")


class SmoothedValues:
    """Windowed means of logged scalars, as the train log prints them."""

    def __init__(self, window: int):
        self.window = window
        self.values: Dict[str, collections.deque] = {}

    def update(self, stats: Dict[str, float]) -> None:
        for key, value in stats.items():
            self.values.setdefault(key, collections.deque(maxlen=self.window)).append(float(value))

    def mean(self, key: str) -> float:
        values = self.values.get(key)
        return float(np.mean(values)) if values else 0.0

    def keys(self) -> List[str]:
        return list(self.values)


def _to_numpy_scalar(value: Any) -> float:
    if isinstance(value, paddle.Tensor):
        return float(value.numpy().reshape(-1)[0])
    return float(value)


class Trainer:
    """Builds model, loss, optimizer, data and metric from the config; ``train()`` or ``evaluate()``."""

    def __init__(self, config: Dict[str, Any], mode: str = "train",
                 model_hooks: Sequence[Callable[[paddle.nn.Layer], Optional[paddle.nn.Layer]]] = ()):
        """``model_hooks`` change the model after pretrained weights are loaded and before the optimizer
        sees its parameters (pruning, quantisation); a hook returns a replacement model or None."""
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        self.config = strip_ignored(copy.deepcopy(config))
        self.mode = mode
        self.gcfg = {**GLOBAL_DEFAULTS, **(self.config.get("Global") or {})}
        self.config["Global"] = self.gcfg
        self.device = select_device(self.gcfg["use_gpu"])
        self.world_size = paddle.distributed.get_world_size()
        self.rank = paddle.distributed.get_rank()
        if self.world_size > 1:
            paddle.distributed.init_parallel_env()
        self.seed = self.gcfg["seed"] if self.gcfg["seed"] is not None else 1024
        seed_everything(self.seed)
        self.save_dir = self.gcfg["save_model_dir"]
        if mode == "train":
            ensure_output_dir(self.save_dir, "Global.save_model_dir")
        self.key = self.gcfg["encryption_key"]

        arch = self.config["Architecture"]
        self.model_type = arch.get("model_type", "")
        self.post_process = build_post_process(self.config["PostProcess"], self.gcfg)
        self.config["Architecture"] = with_class_count(arch, self.post_process)
        self.model = prepare_model(build_model(self.config["Architecture"]),
                                   self.gcfg.get("checkpoints") or self.gcfg.get("pretrained_model"), self.key)
        if self.gcfg.get("pretrained_model") and not self.gcfg.get("checkpoints"):
            load_pretrained(self.model, self.gcfg["pretrained_model"], self.key, prefer_ema=mode == "eval",
                            skip=self.gcfg.get("skip_checkpoint_variables"))
        for hook in model_hooks:
            self.model = hook(self.model) or self.model
        if mode == "train" and self.gcfg["freeze_norm_stats"]:
            logger.info("Global.freeze_norm_stats: %d batch norms keep their loaded statistics%s",
                        freeze_norm_statistics(self.model),
                        " (use_sync_bn has nothing left to synchronise)" if self.gcfg.get("use_sync_bn") else "")
        elif mode == "train":
            self.model = apply_sync_bn(self.model, self.gcfg.get("use_sync_bn", False), self.world_size, self.device)
        self.ema = ModelEMA(self.model, self.gcfg["model_ema_decay"]) if self.gcfg["model_ema"] else None
        self.metric = build_metric(self.config["Metric"])
        self.eval_loader = None
        if self.config.get("Eval"):
            self.eval_dataset, self.eval_loader = build_dataloader(self.config, "Eval", seed=self.seed)

        self.states: Dict[str, Any] = {"epoch": 0, "global_step": 0, "best_model_dict": {}}
        self.optimizer = self.lr_scheduler = self.loss = None
        if mode == "train":
            if not self.config.get("Train"):
                raise ConfigError("missing required section 'Train'")
            self.loss = build_loss(self.config["Loss"])
            self.train_dataset, self.train_loader = build_dataloader(self.config, "Train", seed=self.seed)
            if len(self.train_loader) == 0:
                raise ConfigError("the Train loader yields no batch (dataset smaller than one batch with drop_last?)",
                                  "Train.loader")
            self.optimizer, self.lr_scheduler = build_optimizer(
                self.config["Optimizer"], epochs=self.gcfg["epoch_num"],
                step_each_epoch=len(self.train_loader), model=self.model)
        self.amp = AmpSettings.from_global(self.gcfg, self.device) if mode == "train" else AmpSettings()
        self.model, self.optimizer = self.amp.decorate(self.model, self.optimizer)
        if self.gcfg.get("checkpoints"):
            self._resume(self.gcfg["checkpoints"])
        if mode == "train":
            self.model = apply_to_static(self.model, self.gcfg)
        self.parallel_model = self.model
        if self.world_size > 1:
            self.parallel_model = paddle.DataParallel(
                self.model, find_unused_parameters=self.gcfg.get("find_unused_parameters", False))

    # -- weights -----------------------------------------------------------------------------------------
    def _resume(self, checkpoints: str) -> None:
        saved = load_checkpoint(self.model, self.optimizer, checkpoints, self.key)
        for key in ("epoch", "global_step", "best_model_dict"):
            if key in saved:
                self.states[key] = saved[key]
        if saved.get("lr_state_missing") and self.lr_scheduler is not None:
            # no saved schedule (PaddleOCR keeps none for a constant lr, or no .pdopt): resume at the saved epoch
            self.lr_scheduler.step(int(self.states["epoch"]) * len(self.train_loader))
            logger.warning("checkpoint %s has no lr-scheduler state; the schedule restarts at the end of epoch %d",
                           checkpoints, self.states["epoch"])
        ema_params = saved.get("ema_params")
        if ema_params is not None and self.ema is not None:
            self.ema.load(ema_params, saved.get("ema_updates", 0))
        elif ema_params is not None and self.mode == "eval":
            logger.info("evaluating the EMA weights of %s", checkpoints)
            self.model.set_state_dict(ema_params)

    def _save(self, prefix: str) -> None:
        if self.rank != 0:
            return
        config = copy.deepcopy(self.config)
        config["Global"].pop("encryption_key", None)
        states = dict(self.states, config=config)
        ema_params = None
        if self.ema is not None:
            states["ema_updates"] = self.ema.updates
            ema_params = self.ema.state()
        save_checkpoint(self.model, self.optimizer, os.path.join(self.save_dir, prefix), states,
                        ema_params=ema_params, key=self.key)
        logger.info("saved %s", os.path.join(self.save_dir, prefix))

    # -- forward helpers ---------------------------------------------------------------------------------
    def _forward(self, model: paddle.nn.Layer, batch: List[paddle.Tensor]) -> Any:
        return model(batch[0], data=batch[1:])

    def _post(self, preds: Any, batch: List[Any]) -> Any:
        if self.model_type == "det":
            return self.post_process(preds, batch[1])
        return self.post_process(preds, batch)

    # -- evaluation --------------------------------------------------------------------------------------
    def evaluate(self) -> Dict[str, float]:
        """Run the Eval set through model → postprocess → metric, with a progress bar (EMA weights
        when ``Global.model_ema``)."""
        if self.eval_loader is None:
            raise ConfigError("missing required section 'Eval'")
        if self.ema is not None:
            with self.ema.applied():
                return self._evaluate()
        return self._evaluate()

    def _evaluate(self) -> Dict[str, float]:
        from tqdm import tqdm

        self.model.eval()
        total_time, total_samples = 0.0, 0
        with paddle.no_grad():
            # a bar on terminals only (disable=None): redirected logs would fill with its redraws
            bar = tqdm(total=len(self.eval_loader), desc="eval", disable=True if self.rank != 0 else None, leave=False)
            for batch in self.eval_loader:
                start = time.time()
                preds = self._forward(self.model, batch)
                batch_np = [b.numpy() if isinstance(b, paddle.Tensor) else b for b in batch]
                post = self._post(preds, batch_np)
                total_time += time.time() - start
                total_samples += batch_np[0].shape[0]
                self.metric(post, batch_np)
                bar.update(1)
            bar.close()
        metric = self.metric.get_metric()
        metric["fps"] = total_samples / total_time if total_time > 0 else 0.0
        skipped = getattr(self.eval_dataset, "skipped", None)
        if skipped and skipped.get("total"):
            logger.warning("eval skipped %d bad samples: %s", skipped["total"], skipped)
        self.model.train()
        return metric

    # -- training ----------------------------------------------------------------------------------------
    def train(self) -> Dict[str, Any]:
        g = self.gcfg
        epoch_num = g["epoch_num"]
        start_eval, every_eval = eval_steps(g["eval_batch_step"])
        main_indicator = self.metric.main_indicator
        steps_per_epoch = len(self.train_loader)
        log_every = max(1, g["print_batch_step"])
        writer = self._visualdl_writer()
        if self.rank == 0:
            recover_checkpoints(self.save_dir)
            logger.info("config:\n%s", dump_config(self.config))
            logger.info("train: %d samples, %d steps/epoch, %d epochs", len(self.train_dataset),
                        steps_per_epoch, epoch_num)
        start_epoch = self.states["epoch"] + 1
        total_steps = epoch_num * steps_per_epoch
        smoothed = SmoothedValues(g["log_smooth_window"])
        self.model.train()
        for epoch in range(start_epoch, epoch_num + 1):
            seed_everything(self.seed + epoch)
            self._set_epoch(epoch)
            tic = time.time()
            reader_cost = batch_cost = 0.0
            samples = 0
            for step, batch in enumerate(self.train_loader, 1):
                reader_cost += time.time() - tic
                with self.amp.autocast():
                    preds = self._forward(self.parallel_model, batch)
                    losses = self.loss(preds, batch)
                loss = losses["loss"]
                self.amp.backward_and_step(loss, self.optimizer)
                self.optimizer.clear_grad()
                self.lr_scheduler.step()
                if self.ema is not None:
                    self.ema.update()
                self.states["global_step"] += 1
                if step == steps_per_epoch:  # a checkpoint saved from here on resumes with the next epoch
                    self.states["epoch"] = epoch
                global_step = self.states["global_step"]
                stats = {k: _to_numpy_scalar(v) for k, v in losses.items()}
                if not np.isfinite(stats["loss"]):
                    raise FloatingPointError(
                        f"loss is {stats['loss']} at epoch {epoch} step {global_step}; "
                        "lower the learning rate or check the data (last good checkpoint is kept)")
                if g["cal_metric_during_train"] and self.model_type != "det":
                    batch_np = [b.numpy() for b in batch]
                    self.metric(self._post(preds, batch_np), batch_np)
                    stats.update(self.metric.get_metric())
                smoothed.update(stats)
                samples += int(batch[0].shape[0])
                batch_cost += time.time() - tic
                if global_step % log_every == 0 or step == steps_per_epoch:
                    self._log_step(epoch, epoch_num, global_step, total_steps, smoothed,
                                   reader_cost, batch_cost, samples, log_every, writer)
                    reader_cost = batch_cost = 0.0
                    samples = 0
                if (self.eval_loader is not None and global_step > start_eval
                        and (global_step - start_eval) % every_eval == 0):
                    self._eval_and_track(epoch, main_indicator, writer)
                tic = time.time()
            self.states["epoch"] = epoch
            self._save("latest")
            if g["save_epoch_step"] > 0 and epoch % g["save_epoch_step"] == 0:
                self._save(f"iter_epoch_{epoch}")
            self._report_skips()
        if writer is not None:
            writer.close()
        if self.rank == 0 and self.states["best_model_dict"]:
            logger.info("best metric: %s", self._format(self.states["best_model_dict"]))
        return self.states

    def _set_epoch(self, epoch: int) -> None:
        for obj in (self.train_dataset, getattr(self.train_loader, "batch_sampler", None)):
            if obj is not None and hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)

    def _eval_and_track(self, epoch: int, main_indicator: str, writer) -> None:
        metric = self.evaluate()
        best = self.states["best_model_dict"]
        improved = main_indicator not in best or metric[main_indicator] >= best[main_indicator]
        if improved:
            self.states["best_model_dict"] = {**metric, "best_epoch": epoch}
            self._save("best_accuracy")
        if self.rank == 0:
            logger.info("cur metric, %s", self._format(metric))
            logger.info("best metric, %s", self._format(self.states["best_model_dict"]))
        if writer is not None:
            for key, value in metric.items():
                writer.add_scalar(f"EVAL/{key}", value, self.states["global_step"])

    def _log_step(self, epoch, epoch_num, global_step, total_steps, smoothed, reader_cost, batch_cost,
                  samples, log_every, writer) -> None:
        if self.rank != 0:
            return
        lr = self.optimizer.get_lr()
        steps = max(1, min(log_every, global_step))
        avg_batch = batch_cost / steps
        eta = max(0, total_steps - global_step) * avg_batch
        figures = ", ".join(f"{k}: {smoothed.mean(k):.5f}" for k in smoothed.keys())
        logger.info(
            "epoch: [%d/%d], global_step: %d, lr: %.6f, %s, avg_reader_cost: %.5f s, avg_batch_cost: %.5f s, "
            "avg_samples: %.1f, ips: %.2f samples/s, eta: %s",
            epoch, epoch_num, global_step, lr, figures, reader_cost / steps, avg_batch, samples / steps,
            samples / batch_cost if batch_cost > 0 else 0.0, time.strftime("%H:%M:%S", time.gmtime(eta)))
        if writer is not None:
            writer.add_scalar("TRAIN/lr", lr, global_step)
            for key in smoothed.keys():
                writer.add_scalar(f"TRAIN/{key}", smoothed.mean(key), global_step)

    def _report_skips(self) -> None:
        skipped = getattr(self.train_dataset, "skipped", None)
        if skipped and skipped.get("total"):
            logger.warning("train skipped %d bad samples so far: %s", skipped["total"], skipped)

    def _visualdl_writer(self):
        if not self.gcfg["use_visualdl"] or self.rank != 0:
            return None
        from visualdl import LogWriter

        return LogWriter(logdir=os.path.join(self.save_dir, "vdl"))

    @staticmethod
    def _format(metric: Dict[str, Any]) -> str:
        return ", ".join(f"{k}: {v:.6f}" if isinstance(v, float) else f"{k}: {v}" for k, v in metric.items())
