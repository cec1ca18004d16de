"""The OCR system: detect text boxes, put them in reading order, crop, orient and read each one.

Thread safety: one ``TextSystem`` may be shared by any number of threads, including threads started
after it was built. Every call works on its own local data and each stage's backend takes concurrent
calls (see :mod:`ppocr.infer.backends`): ONNX Runtime runs overlap in one session; a Paddle model runs
on its backend's own worker threads (as many as the cores allow for ``cpu_threads``), so threads overlap
in decoding, cropping, pre/post-processing and across stages. For more, use processes
(``ppocr.infer.runner`` with ``use_mp``). ``TextSystem.ocr_many`` overlaps detection of the next images
with recognition of the current one.
"""
from __future__ import annotations

import itertools
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Deque, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from ppocr.infer.inputs import ImageSource, read_image
from ppocr.infer.options import InferOptions
from ppocr.infer.word_boxes import crop_size, word_boxes
from ppocr.postprocess.db_postprocess import min_area_box

TALL_CROP_RATIO = 1.5  # a crop this many times taller than wide holds vertical (or rotated) text
LINE_TOLERANCE = 0.5  # boxes whose centres differ by less than this share of a line height share a line


def as_quad(box: np.ndarray) -> np.ndarray:
    """A 4×2 clockwise quad for a box: itself, or the min-area rectangle of a polygon (det_box_type=poly)."""
    points = np.asarray(box, dtype=np.float32).reshape(-1, 2)
    if len(points) == 4:
        return points
    return min_area_box(points)[0]


def reading_order(quads: np.ndarray, line_tolerance: float = LINE_TOLERANCE) -> List[int]:
    """Indices of K×4×2 quads in reading order: lines top to bottom, boxes in a line left to right.

    A box joins the current line when its vertical centre is within ``line_tolerance`` times the
    smaller of its height and the line's mean height from the line's centre, so slightly uneven
    baselines still read as one line while stacked lines do not merge.
    """
    quads = np.asarray(quads, dtype=np.float32).reshape(-1, 4, 2)
    top, bottom = quads[:, :, 1].min(axis=1), quads[:, :, 1].max(axis=1)
    centre, height, left = (top + bottom) / 2.0, np.maximum(bottom - top, 1.0), quads[:, :, 0].min(axis=1)
    lines: List[List[int]] = []
    line_centre = line_height = 0.0
    for index in np.argsort(centre, kind="stable"):
        if lines and abs(centre[index] - line_centre) <= line_tolerance * min(line_height, height[index]):
            members = lines[-1]
            members.append(int(index))
            line_centre = float(centre[members].mean())
            line_height = float(height[members].mean())
        else:
            lines.append([int(index)])
            line_centre, line_height = float(centre[index]), float(height[index])
    return [i for members in lines for i in sorted(members, key=lambda i: (left[i], centre[i]))]


def is_tall(quad: np.ndarray) -> bool:
    """Whether ``crop_quad`` turns the crop of this quad (vertical or rotated text)."""
    width, height = crop_size(quad)
    return height / float(width) >= TALL_CROP_RATIO


def crop_quad(img: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The quad's contents straightened to a rectangle (corners clockwise from top-left); tall crops
    are turned 90° counter-clockwise so the recogniser sees a horizontal line."""
    pts = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    width, height = crop_size(pts)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(pts, target)
    crop = cv2.warpPerspective(img, matrix, (width, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
    if is_tall(pts):
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


_END = object()


class _Lines(NamedTuple):
    """One image's text lines before recognition, in reading order."""

    boxes: List[np.ndarray]  # as the detector found them
    quads: List[np.ndarray]  # the same as 4x2 quads, which the crops were cut from
    crops: List[np.ndarray]
    flipped: List[bool]  # turned 180° by the direction classifier
    timings: Dict[str, float]
    seconds: float


class TextSystem:
    """Detector + optional direction classifier + recogniser behind one call.

    ``TextSystem()(image)`` with no model folders uses the packaged PP-OCR models (``ocr_version``).
    Options are ``InferOptions`` fields, given as an object, as keyword arguments, or both (keywords win).
    """

    def __init__(self, options: Optional[InferOptions] = None, **option_overrides) -> None:
        from ppocr.infer.classifier import TextClassifier
        from ppocr.infer.detector import TextDetector
        from ppocr.infer.recognizer import TextRecognizer

        options = options if options is not None else InferOptions()
        self.options = options.replace(**option_overrides) if option_overrides else options
        self.detector = TextDetector(self.options)
        self.classifier = TextClassifier(self.options) if self.options.use_angle_cls else None
        self.recognizer = TextRecognizer(self.options)
        if self.options.warmup:
            self.ocr(np.full((640, 640, 3), 255, dtype=np.uint8))

    def __call__(self, image: ImageSource) -> List[dict]:
        """``[{"transcription", "points", "score"}, ...]`` in reading order for a path, bytes or BGR array
        (each with ``"words": [{"text", "points"}]`` when ``return_word_box``).

        One image per call; a folder is refused with a pointer to ``ppocr.infer.run``, which runs folders,
        lists and PDFs with a results file, progress and per-input error handling."""
        return self.ocr(image)[0]

    def ocr(self, image: ImageSource) -> Tuple[List[dict], Dict[str, float]]:
        """Results plus seconds spent per stage: ``{"det", "cls", "rec", "total"}``."""
        return self._read_lines(self._find_lines(image))

    def ocr_many(self, images: Iterable[ImageSource], overlap: bool = True,
                 lookahead: int = 2) -> Iterator[Tuple[List[dict], Dict[str, float]]]:
        """``ocr`` of each image, in input order, as a generator.

        With ``overlap`` a helper thread reads, detects, crops and classifies up to ``lookahead`` images ahead
        while the calling thread recognises the current one, so the detector and the recogniser run at the
        same time on different images (each model still runs one call at a time). Results are the same as
        ``ocr`` gives image by image. It pays when there are cores to spare for two model runs at once:
        give each stage fewer threads (e.g. ``cpu_threads=1`` on 2 cores) rather than oversubscribing. An
        image that fails raises its error after the results of the images before it. ``total`` in the
        timings is the sum of the image's own stage work, not wall time between results.
        """
        if not overlap:
            for image in images:
                yield self.ocr(image)
            return
        pending: Deque[Future] = deque()
        source = iter(images)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ppocr-find-lines")
        try:
            for image in itertools.islice(source, max(1, int(lookahead))):
                pending.append(pool.submit(self._find_lines, image))
            while pending:
                found = pending.popleft().result()
                following = next(source, _END)
                if following is not _END:
                    pending.append(pool.submit(self._find_lines, following))
                yield self._read_lines(found)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _find_lines(self, image: ImageSource) -> "_Lines":
        """Everything before recognition: read, detect, order, crop and orient."""
        start = time.perf_counter()
        img = read_image(image, self.options.max_image_pixels)
        timings = {"det": 0.0, "cls": 0.0, "rec": 0.0}
        found, timings["det"] = self.detector(img)
        quads = [as_quad(box) for box in found]
        order = reading_order(np.array(quads)) if quads else []
        crops = [crop_quad(img, quads[i]) for i in order]
        flipped = [False] * len(crops)
        if crops and self.classifier is not None:
            crops, labels, timings["cls"] = self.classifier(crops)
            flipped = [self.classifier.turns(label, score) for label, score in labels]
        return _Lines([found[i] for i in order], [quads[i] for i in order], crops, flipped, timings,
                      time.perf_counter() - start)

    def _read_lines(self, lines: "_Lines") -> Tuple[List[dict], Dict[str, float]]:
        start = time.perf_counter()
        timings = dict(lines.timings)
        results: List[dict] = []
        if lines.crops:
            words = None
            if self.options.return_word_box:
                texts, spans, timings["rec"] = self.recognizer.read_with_positions(lines.crops)
                words = [word_boxes(quad, line, crop.shape[:2], is_tall(quad), flip, self.options.word_gap_spaces)
                         for quad, line, crop, flip in zip(lines.quads, spans, lines.crops, lines.flipped)]
            else:
                texts, timings["rec"] = self.recognizer(lines.crops)
            results = self._keep(lines.boxes, texts, words)
        timings["total"] = lines.seconds + time.perf_counter() - start
        return results, timings

    def _keep(self, boxes: Sequence[np.ndarray], texts: Sequence[Tuple[str, float]],
              words: Optional[Sequence[List[dict]]] = None) -> List[dict]:
        """Results scoring at least ``drop_score`` (PaddleOCR's rule); empty transcriptions are dropped too.
        With word boxes each result also lists its ``words`` (``{"text", "points"}``)."""
        kept = []
        for index, (box, (text, score)) in enumerate(zip(boxes, texts)):
            if score >= self.options.drop_score and text.strip():
                points = [[int(round(float(x))), int(round(float(y)))] for x, y in np.asarray(box).reshape(-1, 2)]
                kept.append({"transcription": text, "points": points, "score": float(score)})
                if words is not None:
                    kept[-1]["words"] = words[index]
        return kept
