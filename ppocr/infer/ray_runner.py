"""Batch inference on Ray: the same results files as ``ppocr.infer.runner``, from one machine or a cluster.

Ray Data runs the pipeline: the input list (files, folders, list files) becomes a dataset of
``(index, path, key)``; a light stage splits every PDF into one row per page, so a long document is
spread over the cluster like a folder of images; an actor pool of predictors (each building the
task's models once, like a ``--use_mp`` worker) turns rows into results lines. Order is preserved,
so the driver streams lines straight into ``<task>_results.txt`` (and ``<task>_results.jsonl``) in
input order while counting ok / empty / failed. Loading and model errors are caught per row by the
same code as the single-process run, so a bad input costs only its own line and the files are
identical to a single-process run's.

On a cluster every node needs ppocr (and the model files) installed, and the inputs and
``draw_img_save_dir`` on storage all nodes see; results files are written by the driver.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Dict, List, Optional

from ppocr.infer import results as fmt
from ppocr.infer.inputs import InputError, is_pdf, iter_images, list_input_files, pdf_page_count
from ppocr.infer.options import InferOptions
from ppocr.infer.runner import TASKS, RunSummary, _progress_bar, _run_batch, _without_outputs
from ppocr.utils.io import atomic_write

logger = logging.getLogger(__name__)

INSTALL_HINT = "--ray needs Ray: pip install 'ppocr[ray]' (or pip install 'ray[data]')"
ROWS_PER_CALL = 2  # rows handed to an actor at a time: small, so a few slow pages do not idle the others
INPUTS_PER_BLOCK = 256  # inputs per block of the input list (each block's PDFs are opened by one task)
BLOCKS_PER_ACTOR = 64  # page rows are dealt to actors by block: many small blocks keep them evenly busy


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data ships in the ray[data] extra
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT} ({err})") from None
    return ray


def expand_pages(row: Dict[str, Any], page_num: int = 0) -> List[Dict[str, Any]]:
    """One row per PDF page to read (``page`` from 1); any other input, or a PDF that will not open, keeps
    one row with ``page`` 0, whose loading reports the problem as the single-process run does."""
    path = row["path"]
    if is_pdf(path):
        try:
            count = pdf_page_count(path)
        except InputError:
            count = 0
        last = count if page_num <= 0 else min(count, page_num)
        if last > 0:
            return [dict(row, page=page) for page in range(1, last + 1)]
    return [dict(row, page=0)]


class PredictorActor:
    """One task predictor in a Ray actor; called with batches of rows, answers a results line per row."""

    def __init__(self, task_name: str, options: InferOptions, log_level: int) -> None:
        from ppocr.utils.logging import setup_logging

        setup_logging(level=log_level)
        self.task_name = task_name
        self.task = TASKS[task_name](options)

    def _lines(self, index: int, path: str, key: str, page: int) -> List[Dict[str, Any]]:
        options = self.task.options
        if page > 0:
            images = iter_images(path, key, options.max_image_pixels, page_num=page, first_page=page)
        else:
            images = iter_images(path, key, options.max_image_pixels, options.page_num)
        summary = RunSummary(self.task_name)
        lines: List[Dict[str, Any]] = []

        def emit(_index: int, line_key: str, payload: str) -> None:
            lines.append({"key": line_key, "payload": payload})

        batch: List[tuple] = []
        for item in images:
            batch.append((index, item))
            if len(batch) >= self.task.batch_size:
                _run_batch(self.task, batch, summary, emit)
                batch = []
        if batch:
            _run_batch(self.task, batch, summary, emit)
        if lines:  # the row's processed images and model seconds travel on its first line
            lines[0]["images"] = summary.images
            lines[0]["timings"] = json.dumps(summary.stage_seconds)
        return lines

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, list]:
        out: Dict[str, list] = {"index": [], "page": [], "key": [], "payload": [], "images": [], "timings": []}
        for index, path, key, page in zip(batch["index"], batch["path"], batch["key"], batch["page"]):
            for line in self._lines(int(index), str(path), str(key), int(page)):
                out["index"].append(int(index))
                out["page"].append(int(page))
                out["key"].append(line["key"])
                out["payload"].append(line["payload"])
                out["images"].append(int(line.get("images", 0)))
                out["timings"].append(line.get("timings", "{}"))
        return out


def jsonl_record(task_name: str, key: str, payload: str, status: str) -> Dict[str, Any]:
    """A results line as a JSON object: key, status, and results (system/det), text and score (rec/cls) or error."""
    record: Dict[str, Any] = {"key": key, "status": status}
    if payload.startswith(fmt.ERROR_PREFIX):
        record["error"] = payload[len(fmt.ERROR_PREFIX):]
    elif task_name in ("system", "det"):
        record["results"] = json.loads(payload)
    else:
        text, _, score = payload.rpartition("\t")
        record.update(text=text, score=float(score))
    return record


def _connect(ray: Any, address: Optional[str]) -> bool:
    """Join the cluster at ``address`` (or start a local Ray); True when this call started it."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f"the Ray cluster at '{address}'" if address else "a local Ray instance"
        raise ValueError(f"cannot start or join {where}: {' '.join(str(err).split())}") from None
    return True


def _page_rows(ray: Any, rows: List[Dict[str, Any]], page_num: int, actors: int) -> Any:
    """The inputs as a materialised dataset of page rows, cut into enough small blocks that one long PDF
    spreads over every actor. Materialised before the actors start: they hold every CPU, and the
    splitting tasks would otherwise wait for them forever."""
    pages = (ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // INPUTS_PER_BLOCK)))
             .flat_map(expand_pages, fn_kwargs={"page_num": page_num})
             .materialize())
    blocks = max(1, min(-(-pages.count() // ROWS_PER_CALL), actors * BLOCKS_PER_ACTOR))
    return pages.repartition(blocks).materialize()


def run_on_ray(task_name: str, options: InferOptions) -> RunSummary:
    """``runner.run`` on Ray: same inputs, results files and summary."""
    ray = _import_ray()
    task_cls = TASKS[task_name]
    start = time.perf_counter()
    files = _without_outputs(list_input_files(options.image_dir), options)
    summary = RunSummary(task_name, inputs=len(files))
    results_path = os.path.join(options.draw_img_save_dir, task_cls.results_name)
    summary.results_path = results_path if options.save_results else ""
    started_here = _connect(ray, options.ray_address)
    try:
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        actors = options.num_actors if options.num_actors > 0 else max(1, int(cpus))
        threads = max(1, min(options.cpu_threads, int(cpus) // actors))
        actor_cpus = min(float(threads), cpus / actors)  # more actors than CPUs share them instead of waiting
        logger.info("Ray: %d inputs over %d actor(s), %d CPU thread(s) each (%g CPUs in the cluster)",
                    len(files), actors, threads, cpus)
        actor_options = options.replace(ray=False, use_mp=False, cpu_threads=threads)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # lines stream out in input order
        context.enable_progress_bars = False
        rows = [{"index": index, "path": os.path.abspath(path), "key": key} for index, (path, key) in enumerate(files)]
        dataset = _page_rows(ray, rows, options.page_num, actors).map_batches(
            PredictorActor, batch_size=ROWS_PER_CALL, compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=actor_cpus,
            fn_constructor_args=(task_name, actor_options, logging.getLogger("ppocr").getEffectiveLevel()))
        _write(dataset, task_name, options, summary, results_path)
    finally:
        if started_here:
            ray.shutdown()
    summary.wall_seconds = time.perf_counter() - start
    logger.info("%s", summary.describe())
    logger.info("%s", summary.describe_timings())
    return summary


def _write(dataset: Any, task_name: str, options: InferOptions, summary: RunSummary, results_path: str) -> None:
    """Stream the dataset's rows into the results file and its JSON Lines twin, counting as they pass."""
    task_cls = TASKS[task_name]
    jsonl_path = os.path.splitext(results_path)[0] + ".jsonl"
    if options.save_results:
        text_sink, json_sink = atomic_write(results_path), atomic_write(jsonl_path)
    else:
        text_sink = json_sink = open(os.devnull, "w", encoding="utf-8")
    with text_sink as out, json_sink as out_json, _progress_bar(summary.inputs, task_name) as bar:
        last_index = -1
        for row in dataset.iter_rows():
            key, payload = str(row["key"]), str(row["payload"])
            status = task_cls.status(payload)
            out.write(fmt.format_line(key, payload))
            out_json.write(json.dumps(jsonl_record(task_name, key, payload, status), ensure_ascii=False) + "\n")
            summary.counts[status] += 1
            summary.images += int(row["images"])
            summary.add_timings(json.loads(row["timings"]))
            if int(row["index"]) != last_index:
                bar.update(1)
                last_index = int(row["index"])
