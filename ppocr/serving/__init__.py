"""OCR over HTTP: a FastAPI app over a pool of ``TextSystem`` predictors, with a web page.

``ppocr serve`` starts it under uvicorn; :func:`ppocr.serving.app.create_app` builds it for embedding.
FastAPI is imported only by :mod:`ppocr.serving.app`, so the rest of ppocr never needs it.
"""
