"""Results files of the inference tools, in PaddleOCR's line formats.

Each input (or PDF page) gets exactly one line, ``key<TAB>payload``, so a results file can be
joined back to its inputs:

- system: ``key\\t[{"transcription": str, "points": [[x, y] x 4], "score": float}, ...]``
- det: ``key\\t[{"points": [[x, y] x 4]}, ...]``
- rec: ``key\\ttext\\tscore``; cls: ``key\\tlabel\\tscore``
- an input that could not be read or processed: ``key\\tERROR: one-line reason``

Keys are escaped so that every line parses whatever a file is called: a backslash, tab, newline or
carriage return in a key is written as the two characters ``\\\\``, ``\\t``, ``\\n`` or ``\\r``
(:func:`escape_key`), and :func:`parse_line` turns them back (:func:`unescape_key`); a backslash
followed by anything else is kept as it is. Ordinary names contain none of these characters and are
written unchanged, so PaddleOCR-style readers that split at the first tab keep working on them.
Payloads need no escaping: JSON escapes control characters, and error reasons and rec/cls texts are
flattened to one line.

Callers stream lines through ``ppocr.utils.io.atomic_write`` (a crashed run leaves the previous
file intact). Multi-process runs write one part per worker, each line prefixed by the
input's index, and :func:`merge_parts` interleaves them back into input order without loading them.
"""
from __future__ import annotations

import heapq
import json
import os
import re
from typing import IO, Iterable, Iterator, List, Optional, Tuple

ERROR_PREFIX = "ERROR: "
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {escaped[1]: char for char, escaped in _ESCAPES.items()}
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")
_ESCAPED = re.compile(r"\\([\\tnr])")


def escape_key(key: str) -> str:
    """``key`` with backslash, tab, newline and carriage return written as backslash escapes."""
    return _NEEDS_ESCAPE.sub(lambda match: _ESCAPES[match.group()], key)


def unescape_key(text: str) -> str:
    """The key :func:`escape_key` wrote as ``text``."""
    return _ESCAPED.sub(lambda match: _UNESCAPES[match.group(1)], text)


def system_payload(results: List[dict]) -> str:
    return json.dumps(results, ensure_ascii=False)


def det_payload(boxes: Iterable) -> str:
    return json.dumps([{"points": _int_points(box)} for box in boxes], ensure_ascii=False)


def text_score_payload(text: str, score: float) -> str:
    """``text<TAB>score`` for rec and cls; tabs and line breaks inside the text would break the line format."""
    clean = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return f"{clean}\t{score:.6f}"


def error_payload(message: str) -> str:
    return ERROR_PREFIX + " ".join(str(message).split())


def _int_points(box: Iterable) -> List[List[int]]:
    return [[int(round(float(x))), int(round(float(y)))] for x, y in box]


def format_line(key: str, payload: str) -> str:
    """One results line, the key escaped (see the module docstring)."""
    return f"{escape_key(key)}\t{payload}\n"


def parse_line(line: str) -> Tuple[str, str]:
    """(key, payload) of one results line, the key as it was before escaping."""
    key, sep, payload = line.rstrip("\n").partition("\t")
    if not sep:
        raise ValueError(f"results line has no tab between key and payload: {line[:80]!r}")
    return unescape_key(key), payload


def load_system_results(path: str) -> Iterator[Tuple[str, Optional[list], Optional[str]]]:
    """(key, results, None) or (key, None, error) for each line of a ``system_results.txt``."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            key, payload = parse_line(line)
            if payload.startswith(ERROR_PREFIX):
                yield key, None, payload[len(ERROR_PREFIX):]
            else:
                yield key, json.loads(payload), None


def write_part_line(part: IO[str], index: int, key: str, payload: str) -> None:
    """A worker's line, tagged with the input index so :func:`merge_parts` can restore the order."""
    part.write(f"{index}\t{format_line(key, payload)}")


def _read_part(path: str) -> Iterator[Tuple[int, str]]:
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            index, sep, rest = line.partition("\t")
            if sep and rest.endswith("\n"):
                yield int(index), rest


def merge_parts(part_paths: List[str], keys: List[str],
                missing_reason: str = "the worker process handling it stopped") -> Iterator[Tuple[str, str]]:
    """(key, payload) of every line of the parts, in input order, read lazily.

    Inputs absent from every part (their worker died) get an error payload, so the merged file still
    holds a line for each input.
    """
    merged = heapq.merge(*(_read_part(path) for path in part_paths), key=lambda item: item[0])
    pending = next(merged, None)
    for index, key in enumerate(keys):
        found = False
        while pending is not None and pending[0] <= index:
            if pending[0] == index:
                yield parse_line(pending[1])
                found = True
            pending = next(merged, None)
        if not found:
            yield key, error_payload(missing_reason)
