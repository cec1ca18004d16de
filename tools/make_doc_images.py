"""Render the sample images in ``doc/imgs/`` (the project makes its own; nothing is copied in).

``python tools/make_doc_images.py --out doc/imgs``
"""
import argparse
import logging
import os

import _path  # noqa: F401
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ppocr.data.synth.fonts import list_fonts, load_font
from ppocr.data.synth.pages import render_page
from ppocr.utils.cli import run_main
from ppocr.utils.io import atomic_write
from ppocr.utils.logging import setup_logging

PAGE_TEXT = [
    "Optical character recognition turns pictures",
    "of text into text you can search and edit.",
    "This page was drawn by ppocr itself, so the",
    "sample images carry no outside material.",
    "Invoice 2026-0417   Total due: 1,284.50 EUR",
    "Contact: support@example.org  +49 30 1234567",
]
SIGN_TEXT = ["OPEN 24 HOURS", "Coffee & Bakery", "42 Harbour Street"]
RECEIPT_TEXT = ["CORNER MARKET", "Apples 2kg      4.80", "Bread           2.15", "Milk 1L         1.09",
                "TOTAL           8.04"]


def _font(name_part: str) -> str:
    fonts = list_fonts()
    for path in fonts:
        if name_part.lower() in os.path.basename(path).lower():
            return path
    return fonts[0]


def _draw_lines(size, lines, font_path, font_size, origin, spacing, fill, background):
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    font = load_font(font_path, font_size)
    x, y = origin
    for line in lines:
        draw.text((x, y), line, font=font, fill=fill)
        y += spacing
    return image


def page() -> np.ndarray:
    image = _draw_lines((900, 420), PAGE_TEXT, _font("DejaVuSerif.ttf"), 26, (40, 40), 56, (20, 20, 20),
                        (250, 248, 240))
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def sign() -> np.ndarray:
    w, h = 720, 400
    gradient = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    base = (np.array([30, 60, 120], np.float32) * (1 - gradient) + np.array([10, 20, 60], np.float32) * gradient)
    image = Image.fromarray(np.broadcast_to(base, (h, w, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for text, size, y in zip(SIGN_TEXT, (64, 44, 36), (60, 170, 260)):
        font = load_font(_font("DejaVuSans-Bold.ttf"), size)
        width = draw.textlength(text, font=font)
        draw.text(((w - width) / 2, y), text, font=font, fill=(255, 236, 180))
    image = image.rotate(4, resample=Image.BICUBIC, expand=False, fillcolor=(10, 20, 60))
    noisy = np.asarray(image.filter(ImageFilter.GaussianBlur(0.6))).astype(np.int16)
    noisy += np.random.default_rng(3).normal(0, 6, noisy.shape).astype(np.int16)
    return cv2.cvtColor(np.clip(noisy, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


def receipt_upside_down() -> np.ndarray:
    image = _draw_lines((520, 330), RECEIPT_TEXT, _font("DejaVuSansMono.ttf"), 28, (40, 30), 58, (30, 30, 30),
                        (255, 255, 255))
    return cv2.rotate(cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR), cv2.ROTATE_180)


def scene() -> np.ndarray:
    image, _ = render_page(np.random.default_rng(7), size=(640, 480), num_lines=(5, 7), ignore_ratio=0.0)
    return image


SAMPLES = {"page.png": page, "sign.jpg": sign, "receipt_upside_down.png": receipt_upside_down, "scene.jpg": scene}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="doc/imgs", help="output folder")
    args = parser.parse_args(argv)
    setup_logging()
    for name, make in SAMPLES.items():
        ok, buf = cv2.imencode(os.path.splitext(name)[1], make())
        if not ok:
            raise RuntimeError(f"could not encode {name}")
        with atomic_write(os.path.join(args.out, name), "wb") as f:
            f.write(buf.tobytes())
        logging.getLogger("ppocr.samples").info("wrote %s", os.path.join(args.out, name))
    return 0


if __name__ == "__main__":
    run_main(main)
