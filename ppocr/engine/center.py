"""Initial centers for Enhanced CTC's CenterLoss, as PP-OCRv2 builds them.

Run a CTC model trained with plain CTCLoss over the training set, keep the samples it reads correctly, and
for every class (blank included) average the head features of the time steps where that class is the
argmax. The result, ``{class index: feature vector}``, is pickled to the ``center_file_path`` CenterLoss reads.
"""
from __future__ import annotations

import copy
import logging
import pickle
from typing import Any, Dict, Iterable, Optional, Tuple

import numpy as np
import paddle
import paddle.nn.functional as F

from ppocr.data import build_dataloader
from ppocr.modeling.architectures import build_model, with_class_count
from ppocr.modeling.heads.rec_ctc_head import CTCHead
from ppocr.postprocess import build_post_process
from ppocr.utils.checkpoint import load_params_file
from ppocr.utils.io import atomic_write
from ppocr.utils.registry import ConfigError

logger = logging.getLogger(__name__)


class CenterAccumulator:
    """Per-class sums and counts of features; ``centers()`` gives the means of the classes seen."""

    def __init__(self, num_classes: int, feat_dim: int):
        self.sums = np.zeros((num_classes, feat_dim), dtype=np.float64)
        self.counts = np.zeros(num_classes, dtype=np.int64)

    def add(self, features: np.ndarray, class_ids: np.ndarray) -> None:
        """``features`` T×D of one correctly read sample, ``class_ids`` its T argmax classes."""
        np.add.at(self.sums, class_ids, features)
        np.add.at(self.counts, class_ids, 1)

    def centers(self) -> Dict[int, np.ndarray]:
        seen = np.flatnonzero(self.counts)
        return {int(i): (self.sums[i] / self.counts[i]).astype(np.float32) for i in seen}


def _features_and_probs(model: paddle.nn.Layer, images: paddle.Tensor) -> Tuple[np.ndarray, np.ndarray]:
    # The whole model runs in eval mode (batch-norm statistics, no dropout); only the CTC head is flagged as
    # training, which for CTCHead (no dropout or batch norm) changes nothing but its return value: with
    # return_feats it then gives (features, logits) instead of probabilities.
    model.eval()
    model.head.training = True
    try:
        with paddle.no_grad():
            features, logits = model(images)
    finally:
        model.head.training = False
    return features.numpy(), F.softmax(logits, axis=-1).numpy()


def accumulate_centers(model: paddle.nn.Layer, batches: Iterable[Any], post_process: Any,
                       num_classes: int, feat_dim: int) -> Tuple[Dict[int, np.ndarray], int, int]:
    """``(centers, correct samples, samples)`` over rec batches ``[image, label, length]``."""
    accumulator = CenterAccumulator(num_classes, feat_dim)
    correct = total = 0
    for batch in batches:
        features, probs = _features_and_probs(model, batch[0])
        predictions, labels = post_process(probs, [b.numpy() if hasattr(b, "numpy") else b for b in batch])
        for index, ((text, _), (label, _)) in enumerate(zip(predictions, labels)):
            total += 1
            if text == label:
                correct += 1
                accumulator.add(features[index], probs[index].argmax(axis=-1))
    return accumulator.centers(), correct, total


def _check_model(model: paddle.nn.Layer) -> CTCHead:
    head = getattr(model, "head", None)
    if getattr(model, "model_type", None) != "rec" or not isinstance(head, CTCHead):
        raise ConfigError("export_center needs a single recognition model with a CTCHead", "Architecture")
    return head


def export_centers(config: Dict[str, Any], out_path: str, weights: Optional[str] = None) -> Dict[int, np.ndarray]:
    """Build the centers of the trained model ``weights`` (or Global.checkpoints / pretrained_model) over the
    Train dataset read with the Eval transforms, and write them to ``out_path`` atomically."""
    g = config.get("Global") or {}
    weights = weights or g.get("checkpoints") or g.get("pretrained_model")
    if not weights:
        raise ConfigError("set Global.pretrained_model to the trained CTC model", "Global.pretrained_model")
    config = copy.deepcopy(config)
    arch = config["Architecture"]
    if arch.get("name", "BaseModel") != "BaseModel" or not isinstance(arch.get("Head"), dict):
        raise ConfigError("export_center needs a single-model Architecture with a Head", "Architecture")
    arch["Head"]["return_feats"] = True
    post_process = build_post_process(config["PostProcess"], g)
    model = build_model(with_class_count(arch, post_process))
    head = _check_model(model)
    model.set_state_dict(load_params_file(weights, g.get("encryption_key"), prefer_ema=True))
    feat_dim = head.mid_channels or head.fc.weight.shape[0]

    # The training images, without augmentation: the Train dataset with the Eval transforms and loader.
    train, evaluation = config.get("Train") or {}, config.get("Eval") or {}
    if not train.get("dataset") or not evaluation.get("dataset"):
        raise ConfigError("export_center needs the Train dataset and the Eval transforms", "Train.dataset")
    config["Eval"] = dict(evaluation, dataset=dict(train["dataset"], transforms=evaluation["dataset"]["transforms"]))
    _, loader = build_dataloader(config, "Eval")

    centers, correct, total = accumulate_centers(model, loader, post_process, head.out_channels, feat_dim)
    if not centers:
        raise ValueError(f"the model read none of the {total} training samples correctly; train it longer first")
    with atomic_write(out_path, "wb") as f:
        pickle.dump(centers, f)
    logger.info("centers of %d/%d classes from %d/%d correctly read training samples written to %s",
                len(centers), head.out_channels, correct, total, out_path)
    return centers
