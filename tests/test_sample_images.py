"""The bundled sample images read correctly with both packaged model sets (what the README's first line runs)."""
import os

import pytest

from conftest import REPO

IMGS = os.path.join(REPO, "doc", "imgs")


def texts(results):
    return [r["transcription"] for r in results]


def test_page_reads_exactly_with_default_models():
    from ppocr import TextSystem

    got = texts(TextSystem()(os.path.join(IMGS, "page.png")))
    assert "of text into text you can search and edit." in got
    assert "Optical character recognition turns pictures" in got
    assert len(got) == 6


def test_upside_down_receipt_needs_the_angle_classifier():
    from ppocr import TextSystem

    path = os.path.join(IMGS, "receipt_upside_down.png")
    got = [t.replace(" ", "") for t in texts(TextSystem(use_angle_cls=True)(path))]
    assert {"TOTAL", "CORNERMARKET", "8.04", "Bread"} <= set(got)
    unturned = [t.replace(" ", "") for t in texts(TextSystem(use_angle_cls=False)(path))]
    assert "CORNERMARKET" not in unturned


@pytest.mark.parametrize("version", ["PP-OCRv4", "PP-OCRv6"])
def test_sign_with_each_packaged_model_set(version):
    from ppocr import TextSystem

    got = [t.replace(" ", "") for t in texts(TextSystem(ocr_version=version)(os.path.join(IMGS, "sign.jpg")))]
    assert got == ["OPEN24HOURS", "Coffee&Bakery", "42HarbourStreet"]
