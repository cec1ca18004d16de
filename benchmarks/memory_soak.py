"""Memory over a long OCR run: resident set size (RSS) every few hundred images, and its growth per 1 000.

A set of small synthetic pages (``ppocr.data.synth.pages.render_page``: 2-5 short text lines of one or two
words, varied sizes, backgrounds, angles; half PNG, half JPEG) is written to a temporary folder and fed round
and round through the runner's own loop (``ppocr.infer.runner.process_items`` with a ``SystemTask``: file decoding, TextSystem with the
packaged default models, results lines, visualised pictures), as ``predict_system.py`` runs a folder.

Growth is the least-squares slope of RSS against images processed, over the samples after the warm-up (the first
pass over every distinct page, when ONNX Runtime's arena and the caches settle on the shapes they will see),
scaled to 1 000 images. Target: flat, i.e. under 5 MB per 1 000 images (a leak of one 5 KB object per image).

    python benchmarks/memory_soak.py [--num 2000] [--every 200] [--max_minutes 15]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from typing import List, Tuple

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Figure, add_repo_to_path, cpu_seconds, format_table, load_average  # noqa: E402

add_repo_to_path()

FLAT_MB_PER_1000 = 5.0
PAGE_SIZES = ((320, 240), (400, 300), (480, 360), (360, 480), (512, 384), (640, 320))


def rss_mb() -> float:
    """Current resident set size of this process in MB (from /proc; ``ru_maxrss`` only gives the peak)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def write_pages(folder: str, count: int, seed: int) -> List[str]:
    """Short lines keep recognition, the costliest stage on long lines, at a few crops of word size per page."""
    from ppocr.data.synth.corpus import TextSampler
    from ppocr.data.synth.pages import PAGE_CHARSET, render_page

    rng = np.random.default_rng(seed)
    sampler = TextSampler(PAGE_CHARSET, length=(2, 8), words=(1, 2), word_ratio=0.7)
    paths = []
    for number in range(count):
        size = PAGE_SIZES[number % len(PAGE_SIZES)]
        page, _ = render_page(rng, size=size, num_lines=(2, 5), sampler=sampler, ignore_ratio=0.0, max_angle=10.0)
        path = os.path.join(folder, f"page{number:03d}.{'png' if number % 2 else 'jpg'}")
        if not cv2.imwrite(path, page):
            raise OSError(f"cannot write {path}")
        paths.append(path)
    return paths


def growth_per_1000(samples: List[Tuple[int, float]], warm_up: int) -> float:
    """Least-squares slope of RSS (MB) against images, after ``warm_up`` images, per 1 000 images."""
    points = [(n, mb) for n, mb in samples if n >= warm_up]
    if len(points) < 2:
        return float("nan")
    images, mbs = np.array(points, dtype=np.float64).T
    return float(np.polyfit(images, mbs, 1)[0] * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num", type=int, default=2000, help="images to process")
    parser.add_argument("--every", type=int, default=200, help="sample RSS every N images")
    parser.add_argument("--pages", type=int, default=48, help="distinct synthetic pages fed in rotation")
    parser.add_argument("--max_minutes", type=float, default=15.0,
                        help="stop early after this long, 0 for no limit (the figures then cover the images done)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from ppocr.infer.options import InferOptions
    from ppocr.infer.runner import RunSummary, SystemTask, process_items

    print(f"start: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="memory_soak.") as work:
        pages = write_pages(work, args.pages, args.seed)
        out_dir = os.path.join(work, "out")
        options = InferOptions(draw_img_save_dir=out_dir, show_log=False)
        task = SystemTask(options)
        summary = RunSummary("system")
        samples: List[Tuple[int, float]] = [(0, rss_mb())]
        done = [0]
        start, start_cpu = time.perf_counter(), cpu_seconds()
        deadline = start + 60 * args.max_minutes if args.max_minutes > 0 else float("inf")

        def items():
            for index in range(args.num):
                if time.perf_counter() > deadline:
                    print(f"stopping after {index} images: --max_minutes {args.max_minutes} reached")
                    return
                path = pages[index % len(pages)]
                yield index, path, os.path.basename(path)

        def advance() -> None:
            done[0] += 1
            if done[0] % args.every == 0:
                samples.append((done[0], rss_mb()))
                elapsed = time.perf_counter() - start
                print(f"{done[0]:6d} images  RSS {samples[-1][1]:8.1f} MB  {elapsed:7.1f}s  {load_average()}",
                      flush=True)

        with open(os.path.join(work, "system_results.txt"), "w", encoding="utf-8") as results:
            def emit(index: int, key: str, payload: str) -> None:
                results.write(f"{key}\t{payload}\n")
                summary.counts[SystemTask.status(payload)] += 1

            print(f"{0:6d} images  RSS {samples[0][1]:8.1f} MB  (models loaded, {len(pages)} distinct pages)")
            process_items(task, items(), summary, emit, advance)
        wall, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
    if samples[-1][0] != done[0]:
        samples.append((done[0], rss_mb()))
    growth = growth_per_1000(samples, warm_up=len(pages))
    print(f"end: {load_average()}")
    print(f"{done[0]} images in {wall:.0f}s wall, {cpu:.0f}s CPU ({done[0] / wall:.2f} images/s): {summary.counts}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    after_warm_up = [mb for n, mb in samples if n >= len(pages)]
    figures = [
        Figure("RSS after loading models", f"{samples[0][1]:.1f} MB"),
        Figure("RSS after warm-up / at end", f"{after_warm_up[0]:.1f} / {samples[-1][1]:.1f} MB" if after_warm_up
               else "n/a"),
        Figure("peak RSS", f"{peak:.1f} MB"),
        Figure("RSS growth per 1000 images (after warm-up)", f"{growth:+.2f} MB", f"< {FLAT_MB_PER_1000:g} MB",
               bool(abs(growth) < FLAT_MB_PER_1000) if np.isfinite(growth) else None),
    ]
    print(format_table(f"memory over {done[0]} images", figures))


if __name__ == "__main__":
    main()
