"""How the service runs and what one request may cost (the model settings are ``InferOptions``).

Kept apart from the app so ``ppocr serve --help`` and setting checks work without FastAPI installed.
"""
from __future__ import annotations

import dataclasses

from ppocr.infer.options import InferOptions
from ppocr.serving.payloads import Limits


@dataclasses.dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8866  # PaddleHub serving's default
    workers: int = 2  # predictors, each with its own det/cls/rec models
    max_queue: int = 16  # admitted requests beyond those being processed; more get 503
    request_timeout: float = 60.0  # seconds, queueing included; longer requests get 504
    max_upload_mb: float = 20.0  # request body limit; larger bodies get 413
    max_images: int = 16  # images per hubserving request
    max_pages: int = 50  # PDF pages read from one upload
    max_pixels: int = 100_000_000  # images declaring more pixels are refused without decoding

    def check(self) -> None:
        """A ValueError naming the first setting out of range."""
        minimums = {"port": 0, "workers": 1, "max_queue": 0, "request_timeout": 1e-3, "max_upload_mb": 1e-3,
                    "max_images": 1, "max_pages": 1, "max_pixels": 1}
        for name, low in minimums.items():
            if getattr(self, name) < low:
                raise ValueError(f"--{name} must be at least {low:g}, got {getattr(self, name)}")
        if self.port > 65535:
            raise ValueError(f"--port must be at most 65535, got {self.port}")

    def limits(self, options: InferOptions) -> Limits:
        return Limits(max_images=self.max_images, max_pages=self.max_pages, max_pixels=self.max_pixels,
                      max_image_pixels=options.max_image_pixels)
