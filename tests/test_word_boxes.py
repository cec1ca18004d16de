"""Word boxes (``return_word_box``): each recognised word located on the line it was read from."""
import json
import os

import cv2
import numpy as np
import pytest

from test_infer_inputs import render_text

LINE = "Total 2024 paid"
TOLERANCE = 14  # pixels; about half a character at the 48 px text height


@pytest.fixture(scope="module")
def systems():
    from ppocr.infer import TextSystem

    return TextSystem(return_word_box=True), TextSystem(return_word_box=True, use_angle_cls=True)


def _font_extents(text, height=48, pad=16):
    """Left and right x of each word as render_text draws it."""
    from ppocr.data.synth.fonts import list_fonts, load_font

    font = load_font([p for p in list_fonts() if p.endswith("DejaVuSans.ttf")][0], height)
    left = font.getbbox(text)[0]
    extents, start = [], 0
    for word in text.split(" "):
        begin = text.index(word, start)
        end = begin + len(word)
        x1 = pad - left + font.getbbox(text[:end])[2]
        word_left, _, word_right, _ = font.getbbox(word)
        x0 = x1 - (word_right - word_left)
        extents.append((x0, x1))
        start = end
    return extents


def _x_range(points):
    xs = [x for x, _ in points]
    return min(xs), max(xs)


def test_word_boxes_cover_the_rendered_words(systems):
    upright, _ = systems
    image = render_text(LINE)
    (line,) = upright(image)
    assert [word["text"] for word in line["words"]] == line["transcription"].split()
    assert "".join(w["text"] for w in line["words"]).lower() == LINE.replace(" ", "").lower()
    line_top = min(y for _, y in line["points"])
    line_bottom = max(y for _, y in line["points"])
    for word, (x0, x1) in zip(line["words"], _font_extents(LINE)):
        low, high = _x_range(word["points"])
        assert abs(low - x0) <= TOLERANCE and abs(high - x1) <= TOLERANCE, (word, x0, x1)
        assert min(y for _, y in word["points"]) >= line_top and max(y for _, y in word["points"]) <= line_bottom
    ranges = [_x_range(word["points"]) for word in line["words"]]
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:])), "words do not overlap and keep their order"


def test_word_boxes_of_an_upside_down_line_are_mirrored(systems):
    upright, with_cls = systems
    image = render_text(LINE)
    (straight,) = upright(image)
    (turned,) = with_cls(cv2.rotate(image, cv2.ROTATE_180))
    assert [w["text"] for w in turned["words"]] == [w["text"] for w in straight["words"]]
    width = image.shape[1]
    for a, b in zip(straight["words"], turned["words"]):
        low, high = _x_range(b["points"])
        mirrored = (width - 1 - high, width - 1 - low)
        assert abs(mirrored[0] - _x_range(a["points"])[0]) <= TOLERANCE, (a, b)
        assert abs(mirrored[1] - _x_range(a["points"])[1]) <= TOLERANCE, (a, b)


def _corners(word):
    return sorted(map(tuple, word["points"]))


def test_word_box_geometry_on_tall_and_turned_crops():
    from ppocr.infer.word_boxes import CharSpan, word_boxes

    line = [CharSpan(ch, x) for ch, x in zip("ab cd", (30, 90, 150, 210, 270))]  # pitch 60 px along the crop
    tall = np.array([[10, 0], [40, 0], [40, 300], [10, 300]], np.float32)  # read top to bottom
    words = word_boxes(tall, line, (30, 300), turned=True, flipped=False)
    assert [w["text"] for w in words] == ["ab", "cd"]
    assert _corners(words[0]) == [(10, 0), (10, 120), (40, 0), (40, 120)]
    assert _corners(words[1]) == [(10, 180), (10, 300), (40, 180), (40, 300)]
    wide = np.array([[0, 10], [300, 10], [300, 40], [0, 40]], np.float32)
    upside_down = word_boxes(wide, line, (30, 300), turned=False, flipped=True)  # the classifier turned it 180°
    assert _corners(upside_down[0]) == [(180, 10), (180, 40), (300, 10), (300, 40)]
    assert _corners(upside_down[1]) == [(0, 10), (0, 40), (120, 10), (120, 40)]
    assert word_boxes(wide, [], (30, 300), turned=False, flipped=False) == []


def test_predict_system_writes_word_boxes_only_when_asked(tmp_path):
    from ppocr.infer.options import InferOptions
    from ppocr.infer.runner import run

    images = tmp_path / "in"
    images.mkdir()
    cv2.imwrite(str(images / "line.png"), render_text(LINE))
    for flag, out in ((True, "with"), (False, "without")):
        run("system", InferOptions(image_dir=str(images), draw_img_save_dir=str(tmp_path / out),
                                   return_word_box=flag, is_visualize=False))
    with_words = json.loads(open(os.path.join(tmp_path, "with", "system_results.txt")).read().split("\t", 1)[1])
    without = json.loads(open(os.path.join(tmp_path, "without", "system_results.txt")).read().split("\t", 1)[1])
    assert [w["text"] for w in with_words[0]["words"]] == with_words[0]["transcription"].split()
    assert "words" not in without[0]
