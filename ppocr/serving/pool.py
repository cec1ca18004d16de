"""A fixed pool of predictors behind the async request handlers, with admission control and timeouts.

Each of the ``size`` worker threads takes a predictor from a queue for one job and puts it back, so
no two requests ever share a predictor (whatever the backends' own thread safety) while decoding and
pre/post-processing of different requests overlap. At most ``size + max_queue`` jobs are admitted;
past that a request is refused at once (503) instead of piling up memory and latency. A job that
overruns ``timeout`` answers 504; if it had not started it is dropped, if it had, its predictor
returns to the pool when it finishes (a running model call cannot be interrupted).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from typing import Callable, Generic, List, TypeVar

from ppocr.serving.payloads import RequestError

logger = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")


class PredictorPool(Generic[P]):
    def __init__(self, predictors: List[P], max_queue: int, timeout: float) -> None:
        if not predictors:
            raise ValueError("the predictor pool needs at least one predictor")
        self.size = len(predictors)
        self.capacity = self.size + max(0, int(max_queue))
        self.timeout = float(timeout)
        self._idle: "queue.Queue[P]" = queue.Queue()
        for predictor in predictors:
            self._idle.put(predictor)
        self._executor = concurrent.futures.ThreadPoolExecutor(self.size, thread_name_prefix="ppocr-serve")
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Jobs waiting or running now."""
        return self._admitted

    def _release(self, _future: concurrent.futures.Future) -> None:
        with self._lock:
            self._admitted -= 1

    def _with_predictor(self, job: Callable[[P], R]) -> R:
        predictor = self._idle.get()
        try:
            return job(predictor)
        finally:
            self._idle.put(predictor)

    async def run(self, job: Callable[[P], R]) -> R:
        """``job(predictor)`` on a worker thread; RequestError 503 when full, 504 past the timeout."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise RequestError(503, "busy", f"the service is busy ({self._admitted} requests in progress, "
                                                f"at most {self.capacity}); retry later")
            self._admitted += 1
        try:
            future = self._executor.submit(self._with_predictor, job)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except asyncio.TimeoutError:
            future.cancel()
            raise RequestError(504, "timeout", f"the request took longer than {self.timeout:g} s") from None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
