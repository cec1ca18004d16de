"""The ``ppocr`` console command, and the inference flags every tool shares.

Flags are generated from the ``InferOptions`` fields, so they carry PaddleOCR's names and defaults and
a new option appears everywhere at once. Values follow PaddleOCR's style (``--det_db_thresh 0.3``,
``--use_angle_cls True``/``False``); a bool flag given alone means True. Put bool flags given alone
after the input folder, or the folder would be read as the flag's value.

``ppocr ocr DIR [flags]`` runs the whole OCR system like ``tools/infer/predict_system.py --image_dir DIR``
(``--ray`` spreads it over a Ray cluster). ``ppocr serve [flags]`` serves it over HTTP.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import logging
import os
import sys
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence

from ppocr.infer.options import InferOptions

_TRUE = ("true", "t", "yes", "y", "1", "on")
_FALSE = ("false", "f", "no", "n", "0", "off")
# Settings with a fixed set of values, checked when parsing rather than deep inside a predictor.
CHOICES: Dict[str, Sequence[str]] = {
    "det_limit_type": ("max", "min"),
    "det_db_score_mode": ("fast", "slow"),
    "det_box_type": ("quad", "poly"),
    "precision": ("fp32", "fp16", "int8"),
    "ocr_version": ("PP-OCRv4", "PP-OCRv6"),
}


def str2bool(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (with the closest known flag) instead of the usage text."""

    def error(self, message: str) -> typing.NoReturn:
        if message.startswith("unrecognized arguments:"):
            known = [flag for flag in _all_flags(self) if flag.startswith("--")]
            hints = []
            for token in message.split(":", 1)[1].split():
                flag = token.split("=", 1)[0]
                match = difflib.get_close_matches(flag, known, n=1, cutoff=0.75) if flag.startswith("--") else []
                hints.append(f"{flag} (did you mean {match[0]}?)" if match else flag)
            message = f"unrecognized arguments: {', '.join(hints)}"
        self.exit(2, f"error: {self.prog}: {message}; see --help\n")


def _all_flags(parser: argparse.ArgumentParser) -> List[str]:
    """The parser's flags and its subcommands': argparse reports a subcommand's stray flag at the top level."""
    flags = list(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags.extend(_all_flags(sub))
    return flags


def _flag_type(hint: Any) -> tuple:
    """(element type, is_list) of a field's type hint, with Optional[...] unwrapped."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        inner = [arg for arg in args if arg is not type(None)]
        return _flag_type(inner[0])
    if origin in (list, List):
        return (args[0] if args else str), True
    return hint, False


GIVEN_FLAGS = "_given_infer_flags"  # namespace attribute: the inference flags on the command line


class _NoteGivenFlag(argparse._StoreAction):
    """Stores the flag's value and notes that the user gave it, so it wins over a model's recorded settings even
    when it equals the default."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        setattr(namespace, GIVEN_FLAGS, set(getattr(namespace, GIVEN_FLAGS, ())) | {self.dest})


def add_infer_flags(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """One ``--name`` flag per ``InferOptions`` field (except ``skip``), typed and defaulted from the field."""
    hints = typing.get_type_hints(InferOptions)
    for field in dataclasses.fields(InferOptions):
        if field.name in skip:
            continue
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        kind, is_list = _flag_type(hints[field.name])
        kwargs: Dict[str, Any] = {"default": default, "help": f"default: {default}", "action": _NoteGivenFlag}
        if kind is bool:
            kwargs.update(type=str2bool, nargs="?", const=True, metavar="True|False")
        else:
            kwargs["type"] = kind
            if is_list:
                kwargs["nargs"] = "+"
            if field.name in CHOICES:
                kwargs["choices"] = CHOICES[field.name]
        parser.add_argument(f"--{field.name}", **kwargs)


# Inference flags that mean nothing to a service: where batch runs read and write, how they scale out.
SERVE_SKIP = ("image_dir", "draw_img_save_dir", "save_results", "save_crop_res", "crop_res_save_dir", "is_visualize",
              "benchmark", "use_mp", "total_process_num", "process_id", "ray", "ray_address", "num_actors")


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    """``--host --port --workers ...``: one flag per ``ServeSettings`` field."""
    from ppocr.serving.settings import ServeSettings

    for field in dataclasses.fields(ServeSettings):
        parser.add_argument(f"--{field.name}", type=type(field.default), default=field.default,
                            help=f"default: {field.default}")


def options_from_args(args: argparse.Namespace) -> InferOptions:
    values = {name: getattr(args, name) for name in InferOptions.field_names() if hasattr(args, name)}
    return InferOptions(**values).with_given(getattr(args, GIVEN_FLAGS, ()))


def infer_parser(description: Optional[str] = None, prog: Optional[str] = None) -> OneLineParser:
    parser = OneLineParser(description=description, prog=prog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add_infer_flags(parser)
    return parser


def _quiet_opencv() -> None:
    """OpenCV's own warnings about broken files repeat what the runner reports per input; keep errors only
    (worker processes inherit the setting through the environment)."""
    import cv2

    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    if os.environ["OPENCV_LOG_LEVEL"].upper() == "ERROR":
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def run_task(task: str, options: InferOptions) -> int:
    """Run an inference task for a command line; exit status 1 only when every input failed."""
    from ppocr.infer.runner import run
    from ppocr.utils.logging import setup_logging

    setup_logging(level=logging.INFO if options.show_log else logging.WARNING)
    _quiet_opencv()
    summary = run(task, options)
    return 1 if summary.all_failed else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = OneLineParser(prog="ppocr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    commands.required = True
    ocr = commands.add_parser("ocr", help="detect, classify and recognise text",
                              description="Read the text in images and PDFs (like tools/infer/predict_system.py).")
    ocr.add_argument("input", nargs="?", metavar="DIR", help="an image, a PDF, a folder or a .txt list of paths")
    add_infer_flags(ocr)
    serve = commands.add_parser("serve", help="serve OCR over HTTP (hubserving-compatible API and a web page)",
                                description="Serve the OCR system over HTTP: PaddleOCR hubserving's /predict/ocr_system, "
                                            "/predict/ocr_det, /predict/ocr_rec, uploads at /v1/ocr, a web page at /, "
                                            "/health and /metrics.")
    add_serve_flags(serve)
    add_infer_flags(serve, skip=SERVE_SKIP)
    args = parser.parse_args(argv)
    options = options_from_args(args)
    if args.command == "serve":
        return run_serve(options, args)
    if args.input:
        options = options.replace(image_dir=args.input)
    return run_task("system", options)


def run_serve(options: InferOptions, args: argparse.Namespace) -> int:
    """Serve until interrupted; bad settings and models fail before the port is bound."""
    from ppocr.serving.settings import ServeSettings
    from ppocr.utils.logging import setup_logging

    setup_logging(level=logging.INFO if options.show_log else logging.WARNING)
    _quiet_opencv()
    settings = ServeSettings(**{field.name: getattr(args, field.name) for field in dataclasses.fields(ServeSettings)})
    settings.check()
    try:
        from ppocr.serving.app import serve
    except ImportError as err:
        raise ImportError(f"ppocr serve needs FastAPI and uvicorn: pip install fastapi uvicorn python-multipart "
                          f"prometheus-client ({err})") from None
    serve(options, settings)
    return 0


def run_cli(entry: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> None:
    """Run an inference command: setup errors (missing inputs or models, bad settings, a missing model
    wheel) become one ``error: ...`` line on stderr and exit status 2.

    Inputs that fail during a run never get here: the runner records them and carries on.
    """
    from ppocr.utils.cli import run_main

    run_main(entry, argv, extra_errors=(ValueError, ImportError))


def console() -> None:
    """Entry point of the installed ``ppocr`` command."""
    run_cli(main, sys.argv[1:])


if __name__ == "__main__":
    console()
