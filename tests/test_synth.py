"""Synthetic data generators: fonts, text-line crops, pages, dataset writers and their command line."""
from __future__ import annotations

import json
import os
import string
import subprocess
import sys

import cv2
import lmdb
import numpy as np
import pytest
from shapely.geometry import Polygon

from ppocr.data.synth import (BACKGROUNDS, TextSampler, find_cjk_font, fonts_for_charset, list_fonts,
                              make_cls_dataset, make_det_dataset, make_rec_dataset, random_text_line, render_page,
                              render_text_line)
from ppocr.data.synth.fonts import CJK_PROBE, font_covers
from ppocr.data.synth.text_line import luma

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHITE_ON_BLACK = ((0, 0, 0), (255, 255, 255))


@pytest.fixture(scope="module")
def font() -> str:
    return next(path for path in list_fonts() if os.path.basename(path) == "DejaVuSans.ttf")


def read_labels(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t", 1) for line in f]


# ---------------------------------------------------------------- fonts

def test_dejavu_fonts_found_and_cover_ascii():
    fonts = list_fonts()
    names = {os.path.basename(path) for path in fonts}
    assert "DejaVuSans.ttf" in names and "DejaVuSerif.ttf" in names
    assert len(names) == len(fonts), "each font file name is listed once"
    assert "DejaVuSansDisplay.ttf" not in names, "fonts lacking ASCII glyphs are skipped"
    assert fonts_for_charset(string.printable.strip())


def test_cjk_font_is_none_or_really_covers_chinese():
    path = find_cjk_font()
    assert path is None or font_covers(path, CJK_PROBE)
    assert not font_covers(next(iter(list_fonts())), CJK_PROBE)


def test_fonts_for_charset_names_missing_characters():
    with pytest.raises(ValueError, match="covers the charset"):
        fonts_for_charset("\u0f00\u0f01", fonts=list_fonts()[:2])


# ---------------------------------------------------------------- text lines

@pytest.mark.parametrize("background", BACKGROUNDS)
def test_line_has_requested_height_and_varied_pixels(font, background):
    image = render_text_line("Quick 42", font, height=40, rng=np.random.default_rng(1), background=background)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] == 40 and image.shape[1] > 80
    assert np.ptp(luma(image.reshape(-1, 3))) > 60, "text must stand out from its background"


@pytest.mark.parametrize("rotation, blur, perspective", [(0, 0, 0), (4, 0, 0), (-3, 1.0, 0.15), (0, 0.8, 0.25)])
def test_ink_stays_inside_crop(font, rotation, blur, perspective):
    image = render_text_line("Hjgy|Wq@", font, height=32, rng=np.random.default_rng(3), rotation_deg=rotation,
                             blur=blur, perspective=perspective, colors=WHITE_ON_BLACK)
    gray = image.max(axis=2)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    assert border.max() < 40, "the border rows and columns must be background"
    assert (gray > 64).mean() > 0.1


def test_crop_is_tight_around_the_text(font):
    image = render_text_line("HELLO", font, height=32, rng=np.random.default_rng(0), colors=WHITE_ON_BLACK)
    ink = np.argwhere(image.max(axis=2) > 128)
    height, width = image.shape[:2]
    assert ink[:, 0].min() <= 4 and ink[:, 1].min() <= 4 and ink[:, 1].max() >= width - 5
    assert ink[:, 0].max() >= height * 0.6


def test_lines_are_deterministic_for_a_seed():
    fonts = list_fonts()
    first = random_text_line("seeded", fonts, np.random.default_rng(7))
    again = random_text_line("seeded", fonts, np.random.default_rng(7))
    other = random_text_line("seeded", fonts, np.random.default_rng(8))
    assert np.array_equal(first, again)
    assert first.shape != other.shape or not np.array_equal(first, other)


def test_bad_line_arguments_are_rejected(font):
    with pytest.raises(ValueError, match="text"):
        render_text_line("   ", font)
    with pytest.raises(ValueError, match="background"):
        render_text_line("abc", font, background="marble")


# ---------------------------------------------------------------- corpus

def test_sampler_respects_charset_lengths_and_words():
    rng = np.random.default_rng(0)
    sampler = TextSampler("abc123", length=(2, 5))
    lines = [sampler(rng) for _ in range(200)]
    assert all(set(line) <= set("abc123") and 2 <= len(line) <= 5 for line in lines)
    english = TextSampler(string.ascii_lowercase + " ", length=(3, 8), words=(2, 3), word_ratio=1.0)
    for line in (english(rng) for _ in range(50)):
        words = line.split(" ")
        assert 2 <= len(words) <= 3 and all(3 <= len(w) <= 8 for w in words)
    with pytest.raises(ValueError, match="in the charset"):
        TextSampler("abc", words=(1, 2))


# ---------------------------------------------------------------- writers

def test_rec_files_dataset(tmp_path):
    summary = make_rec_dataset(str(tmp_path), 24, seed=3, height=32)
    labels = read_labels(summary["label_file"])
    assert summary["count"] == len(labels) == 24
    assert labels[0][0] == "images/word_000001.png"
    for rel, text in labels:
        image = cv2.imread(str(tmp_path / rel))
        assert image is not None and image.shape[0] == 32
        assert text and set(text) <= set(string.digits + string.ascii_lowercase)
    again = make_rec_dataset(str(tmp_path / "again"), 24, seed=3, height=32)
    assert read_labels(again["label_file"]) == labels


def test_rec_lmdb_dataset_reads_back(tmp_path):
    summary = make_rec_dataset(str(tmp_path), 12, seed=1, fmt="lmdb", charset="en_dict.txt")
    env = lmdb.open(summary["lmdb"], readonly=True, lock=False)
    with env.begin() as txn:
        assert int(txn.get(b"num-samples")) == summary["count"] == 12
        for index in (1, 12):
            image = cv2.imdecode(np.frombuffer(txn.get(b"image-%09d" % index), np.uint8), cv2.IMREAD_COLOR)
            assert image is not None and image.shape[0] == 32
            assert txn.get(b"label-%09d" % index).decode("utf-8")
    env.close()


def test_cls_dataset_pairs_upright_and_turned_crops(tmp_path):
    summary = make_cls_dataset(str(tmp_path), 6, seed=0)
    labels = read_labels(summary["label_file"])
    assert [label for _, label in labels] == ["0", "180"] * 3
    upright, turned = (cv2.imread(str(tmp_path / rel)) for rel, _ in labels[:2])
    assert upright.shape[0] == 48
    assert np.array_equal(cv2.rotate(upright, cv2.ROTATE_180), turned)


def test_det_dataset_label_file(tmp_path):
    summary = make_det_dataset(str(tmp_path), 3, seed=0, size=320)
    labels = read_labels(summary["label_file"])
    assert summary["count"] == len(labels) == 3
    for rel, payload in labels:
        image = cv2.imread(str(tmp_path / rel))
        assert rel.endswith(".jpg") and image.shape == (320, 320, 3)
        for item in json.loads(payload):
            assert set(item) == {"transcription", "points"} and item["transcription"]
            assert len(item["points"]) == 4 and all(isinstance(v, int) for p in item["points"] for v in p)


# ---------------------------------------------------------------- pages

def test_page_quads_inside_and_disjoint():
    for seed in range(6):
        image, annotations = render_page(np.random.default_rng(seed), size=(480, 360), num_lines=(6, 12))
        assert image.shape == (360, 480, 3) and annotations
        polygons = []
        for item in annotations:
            quad = np.array(item["points"])
            assert quad.shape == (4, 2)
            assert quad[:, 0].min() >= 0 and quad[:, 0].max() < 480
            assert quad[:, 1].min() >= 0 and quad[:, 1].max() < 360
            polygon = Polygon(quad)
            assert polygon.is_valid and polygon.area > 0
            # in image coordinates (y down) clockwise order gives a positive shoelace sum
            x, y = quad[:, 0], quad[:, 1]
            assert np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0
            polygons.append(polygon)
        for i, a in enumerate(polygons):
            assert all(a.intersection(b).area == 0 for b in polygons[i + 1:])


def test_page_text_is_drawn_inside_quads_only():
    image, annotations = render_page(np.random.default_rng(5), size=(400, 400), num_lines=(5, 8),
                                     background="plain", clutter=False, noise=0.0, ignore_ratio=0.3)
    colors, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    background = colors[counts.argmax()].astype(int)
    differs = np.abs(image.astype(int) - background).max(axis=2) > 40
    covered = np.zeros(differs.shape, np.uint8)
    for item in annotations:
        quad = np.array(item["points"], np.int32)
        inside = np.zeros_like(covered)
        cv2.fillPoly(inside, [quad], 1)
        if item["transcription"] != "###":
            assert differs[inside > 0].mean() > 0.05, f"no ink in the quad of {item['transcription']!r}"
        covered |= inside
    covered = cv2.dilate(covered, np.ones((3, 3), np.uint8))
    assert not differs[covered == 0].any(), "ink outside every quad"
    assert len(annotations) >= 3


# ---------------------------------------------------------------- command line

def test_cli_writes_datasets_and_reports_bad_arguments(tmp_path):
    script = os.path.join(REPO_ROOT, "tools", "synth_text.py")
    done = subprocess.run([sys.executable, script, "rec", "--out", str(tmp_path / "rec"), "--num", "5",
                           "--seed", "2"], capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
    assert done.returncode == 0, done.stderr
    labels = read_labels(str(tmp_path / "rec" / "rec_gt.txt"))
    assert len(labels) == 5 and all((tmp_path / "rec" / rel).is_file() for rel, _ in labels)

    bad = subprocess.run([sys.executable, script, "rec", "--out", str(tmp_path / "bad"), "--num", "3",
                          "--length", "6,2"], capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
    assert bad.returncode == 2
    assert "length" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "bad" / "rec_gt.txt").exists()
