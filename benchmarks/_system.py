"""Running whole OCR systems side by side for the system benchmarks (``system_ic15.py``, ``system_docs.py``).

ppocr's ``TextSystem`` and the peer's configurations (``_peer.PEER_SETTINGS``) get the same images, a chunk at a
time, the order of systems rotating from chunk to chunk so a change in machine load hits all of them alike. Each
system's output becomes a list of ``(4×2 points, text)`` detections that the benchmark scores its own way.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from _common import Figure, format_table, load_average
from _peer import PEER_SETTINGS, Tally, make_peer, parse_overrides, ratio

Detection = Tuple[np.ndarray, str]  # 4×2 points, text


@dataclass
class System:
    """One contender: its tally, ``run(paths) -> detections per path`` and its model seconds so far."""

    tally: Tally
    run: Callable[[Sequence[str]], List[List[Detection]]]
    model_seconds: Callable[[], float]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=int, default=0, help="skip the first N images")
    parser.add_argument("--limit", type=int, default=0, help="only N images from --start (0 = all)")
    parser.add_argument("--peers", default="default,matched",
                        help=f"comma-separated peer settings out of {', '.join(PEER_SETTINGS)}; empty for none")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an InferOptions override for ppocr (repeatable), e.g. det_limit_side_len=736")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[;KEY=VALUE...]",
                        help="another ppocr configuration run alongside (repeatable), its options on top of --set; "
                             "the key overlap=false runs its chunks through ocr_many without overlapping")
    parser.add_argument("--chunk", type=int, default=1,
                        help="images each system gets per turn; ppocr runs a chunk through TextSystem.ocr_many, "
                             "which overlaps detection of the next image with recognition of the current one")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Turn ``--peers`` into a list and refuse unknown settings in one line."""
    args.peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in args.peers if p not in PEER_SETTINGS]
    if unknown:
        parser.error(f"--peers: unknown setting(s) {unknown}; expected {list(PEER_SETTINGS)}")
    variants = []
    for text in args.variant:
        name, found, pairs = text.partition(":")
        if not found or not name:
            parser.error(f"--variant expects NAME:KEY=VALUE[;KEY=VALUE...], got {text!r}")
        variants.append((name, [pair for pair in pairs.split(";") if pair]))
    args.variant = variants
    if args.chunk < 1:
        parser.error(f"--chunk must be at least 1, got {args.chunk}")


def ours_detections(results: List[dict]) -> List[Detection]:
    return [(np.asarray(r["points"], dtype=np.float64), r["transcription"]) for r in results]


def peer_detections(output: Any) -> List[Detection]:
    if not output or output[0] is None:
        return []
    return [(np.asarray(box, dtype=np.float64), text) for box, text, _ in output[0]]


def ppocr_system(name: str, overrides: Dict[str, Any]) -> Tuple[System, Any, Dict[str, Any]]:
    """A ppocr ``TextSystem`` as a contender, the TextSystem itself and its backends by stage."""
    from ppocr.infer import TextSystem

    overrides = dict(overrides)
    overlap = bool(overrides.pop("overlap", True))  # not an option: how a chunk runs through ocr_many
    system = TextSystem(**overrides)
    stages = {"det": system.detector, "cls": system.classifier, "rec": system.recognizer}
    backends = {stage_name: stage.backend for stage_name, stage in stages.items() if stage is not None}

    def run(paths: Sequence[str]) -> List[List[Detection]]:
        if len(paths) == 1:
            return [ours_detections(system(paths[0]))]
        return [ours_detections(results) for results, _ in system.ocr_many(paths, overlap=overlap)]

    print(f"{name} {overrides or 'defaults'}{'' if overlap else ' (no overlap)'}: "
          f"det resize {system.detector.resize_args}, det postprocess {system.detector.post_args}, "
          f"direction classifier {'on' if system.classifier else 'off'}, rec batch {system.recognizer.batch_num}, "
          f"models {', '.join(f'{stage} {b.model_path}' for stage, b in backends.items())}")
    return System(Tally(name), run, lambda: sum(b.run_seconds for b in backends.values())), system, backends


def build_systems(args: argparse.Namespace) -> Tuple[List[System], Dict[str, Any]]:
    """ppocr first, then its ``--variant`` configurations, then the requested peer settings; and the first ppocr's
    backends by stage."""
    base = parse_overrides(args.set)
    ours, system, backends = ppocr_system("ppocr", base)
    systems = [ours]
    for name, pairs in args.variant:
        systems.append(ppocr_system(f"ppocr {name}", {**base, **parse_overrides(pairs)})[0])
    for settings in args.peers:
        engine, model_seconds = make_peer(settings, system)
        systems.append(System(Tally(f"peer ({settings})"),
                              lambda paths, e=engine: [peer_detections(e(path)) for path in paths], model_seconds))
    return systems, backends


def run_interleaved(systems: List[System], backends: Dict[str, Any], paths: Sequence[str], chunk: int,
                    score: Callable[[int, int, List[Detection]], None]) -> str:
    """Warm every system up on the first image, then give each the images ``chunk`` at a time in rotating order;
    ``score(system number, image number, detections)`` is called for every output. Returns a line with ppocr's
    model seconds per image by stage."""
    for system in systems:
        system.run(list(paths[:1]) * min(chunk, 2))  # first-run allocations are not what a long run costs
        base = system.model_seconds()
        system.tally.model_seconds = lambda m=system.model_seconds, b=base: m() - b
    base = {name: backend.run_seconds for name, backend in backends.items()}
    print(f"start: {load_average()}")
    for turn, first in enumerate(range(0, len(paths), chunk)):
        batch = list(paths[first:first + chunk])
        for offset in range(len(systems)):
            which = (turn + offset) % len(systems)
            system = systems[which]
            outputs = system.tally.timed(system.run, batch, count=len(batch))
            for number, detections in enumerate(outputs, start=first):
                score(which, number, detections)
    print(f"end: {load_average()}")
    return "ppocr model wall seconds per image: " + ", ".join(
        f"{name} {(backend.run_seconds - base[name]) / max(len(paths), 1):.3f}" for name, backend in backends.items())


def compare_systems(args: argparse.Namespace, paths: Sequence[str], new_score: Callable[[], Any],
                    score: Callable[[Any, int, List[Detection]], None], title: str, header: Sequence[str],
                    row: Callable[[str, Tally, Any], List[str]],
                    verdicts: Callable[[List[System], List[Any]], List[Any]]) -> None:
    """A system benchmark's run and report: every system (``build_systems``) over ``paths`` (``run_interleaved``),
    ``score(that system's new_score(), image number, detections)`` for every output, then ``title``, one ``row``
    per system, ppocr's model seconds by stage and the table of ``verdicts``."""
    systems, backends = build_systems(args)
    scores = [new_score() for _ in systems]
    stages = run_interleaved(systems, backends, paths, args.chunk,
                             lambda which, number, dets: score(scores[which], number, dets))
    print(title)
    print_rows(header, [row(system.tally.name, system.tally, value) for system, value in zip(systems, scores)])
    print(stages)
    print(format_table("targets", verdicts(systems, scores)))


def print_rows(header: Sequence[str], rows: List[List[str]]) -> None:
    widths = [max(len(r[i]) for r in [list(header), *rows]) for i in range(len(header))]
    for line in [list(header), *rows]:
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))))


def speed_cells(tally: Tally) -> List[str]:
    """images/s, CPU seconds per image and the wall share outside model runs ("overlapped" when overlapping
    stages ran longer in models than the calls took)."""
    outside = f"{100 * tally.outside_share:.1f}%" if tally.outside_share >= 0 else "overlapped"
    return [f"{tally.rate:.3f}", f"{tally.cpu / max(tally.items, 1):.3f}", outside]


SPEED_HEADER = ["images/s", "CPU s/img", "outside model"]


def speed_verdicts(ours: Tally, peer: Tally, need: Optional[float], cpu_target: bool) -> List[Figure]:
    """images/s against a peer (judged when ``need`` is given) and the same by CPU time (judged with ``cpu_target``)."""
    def row(title: str, mine: float, theirs: float, judged: bool) -> Figure:
        return Figure(title, f"{mine:.3f} vs {theirs:.3f} = {ratio(mine, theirs)}",
                      f">= {need}x" if judged else "", mine >= need * theirs if judged else None)

    return [row(f"images/s vs {peer.name}", ours.rate, peer.rate, bool(need)),
            row(f"  by CPU time vs {peer.name}", ours.cpu_rate, peer.cpu_rate, bool(need) and cpu_target)]


def outside_share_verdicts(ours: Tally) -> List[Figure]:
    """The wall share outside model runs (none with --chunk: overlapping stages' model seconds exceed the wall)."""
    if ours.outside_share < 0:
        return []
    return [Figure("ppocr wall share outside model runs", f"{100 * ours.outside_share:.1f}%", "<= 10%",
                   ours.outside_share <= 0.10)]

