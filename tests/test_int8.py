"""int8 on CPU: tools/quant_onnx.py quantises the packaged det and rec ONNX models (ONNX Runtime static
quantisation calibrated on a fixture page) and ``precision="int8"`` runs them, reading what the float models read."""
import os
import subprocess
import sys

import cv2
import pytest
from shapely.geometry import Polygon

from test_system import SENTENCE, render_page

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_BOX_IOU = 0.8  # int8 boxes shift by a few pixels from the float ones (about 5 px on 45 px tall lines)
MAX_SCORE_CHANGE = 0.05


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("int8_calib")
    path = str(root / "page.png")
    cv2.imwrite(path, render_page(SENTENCE))
    return path


@pytest.fixture(scope="module")
def int8_dir(page, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("int8_models"))
    cmd = [sys.executable, os.path.join(REPO, "tools", "quant_onnx.py"), "--calib_images", os.path.dirname(page),
           "--int8_model_dir", out, "--cpu_threads", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done.stdout


def test_tool_writes_int8_models_that_read_like_the_float_ones(page, int8_dir):
    from ppocr.infer import TextSystem
    from ppocr.infer.int8 import int8_model_path, onnx_model_file
    from ppocr.infer.options import InferOptions

    out, stdout = int8_dir
    expected = {stage: int8_model_path(onnx_model_file(stage, InferOptions()), stage, out) for stage in ("det", "rec")}
    assert sorted(os.listdir(out)) == sorted(os.path.basename(p) for p in expected.values())
    for stage, path in expected.items():
        assert f"{stage}: {path}" in stdout
        assert os.path.getsize(path) < 0.5 * os.path.getsize(onnx_model_file(stage, InferOptions()))

    import onnx

    ops = {node.op_type for node in onnx.load(expected["rec"]).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops

    int8 = TextSystem(precision="int8", int8_model_dir=out)
    assert int8.detector.backend.model_path == expected["det"]
    assert int8.recognizer.backend.model_path == expected["rec"]
    floats = TextSystem()(page)
    got = int8(page)
    assert [r["transcription"] for r in got] == [r["transcription"] for r in floats]
    assert [r["transcription"].lower() for r in got] == [line.lower() for line in SENTENCE]
    for a, b in zip(got, floats):
        first, second = Polygon(a["points"]), Polygon(b["points"])
        assert first.intersection(second).area / first.union(second).area >= MIN_BOX_IOU
        assert abs(a["score"] - b["score"]) <= MAX_SCORE_CHANGE


def test_int8_without_the_models_names_the_tool(tmp_path):
    from ppocr.infer import TextSystem

    with pytest.raises(FileNotFoundError, match=r"tools/quant_onnx\.py"):
        TextSystem(precision="int8", int8_model_dir=str(tmp_path))


def _library_warning(line):
    """paddle warns about ccache on import (two lines); not the tool's output."""
    return "UserWarning" in line or line.strip().startswith("warnings.warn")


def test_tool_errors_are_one_line(tmp_path):
    cmd = [sys.executable, os.path.join(REPO, "tools", "quant_onnx.py"), "--calib_images", str(tmp_path / "none"),
           "--int8_model_dir", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if not _library_warning(line)]
    assert errors == [f"error: calibration images '{tmp_path / 'none'}' do not exist"]
    assert not os.path.exists(tmp_path / "out")
