"""Results files of the inference tools, in PaddleOCR's line formats.

Each input (or PDF page) gets exactly one line, ``key<TAB>payload``, so a results file can be
joined back to its inputs:

- system: ``key\\t[{"transcription": str, "points": [[x, y] x 4], "score": float}, ...]``
- det: ``key\\t[{"points": [[x, y] x 4]}, ...]``
- rec: ``key\\ttext\\tscore``; cls: ``key\\tlabel\\tscore``
- an input that could not be read or processed: ``key\\tERROR: one-line reason``

Callers stream lines through ``ppocr.utils.io.atomic_write`` (a crashed run leaves the previous
file intact). Multi-process runs write one part per worker, each line prefixed by the
input's index, and :func:`merge_parts` interleaves them back into input order without loading them.
"""
from __future__ import annotations

import heapq
import json
import os
from typing import IO, Iterable, Iterator, List, Optional, Tuple

ERROR_PREFIX = "ERROR: "


def system_payload(results: List[dict]) -> str:
    return json.dumps(results, ensure_ascii=False)


def det_payload(boxes: Iterable) -> str:
    return json.dumps([{"points": _int_points(box)} for box in boxes], ensure_ascii=False)


def text_score_payload(text: str, score: float) -> str:
    """``text<TAB>score`` for rec and cls; tabs and newlines inside the text would break the line format."""
    clean = text.replace("\t", " ").replace("\n", " ")
    return f"{clean}\t{score:.6f}"


def error_payload(message: str) -> str:
    return ERROR_PREFIX + " ".join(str(message).split())


def _int_points(box: Iterable) -> List[List[int]]:
    return [[int(round(float(x))), int(round(float(y)))] for x, y in box]


def format_line(key: str, payload: str) -> str:
    return f"{key}\t{payload}\n"


def parse_line(line: str) -> Tuple[str, str]:
    """(key, payload) of one results line."""
    key, sep, payload = line.rstrip("\n").partition("\t")
    if not sep:
        raise ValueError(f"results line has no tab between key and payload: {line[:80]!r}")
    return key, payload


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
