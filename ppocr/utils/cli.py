"""Shared entry-point behaviour of the command-line tools: config loading, one-line errors, exit codes."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Sequence

from ppocr.utils.paddleocr_compat import UnsupportedConfig, strip_ignored
from ppocr.utils.registry import ConfigError

logger = logging.getLogger("ppocr.cli")

EXIT_USAGE = 2


def _expected_errors() -> tuple:
    from ppocr.data.errors import DataError
    from ppocr.engine.onnx_export import OnnxExportError
    from ppocr.utils.crypto import EncryptionError
    from ppocr.utils.errors import CharacterDictError, CheckpointError, OutputDirError

    return (ConfigError, CharacterDictError, CheckpointError, DataError, EncryptionError, OnnxExportError,
            OutputDirError,
            FileNotFoundError)


@contextlib.contextmanager
def config_file(path: str) -> Iterator[None]:
    """Prefix config errors raised while building components with the config file name."""
    try:
        yield
    except ConfigError as exc:
        text = str(exc)
        if not text.startswith(path):
            raise ConfigError(f"{path}: {text}") from None
        raise


def prepare_config(args: Any, task: str, require: Iterable[str]) -> Dict[str, Any]:
    """Load ``-c`` with ``-o`` overrides, resolve the encryption key, apply ``Global.results_dir`` and
    start logging (to ``<task dir>/<task>.log`` when the task has a folder)."""
    from ppocr.utils.config import apply_results_dir, load_and_override
    from ppocr.utils.crypto import resolve_key
    from ppocr.utils.io import ensure_output_dir
    from ppocr.utils.logging import setup_logging

    config = load_and_override(args.config, args.opt, require=require)
    g = config.setdefault("Global", {})
    key = resolve_key(getattr(args, "key", None), g.get("encryption_key"))
    if key:
        g["encryption_key"] = key
    apply_results_dir(config, task)
    log_file = None
    if task == "train":
        log_file = os.path.join(g.get("save_model_dir", "./output/model"), "train.log")
    elif g.get("results_dir"):
        log_file = os.path.join(g["results_dir"], task, f"{task}.log")
    if log_file:
        option = "Global.results_dir" if g.get("results_dir") else "Global.save_model_dir"
        ensure_output_dir(os.path.dirname(log_file), option)
    setup_logging(log_file)
    return strip_ignored(config)


def run_main(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None,
             extra_errors: tuple = ()) -> None:
    """Run a tool's main; known user errors (and ``extra_errors``) become ``error: ...`` on stderr and
    exit status 2, with the traceback in the debug log."""
    try:
        code = main(argv)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except _expected_errors() + tuple(extra_errors) as exc:
        logger.debug("failed", exc_info=True)
        # a refused PaddleOCR config names each unsupported component on a line of its own
        lines = exc.lines if isinstance(exc, UnsupportedConfig) else [str(exc)]
        for line in lines:
            sys.stderr.write(f"error: {' '.join(line.split())}\n")
        sys.exit(EXIT_USAGE)
    sys.exit(code or 0)
