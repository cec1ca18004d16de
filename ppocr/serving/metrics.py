"""Prometheus metrics of one service instance (its own registry, so several apps can live in one process)."""
from __future__ import annotations

from typing import Callable

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics, generate_latest)

# seconds; OCR requests take from tens of milliseconds (a word) to tens of seconds (a long PDF)
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class ServiceMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, admitted: Callable[[], int], workers: int) -> None:
        disable_created_metrics()  # the *_created series only repeat the start time
        self.registry = CollectorRegistry()
        self.requests = Counter("ppocr_requests", "HTTP requests by endpoint and status code",
                                ["endpoint", "code"], registry=self.registry)
        self.errors = Counter("ppocr_errors", "Refused or failed requests by kind", ["kind"],
                              registry=self.registry)
        self.latency = Histogram("ppocr_request_seconds", "Request latency by endpoint", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.images = Counter("ppocr_images", "Images and PDF pages processed", registry=self.registry)
        in_flight = Gauge("ppocr_requests_in_progress", "OCR jobs waiting or running", registry=self.registry)
        in_flight.set_function(lambda: float(admitted()))
        Gauge("ppocr_workers", "Predictors in the pool", registry=self.registry).set(workers)

    def observe(self, endpoint: str, code: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(code)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
