"""tools/import_onnx.py: the packaged PP-OCRv4 det/rec and v2 cls ONNX models become recipe weights whose outputs
equal ONNX Runtime's on real images; export writes the fused form; PP-OCRv6 small does not fit these recipes."""
import os

import cv2
import numpy as np
import paddle
import pytest

from conftest import REPO, run_tool
from ppocr.utils.config import load_config

IMGS = os.path.join(REPO, "doc", "imgs")
TOLERANCE = 1e-4

try:
    from ppocr.infer.presets import default_model_paths

    PACKAGED = default_model_paths("PP-OCRv4")
except (ModuleNotFoundError, FileNotFoundError):  # the rapidocr_onnxruntime wheel is a test dependency
    PACKAGED = None
needs_packaged = pytest.mark.skipif(PACKAGED is None, reason="rapidocr_onnxruntime wheel not installed")


def recipe(relative):
    return os.path.join(REPO, "configs", relative)


@pytest.fixture(scope="module")
def line_crops(tmp_path_factory):
    """Two word groups cut from doc/imgs/page.png (and the first one upside down), as files; short enough for the
    recipes' fixed 320-pixel input width."""
    page = cv2.imread(os.path.join(IMGS, "page.png"))
    root = tmp_path_factory.mktemp("lines")
    crops = [page[35:80, 30:272], page[258:304, 30:300]]
    paths = []
    for index, crop in enumerate(crops + [cv2.rotate(crops[0], cv2.ROTATE_180)]):
        path = str(root / f"crop{index}.png")
        cv2.imwrite(path, crop)
        paths.append(path)
    return paths


def _import(relative, stage, prefix, images):
    from ppocr.engine.onnx_import import import_into_recipe

    return import_into_recipe(load_config(recipe(relative)), PACKAGED[stage], str(prefix), images, TOLERANCE)


@needs_packaged
def test_det_import_equals_onnx_on_photos_and_loads_as_pretrained(tmp_path):
    from ppocr.modeling.architectures import build_model
    from ppocr.modeling.reparam import has_unfused_layers
    from ppocr.utils.checkpoint import load_pretrained, prepare_model

    images = [os.path.join(IMGS, "sign.jpg"), os.path.join(IMGS, "scene.jpg")]
    report = _import("det/PP-OCRv4/PP-OCRv4_mobile_det_finetune.yml", "det", tmp_path / "v4_det", images)
    assert report["max_abs_diff"] <= TOLERANCE and len(report["checked_on"]) == 2
    # the deployed model has no threshold branch; everything the eval graph uses was imported
    # (stride-2 layers of the backbone have an activation they never apply, as in PaddleOCR)
    assert report["unused"] and all(key.startswith("head.thresh.") or ".act.lab." in key for key in report["unused"])
    params = paddle.load(report["pdparams"])
    assert any(".reparam_conv." in key for key in params) and not any(".conv_kxk." in key for key in params)
    # the from-scratch recipe (branch form) takes the fused weights too: the model fuses itself to match
    config = load_config(recipe("det/PP-OCRv4/PP-OCRv4_mobile_det.yml"))
    model = prepare_model(build_model(config["Architecture"]), str(tmp_path / "v4_det"))
    assert not has_unfused_layers(model)
    loaded = load_pretrained(model, str(tmp_path / "v4_det"))
    assert loaded["missing"] == []
    assert not loaded["unexpected"] and not loaded["shape_mismatch"]


@needs_packaged
def test_rec_import_equals_onnx_softmax_and_reads_the_lines(tmp_path, line_crops):
    from ppocr.engine.onnx_import import model_outputs, onnx_outputs, preprocess_images
    from ppocr.modeling.architectures import build_model, with_class_count
    from ppocr.postprocess import build_post_process
    from ppocr.utils.checkpoint import load_pretrained

    relative = "rec/PP-OCRv4/PP-OCRv4_mobile_rec_finetune.yml"
    report = _import(relative, "rec", tmp_path / "v4_rec", line_crops[:2])
    assert report["max_abs_diff"] <= TOLERANCE
    assert all(".act.lab." in key for key in report["unused"])
    with open(report["dict"], encoding="utf-8") as f:
        assert len(f.read().splitlines()) == 6623
    # a fresh model of the recipe with the written weights reads the page's lines like ONNX Runtime does
    config = load_config(recipe(relative))
    post = build_post_process(config["PostProcess"], config["Global"])
    model = build_model(with_class_count(config["Architecture"], post))
    assert load_pretrained(model, str(tmp_path / "v4_rec"))["missing"] == []
    batches = preprocess_images(config, line_crops[:2])
    texts = []
    for batch in batches:
        probs = model_outputs(model, batch)
        assert np.abs(probs - onnx_outputs(PACKAGED["rec"], batch)).max() <= TOLERANCE
        texts.append(post(probs)[0][0].strip())
    assert texts == ["Optical character", "Invoice 2026-0417"]


@needs_packaged
def test_cls_import_equals_onnx_and_tells_upside_down(tmp_path, line_crops):
    from ppocr.engine.onnx_import import model_outputs, preprocess_images
    from ppocr.modeling.architectures import build_model, with_class_count
    from ppocr.postprocess import build_post_process
    from ppocr.utils.checkpoint import load_pretrained

    report = _import("cls/cls_mv3.yml", "cls", tmp_path / "v2_cls", [line_crops[0], line_crops[2]])
    assert report["max_abs_diff"] <= TOLERANCE
    config = load_config(recipe("cls/cls_mv3.yml"))
    post = build_post_process(config["PostProcess"], config["Global"])
    model = build_model(with_class_count(config["Architecture"], post))
    load_pretrained(model, str(tmp_path / "v2_cls"))
    upright, flipped = (model_outputs(model, b)[0] for b in preprocess_images(config, [line_crops[0], line_crops[2]]))
    assert upright.argmax() == 0 and flipped.argmax() == 1


@needs_packaged
def test_import_tool_and_fused_export_match_onnx(tmp_path):
    from ppocr.engine.onnx_export import paddle_inference_run
    from ppocr.engine.onnx_import import onnx_outputs, preprocess_images

    relative = "det/PP-OCRv4/PP-OCRv4_mobile_det_finetune.yml"
    image = os.path.join(IMGS, "sign.jpg")
    proc = run_tool("import_onnx.py", recipe(relative), "Global.use_gpu=false", timeout=900, check=False)
    assert proc.returncode == 2 and "--save_prefix" in proc.stderr  # argparse usage error, one line
    import subprocess
    import sys

    cmd = [sys.executable, os.path.join(REPO, "tools", "import_onnx.py"), "-c", recipe(relative), "--preset",
           "PP-OCRv4", "--stage", "det", "--save_prefix", str(tmp_path / "w" / "v4_det"), "--images", image]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "max abs difference to ONNX Runtime" in proc.stdout
    # export (always the fused form) → Paddle Inference gives the packaged model's map
    export = run_tool("export_model.py", recipe(relative), f"Global.pretrained_model={tmp_path / 'w' / 'v4_det'}",
                      f"Global.save_inference_dir={tmp_path / 'inference'}", timeout=900)
    assert export.returncode == 0
    batch = preprocess_images(load_config(recipe(relative)), [image])[0]
    got = paddle_inference_run(str(tmp_path / "inference"), batch)
    assert np.abs(got - onnx_outputs(PACKAGED["det"], batch)).max() <= TOLERANCE


@needs_packaged
def test_mismatching_model_is_refused_with_a_clear_error(tmp_path):
    # PP-OCRv6 small has another backbone (HGNet-style stem, GELU): it does not fit the PP-OCRv4 recipe
    try:
        v6 = default_model_paths("PP-OCRv6")["rec"]
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip("rapidocr wheel not installed")
    import subprocess
    import sys

    cmd = [sys.executable, os.path.join(REPO, "tools", "import_onnx.py"), "-c",
           recipe("rec/PP-OCRv4/PP-OCRv4_mobile_rec_finetune.yml"), "--onnx", v6, "--save_prefix",
           str(tmp_path / "v6")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "another architecture than the recipe" in lines[0]
    assert "Traceback" not in proc.stderr and not os.path.exists(str(tmp_path / "v6.pdparams"))
