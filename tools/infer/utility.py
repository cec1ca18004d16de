"""Shared plumbing of the tools/infer scripts: PaddleOCR-named flags from ``InferOptions``, one-line errors.

The flags themselves are built by the library (``ppocr.cli``) so the installed ``ppocr`` command and
these scripts accept exactly the same options. Importing this module also makes a source checkout
importable without installation.
"""
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from ppocr.cli import infer_parser, options_from_args, run_cli, run_task  # noqa: E402
from ppocr.infer.options import InferOptions  # noqa: E402

__all__ = ["init_args", "parse_args", "run_tool", "run_cli"]


def init_args(description=None):
    """The argparse parser with every inference flag (PaddleOCR's ``utility.init_args``)."""
    return infer_parser(description)


def parse_args(argv=None, description=None) -> InferOptions:
    return options_from_args(init_args(description).parse_args(argv))


def run_tool(task: str, argv=None, description=None) -> int:
    """Parse the flags and run ``task`` (system, det, rec or cls) over ``--image_dir``."""
    return run_task(task, parse_args(argv, description))
