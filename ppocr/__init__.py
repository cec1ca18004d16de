"""ppocr: an OCR framework on PaddlePaddle 3 — train, evaluate, compress, export and serve."""
__version__ = "0.1.0"
