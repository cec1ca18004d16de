"""The peer (RapidOCR, ``rapidocr_onnxruntime==1.4.4``) as the system benchmarks run it, and fair clocks.

The peer is only ever run here, next to ppocr, to compare figures on the same models; the library never
imports it. Its ONNX sessions are wrapped so the time inside model runs can be told from the time around them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from _common import cpu_seconds

PEER_SETTINGS = ("default", "matched")


def matched_settings(system: Any) -> Dict[str, Any]:
    """The peer's settings that do what a ppocr ``TextSystem`` does: its DB thresholds, unclip ratio, dilation,
    score mode, direction classifier on or off, drop score, batch sizes and ppocr's ONNX Runtime thread count."""
    from ppocr.infer.backends import cpu_thread_count

    post, options = system.detector.post_args, system.options
    return {"det_thresh": post["thresh"], "det_box_thresh": post["box_thresh"],
            "det_unclip_ratio": post["unclip_ratio"], "det_donot_use_dilation": not post["use_dilation"],
            "det_score_mode": post["score_mode"], "use_cls": system.classifier is not None,
            "text_score": options.drop_score, "cls_thresh": options.cls_thresh,
            "rec_batch_num": options.rec_batch_num, "cls_batch_num": options.cls_batch_num,
            "intra_op_num_threads": cpu_thread_count(options.cpu_threads), "inter_op_num_threads": 1}


def _match_det_resize(engine: Any, system: Any) -> None:
    """The peer's DB resize cannot be set to ppocr's (its "max" mode picks 960/1500/2000 by image size and
    "min" only enlarges), so its resize step is swapped for its own resize class with ppocr's limits."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    det, resize = engine.text_det, system.detector.resize_args
    if "limit_side_len" not in resize:
        raise ValueError(f"cannot match the peer to ppocr's detector resize {resize}")
    det.get_preprocess = lambda max_wh: DetPreProcess(resize["limit_side_len"], resize["limit_type"],
                                                      det.mean, det.std)


class TimedSession:
    """Stands in for an ``onnxruntime.InferenceSession`` and adds up the wall time of its ``run`` calls."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.run_seconds = 0.0

    def run(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self._session.run(*args, **kwargs)
        finally:
            self.run_seconds += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _time_sessions(holders: List[Any]) -> List[TimedSession]:
    """Wrap the ORT session inside each of the peer's ``OrtInferSession`` objects."""
    timed = []
    for holder in holders:
        holder.session = TimedSession(holder.session)
        timed.append(holder.session)
    return timed


def make_peer(settings: str, system: Any = None) -> Tuple[Any, Callable[[], float]]:
    """The peer's whole system and a function giving its model seconds so far: its ``default`` settings, or
    settings ``matched`` to the ppocr TextSystem ``system``."""
    from rapidocr_onnxruntime import RapidOCR

    if settings not in PEER_SETTINGS:
        raise ValueError(f"unknown peer settings {settings!r}; expected one of {PEER_SETTINGS}")
    engine = RapidOCR(**(matched_settings(system) if settings == "matched" else {}))
    if settings == "matched":
        _match_det_resize(engine, system)
    timed = _time_sessions([engine.text_det.infer, engine.text_cls.infer, engine.text_rec.session])
    return engine, lambda: sum(t.run_seconds for t in timed)


def make_peer_recognizer(threads: Optional[int] = None) -> Tuple[Any, Callable[[], float]]:
    """The peer's recogniser alone (its ``ch_ppocr_rec.TextRecognizer``, default config) on the same model."""
    from rapidocr_onnxruntime import RapidOCR

    settings = {} if threads is None else {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
    recognizer = RapidOCR(**settings).text_rec
    timed = _time_sessions([recognizer.session])
    return recognizer, lambda: timed[0].run_seconds


@dataclass
class Tally:
    """Wall and CPU seconds, model seconds and item counts of one system over interleaved calls."""

    name: str
    wall: float = 0.0
    cpu: float = 0.0
    items: int = 0
    model_seconds: Callable[[], float] = field(default=lambda: 0.0)

    def timed(self, fn: Callable[..., Any], *args, count: int = 1) -> Any:
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = fn(*args)
        self.wall += time.perf_counter() - wall
        self.cpu += cpu_seconds() - cpu
        self.items += count
        return result

    @property
    def rate(self) -> float:
        return self.items / self.wall if self.wall else 0.0

    @property
    def cpu_rate(self) -> float:
        return self.items / self.cpu if self.cpu else 0.0

    @property
    def outside_share(self) -> float:
        """Share of wall time spent outside model runs."""
        return 1.0 - self.model_seconds() / self.wall if self.wall else 0.0


def parse_overrides(pairs: Sequence[str]) -> Dict[str, Any]:
    """``key=value`` InferOptions overrides, values read as YAML scalars (numbers, booleans, strings)."""
    import yaml

    overrides = {}
    for pair in pairs:
        key, found, value = pair.partition("=")
        if not found:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def ratio(ours: float, peer: float) -> str:
    return f"{ours / peer:.2f}x" if peer else "n/a"
