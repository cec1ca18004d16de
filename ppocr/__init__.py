"""ppocr: an OCR framework on PaddlePaddle 3 — train, evaluate, compress, export and serve."""
__version__ = "0.1.0"


def __getattr__(name):
    # The OCR system loads model runtimes; import it only when asked for.
    if name == "TextSystem":
        from ppocr.infer.system import TextSystem

        return TextSystem
    raise AttributeError(f"module 'ppocr' has no attribute '{name}'")
