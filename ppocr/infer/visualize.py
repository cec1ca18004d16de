"""Pictures of inference results for people to check: boxes on the image, the read text beside it.

Text is drawn with a real TrueType font (DejaVu from matplotlib, or ``vis_font_path``), switching to a
CJK font for lines the default font cannot draw when the machine has one. Very large inputs are
drawn at a reduced size: the picture is for looking at, not for measuring.
"""
from __future__ import annotations

import functools
import logging
import os
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ppocr.data.synth import fonts

logger = logging.getLogger(__name__)

MAX_VISUAL_SIDE = 2560
MIN_FONT_SIZE = 8
_WRITABLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Distinct, readable colours (BGR), cycled over the boxes.
_PALETTE = ((0, 0, 255), (0, 160, 0), (255, 0, 0), (0, 140, 255), (200, 0, 200), (160, 160, 0),
            (0, 200, 200), (120, 60, 180), (40, 90, 160), (90, 160, 40))


def visual_path(save_dir: str, key: str) -> str:
    """Where the picture for a results key goes: the key's relative path, in a format cv2 can write.

    Keys that are absolute or climb out of the input folder use their file name only, so a visual can
    never land on (and overwrite) an input.
    """
    name = key.replace("#page", "_page")
    parts = name.replace("\\", "/").split("/")
    if os.path.isabs(name) or ".." in parts:
        name = parts[-1]
    if not name.lower().endswith(_WRITABLE_EXTENSIONS):
        name += ".jpg"
    return os.path.join(save_dir, *name.split("/"))


def save_image(path: str, img: np.ndarray) -> None:
    """cv2.imwrite that works for non-ASCII paths and reports failures instead of returning False."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    ok, encoded = cv2.imencode(os.path.splitext(path)[1] or ".jpg", img)
    if not ok:
        raise OSError(f"cannot encode image for {path}")
    encoded.tofile(path)


@functools.lru_cache(maxsize=1)
def default_font() -> str:
    available = fonts.list_fonts()
    if not available:
        raise FileNotFoundError("no TrueType font found for drawing results (install matplotlib or pass "
                                "vis_font_path)")
    regular = [path for path in available if os.path.basename(path) == "DejaVuSans.ttf"]
    return regular[0] if regular else available[0]


def font_for(text: str, font_path: Optional[str] = None) -> str:
    """The font to draw ``text`` with: the user's, else DejaVu, else a CJK font when DejaVu lacks glyphs."""
    if font_path:
        return font_path
    base = default_font()
    if fonts.font_covers(base, text):
        return base
    cjk = fonts.find_cjk_font()
    return cjk if cjk and fonts.font_covers(cjk, text) else base


def _reduced(img: np.ndarray, max_side: int) -> Tuple[np.ndarray, float]:
    scale = min(1.0, max_side / float(max(img.shape[:2])))
    if scale >= 1.0:
        return img.copy(), 1.0
    size = (max(1, int(img.shape[1] * scale)), max(1, int(img.shape[0] * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA), scale


def _as_bgr(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img


def draw_boxes(img: np.ndarray, boxes: Sequence, max_side: int = MAX_VISUAL_SIDE) -> np.ndarray:
    """Detected quads outlined on a copy of the image."""
    canvas, scale = _reduced(_as_bgr(img), max_side)
    thickness = max(1, round(max(canvas.shape[:2]) / 600))
    for index, box in enumerate(boxes):
        pts = np.round(np.asarray(box, dtype=np.float32) * scale).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [pts], True, _PALETTE[index % len(_PALETTE)], thickness, cv2.LINE_AA)
    return canvas


def _fit_font(draw: ImageDraw.ImageDraw, text: str, font_path: str, box_w: float, box_h: float):
    size = max(MIN_FONT_SIZE, int(box_h * 0.8))
    font = fonts.load_font(font_path, size)
    width = draw.textlength(text, font=font)
    if width > box_w > 0 and size > MIN_FONT_SIZE:
        size = max(MIN_FONT_SIZE, int(size * box_w / width))
        font = fonts.load_font(font_path, size)
    return font


def _draw_text(draw: ImageDraw.ImageDraw, text: str, quad: np.ndarray, color: Tuple[int, int, int],
               font_path: Optional[str]) -> None:
    """Text set inside its box: left to right, or one character per row for tall (vertical) boxes."""
    box_w = float(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[3] - quad[2])))
    box_h = float(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    left, top = float(quad[:, 0].min()), float(quad[:, 1].min())
    path = font_for(text, font_path)
    if box_h >= 1.5 * box_w and len(text) > 1:
        size = max(MIN_FONT_SIZE, int(min(box_w, box_h / len(text))))
        font = fonts.load_font(path, size)
        for row, char in enumerate(text):
            draw.text((left, top + row * size), char, fill=color, font=font)
        return
    font = _fit_font(draw, text, path, box_w, box_h)
    draw.text((left, top), text, fill=color, font=font)


def draw_ocr(img: np.ndarray, results: List[dict], font_path: Optional[str] = None,
             max_side: int = MAX_VISUAL_SIDE) -> np.ndarray:
    """The image with tinted boxes on the left; a white panel with each box's text at its place on the right."""
    left, scale = _reduced(_as_bgr(img), max_side)
    tint = left.copy()
    panel = Image.new("RGB", (left.shape[1], left.shape[0]), (255, 255, 255))
    draw = ImageDraw.Draw(panel)
    for index, item in enumerate(results):
        color = _PALETTE[index % len(_PALETTE)]
        quad = np.asarray(item["points"], dtype=np.float32).reshape(-1, 2) * scale
        pts = np.round(quad).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(tint, [pts], color)
        cv2.polylines(left, [pts], True, color, 1, cv2.LINE_AA)
        rgb = color[::-1]
        draw.polygon([tuple(p) for p in quad.tolist()], outline=rgb)
        _draw_text(draw, str(item.get("transcription", "")), quad, rgb, font_path)
    left = cv2.addWeighted(left, 0.6, tint, 0.4, 0)
    right = cv2.cvtColor(np.asarray(panel), cv2.COLOR_RGB2BGR)
    return np.hstack([left, right])
