"""PaddleOCR's 82 inference flags (shared/reference/paddleocr_infer_flags.tsv) and word boxes."""
import ast
import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO

FLAGS_TSV = os.path.join(REPO, "..", "..", "shared", "reference", "paddleocr_infer_flags.tsv")
if not os.path.isfile(FLAGS_TSV):
    FLAGS_TSV = "/work/shared/reference/paddleocr_infer_flags.tsv"
ROWS = list(csv.DictReader(open(FLAGS_TSV), delimiter="\t")) if os.path.isfile(FLAGS_TSV) else []
PREDICT_SYSTEM = os.path.join(REPO, "tools", "infer", "predict_system.py")


def _utility():
    sys.path.insert(0, os.path.join(REPO, "tools", "infer"))
    import utility

    return utility


def _cli_value(row):
    """PaddleOCR's default as a command line would spell it (None: a sample value)."""
    default = row["default"]
    if default == "None":
        return ["True"] if row["type"] == "str2bool" else ["x"]
    if row["type"] == "list":
        value = ast.literal_eval(default)
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if row["type"] == "str" and default.startswith("'"):
        return [ast.literal_eval(default)]
    return [default]


@pytest.mark.skipif(not ROWS, reason="PaddleOCR flag list not available")
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row["flag"])
def test_every_paddleocr_flag_parses(row):
    options = _utility().parse_args([row["flag"], *_cli_value(row)])
    name = row["flag"][2:]
    value = getattr(options, name)
    if row["type"] == "str2bool":
        assert isinstance(value, bool)
    elif row["type"] in ("int", "float") and row["default"] != "None":
        assert value == pytest.approx(float(row["default"]))


def test_all_82_together_and_unsupported_ones_refused_in_one_line():
    utility = _utility()
    argv = [part for row in ROWS for part in [row["flag"], *_cli_value(row)] if row["default"] != "None"]
    options = utility.parse_args(argv)
    assert len(ROWS) == 82 and options.unsupported_settings() == []
    options = utility.parse_args(["--use_xpu", "True", "--det_east_score_thresh", "0.5", "--sr_model_dir", "m"])
    with pytest.raises(ValueError) as err:
        options.check_supported()
    message = str(err.value)
    assert "\n" not in message
    for part in ("--use_xpu True (Kunlun XPU devices)", "--det_east_score_thresh 0.5 (the EAST detector)",
                 "--sr_model_dir 'm' (text super-resolution)"):
        assert part in message


def test_unsupported_flag_on_the_command_line(tmp_path):
    proc = subprocess.run([sys.executable, PREDICT_SYSTEM, "--image_dir", str(tmp_path), "--e2e_algorithm", "PGNet2"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr
    assert "--e2e_algorithm 'PGNet2' (end-to-end PGNet)" in errors[0]


def test_onnx_providers_and_session_options():
    from ppocr.infer.backends import OnnxBackend
    from ppocr.infer.options import InferOptions
    from ppocr.infer.presets import default_model_paths

    model = default_model_paths("PP-OCRv4")["cls"]
    backend = OnnxBackend(model, InferOptions(onnx_providers="CPUExecutionProvider",
                                              onnx_sess_options=["intra_op_num_threads=1", "enable_mem_pattern=False",
                                                                 "graph_optimization_level=ORT_ENABLE_BASIC"]))
    session = backend._session
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_session_options().enable_mem_pattern is False
    assert str(session.get_session_options().graph_optimization_level).endswith("ORT_ENABLE_BASIC")
    assert backend.run(np.zeros((1, 3, 48, 192), np.float32))[0].shape == (1, 2)
    # PaddleOCR's "False" default means unset
    assert OnnxBackend(model, InferOptions(onnx_providers="False", onnx_sess_options=["False"])) is not None
    with pytest.raises(ValueError, match="TensorrtExecutionProviderX not available"):
        OnnxBackend(model, InferOptions(onnx_providers="TensorrtExecutionProviderX"))
    with pytest.raises(ValueError, match="unknown SessionOptions attribute 'intra_op_threads'; did you mean"):
        OnnxBackend(model, InferOptions(onnx_sess_options=["intra_op_threads=2"]))


def test_ir_optim_off_and_benchmark_log(tmp_path):
    """``--ir_optim False`` runs Paddle Inference without its graph passes; ``--benchmark True`` writes the
    timings to ``--save_log_path``."""
    import paddle

    from ppocr.infer.backends import PaddleBackend
    from ppocr.infer.options import InferOptions
    from ppocr.infer.runner import run

    layer = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.ReLU())
    layer.eval()
    paddle.jit.save(layer, str(tmp_path / "model" / "inference"),
                    input_spec=[paddle.static.InputSpec([None, 3, 8, 8], "float32", "x")])
    batch = np.random.default_rng(0).random((1, 3, 8, 8), dtype=np.float32)
    expected = layer(paddle.to_tensor(batch)).numpy()
    for ir_optim in (True, False):
        backend = PaddleBackend(str(tmp_path / "model"), InferOptions(ir_optim=ir_optim, enable_mkldnn=False))
        np.testing.assert_allclose(backend.run(batch)[0], expected, rtol=1e-5, atol=1e-5)

    cv2.imwrite(str(tmp_path / "word.png"), np.full((32, 100, 3), 255, np.uint8))
    log = tmp_path / "logs"
    run("rec", InferOptions(image_dir=str(tmp_path / "word.png"), draw_img_save_dir=str(tmp_path / "out"),
                            benchmark=True, save_log_path=str(log), show_log=False))
    report = json.loads((log / "rec_benchmark.json").read_text())
    assert report["task"] == "rec" and report["images"] == 1 and "rec" in report["seconds_per_image"]


def _rendered_line(tmp_path, words, gap=40):
    """A white 720×120 image with ``words`` in black; their pixel boxes."""
    from PIL import Image, ImageDraw, ImageFont

    from ppocr.data.synth.fonts import list_fonts

    fonts = list_fonts()
    font = ImageFont.truetype(next((f for f in fonts if os.path.basename(f) == "DejaVuSans.ttf"), fonts[0]), 40)
    image = Image.new("RGB", (720, 120), "white")
    draw = ImageDraw.Draw(image)
    x, boxes = 20, []
    for word in words:
        box = draw.textbbox((x, 40), word, font=font)
        draw.text((x, 40), word, fill="black", font=font)
        boxes.append(box)
        x = box[2] + gap
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR), boxes


def _iou(quad, box):
    from ppocr.metrics.iou_matching import to_polygon

    a, _ = to_polygon(quad)
    b, _ = to_polygon([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]])
    return a.intersection(b).area / a.union(b).area


@pytest.mark.parametrize("upside_down", [False, True])
def test_word_boxes_on_a_rendered_line(tmp_path, upside_down):
    """Each rendered word comes back as a word with its own box (IoU > 0.5 with where it was drawn), also
    when the page is upside down and the direction classifier turns the crop."""
    from ppocr.infer import TextSystem

    words = ["OPEN", "24", "HOURS", "daily"]
    image, boxes = _rendered_line(tmp_path, words)
    if upside_down:
        image = cv2.rotate(image, cv2.ROTATE_180)
        boxes = [(720 - x1, 120 - y1, 720 - x0, 120 - y0) for x0, y0, x1, y1 in boxes]
    # upside down the model reads "24HOURS" without its space: the wide gap splits it (word_gap_spaces, default)
    results = TextSystem(return_word_box=True, use_angle_cls=upside_down)(image)
    found = sorted((word for line in results for word in line["words"]), key=lambda w: min(x for x, _ in w["points"]))
    if upside_down:
        found.reverse()
    assert [w["text"] for w in found] == words
    for word, box in zip(found, boxes):
        assert _iou(word["points"], box) > 0.5, (word, box)


def test_word_split_at_wide_gaps_is_an_option():
    from ppocr.infer.word_boxes import CharSpan, split_words

    spans = [CharSpan(ch, x) for ch, x in zip("OPEN24", [10, 20, 30, 40, 90, 100])]
    assert [len(w) for w in split_words(spans)] == [6]
    assert ["".join(s.char for s in w) for w in split_words(spans, gap_spaces=True)] == ["OPEN", "24"]
    spaced = spans[:4] + [CharSpan(" ", 60)] + spans[4:]
    assert ["".join(s.char for s in w) for w in split_words(spaced)] == ["OPEN", "24"]


def test_results_file_lists_words(tmp_path):
    image, _ = _rendered_line(tmp_path, ["OPEN", "24", "HOURS"])
    cv2.imwrite(str(tmp_path / "line.png"), image)
    proc = subprocess.run([sys.executable, PREDICT_SYSTEM, "--image_dir", str(tmp_path / "line.png"),
                           "--draw_img_save_dir", str(tmp_path / "out"), "--return_word_box", "True"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    key, payload = (tmp_path / "out" / "system_results.txt").read_text(encoding="utf-8").rstrip("\n").split("\t")
    lines = json.loads(payload)
    assert [w["text"] for line in lines for w in line["words"]] == ["OPEN", "24", "HOURS"]
    assert all(len(w["points"]) == 4 for line in lines for w in line["words"])
