"""A det, rec or cls model given for another stage is refused as it loads, in one line naming the option, the
path, what the model is and what was expected: from the real command lines, TextSystem and the predictors, on
the packaged ONNX models and on exported Paddle models (with inference.yml, PaddleOCR's yml, or none)."""
import os
import shutil
import subprocess
import sys

import cv2
import pytest
import yaml

from ppocr.infer import InferOptions, TextDetector, TextRecognizer, TextSystem
from ppocr.infer.backends import create_backend
from ppocr.infer.model_meta import ROLE_NAMES, ModelRoleError, paddle_program_shapes, role_from_shapes
from ppocr.infer.presets import default_model_paths
from test_infer_inputs import render_text

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTION = {"det": "det_model_dir", "rec": "rec_model_dir", "cls": "cls_model_dir"}
TOOL = {"det": "predict_det.py", "rec": "predict_rec.py", "cls": "predict_cls.py"}
WRONG = [(stage, given) for stage in ("det", "rec", "cls") for given in ("det", "rec", "cls") if given != stage]


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("role_inputs")
    cv2.imwrite(str(root / "word.png"), render_text("Hello"))
    return str(root)


def _model(kind, role, tiny_inference_models):
    return tiny_inference_models[role] if kind == "paddle" else default_model_paths()[role]


def _run_tool(tool, image_dir, out_dir, *flags):
    cmd = [sys.executable, os.path.join(REPO, "tools", "infer", tool), "--image_dir", image_dir,
           "--draw_img_save_dir", str(out_dir), *flags]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)


def _assert_refused(proc, stage, given, path):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {OPTION[stage]} '{path}' is {ROLE_NAMES[given]} ({lines[0].split('(', 1)[1]}"]
    assert f"expected {ROLE_NAMES[stage]}; pass it as {OPTION[given]}" in lines[0]


@pytest.mark.parametrize("kind", ["paddle", "onnx"])
@pytest.mark.parametrize("stage,given", WRONG)
def test_stage_tool_refuses_a_model_of_another_role(kind, stage, given, tiny_inference_models, image_dir, tmp_path):
    path = _model(kind, given, tiny_inference_models)
    proc = _run_tool(TOOL[stage], image_dir, tmp_path, f"--{OPTION[stage]}", path)
    _assert_refused(proc, stage, given, path)
    assert not any(name.endswith("_results.txt") for name in os.listdir(tmp_path))


@pytest.mark.parametrize("kind,stage,given", [("paddle", "det", "rec"), ("onnx", "rec", "cls"), ("paddle", "cls", "det")])
def test_predict_system_refuses_a_model_of_another_role(kind, stage, given, tiny_inference_models, image_dir,
                                                        tmp_path):
    path = _model(kind, given, tiny_inference_models)
    proc = _run_tool("predict_system.py", image_dir, tmp_path, "--use_angle_cls", "True", f"--{OPTION[stage]}", path)
    _assert_refused(proc, stage, given, path)


@pytest.mark.parametrize("kind", ["paddle", "onnx"])
@pytest.mark.parametrize("stage,given", WRONG)
def test_text_system_construction_refuses_a_model_of_another_role(kind, stage, given, tiny_inference_models):
    path = _model(kind, given, tiny_inference_models)
    with pytest.raises(ModelRoleError) as caught:
        TextSystem(use_angle_cls=True, **{OPTION[stage]: path})
    assert str(caught.value).startswith(f"{OPTION[stage]} '{path}' is {ROLE_NAMES[given]} (")


def test_paddleocr_style_yml_and_bare_exports_are_recognised(tiny_inference_models, tmp_path):
    """PaddleOCR's inference.yml names the model (Global.model_name) instead of its type; a folder without
    any yml is judged by the output shape its program declares."""
    paddleocr_style = tmp_path / "PP-OCRv4_mobile_rec_infer"
    shutil.copytree(tiny_inference_models["rec"], paddleocr_style)
    recorded = yaml.safe_load((paddleocr_style / "inference.yml").read_text(encoding="utf-8"))
    recorded["Global"] = {"model_name": "PP-OCRv4_mobile_rec"}
    (paddleocr_style / "inference.yml").write_text(yaml.safe_dump(recorded), encoding="utf-8")
    with pytest.raises(ModelRoleError, match=r"\(inference.yml Global.model_name: PP-OCRv4_mobile_rec\)"):
        TextDetector(InferOptions(det_model_dir=str(paddleocr_style)))

    bare = tmp_path / "bare_det"
    shutil.copytree(tiny_inference_models["det"], bare)
    os.remove(bare / "inference.yml")
    with pytest.raises(ModelRoleError, match=r"is a text detection model \(output Nx1xHxW\)"):
        TextRecognizer(InferOptions(rec_model_dir=str(bare), rec_algorithm="CRNN"))
    assert paddle_program_shapes(str(bare / "inference.json")) == ([None, 3, None, None], [[None, 1, None, None]])


def test_legacy_pdmodel_without_yml_is_refused_before_loading(tmp_path):
    """PaddleOCR 2.x exports (inference.pdmodel, no inference.yml): the feed and fetch variables tell the
    role, read without loading the model (the parameters here are not even valid)."""
    from paddle.base.proto import framework_pb2

    program = framework_pb2.ProgramDesc()
    block = program.blocks.add(idx=0, parent_idx=-1)
    for name, dims in (("x", [-1, 3, 48, -1]), ("softmax_0.tmp_0", [-1, -1, 6625])):
        var = block.vars.add(name=name)
        var.type.type = framework_pb2.VarType.DENSE_TENSOR
        var.type.dense_tensor.tensor.data_type = framework_pb2.VarType.FP32
        var.type.dense_tensor.tensor.dims.extend(dims)
    feed = block.ops.add(type="feed")
    feed.outputs.add(parameter="Out", arguments=["x"])
    fetch = block.ops.add(type="fetch")
    fetch.inputs.add(parameter="X", arguments=["softmax_0.tmp_0"])
    model_dir = tmp_path / "ch_PP-OCRv3_rec_infer"
    model_dir.mkdir()
    (model_dir / "inference.pdmodel").write_bytes(program.SerializeToString())
    (model_dir / "inference.pdiparams").write_bytes(b"not parameters")

    assert paddle_program_shapes(str(model_dir / "inference.pdmodel")) == ([None, 3, 48, None], [[None, None, 6625]])
    with pytest.raises(ModelRoleError, match=r"det_model_dir .* is a text recognition model \(output NxTx6625\)"):
        TextDetector(InferOptions(det_model_dir=str(model_dir)))


def test_a_given_backend_is_checked_and_unknown_shapes_pass():
    paths = default_model_paths()
    cls_backend = create_backend(paths["cls"], InferOptions(cpu_threads=1))
    with pytest.raises(ModelRoleError, match="rec_model_dir .* is a text direction classifier"):
        TextRecognizer(backend=cls_backend)
    assert role_from_shapes([[None, 5, 7, 9, 11]]) is None and role_from_shapes([]) is None
    assert role_from_shapes([[None, 2]]) == ("cls", "output Nx2")
