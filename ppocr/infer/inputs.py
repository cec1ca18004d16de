"""Turning what a user points inference at into BGR images, one per picture or PDF page.

Every failure becomes an error attached to that input rather than an exception that ends a run:
a folder of 100 000 scans should not stop at the first corrupt file. Images larger than
``max_image_pixels`` are shrunk while decoding where the format allows it (JPEG's reduced-size
decode), so a poster-sized scan does not cost gigabytes.

Result keys name each input in results files: the path relative to the folder (or list file)
given, with forward slashes; a PDF page adds ``#page<N>`` (1-based), e.g. ``scans/doc.pdf#page3``.
"""
from __future__ import annotations

import dataclasses
import io
import logging
import math
import os
import threading
import warnings
from typing import Iterator, List, Optional, Tuple, Union

import cv2
import numpy as np
from PIL import Image

from ppocr.data.imaug.operators import _to_bgr_or_gray, decode_image_bytes
from ppocr.utils.files import IMAGE_EXTENSIONS, list_inputs

logger = logging.getLogger(__name__)

PDF_DPI = 200  # small print stays legible to the recogniser; an A4 page becomes 1654 x 2339
PAGE_SEPARATOR = "#page"
_PDF_MAGIC = b"%PDF"
_JPEG_MAGIC = b"\xff\xd8\xff"
_REDUCED_JPEG_FLAGS = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                       (2, cv2.IMREAD_REDUCED_COLOR_2))
# PDFium keeps global state and is not thread-safe; every call into it goes through this lock.
_PDFIUM_LOCK = threading.Lock()

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray]


class InputError(ValueError):
    """An input cannot be turned into an image; the message says which and why."""


@dataclasses.dataclass
class InputImage:
    """One picture to process: ``image`` (BGR uint8) or, when loading failed, ``error``."""

    key: str
    path: str
    image: Optional[np.ndarray] = None
    error: Optional[str] = None


def result_key(path: str, root: str) -> str:
    """Name of ``path`` in results: relative to a folder or list file ``root``, else the file name."""
    if os.path.isdir(root):
        base = root
    elif root.lower().endswith(".txt"):
        base = os.path.dirname(os.path.abspath(root))
    else:
        return os.path.basename(path)
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    if rel.startswith(os.pardir):
        return path.replace(os.sep, "/")
    return rel.replace(os.sep, "/")


def list_input_files(image_dir: Optional[str]) -> List[Tuple[str, str]]:
    """(path, key) for every input under ``image_dir``; a clear error when there is nothing to read."""
    if not image_dir:
        raise FileNotFoundError("no input given: set image_dir to an image, a PDF, a folder or a .txt list file")
    if not os.path.exists(image_dir):
        raise FileNotFoundError(f"image_dir '{image_dir}' does not exist")
    paths = list_inputs(image_dir)
    if not paths:
        raise FileNotFoundError(f"image_dir '{image_dir}' holds no inputs (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return [(path, result_key(path, image_dir)) for path in paths]


def limit_pixels(img: np.ndarray, max_pixels: int, name: str = "image",
                 source_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Shrink ``img`` to at most ``max_pixels`` pixels (aspect kept), warning that it happened.

    ``source_size`` (width, height) names the original size when ``img`` was already decoded smaller.
    """
    height, width = img.shape[:2]
    too_big = max_pixels > 0 and height * width > max_pixels
    if too_big:
        scale = math.sqrt(max_pixels / float(height * width))
        # INTER_AREA avoids aliasing on strong reductions but is several times slower on mild ones.
        interpolation = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
        img = cv2.resize(img, (max(1, int(width * scale)), max(1, int(height * scale))),
                         interpolation=interpolation)
    if too_big or source_size is not None:
        src_w, src_h = source_size or (width, height)
        logger.warning("%s: %sx%s is more than %d pixels; downscaled to %dx%d", name, src_w, src_h, max_pixels,
                       img.shape[1], img.shape[0])
    return img


def _header_size(data: bytes) -> Optional[Tuple[float, float]]:
    """(width, height) from the file header without decoding; None when unknown, inf beyond PIL's bomb limit."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                return float(probe.size[0]), float(probe.size[1])
    except Image.DecompressionBombError:
        return math.inf, math.inf
    except Exception as err:  # PIL raises many types for data it cannot parse; the decoder reports those
        logger.debug("no size in image header: %s", err)
        return None


def _decode_reduced_jpeg(data: bytes, pixels: float, max_pixels: int) -> Optional[np.ndarray]:
    """Let libjpeg scale by 1/2, 1/4 or 1/8 while decoding: the full-size image never exists in memory."""
    for factor, flag in _REDUCED_JPEG_FLAGS:
        if pixels / (factor * factor) >= max_pixels or (math.isinf(pixels) and factor == 8):
            try:
                img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
            except cv2.error as err:
                logger.debug("reduced JPEG decode failed: %s", err)
                return None
            return img if img is not None and img.size else None
    return None


def decode_image(data: bytes, max_pixels: int = 0, name: str = "image") -> np.ndarray:
    """Encoded bytes → BGR uint8, at most ``max_pixels`` pixels (0 = no limit)."""
    size = _header_size(data) if max_pixels > 0 else None
    if size is not None and size[0] * size[1] > max_pixels and bytes(data[:3]) == _JPEG_MAGIC:
        img = _decode_reduced_jpeg(data, size[0] * size[1], max_pixels)
        if img is not None:
            shown = tuple("?" if math.isinf(side) else int(side) for side in size)
            return limit_pixels(img, max_pixels, name, source_size=shown)
    try:
        img = decode_image_bytes(data, img_mode="BGR")
    except (ValueError, TypeError, cv2.error) as err:
        raise InputError(str(err)) from None
    return limit_pixels(img, max_pixels, name)


def as_bgr(img: np.ndarray, max_pixels: int = 0, name: str = "image") -> np.ndarray:
    """An in-memory array (gray, BGR, BGRA, gray+alpha; any depth) → BGR uint8, alpha composited on white."""
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.size == 0:
        shape = getattr(img, "shape", None)
        raise InputError(f"{name}: expected an HxW or HxWxC image array, got {type(img).__name__} with shape {shape}")
    try:
        img = _to_bgr_or_gray(img)
    except ValueError as err:
        raise InputError(f"{name}: {err}") from None
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return limit_pixels(np.ascontiguousarray(img), max_pixels, name)


def is_pdf(path: str) -> bool:
    """A PDF by content (a renamed PDF is still a PDF), or by extension when the file cannot be read."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return path.lower().endswith(".pdf")
    return _PDF_MAGIC in head


def _render_scale(width_pt: float, height_pt: float, max_pixels: int) -> float:
    scale = PDF_DPI / 72.0
    pixels = width_pt * height_pt * scale * scale
    if max_pixels > 0 and pixels > max_pixels:
        scale *= math.sqrt(max_pixels / pixels)
    return scale


def pdf_page_count(source: Union[str, bytes]) -> int:
    """Pages in a PDF, without rendering any; InputError when it will not open."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(source)
        except (pdfium.PdfiumError, OSError, ValueError) as err:
            raise InputError(f"cannot open PDF: {err}") from None
        try:
            return len(document)
        finally:
            document.close()


def iter_pdf_pages(source: Union[str, bytes], page_num: int = 0, max_pixels: int = 0,
                   name: str = "document", first_page: int = 1
                   ) -> Iterator[Tuple[int, Optional[np.ndarray], Optional[str]]]:
    """(page number from 1, BGR image or None, error or None) for pages ``first_page`` to ``page_num``
    (0 = to the end)."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(source)
        except (pdfium.PdfiumError, OSError, ValueError) as err:
            raise InputError(f"cannot open PDF: {err}") from None
        count = len(document)
    try:
        if count == 0:
            raise InputError("the PDF has no pages")
        last = count if page_num <= 0 else min(count, page_num)
        for index in range(max(0, first_page - 1), last):
            image, error = None, None
            try:
                with _PDFIUM_LOCK:
                    page = document[index]
                    try:
                        scale = _render_scale(*page.get_size(), max_pixels)
                        image = page.render(scale=scale).to_numpy().copy()
                    finally:
                        page.close()
                image = as_bgr(image, max_pixels, f"{name}{PAGE_SEPARATOR}{index + 1}")
            except (pdfium.PdfiumError, InputError, ValueError) as err:
                image, error = None, f"cannot render page {index + 1}: {err}"
            yield index + 1, image, error
    finally:
        with _PDFIUM_LOCK:
            document.close()


def iter_images(path: str, key: str, max_pixels: int = 0, page_num: int = 0,
                first_page: int = 1) -> Iterator[InputImage]:
    """Every picture in one input file: the image itself, or each page of a PDF from ``first_page`` on;
    failures as errors."""
    try:
        if is_pdf(path):
            for page, image, error in iter_pdf_pages(path, page_num, max_pixels, key, first_page):
                yield InputImage(f"{key}{PAGE_SEPARATOR}{page}", path, image, error)
            return
        with open(path, "rb") as f:
            data = f.read()
        yield InputImage(key, path, image=decode_image(data, max_pixels, key))
    except Exception as err:  # noqa: BLE001 - whatever a file does to a decoder, only that input fails
        logger.debug("%s: loading failed", key, exc_info=not isinstance(err, (InputError, OSError)))
        yield InputImage(key, path, error=_one_line(err))


def read_image(source: ImageSource, max_pixels: int = 0) -> np.ndarray:
    """A single image from a path, encoded bytes or an array, as BGR uint8.

    A PDF path or PDF bytes must hold exactly one page; use :func:`iter_images` for documents.
    """
    if isinstance(source, np.ndarray) and source.ndim >= 2:
        return as_bgr(source, max_pixels, "image array")
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            raise InputError(f"image '{path}' is a folder, not an image; to read every image in it use "
                             f"ppocr.infer.run('system', InferOptions(image_dir={path!r}))")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image '{path}' does not exist")
        if is_pdf(path):
            return _single_page(path, max_pixels, path)
        with open(path, "rb") as f:
            data = f.read()
        try:
            return decode_image(data, max_pixels, path)
        except InputError as err:
            raise InputError(f"{path}: {err}") from None
    if isinstance(source, (bytes, bytearray, memoryview)) or isinstance(source, np.ndarray):
        data = bytes(source)
        if data[:1024].find(_PDF_MAGIC) >= 0:
            return _single_page(data, max_pixels, "PDF bytes")
        return decode_image(data, max_pixels, "image bytes")
    raise TypeError(f"image must be a path, encoded bytes or a numpy array, got {type(source).__name__}")


def _single_page(source: Union[str, bytes], max_pixels: int, name: str) -> np.ndarray:
    pages = iter_pdf_pages(source, page_num=2, max_pixels=max_pixels, name=name)
    try:
        _, image, error = next(pages)
        if next(pages, None) is not None:
            raise InputError(f"{name}: the PDF has several pages; read it with ppocr.infer.inputs.iter_images "
                             "or run it through ppocr.infer.runner")
    finally:
        pages.close()
    if error:
        raise InputError(f"{name}: {error}")
    return image


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if isinstance(err, (InputError, OSError)) and text:
        return text
    if isinstance(err, MemoryError):
        return f"out of memory while decoding: {text or 'MemoryError'}"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
