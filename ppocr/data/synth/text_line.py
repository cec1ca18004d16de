"""Render one line of text as a recognition crop, the way a detector would cut it from a photo.

The text is drawn as an alpha mask with a real font, warped (rotation, perspective) and only then composited on a
background, so every geometric step keeps track of the box around the ink: the crop is that box plus a small
margin, and no ink is ever cut off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ppocr.data.synth.fonts import load_font

BACKGROUNDS = ("plain", "noise", "gradient", "texture")
Color = Tuple[int, int, int]
# Luma gap between text and background colours; backgrounds vary by at most BACKGROUND_SWING around their base,
# so the worst local contrast stays near MIN_CONTRAST - 2 * BACKGROUND_SWING.
MIN_CONTRAST = 100.0
BACKGROUND_SWING = 28.0


@dataclass
class TextMask:
    """Alpha mask of rendered text with two boxes in its pixel coordinates (x0, y0, x1, y1):
    ``ink`` is tight around the drawn pixels, ``line`` also spans cap height to descender so that
    crops of short or low words ("ace", "...") keep a natural text height."""

    mask: np.ndarray
    ink: Tuple[int, int, int, int]
    line: Tuple[int, int, int, int]


LUMA_WEIGHTS = np.array([0.114, 0.587, 0.299], np.float32)


def luma(color: Union[Sequence[float], np.ndarray]) -> Union[float, np.ndarray]:
    """Perceived brightness of a BGR colour, or of each colour along the last axis of an array."""
    values = np.asarray(color, np.float32)[..., :3] @ LUMA_WEIGHTS
    return float(values) if values.ndim == 0 else values


def pick_colors(rng: np.random.Generator, min_contrast: float = MIN_CONTRAST) -> Tuple[Color, Color]:
    """(background, text) colours at least ``min_contrast`` apart in luma; dark on light most of the time."""
    dark_text = rng.random() < 0.7
    for _ in range(50):
        light = rng.integers(140, 256, size=3)
        dark = rng.integers(0, 110, size=3)
        bg, fg = (light, dark) if dark_text else (dark, light)
        if abs(luma(bg) - luma(fg)) >= min_contrast:
            return tuple(int(v) for v in bg), tuple(int(v) for v in fg)
    return ((255, 255, 255), (0, 0, 0)) if dark_text else ((0, 0, 0), (255, 255, 255))


def text_color_against(rng: np.random.Generator, region_luma: Tuple[float, float],
                       min_contrast: float = 90.0) -> Color:
    """A text colour whose luma is at least ``min_contrast`` outside the (low, high) luma range of what lies
    beneath it; black or white when no such colour exists."""
    low, high = region_luma
    for _ in range(30):
        color = rng.integers(0, 256, size=3)
        value = luma(color)
        if value <= low - min_contrast or value >= high + min_contrast:
            return tuple(int(v) for v in color)
    return (0, 0, 0) if 255 - high < low else (255, 255, 255)


def make_background(rng: np.random.Generator, height: int, width: int, color: Color,
                    kind: str = "plain", swing: float = BACKGROUND_SWING) -> np.ndarray:
    """float32 BGR canvas around ``color``; departures from it stay within about ``swing`` grey levels."""
    if kind not in BACKGROUNDS:
        raise ValueError(f"background: expected one of {BACKGROUNDS}, got {kind!r}")
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = color
    if kind == "noise":
        sigma = rng.uniform(0.15, 0.35) * swing
        canvas += rng.standard_normal((height, width, 3), dtype=np.float32) * sigma
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = xs * math.cos(angle) + ys * math.sin(angle)
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0) * 2.0 - 1.0
        tint = rng.uniform(0.4, 1.0, size=3).astype(np.float32) * swing * rng.choice([-1.0, 1.0])
        canvas += ramp[..., None] * tint
    elif kind == "texture":
        cell = int(rng.integers(4, 16)) * max(1, min(height, width) // 160)
        coarse = rng.standard_normal((height // cell + 2, width // cell + 2, 3), dtype=np.float32)
        blobs = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        canvas += blobs * (0.45 * swing) + rng.standard_normal((height, width, 1), dtype=np.float32) * 0.1 * swing
    return canvas


def draw_text_mask(text: str, font_path: str, size: int, pad: int = 2) -> TextMask:
    """Draw ``text`` in white on black with ``pad`` empty pixels around the line box."""
    if not text or text.isspace():
        raise ValueError(f"text: expected visible characters, got {text!r}")
    font = load_font(font_path, size)
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    _, cap_top, _, desc_bottom = font.getbbox("Hg", anchor="ls")
    top_line, bottom_line = min(top, cap_top), max(bottom, desc_bottom)
    origin = (pad - left, pad - top_line)
    image = Image.new("L", (right - left + 2 * pad, bottom_line - top_line + 2 * pad), 0)
    ImageDraw.Draw(image).text(origin, text, font=font, fill=255, anchor="ls")
    mask = np.asarray(image)
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0:
        raise ValueError(f"text: font {font_path} draws nothing for {text!r}")
    line = (x, pad, x + w, pad + bottom_line - top_line)
    return TextMask(mask, (x, y, x + w, y + h), (line[0], min(line[1], y), line[2], max(line[3], y + h)))


def box_corners(box: Tuple[float, float, float, float], grow: float = 0.0) -> np.ndarray:
    """Corners of a pixel box as continuous coordinates (pixel centres on integers), clockwise from top-left."""
    x0, y0, x1, y1 = box
    x0, y0, x1, y1 = x0 - 0.5 - grow, y0 - 0.5 - grow, x1 - 0.5 + grow, y1 - 0.5 + grow
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def distort_corners(corners: np.ndarray, rotation_deg: float, jitter: Optional[np.ndarray] = None) -> np.ndarray:
    """Move the corners by ``jitter`` (perspective) then rotate them about their centre; positive degrees turn
    the text counter-clockwise on screen."""
    moved = corners + (jitter if jitter is not None else 0.0)
    centre = corners.mean(axis=0)
    theta = math.radians(rotation_deg)
    rot = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]], np.float32)
    return ((moved - centre) @ rot.T + centre).astype(np.float32)


def warp_mask(mask: np.ndarray, src: np.ndarray, dst: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Warp ``mask`` so that the quad ``src`` lands on ``dst`` in an output of ``size`` (width, height)."""
    matrix = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
    return cv2.warpPerspective(mask, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)


def composite(background: np.ndarray, mask: np.ndarray, color: Color) -> np.ndarray:
    """Blend ``color`` over a float32 background where the mask is set (in place, returns it)."""
    alpha = mask.astype(np.float32)[..., None] * (1.0 / 255.0)
    background += alpha * (np.asarray(color, np.float32) - background)
    return background


def render_text_line(text: str, font_path: str, height: int = 32, rng: Optional[np.random.Generator] = None,
                     background: str = "plain", rotation_deg: float = 0.0, blur: float = 0.0,
                     perspective: float = 0.0, noise: float = 0.0, margin: float = 0.06,
                     colors: Optional[Tuple[Color, Color]] = None) -> np.ndarray:
    """A ``height``-pixel BGR uint8 crop of ``text``: line box plus ``margin`` × height on each side (more when
    blurred, so the blur stays inside). ``perspective`` moves each corner by up to that fraction of the line
    height; ``blur`` is a Gaussian sigma and ``noise`` a Gaussian sigma in grey levels, both in output pixels.
    ``colors`` = (background, text); random with enough contrast when None."""
    if height < 8:
        raise ValueError(f"height: expected at least 8 pixels, got {height}")
    if perspective < 0 or blur < 0 or noise < 0:
        raise ValueError("perspective, blur and noise must not be negative")
    rng = rng if rng is not None else np.random.default_rng()
    bg_color, fg_color = colors if colors is not None else pick_colors(rng)
    pad_px = max(1, round(margin * height)) + math.ceil(2.0 * blur)
    inner = height - 2 * pad_px
    if inner < 4:
        raise ValueError(f"height {height} leaves no room for text with margin {margin} and blur {blur}")

    drawn = draw_text_mask(text, font_path, size=max(6, round(inner * 1.02)))
    src = box_corners(drawn.line)
    jitter = None
    if perspective > 0:
        line_h = drawn.line[3] - drawn.line[1]
        jitter = rng.uniform(-1.0, 1.0, size=(4, 2)).astype(np.float32) * perspective * line_h
    dst = distort_corners(src, rotation_deg, jitter)
    low, high = dst.min(axis=0), dst.max(axis=0)
    scale = inner / float(high[1] - low[1])
    width = max(2 * pad_px + 1, math.ceil((high[0] - low[0]) * scale) + 2 * pad_px)
    dst = (dst - low) * scale + pad_px - 0.5
    mask = warp_mask(drawn.mask, src, dst, (width, height))

    canvas = make_background(rng, height, width, bg_color, background)
    composite(canvas, mask, fg_color)
    if blur > 0:
        canvas = cv2.GaussianBlur(canvas, (0, 0), blur)
    if noise > 0:
        canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * noise
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def random_text_line(text: str, fonts: Sequence[str], rng: np.random.Generator, height: int = 32) -> np.ndarray:
    """``render_text_line`` with a random font and a random mix of the degradations real crops show."""
    if not fonts:
        raise ValueError("fonts: expected at least one font path")
    font = fonts[int(rng.integers(len(fonts)))]
    background = BACKGROUNDS[int(rng.choice(len(BACKGROUNDS), p=[0.35, 0.2, 0.2, 0.25]))]
    rotation = float(np.clip(rng.normal(0.0, 1.2), -3.0, 3.0)) if rng.random() < 0.5 else 0.0
    blur = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.4 else 0.0
    perspective = float(rng.uniform(0.0, 0.15)) if rng.random() < 0.3 else 0.0
    noise = float(rng.uniform(2.0, 8.0)) if rng.random() < 0.5 else 0.0
    return render_text_line(text, font, height=height, rng=rng, background=background, rotation_deg=rotation,
                            blur=blur, perspective=perspective, noise=noise)
