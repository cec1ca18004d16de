"""Word boxes from a CTC line recogniser (PaddleOCR's ``--return_word_box``).

A CTC model emits one class per time step, and each step covers a fixed slice of the resized line, so
every decoded character has a position along the crop. Words are the runs of characters between
predicted spaces; with ``gap_spaces`` a gap much wider than the line's character pitch also ends a word
(a model may drop the space between widely spaced words, "OPEN24HOURS"). Each word's span along the
crop is mapped back through the crop geometry (perspective straightening, the 90° turn of tall crops,
the classifier's 180° turn) to a quad in the image.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

# A gap between character centres above this many median pitches counts as a space (gap_spaces).
GAP_PITCHES = 2.0


@dataclasses.dataclass
class CharSpan:
    """A decoded character and the centre of its time steps, in crop pixels."""

    char: str
    center: float


def char_spans(ids: np.ndarray, character: Sequence[str], steps: int, input_width: int,
               resized_width: int, crop_width: int) -> List[CharSpan]:
    """Characters of one best-path row with their x centres in the crop.

    ``ids`` is the argmax class per step; the model saw the crop resized to ``resized_width`` (padded to
    ``input_width``) over ``steps`` steps, so step k covers input x in [k, k+1) * input_width / steps.
    """
    step_px = input_width / float(steps)
    to_crop = crop_width / float(max(resized_width, 1))
    spans: List[CharSpan] = []
    previous = 0
    start = 0
    for k, class_id in enumerate(list(ids) + [0]):
        if class_id != previous:
            if previous != 0:
                center = (start + k) / 2.0 * step_px * to_crop
                spans.append(CharSpan(character[previous], min(center, float(crop_width))))
            start = k
        previous = class_id
    return spans


def _pitch(spans: Sequence[CharSpan]) -> Optional[float]:
    """Median distance between neighbouring non-space characters (None with fewer than two)."""
    centers = [s.center for s in spans if s.char != " "]
    if len(centers) < 2:
        return None
    return float(np.median(np.diff(centers)))


def split_words(spans: Sequence[CharSpan], gap_spaces: bool = False,
                gap_pitches: float = GAP_PITCHES) -> List[List[CharSpan]]:
    """Runs of characters between predicted spaces (and, with ``gap_spaces``, between wide gaps)."""
    pitch = _pitch(spans)
    words: List[List[CharSpan]] = [[]]
    for span in spans:
        if span.char == " ":
            words.append([])
            continue
        if gap_spaces and pitch and words[-1] and span.center - words[-1][-1].center > gap_pitches * pitch:
            words.append([])
        words[-1].append(span)
    return [word for word in words if word]


def word_extents(words: Sequence[Sequence[CharSpan]], crop_width: int) -> List[Tuple[float, float]]:
    """(x0, x1) of each word in the crop: half a character pitch beyond its outer character centres."""
    pitch = _pitch([s for word in words for s in word])
    if pitch is None:
        pitch = crop_width / 2.0 if words else 0.0
    half = pitch / 2.0
    return [(max(0.0, word[0].center - half), min(float(crop_width), word[-1].center + half)) for word in words]


def crop_size(quad: np.ndarray) -> Tuple[int, int]:
    """(width, height) of the straightened crop of a clockwise quad, as ``system.crop_quad`` makes it."""
    pts = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    width = int(round(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[3] - pts[2]))))
    height = int(round(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2]))))
    return max(width, 1), max(height, 1)


def crop_to_image(quad: np.ndarray, points: np.ndarray, turned: bool, flipped: bool) -> np.ndarray:
    """Map points of the crop the recogniser read back to image coordinates.

    ``turned``: the crop was turned 90° counter-clockwise (tall box); ``flipped``: then turned 180° by the
    direction classifier.
    """
    width, height = crop_size(quad)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2).copy()
    shown_w, shown_h = (height, width) if turned else (width, height)
    if flipped:
        pts = np.stack([shown_w - pts[:, 0], shown_h - pts[:, 1]], axis=1)
    if turned:  # np.rot90: (x, y) of the straight crop went to (y, width - x)
        pts = np.stack([width - pts[:, 1], pts[:, 0]], axis=1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    inverse = cv2.getPerspectiveTransform(target, np.asarray(quad, dtype=np.float32).reshape(4, 2))
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float32), inverse).reshape(-1, 2)


def word_boxes(quad: np.ndarray, spans: Sequence[CharSpan], crop_shape: Tuple[int, int], turned: bool,
               flipped: bool, gap_spaces: bool = False) -> List[dict]:
    """``[{"text", "points"}]`` per word of a line, points as a quad in the image (reading order)."""
    crop_h, crop_w = crop_shape
    words = split_words(spans, gap_spaces)
    result = []
    for word, (x0, x1) in zip(words, word_extents(words, crop_w)):
        corners = np.array([[x0, 0], [x1, 0], [x1, crop_h], [x0, crop_h]], dtype=np.float64)
        points = crop_to_image(quad, corners, turned, flipped)
        result.append({"text": "".join(s.char for s in word),
                       "points": [[int(round(float(x))), int(round(float(y)))] for x, y in points]})
    return result
