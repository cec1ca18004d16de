"""Paddle Inference against ONNX Runtime, stage by stage, on the packaged PP-OCRv4 det / rec and v2 cls models.

The packaged ONNX files are imported into our recipes (``ppocr.engine.onnx_import``) and exported to Paddle
Inference (``ppocr.engine.export``), so both runtimes run the same weights. Each stage then runs on the same
inputs with each runtime setting — ONNX Runtime, Paddle Inference with oneDNN, Paddle Inference without — at 1
and 2 CPU threads, the settings taking turns item by item so a change in machine load hits them alike:

- det: the first ``--limit`` ICDAR 2015 dev photos at the system's default resolution;
- cls and rec: the word crops of those photos (ground-truth quads cut as the system cuts them), one crop per call
  (the system's default ``rec_batch_num``).

Prints milliseconds per item (model run plus pre/post-processing, as the stage's ``__call__`` times it), the
model-run share, and how often each Paddle setting agrees with ONNX Runtime (same number of boxes; same text /
same angle label). Prints the load average; never asserts.

Measured (``--limit 20``: 20 photos, 86 crops; the other core training a detector, load average 2.6 on 2 cores,
2026-12-07), ms per item, Paddle Inference's speed as a share of ONNX Runtime's:

    stage  threads  onnxruntime  paddle+onednn       paddle (no oneDNN)
    det    1        192.9        260.5 (0.74x)       599.7 (0.32x)
    det    2        197.5        281.1 (0.70x)       750.1 (0.26x)
    cls    1        1.7          6.1 (0.28x)         8.9 (0.19x)
    rec    1        15.3         40.4 (0.38x)        59.0 (0.26x)
    rec    2        25.7         65.3 (0.39x)        87.9 (0.29x)
Every setting gave the same answers as ONNX Runtime (box counts, angle labels, texts). ONNX Runtime is faster in
every stage on this CPU, so the packaged models stay ONNX and run there; a second thread per stage does not pay
when the other core is busy (the system overlaps stages instead).

    python benchmarks/backends_per_stage.py [--limit 40] [--threads_list 1,2]
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO, Figure, base_parser, format_table, load_average, log, start, word_crops  # noqa: E402

RECIPES = {"det": "configs/det/PP-OCRv4/PP-OCRv4_mobile_det_finetune.yml",
           "rec": "configs/rec/PP-OCRv4/PP-OCRv4_mobile_rec_finetune.yml",
           "cls": "configs/cls/cls_mv3.yml"}
SAME_INPUT = {"det": ("det_limit_side_len", "det_limit_type"), "cls": ("cls_image_shape",), "rec": ("rec_image_shape",)}
RUNTIMES = {"onnxruntime": {}, "paddle+onednn": {"enable_mkldnn": True}, "paddle": {"enable_mkldnn": False}}


def paddle_models(work: str) -> Dict[str, Dict[str, str]]:
    """{stage: {"onnxruntime": packaged .onnx, "paddle": exported inference dir}} of the same weights."""
    from ppocr.engine.export import export_model
    from ppocr.engine.onnx_import import import_into_recipe
    from ppocr.infer.presets import default_model_paths
    from ppocr.utils.config import load_config

    packaged = default_model_paths("PP-OCRv4")
    models = {}
    for stage, recipe in RECIPES.items():
        config = load_config(os.path.join(REPO, recipe))
        prefix = os.path.join(work, "imported", stage)
        report = import_into_recipe(config, packaged[stage], prefix)
        out_dir = export_model(config, os.path.join(work, "paddle", stage), prefix)
        log(f"{stage}: imported (max abs diff to ONNX Runtime {report['max_abs_diff']:.1e}) and exported to {out_dir}")
        models[stage] = {"onnxruntime": packaged[stage], "paddle": out_dir}
    return models


def read_inputs(eval_root: str, limit: int) -> Tuple[List[Any], List[Any]]:
    """(photos, word crops) of the first ``limit`` dev photos."""
    import cv2

    from system_ic15 import read_det_gt

    photos, crops = [], []
    for path, gt in read_det_gt(os.path.join(eval_root, "icdar2015_dev", "det_gt.txt"))[:limit]:
        photos.append(cv2.imread(path))
        crops.extend(crop for _, crop, _ in word_crops(photos[-1], gt))
    return photos, crops


def build_stage(stage: str, model: str, threads: int, runtime_options: Dict[str, Any]) -> Tuple[Callable, Any]:
    """(call on one item returning a comparable answer, the stage's backend)."""
    from ppocr.infer.classifier import TextClassifier
    from ppocr.infer.detector import TextDetector
    from ppocr.infer.options import InferOptions
    from ppocr.infer.recognizer import TextRecognizer

    defaults = InferOptions()
    # the system's defaults, given explicitly so they win over what the exported model's inference.yml records
    same_input = {name: getattr(defaults, name) for name in SAME_INPUT[stage]}
    options = InferOptions(cpu_threads=threads, **{f"{stage}_model_dir": model}, **runtime_options, **same_input)
    if stage == "det":
        detector = TextDetector(options)
        return (lambda image: len(detector(image)[0])), detector.backend
    if stage == "cls":
        classifier = TextClassifier(options)
        return (lambda crop: classifier([crop])[1][0][0]), classifier.backend
    recognizer = TextRecognizer(options)
    return (lambda crop: recognizer([crop])[0][0][0]), recognizer.backend


def measure(stage: str, items: Sequence[Any], settings: Dict[str, Tuple[Callable, Any]]) -> Dict[str, Dict]:
    """Every setting on every item, their order rotating per item; per setting: wall s, model s, answers."""
    names = list(settings)
    for name in names:  # warm-up: first runs pay for graph optimisation and allocation
        settings[name][0](items[0])
    figures = {name: {"wall": 0.0, "model0": settings[name][1].run_seconds, "answers": []} for name in names}
    for index, item in enumerate(items):
        for name in names[index % len(names):] + names[:index % len(names)]:
            call, _ = settings[name]
            started = time.perf_counter()
            answer = call(item)
            figures[name]["wall"] += time.perf_counter() - started
            figures[name]["answers"].append(answer)
    for name in names:
        figures[name]["model"] = settings[name][1].run_seconds - figures[name]["model0"]
    return figures


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--limit", type=int, default=40, help="dev photos (their word crops feed cls and rec)")
    parser.add_argument("--threads_list", default="1,2", help="CPU threads per stage to measure, comma-separated")
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.eval_root, "icdar2015_dev")):
        parser.error(f"{os.path.join(args.eval_root, 'icdar2015_dev')} does not exist; see --eval_root")
    work = start(args, "backends_")
    threads_list = [int(t) for t in args.threads_list.split(",") if t]
    log(f"work dir {work}; {load_average()}")
    models = paddle_models(work)
    photos, crops = read_inputs(args.eval_root, args.limit)
    log(f"{len(photos)} photos, {len(crops)} word crops")
    rows = []
    for stage, items in (("det", photos), ("cls", crops), ("rec", crops)):
        for threads in threads_list:
            settings = {}
            for runtime, options in RUNTIMES.items():
                model = models[stage]["onnxruntime" if runtime == "onnxruntime" else "paddle"]
                settings[runtime] = build_stage(stage, model, threads, options)
            figures = measure(stage, items, settings)
            reference = figures["onnxruntime"]["answers"]
            for runtime, fig in figures.items():
                same = sum(a == b for a, b in zip(fig["answers"], reference)) / len(reference)
                rows.append(Figure(f"{stage}, {threads} thread(s), {runtime}",
                                   f"{1000 * fig['wall'] / len(items):.1f} ms/item, model {fig['model'] / fig['wall']:.0%}, "
                                   f"{figures['onnxruntime']['wall'] / fig['wall']:.2f}x onnxruntime's speed, "
                                   f"same answer {same:.1%}"))
            log(f"{stage}, {threads} thread(s): " + ", ".join(
                f"{runtime} {1000 * fig['wall'] / len(items):.1f} ms" for runtime, fig in figures.items()))
    print(format_table(f"Per stage ({len(photos)} photos, {len(crops)} crops; {load_average()})", rows))


if __name__ == "__main__":
    main()
