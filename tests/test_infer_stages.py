"""Stage predictors on the packaged PP-OCRv4 models, and both backends on a freshly exported tiny CRNN."""
import importlib
import importlib.util
import logging
import os
import sys

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import REPO, tiny_rec_config, write_config
from ppocr.infer.backends import OnnxBackend, PaddleBackend, create_backend
from ppocr.infer.classifier import TextClassifier
from ppocr.infer.detector import TextDetector, resize_args
from ppocr.infer.model_meta import pick
from ppocr.infer.options import InferOptions
from ppocr.infer.presets import PRESETS, default_model_paths
from ppocr.infer.recognizer import TextRecognizer, character_list

FONT_SIZE = 34
PAGE_LINES = [((60, 50), "Hello World 2026"), ((90, 170), "Invoice total 13.50 EUR")]
HAS_V4 = importlib.util.find_spec(PRESETS["PP-OCRv4"].package) is not None
needs_v4 = pytest.mark.skipif(not HAS_V4, reason="PP-OCRv4 models come from rapidocr_onnxruntime")


def _font():
    from ppocr.data.synth.fonts import list_fonts

    fonts = list_fonts()
    sans = [f for f in fonts if os.path.basename(f) == "DejaVuSans.ttf"]
    return ImageFont.truetype((sans or fonts)[0], FONT_SIZE)


def _to_bgr(pil_img):
    return cv2.cvtColor(np.asarray(pil_img), cv2.COLOR_RGB2BGR)


def render_crop(text, pad=8):
    """A clean black-on-white line with ``pad`` px of margin."""
    font = _font()
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), "white")
    ImageDraw.Draw(img).text((pad - left, pad - top), text, font=font, fill="black")
    return _to_bgr(img)


@pytest.fixture(scope="module")
def page():
    """A 640×300 page and the known ink boxes (x0, y0, x1, y1) of its lines."""
    font = _font()
    img = Image.new("RGB", (640, 300), "white")
    draw = ImageDraw.Draw(img)
    boxes = []
    for xy, text in PAGE_LINES:
        draw.text(xy, text, font=font, fill="black")
        boxes.append(draw.textbbox(xy, text, font=font))
    return _to_bgr(img), boxes


@pytest.fixture(scope="module")
def options():
    return InferOptions(cpu_threads=2)


@pytest.fixture(scope="module")
def detector(options):
    return TextDetector(options)


@pytest.fixture(scope="module")
def recognizer(options):
    return TextRecognizer(options)


def box_iou(quad, box):
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    ix = max(0.0, min(x1, box[2]) - max(x0, box[0]))
    iy = max(0.0, min(y1, box[3]) - max(y0, box[1]))
    inter = ix * iy
    union = (x1 - x0) * (y1 - y0) + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / union


@needs_v4
def test_detector_finds_each_rendered_line(detector, page):
    img, truth = page
    boxes, elapsed = detector(img)
    assert boxes.dtype == np.float32 and boxes.shape == (len(truth), 4, 2)
    assert elapsed > 0
    for box in truth:
        assert max(box_iou(quad, box) for quad in boxes) > 0.5, (box, boxes.tolist())
    # clockwise from the top-left: top edge above the bottom edge, left edge left of the right edge
    assert np.all(boxes[:, 0, 0] < boxes[:, 1, 0]) and np.all(boxes[:, 0, 1] < boxes[:, 3, 1])


@needs_v4
def test_detector_takes_gray_bgra_tiny_and_blank_images(detector, page):
    img, truth = page
    gray_boxes, _ = detector(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    bgra_boxes, _ = detector(cv2.cvtColor(img, cv2.COLOR_BGR2BGRA))
    assert len(gray_boxes) == len(bgra_boxes) == len(truth)
    for found in (detector(np.zeros((1, 1, 3), np.uint8))[0], detector(np.full((200, 300), 255, np.uint8))[0]):
        assert found.shape == (0, 4, 2) and found.dtype == np.float32


@needs_v4
def test_recognizer_reads_clean_crops_in_input_order_across_batches(options):
    texts = ["Hello World 2026", "OK", "Invoice total 13.50 EUR", "ppocr", "42"]
    crops = [render_crop(t) for t in texts]
    # batch size 2 over 5 crops of very different widths: sorted batches, results back in input order
    results, elapsed = TextRecognizer(options.replace(rec_batch_num=2))(crops)
    assert [text for text, _ in results] == texts
    assert all(score > 0.8 for _, score in results) and elapsed > 0


@needs_v4
def test_recognizer_empty_inputs(recognizer):
    assert recognizer([])[0] == []
    results, _ = recognizer([np.zeros((0, 10, 3), np.uint8), render_crop("2026"), np.zeros((5, 0), np.uint8)])
    assert results[0] == ("", 0.0) and results[2] == ("", 0.0) and results[1][0] == "2026"


@needs_v4
def test_classifier_turns_upside_down_crops_back(options, recognizer):
    upright = render_crop("Hello World 2026")
    flipped = cv2.rotate(upright, cv2.ROTATE_180)
    turned, labels, _ = TextClassifier(options)([upright, flipped])
    assert [label for label, _ in labels] == ["0", "180"]
    assert turned[0] is upright
    np.testing.assert_array_equal(turned[1], upright)
    assert recognizer([turned[1]])[0][0][0] == "Hello World 2026"


@pytest.fixture(scope="module")
def tiny_export(rec_data, tmp_path_factory):
    """A random-init tiny CRNN exported by tools/export_model.py and converted with paddle2onnx (both
    in-process: a subprocess would pay paddle's import time again)."""
    import paddle

    from ppocr.modeling.architectures import build_model, with_class_count
    from ppocr.postprocess import build_post_process

    out = tmp_path_factory.mktemp("tiny_rec")
    config = tiny_rec_config(rec_data, out)
    paddle.seed(3)
    post = build_post_process(config["PostProcess"], config["Global"])
    model = build_model(with_class_count(config["Architecture"], post))
    paddle.save(model.state_dict(), str(out / "random.pdparams"))
    cfg_path = write_config(config, out / "tiny.yml")
    export_dir = out / "inference"
    sys.path.insert(0, os.path.join(REPO, "tools"))
    try:
        export_tool = importlib.import_module("export_model")
    finally:
        sys.path.pop(0)
    ppocr_logger = logging.getLogger("ppocr")
    saved = (list(ppocr_logger.handlers), ppocr_logger.level, ppocr_logger.propagate)
    try:
        assert export_tool.main(["-c", cfg_path, "-o", f"Global.pretrained_model={out / 'random'}",
                                 f"Global.save_inference_dir={export_dir}"]) == 0
    finally:  # the tool configures logging for a command line; give the test session its own back
        ppocr_logger.handlers[:], ppocr_logger.level, ppocr_logger.propagate = saved
    import paddle2onnx

    paddle2onnx.export(str(export_dir / "inference.json"), str(export_dir / "inference.pdiparams"),
                       save_file=str(export_dir / "inference.onnx"))
    return export_dir


def test_paddle_and_onnx_backends_agree(tiny_export):
    options = InferOptions(cpu_threads=2)
    paddle_backend = create_backend(str(tiny_export), options)
    onnx_backend = create_backend(str(tiny_export), options.replace(use_onnx=True))
    assert isinstance(paddle_backend, PaddleBackend) and isinstance(onnx_backend, OnnxBackend)
    assert paddle_backend.metadata["Global"]["model_type"] == "rec"
    rng = np.random.default_rng(0)
    for width in (100, 164):
        batch = rng.uniform(-1, 1, (3, 3, 32, width)).astype(np.float32)
        expected, = paddle_backend.run(batch)
        got, = onnx_backend.run(batch)
        assert expected.shape[0] == 3 and expected.shape[2] == 37
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_use_gpu_without_cuda_falls_back_to_cpu_with_a_warning(tiny_export, caplog):
    import onnxruntime
    import paddle

    if paddle.device.is_compiled_with_cuda() or "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine can run on a GPU")
    options = InferOptions(use_gpu=True, use_tensorrt=True, cpu_threads=1)
    batch = np.zeros((1, 3, 32, 100), np.float32)
    with caplog.at_level("WARNING", logger="ppocr.infer.backends"):
        outputs = [PaddleBackend(str(tiny_export), options).run(batch)[0],
                   OnnxBackend(str(tiny_export / "inference.onnx"), options).run(batch)[0]]
    assert caplog.text.count("running on CPU") == 2
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)


def test_recognizer_uses_exported_metadata_and_checks_class_count(tiny_export):
    crops = [render_crop("ab12"), render_crop("a much longer line 123")]
    paddle_rec = TextRecognizer(InferOptions(rec_model_dir=str(tiny_export), cpu_threads=2))
    onnx_rec = TextRecognizer(InferOptions(rec_model_dir=str(tiny_export / "inference.onnx"), cpu_threads=2))
    assert paddle_rec.image_shape == [3, 32, 100] == onnx_rec.image_shape  # from inference.yml
    assert len(paddle_rec.character) == 37  # blank + 0-9a-z as trained, no space added
    assert [t for t, _ in paddle_rec(crops)[0]] == [t for t, _ in onnx_rec(crops)[0]]
    wrong = TextRecognizer(InferOptions(rec_model_dir=str(tiny_export), rec_char_dict_path="en_dict.txt"))
    with pytest.raises(ValueError, match="predicts 37 classes but the character list has 96"):
        wrong(crops)


def test_create_backend_explains_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_backend(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="inference.json"):
        create_backend(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="use_onnx"):
        create_backend(str(tmp_path), InferOptions(use_onnx=True))


def test_presets_locate_packaged_models_and_name_the_fix():
    with pytest.raises(ValueError, match="unknown ocr_version 'PP-OCRv9'.*PP-OCRv4, PP-OCRv6"):
        default_model_paths("PP-OCRv9")
    if HAS_V4:
        paths = default_model_paths("pp-ocrv4")
        assert sorted(paths) == ["cls", "det", "rec"] and all(p.endswith(".onnx") for p in paths.values())
    if importlib.util.find_spec("rapidocr") is None:
        with pytest.raises(ModuleNotFoundError, match=r"pip install rapidocr==3\.10\.0"):
            default_model_paths("PP-OCRv6")


def test_model_settings_are_defaults_and_explicit_options_win():
    recorded = {"limit_side_len": 736, "limit_type": "min"}
    assert resize_args(InferOptions(), recorded) == recorded
    assert resize_args(InferOptions(det_limit_side_len=1280), recorded) == {"limit_side_len": 1280, "limit_type": "min"}
    assert resize_args(InferOptions(), {}) == {"limit_side_len": 1024, "limit_type": "max"}
    assert resize_args(InferOptions(), {"resize_long": 640}) == {"resize_long": 640}
    assert pick(InferOptions(), "det_db_box_thresh", 0.7) == 0.7
    assert pick(InferOptions(det_db_box_thresh=0.4), "det_db_box_thresh", 0.7) == 0.4
    # an ONNX character list is a dict file: the space is appended; inference.yml's list is used as trained
    assert character_list(InferOptions(), {"character": "a\nb"}) == ["blank", "a", "b", " "]
    assert character_list(InferOptions(), {"PostProcess": {"character_dict": ["a", "b"]}}) == ["blank", "a", "b"]


def test_an_option_given_at_its_default_value_still_wins_over_the_model():
    """A user who writes --det_limit_side_len 1024 (the default) gets 1024, not the 960 a model recorded."""
    from ppocr.cli import infer_parser, options_from_args

    recorded = {"limit_side_len": 960, "limit_type": "max"}
    default = InferOptions().det_limit_side_len
    assert resize_args(InferOptions(), recorded) == recorded
    assert resize_args(InferOptions(det_limit_side_len=default), recorded)["limit_side_len"] == default
    assert resize_args(InferOptions().replace(det_limit_side_len=default), recorded)["limit_side_len"] == default
    assert pick(InferOptions(det_db_box_thresh=0.6), "det_db_box_thresh", 0.7) == 0.6
    parser = infer_parser()
    given = options_from_args(parser.parse_args(["--det_limit_side_len", str(default), "--use_angle_cls"]))
    assert given.given == {"det_limit_side_len", "use_angle_cls"} and given.use_angle_cls is True
    assert resize_args(given, recorded)["limit_side_len"] == default
    assert resize_args(options_from_args(parser.parse_args([])), recorded) == recorded
    import pickle

    assert pickle.loads(pickle.dumps(given.replace(cpu_threads=1))).given == {"det_limit_side_len", "use_angle_cls",
                                                                               "cpu_threads"}
