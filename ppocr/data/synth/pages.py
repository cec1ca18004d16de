"""Detection pages: text lines of varied size, angle and colour scattered over cluttered backgrounds.

Each line is drawn as a mask, rotated, and placed where its quad keeps a gap to every quad already placed, so the
labels are exact: a quad holds all of its line's ink and nothing of any other line.
"""
from __future__ import annotations

import math
import string
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from shapely.geometry import Polygon

from ppocr.data.synth.corpus import TextSampler, check_range
from ppocr.data.synth.fonts import fonts_for_charset
from ppocr.data.synth.text_line import (BACKGROUNDS, box_corners, composite, distort_corners, draw_text_mask,
                                        luma, make_background, pick_colors, text_color_against, warp_mask)

IGNORE_TEXT = "###"
PAGE_CHARSET = string.ascii_letters + string.digits + " .,:;-'!?&%/()"
Annotation = Dict[str, Union[str, List[List[int]]]]


def default_page_sampler() -> TextSampler:
    return TextSampler(PAGE_CHARSET, length=(2, 10), words=(1, 4), word_ratio=0.7)


def sample_angle(rng: np.random.Generator, max_angle: float = 30.0) -> float:
    """Mostly level text, some tilted, a few steep (up to ``max_angle`` degrees either way)."""
    draw = rng.random()
    if draw < 0.6:
        limit = min(2.0, max_angle)
    elif draw < 0.85:
        limit = min(10.0, max_angle)
    else:
        limit = max_angle
    return float(rng.uniform(-limit, limit))


def add_clutter(rng: np.random.Generator, canvas: np.ndarray, count: int) -> None:
    """Translucent rectangles, ellipses and strokes: edges a detector must learn are not text."""
    height, width = canvas.shape[:2]
    for _ in range(count):
        layer = canvas.copy()
        color = tuple(float(v) for v in rng.integers(0, 256, size=3))
        kind = int(rng.integers(3))
        x, y = int(rng.integers(width)), int(rng.integers(height))
        span = int(rng.integers(max(4, min(height, width) // 20), max(5, min(height, width) // 3)))
        if kind == 0:
            cv2.rectangle(layer, (x, y), (x + span, y + int(rng.integers(4, span + 5))), color, -1)
        elif kind == 1:
            axes = (span // 2 + 1, int(rng.integers(2, span // 2 + 3)))
            cv2.ellipse(layer, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
        else:
            points = np.column_stack([rng.integers(0, width, 4), rng.integers(0, height, 4)]).astype(np.int32)
            cv2.polylines(layer, [points], False, color, int(rng.integers(1, 4)))
        alpha = float(rng.uniform(0.2, 0.6))
        cv2.addWeighted(layer, alpha, canvas, 1.0 - alpha, 0.0, dst=canvas)


class _Placer:
    """Keeps the quads already on the page and finds free spots for new ones."""

    def __init__(self, width: int, height: int, gap: float) -> None:
        self.width, self.height, self.gap = width, height, gap
        self.taken: List[Polygon] = []

    def place(self, rng: np.random.Generator, quad: np.ndarray, size: Tuple[int, int],
              attempts: int = 20) -> Optional[Tuple[int, int]]:
        """Top-left offset for a patch of ``size`` (w, h) whose ``quad`` overlaps nothing, or None."""
        w, h = size
        if w > self.width or h > self.height:
            return None
        for _ in range(attempts):
            ox, oy = int(rng.integers(0, self.width - w + 1)), int(rng.integers(0, self.height - h + 1))
            polygon = Polygon(quad + (ox, oy))
            if not any(polygon.distance(other) < self.gap for other in self.taken):
                self.taken.append(polygon)
                return ox, oy
        return None


def render_page(rng: np.random.Generator, size: Tuple[int, int] = (640, 640),
                num_lines: Tuple[int, int] = (3, 10), fonts: Optional[Sequence[str]] = None,
                sampler: Optional[TextSampler] = None, background: Optional[str] = None, clutter: bool = True,
                noise: Optional[float] = None, ignore_ratio: float = 0.1, max_angle: float = 30.0,
                font_size: Optional[Tuple[int, int]] = None) -> Tuple[np.ndarray, List[Annotation]]:
    """A BGR uint8 page of ``size`` (width, height) and its PaddleOCR annotations.

    ``background`` is one of BACKGROUNDS or None for a random one; ``noise`` a Gaussian sigma (None: random).
    A line is marked "###" (illegible) with probability ``ignore_ratio``: drawn tiny or heavily blurred, and
    its quad then also holds the blur. Fewer lines than asked are drawn when the page runs out of free space.
    """
    width, height = int(size[0]), int(size[1])
    if width < 32 or height < 32:
        raise ValueError(f"size: expected at least 32x32 pixels, got {size}")
    num_lines = check_range("num_lines", num_lines, minimum=0)
    size_range = check_range("font_size", font_size, minimum=5) if font_size else None
    sampler = sampler or default_page_sampler()
    fonts = list(fonts) if fonts else fonts_for_charset(sampler.chars)
    short_side = min(width, height)
    size_range = size_range or (max(10, short_side // 40), max(12, short_side // 10))
    kind = background or BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]

    base, _ = pick_colors(rng)
    canvas = make_background(rng, height, width, base, kind, swing=float(rng.uniform(15.0, 40.0)))
    if clutter:
        add_clutter(rng, canvas, int(rng.integers(0, 8)))

    placer = _Placer(width, height, gap=max(3.0, short_side / 200))
    annotations: List[Annotation] = []
    for _ in range(int(rng.integers(num_lines[0], num_lines[1] + 1))):
        illegible = rng.random() < ignore_ratio
        text = sampler(rng)
        font = fonts[int(rng.integers(len(fonts)))]
        tiny = illegible and rng.random() < 0.5
        px = int(rng.integers(5, 9)) if tiny else int(rng.integers(size_range[0], size_range[1] + 1))
        drawn = draw_text_mask(text, font, px)
        ink_w = drawn.ink[2] - drawn.ink[0]
        if ink_w > 0.9 * width:
            px = int(px * 0.9 * width / ink_w)
            if px < 5:
                continue
            drawn = draw_text_mask(text, font, px)
        if illegible and not tiny:
            blur = float(rng.uniform(0.12, 0.2)) * px
        else:
            blur = float(rng.uniform(0.3, 1.2)) if rng.random() < 0.2 else 0.0
        angle = sample_angle(rng, max_angle)
        src = box_corners(drawn.ink)
        label = distort_corners(box_corners(drawn.ink, grow=1.0 + math.ceil(2.0 * blur)), angle)
        low = np.floor(label.min(axis=0)) - 1
        patch_w, patch_h = (np.ceil(label.max(axis=0)) + 2 - low).astype(int)
        offset = placer.place(rng, label - low, (patch_w, patch_h))
        if offset is None:
            continue
        mask = warp_mask(drawn.mask, src, distort_corners(src, angle) - low, (patch_w, patch_h))
        if blur > 0:
            mask = cv2.GaussianBlur(mask, (0, 0), blur)
        ox, oy = offset
        region = canvas[oy:oy + patch_h, ox:ox + patch_w]
        under = luma(region[mask > 0]) if np.any(mask) else np.atleast_1d(luma(region.mean(axis=(0, 1))))
        color = text_color_against(rng, (float(np.percentile(under, 5)), float(np.percentile(under, 95))))
        composite(region, mask, color)
        annotations.append({"transcription": IGNORE_TEXT if illegible else text,
                            "points": np.rint(label - low + (ox, oy)).astype(int).tolist()})

    sigma = noise if noise is not None else (float(rng.uniform(0.0, 6.0)) if rng.random() < 0.5 else 0.0)
    if sigma > 0:
        canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * sigma
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8), annotations
