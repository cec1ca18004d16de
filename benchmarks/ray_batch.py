"""Batch OCR throughput on this machine: ``--ray`` against ``--use_mp`` and a single process, same images.

The first ``--images`` ICDAR 2015 images go through the runner three ways (packaged PP-OCRv4 models, no
pictures drawn): one process; ``use_mp`` with ``--processes`` workers; Ray with a local instance of
``--processes`` CPUs and as many actors. Printed: images/s of each (Ray both on the run alone and counting
the seconds Ray itself takes to start), and whether the three results files are identical. On one machine
Ray cannot beat ``use_mp``; the figure shows what its scheduling costs, and the same command with
``--ray_address auto`` on a cluster shows what it gains.

    python benchmarks/ray_batch.py [--images 200] [--processes 2]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Figure, add_repo_to_path, base_parser, dev_photos, format_table, load_average  # noqa: E402

add_repo_to_path()


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2, help="use_mp workers, Ray CPUs and actors")
    args = parser.parse_args()
    work = args.work_dir or tempfile.mkdtemp(prefix="ray_batch_")
    image_dir, paths = dev_photos(args.eval_root, args.images)
    list_file = os.path.join(work, "images.txt")
    with open(list_file, "w", encoding="utf-8") as f:
        f.write("\n".join(paths) + "\n")

    import ray

    from ppocr.infer.options import InferOptions
    from ppocr.infer.runner import run

    base = InferOptions(image_dir=list_file, is_visualize=False, show_log=False)
    print(f"{len(paths)} images from {image_dir}; start: {load_average()}", flush=True)
    single = run("system", base.replace(draw_img_save_dir=os.path.join(work, "single")))
    print(f"single process: {single.total / single.wall_seconds:.2f} images/s ({load_average()})", flush=True)
    multi = run("system", base.replace(draw_img_save_dir=os.path.join(work, "mp"), use_mp=True,
                                       total_process_num=args.processes))
    print(f"use_mp x{args.processes}: {multi.total / multi.wall_seconds:.2f} images/s ({load_average()})", flush=True)
    started = time.perf_counter()
    ray.init(num_cpus=args.processes, include_dashboard=False, logging_level="WARNING")
    ray_start = time.perf_counter() - started
    try:
        on_ray = run("system", base.replace(draw_img_save_dir=os.path.join(work, "ray"), ray=True,
                                            num_actors=args.processes))
    finally:
        ray.shutdown()
    print(f"end: {load_average()}")

    def read(name: str) -> str:
        with open(os.path.join(work, name, "system_results.txt"), encoding="utf-8") as f:
            return f.read()

    same = read("single") == read("mp") == read("ray")
    figures = [
        Figure("single process", f"{single.total / single.wall_seconds:.2f} images/s"),
        Figure(f"use_mp, {args.processes} processes", f"{multi.total / multi.wall_seconds:.2f} images/s"),
        Figure(f"ray, {args.processes} actors (run)", f"{on_ray.total / on_ray.wall_seconds:.2f} images/s"),
        Figure("ray with its start-up", f"{on_ray.total / (on_ray.wall_seconds + ray_start):.2f} images/s "
                                        f"(ray.init {ray_start:.1f} s)"),
        Figure("results files identical", "yes" if same else "NO", "yes", same),
        Figure("counts (ok / empty / failed)", "{ok} / {empty} / {failed}".format(**on_ray.counts)),
    ]
    print(format_table(f"batch OCR on {len(paths)} ICDAR 2015 images", figures))


if __name__ == "__main__":
    main()
