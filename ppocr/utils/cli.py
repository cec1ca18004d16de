"""Shared entry-point behaviour of the command-line tools: one-line errors and exit codes."""
from __future__ import annotations

import contextlib
import logging
import sys
from typing import Callable, Iterator, Optional, Sequence

from ppocr.utils.registry import ConfigError

logger = logging.getLogger("ppocr.cli")

EXIT_USAGE = 2


def _expected_errors() -> tuple:
    from ppocr.utils.checkpoint import CheckpointError

    errors = [ConfigError, CheckpointError, FileNotFoundError]
    try:
        from ppocr.data.errors import DataError

        errors.append(DataError)
    except ImportError:
        pass
    return tuple(errors)


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


def run_main(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> None:
    """Run a tool's main; known user errors become ``error: ...`` on stderr and exit status 2."""
    try:
        code = main(argv)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except _expected_errors() as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"error: {message}\n")
        sys.exit(EXIT_USAGE)
    sys.exit(code or 0)
