"""What the service accepts and returns: request bytes → images (with limits), results → response JSON.

Everything a client can get wrong ends as a :class:`RequestError` carrying the HTTP status, a short
error kind (a metrics label) and a one-line message naming the field or file; nothing here lets a bad
input become a 500.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import warnings
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from PIL import Image

from ppocr.infer.inputs import PAGE_SEPARATOR, InputError, decode_image, iter_pdf_pages

_PDF_MAGIC = b"%PDF"
_DATA_URL_MARK = ";base64,"


class RequestError(Exception):
    """A request the service refuses: ``status`` (4xx/5xx), ``kind`` (metrics label) and a one-line message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
        self.status = status
        self.kind = kind

    @property
    def message(self) -> str:
        return str(self)


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-request bounds: what one request may cost the service."""

    max_images: int = 16  # images in one hubserving request
    max_pages: int = 50  # PDF pages read from one upload
    max_pixels: int = 100_000_000  # an image declaring more pixels than this is refused, not decoded
    max_image_pixels: int = 50_000_000  # larger images are downscaled to this (InferOptions.max_image_pixels)


@dataclasses.dataclass
class Picture:
    """One image or PDF page of a request: the decoded BGR image or why it could not be had."""

    key: str
    image: Optional[np.ndarray] = None
    error: Optional[str] = None


def is_pdf(data: bytes) -> bool:
    return data[:1024].find(_PDF_MAGIC) >= 0


def b64_bytes(text: object, field: str) -> bytes:
    """Standard base64 (optionally a ``data:...;base64,`` URL) → bytes."""
    if not isinstance(text, str):
        raise RequestError(422, "bad_request", f"{field}: expected a base64 string, got {type(text).__name__}")
    if text.startswith("data:") and _DATA_URL_MARK in text[:200]:
        text = text.split(_DATA_URL_MARK, 1)[1]
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as err:
        raise RequestError(400, "bad_base64", f"{field}: not valid base64 ({err})") from None
    return data


def _declared_pixels(data: bytes) -> Optional[float]:
    """Width × height from the image header without decoding; None when the header says nothing useful."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                return float(probe.size[0]) * float(probe.size[1])
    except Image.DecompressionBombError:
        return float("inf")
    except Exception:  # noqa: BLE001 - PIL raises many types for data it cannot parse; decoding reports those
        return None


def decode_picture(data: bytes, name: str, limits: Limits) -> np.ndarray:
    """Encoded image bytes → BGR, refusing empty data, decompression bombs and anything undecodable."""
    if not data:
        raise RequestError(400, "empty_file", f"{name}: the file is empty")
    pixels = _declared_pixels(data)
    if pixels is not None and pixels > limits.max_pixels:
        shown = "more than PIL's safety limit" if pixels == float("inf") else f"{pixels / 1e6:.0f} Mpx"
        raise RequestError(413, "too_many_pixels", f"{name}: the image is {shown}; this service takes at most "
                                                   f"{limits.max_pixels / 1e6:.0f} Mpx per image")
    try:
        return decode_image(data, limits.max_image_pixels, name)
    except InputError as err:
        raise RequestError(400, "bad_image", f"{name}: {err}") from None


def load_document(data: bytes, name: str, limits: Limits, page_num: int = 0) -> List[Picture]:
    """An upload → its pictures: the image itself, or the first ``page_num`` pages of a PDF (capped at
    ``limits.max_pages``). A PDF that opens but has a page that will not render keeps that page's error."""
    if not data:
        raise RequestError(400, "empty_file", f"{name}: the file is empty")
    if not is_pdf(data):
        return [Picture(name, decode_picture(data, name, limits))]
    pages = min(page_num, limits.max_pages) if page_num > 0 else limits.max_pages
    try:
        return [Picture(f"{name}{PAGE_SEPARATOR}{number}", image, error)
                for number, image, error in iter_pdf_pages(data, pages, limits.max_image_pixels, name)]
    except InputError as err:
        raise RequestError(400, "bad_pdf", f"{name}: {err}") from None


def hub_images(body: object, limits: Limits) -> List[np.ndarray]:
    """A hubserving body ``{"images": [base64, ...]}`` → decoded images; every failure names its index."""
    if not isinstance(body, dict) or "images" not in body:
        raise RequestError(422, "bad_request", 'body must be a JSON object {"images": [<base64 image>, ...]}')
    encoded = body["images"]
    if not isinstance(encoded, list) or not encoded:
        raise RequestError(422, "bad_request", "images: expected a non-empty list of base64 strings")
    if len(encoded) > limits.max_images:
        raise RequestError(413, "too_many_images",
                           f"images: {len(encoded)} images in one request; at most {limits.max_images}")
    images = []
    for index, text in enumerate(encoded):
        field = f"images[{index}]"
        data = b64_bytes(text, field)
        if is_pdf(data):
            raise RequestError(415, "bad_image", f"{field}: is a PDF; upload documents to /v1/ocr")
        images.append(decode_picture(data, field, limits))
    return images


def hub_system(results: Sequence[dict]) -> List[dict]:
    """Our system results → hubserving ``ocr_system`` items."""
    return [{"text": item["transcription"], "confidence": item["score"], "text_region": item["points"]}
            for item in results]


def int_points(box: np.ndarray) -> List[List[int]]:
    return [[int(round(float(x))), int(round(float(y)))] for x, y in np.asarray(box).reshape(-1, 2)]


def encode_jpeg(image: np.ndarray, quality: int = 90) -> str:
    """A ``data:image/jpeg;base64,...`` URL of a BGR image (for the web page to show what was read)."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("cannot encode the page as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def filter_score(results: Sequence[dict], drop_score: float) -> List[dict]:
    return [item for item in results if item["score"] >= drop_score]


def without_words(item: dict) -> dict:
    return {key: value for key, value in item.items() if key != "words"}


def counts(pages: Sequence[Dict]) -> Dict[str, int]:
    """ok / empty / failed per page, as the batch tools count them."""
    tally = {"ok": 0, "empty": 0, "failed": 0}
    for page in pages:
        tally["failed" if page.get("error") else "ok" if page.get("results") else "empty"] += 1
    return tally
