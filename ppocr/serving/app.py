"""The OCR service: PaddleOCR hubserving's endpoints, an upload endpoint for images and PDFs, a web page.

- ``POST /predict/ocr_system`` / ``ocr_det`` / ``ocr_rec``: hubserving's ``{"images": [base64, ...]}`` →
  ``{"status": "000", "msg": "", "results": [...]}``, so existing hubserving clients work unchanged.
- ``POST /v1/ocr``: a multipart ``file`` (image or PDF, every page) → our results per page (with word
  boxes when asked).
- ``GET /health``, ``GET /metrics`` (Prometheus), ``GET /`` the web page.

Models are loaded once, into ``workers`` predictors (:mod:`ppocr.serving.pool`); only settings that
act after the models (``drop_score``, PDF pages, returning the picture) can change per request. The
predictors keep every recognised line (``drop_score=0``) and each request filters with its own
threshold, so a per-request ``drop_score`` costs nothing.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ppocr.infer.options import InferOptions
from ppocr.serving import payloads
from ppocr.serving.metrics import ServiceMetrics
from ppocr.serving.payloads import RequestError
from ppocr.serving.pool import PredictorPool
from ppocr.serving.settings import ServeSettings

logger = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
HUB_PREFIX = "/predict/"
HUB_ERROR = "101"  # PaddleHub's code for "the predicting method failed"
HUB_NO_MODULE = "111"
ENDPOINTS = ("/", "/health", "/metrics", "/v1/ocr", "/predict/ocr_system", "/predict/ocr_det", "/predict/ocr_rec")


def predictor_options(options: InferOptions, workers: int) -> InferOptions:
    """Options for each pooled predictor: the cores shared out between them, every line kept with its words
    (requests choose what they get back)."""
    cores = os.cpu_count() or 1
    threads = max(1, min(options.cpu_threads, cores) // max(1, workers))
    return options.replace(cpu_threads=threads, drop_score=0.0, return_word_box=True)


def build_predictors(options: InferOptions, workers: int) -> list:
    from ppocr.infer.system import TextSystem

    per_predictor = predictor_options(options, workers)
    return [TextSystem(per_predictor) for _ in range(max(1, workers))]


class _Edge:
    """ASGI middleware at the HTTP edge: the request body limit (a declared length over it is refused
    before reading; a chunked body is cut off where it passes it), and the latency and status of
    every request with the error kind of refused ones."""

    def __init__(self, app: Any, metrics: ServiceMetrics, max_body_mb: float) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_mb = max_body_mb
        self.max_bytes = int(max_body_mb * 1024 * 1024)

    def _declared_length(self, scope: dict) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        received = {"bytes": 0}

        async def send_and_note(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        async def receive_within_limit() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                received["bytes"] += len(message.get("body", b""))
                if received["bytes"] > self.max_bytes:
                    # an HTTPException passes through FastAPI's body parsing to the handler below
                    raise HTTPException(413)
            return message

        try:
            if self._declared_length(scope) > self.max_bytes:
                response = _error_response(Request(scope, receive), too_large(self.max_body_mb))
                await response(scope, receive, send_and_note)
            else:
                await self.app(scope, receive_within_limit, send_and_note)
        finally:
            code = status["code"]
            path = scope.get("path", "")
            self.metrics.observe(path if path in ENDPOINTS else "other", code, time.perf_counter() - start)
            if code >= 400:
                kind = scope.get("state", {}).get("error_kind") or f"http_{code}"
                self.metrics.errors.labels(kind).inc()


def too_large(max_body_mb: float) -> RequestError:
    return RequestError(413, "too_large", f"the request body is larger than the service's {max_body_mb:g} MB limit")


def _error_response(request: Request, error: RequestError) -> JSONResponse:
    request.state.error_kind = error.kind
    headers = {"Retry-After": "1"} if error.status == 503 else None
    if request.url.path.startswith(HUB_PREFIX):
        code = HUB_NO_MODULE if error.kind == "no_module" else HUB_ERROR
        body: Dict[str, Any] = {"status": code, "msg": error.message, "results": ""}
    else:
        body = {"detail": error.message, "kind": error.kind}
    return JSONResponse(body, status_code=error.status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors → one line naming the first field."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where, *rest = [str(part) for part in first.get("loc", ())] or ["request"]
    field = ".".join(rest)
    label = {"query": f"query parameter '{field}'", "body": f"form field '{field}'"}.get(where, where)
    extra = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{label}: {first.get('msg', 'invalid')}{extra}"


def create_app(options: Optional[InferOptions] = None, settings: Optional[ServeSettings] = None,
               predictors: Optional[list] = None) -> FastAPI:
    """The service over ``predictors`` (default: ``settings.workers`` ``TextSystem``s built from ``options``)."""
    options = options or InferOptions()
    settings = settings or ServeSettings()
    if predictors is None:
        predictors = build_predictors(options, settings.workers)
    pool: PredictorPool = PredictorPool(predictors, settings.max_queue, settings.request_timeout)
    limits = settings.limits(options)
    metrics = ServiceMetrics(lambda: pool.admitted, pool.size)
    default_drop, default_words = options.drop_score, options.return_word_box

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        pool.close()

    app = FastAPI(title="ppocr", summary="OCR over HTTP (PaddleOCR hubserving compatible)", lifespan=lifespan)
    app.add_middleware(_Edge, metrics=metrics, max_body_mb=settings.max_upload_mb)
    app.state.pool = pool
    app.state.metrics = metrics

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> JSONResponse:
        return _error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(request, RequestError(422, "bad_request", _validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:
            error = too_large(settings.max_upload_mb)
        else:
            error = RequestError(exc.status_code, f"http_{exc.status_code}", str(exc.detail))
        return _error_response(request, error)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return _error_response(request, RequestError(500, "internal", f"internal error: {type(exc).__name__}: {exc}"))

    async def hub_body(request: Request) -> Any:
        import json

        raw = await request.body()
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise RequestError(400, "bad_request", f"the body is not valid JSON ({err})") from None

    def count(images: int) -> None:
        metrics.images.inc(images)

    async def hub_answer(request: Request, answer: Callable[[Any, List[Any]], List[list]]) -> Dict[str, Any]:
        """A hubserving call: its images decoded and answered on a pooled predictor, in PaddleHub's envelope."""
        body = await hub_body(request)

        def job(system) -> List[list]:
            images = payloads.hub_images(body, limits)
            results = answer(system, images)
            count(len(images))
            return results

        return {"status": "000", "msg": "", "results": await pool.run(job)}

    @app.post("/predict/ocr_system")
    async def ocr_system(request: Request) -> Dict[str, Any]:
        return await hub_answer(request, lambda system, images: [
            payloads.hub_system(payloads.filter_score(system.ocr(img)[0], default_drop)) for img in images])

    @app.post("/predict/ocr_det")
    async def ocr_det(request: Request) -> Dict[str, Any]:
        return await hub_answer(request, lambda system, images: [
            [{"text_region": payloads.int_points(box)} for box in system.detector(img)[0]] for img in images])

    @app.post("/predict/ocr_rec")
    async def ocr_rec(request: Request) -> Dict[str, Any]:
        def answer(system, images) -> List[list]:
            texts, _ = system.recognizer(images)
            # hubserving's recogniser answers one list for the whole request, an item per image
            return [[{"text": text, "confidence": float(score)} for text, score in texts]]

        return await hub_answer(request, answer)

    @app.post("/predict/{module}")
    async def unknown_module(module: str) -> None:
        raise RequestError(404, "no_module", f"module '{module}' is not available; this service has "
                                             "ocr_system, ocr_det and ocr_rec")

    @app.post("/v1/ocr")
    async def ocr_upload(
            file: UploadFile = File(..., description="an image or a PDF"),
            drop_score: Optional[float] = Query(None, ge=0.0, le=1.0, description="minimum line score"),
            page_num: int = Query(0, ge=0, description="PDF pages to read (0 = all, up to the service's cap)"),
            return_image: bool = Query(False, description="add each page as a JPEG data URL"),
            return_word_box: Optional[bool] = Query(None, description="add each line's words with their boxes"),
    ) -> Dict[str, Any]:
        data = await file.read()
        name = " ".join(os.path.basename(file.filename or "").split()) or "upload"
        threshold = default_drop if drop_score is None else drop_score
        words = default_words if return_word_box is None else return_word_box

        def job(system) -> Dict[str, Any]:
            started = time.perf_counter()
            pages = []
            for picture in payloads.load_document(data, name, limits, page_num):
                if picture.error is not None:
                    pages.append({"key": picture.key, "error": picture.error})
                    continue
                results = payloads.filter_score(system.ocr(picture.image)[0], threshold)
                if not words:
                    results = [payloads.without_words(item) for item in results]
                page: Dict[str, Any] = {"key": picture.key, "width": int(picture.image.shape[1]),
                                        "height": int(picture.image.shape[0]), "results": results}
                if return_image:
                    page["image"] = payloads.encode_jpeg(picture.image)
                pages.append(page)
            count(sum(1 for page in pages if "error" not in page))
            return {"file": name, "pages": pages, "counts": payloads.counts(pages),
                    "seconds": round(time.perf_counter() - started, 4)}

        return await pool.run(job)

    @app.get("/health")
    async def health() -> Dict[str, Any]:
        return {"status": "ok", "workers": pool.size, "in_progress": pool.admitted, "capacity": pool.capacity}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(os.path.join(STATIC_DIR, "index.html"))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def serve(options: InferOptions, settings: ServeSettings) -> None:
    """Build the predictors, then serve until interrupted."""
    import uvicorn

    app = create_app(options, settings)
    logger.info("serving on http://%s:%d with %d predictor(s)", settings.host, settings.port, settings.workers)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info" if options.show_log else "warning",
                timeout_graceful_shutdown=int(max(1, settings.request_timeout)))
