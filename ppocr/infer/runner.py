"""Running an inference task over many inputs: results file, pictures, counts, timings, processes.

A run never stops for one bad input: every input (or PDF page) ends as ok, empty (readable, nothing
found) or failed, with one line in the results file (see ``ppocr.infer.results``). Memory stays flat
however long the run: images are loaded one batch at a time and every result goes straight to disk.

With ``use_mp`` and ``total_process_num`` N > 1 the sorted inputs are dealt round-robin to N spawned
worker processes, each with its own predictors and ``cpu_threads // N`` threads; the parent shows
progress and merges the workers' parts into one results file in input order.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import queue as queue_module
import shutil
import time
from typing import IO, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ppocr.infer import results as fmt
from ppocr.infer.inputs import InputImage, iter_images, list_input_files
from ppocr.infer.options import InferOptions
from ppocr.infer.visualize import draw_boxes, draw_ocr, save_image, visual_path
from ppocr.utils.io import atomic_write, ensure_output_dir, make_temp_dir

logger = logging.getLogger(__name__)

STATUSES = ("ok", "empty", "failed")
Item = Tuple[int, str, str]  # (input index, path, results key)
Emit = Callable[[int, str, str], None]
SYSTEM_BATCH = 4  # images per SystemTask.run: enough for detection to run ahead of recognition


@dataclasses.dataclass
class Outcome:
    """What a task made of one image: its results-line payload and, optionally, a picture of it."""

    payload: str
    picture: Optional[np.ndarray] = None


class Task:
    """One kind of inference over images; subclasses build their predictor from the options."""

    results_name = "results.txt"

    def __init__(self, options: InferOptions) -> None:
        self.options = options
        self.batch_size = 1

    def run(self, images: List[np.ndarray], keys: List[str]) -> Tuple[List[Outcome], Dict[str, float]]:
        """An outcome per image (same order) and the seconds each model stage took for the batch."""
        raise NotImplementedError

    @staticmethod
    def status(payload: str) -> str:
        if payload.startswith(fmt.ERROR_PREFIX):
            return "failed"
        return "empty" if payload == "[]" else "ok"

    def picture(self, key: str, draw: Callable[..., np.ndarray], *args) -> Optional[np.ndarray]:
        """The visualised result when ``is_visualize`` is on; a drawing failure costs the picture, not the result."""
        if not self.options.is_visualize:
            return None
        try:
            return draw(*args)
        except Exception as err:  # noqa: BLE001 - the results line matters more than its illustration
            logger.warning("%s: could not draw the result: %s", key, _one_line(err))
            return None


class SystemTask(Task):
    """Images go ``SYSTEM_BATCH`` at a time through ``TextSystem.ocr_many``, which detects the next image while
    recognising the current one (same results as one at a time). On 2 shared cores it gave 4 % more images/s
    on photos (10 % with ``cpu_threads=1``), and within ±4 % on form pages where recognition dominates."""

    results_name = "system_results.txt"

    def __init__(self, options: InferOptions) -> None:
        super().__init__(options)
        from ppocr.infer.system import TextSystem

        self.system = TextSystem(options)
        self.batch_size = SYSTEM_BATCH

    def run(self, images, keys):
        outcomes, total = [], {}
        for image, key, (results, timings) in zip(images, keys, self.system.ocr_many(images)):
            picture = self.picture(key, draw_ocr, image, results, self.options.vis_font_path)
            if self.options.save_crop_res:
                self._save_crops(image, key, results)
            outcomes.append(Outcome(fmt.system_payload(results), picture))
            for stage, seconds in timings.items():
                total[stage] = total.get(stage, 0.0) + seconds
        return outcomes, total

    def _save_crops(self, image: np.ndarray, key: str, results: List[dict]) -> None:
        from ppocr.infer.system import as_quad, crop_quad

        stem = os.path.splitext(visual_path(self.options.crop_res_save_dir, key))[0]
        for number, item in enumerate(results):
            save_image(f"{stem}_crop{number}.jpg", crop_quad(image, as_quad(np.asarray(item["points"]))))


class DetTask(Task):
    results_name = "det_results.txt"

    def __init__(self, options: InferOptions) -> None:
        super().__init__(options)
        from ppocr.infer.detector import TextDetector

        self.detector = TextDetector(options)

    def run(self, images, keys):
        boxes, elapsed = self.detector(images[0])
        picture = self.picture(keys[0], draw_boxes, images[0], boxes)
        return [Outcome(fmt.det_payload(boxes), picture)], {"det": elapsed}


class RecTask(Task):
    """Whole images are text-line crops; they are recognised ``rec_batch_num`` at a time."""

    results_name = "rec_results.txt"

    def __init__(self, options: InferOptions) -> None:
        super().__init__(options)
        from ppocr.infer.recognizer import TextRecognizer

        self.recognizer = TextRecognizer(options)
        self.batch_size = max(1, options.rec_batch_num)

    def run(self, images, keys):
        texts, elapsed = self.recognizer(images)
        return [Outcome(fmt.text_score_payload(text, score)) for text, score in texts], {"rec": elapsed}

    @staticmethod
    def status(payload: str) -> str:
        if payload.startswith(fmt.ERROR_PREFIX):
            return "failed"
        return "empty" if payload.startswith("\t") else "ok"


class ClsTask(Task):
    """Whole images are text-line crops; each gets its orientation label, ``cls_batch_num`` at a time."""

    results_name = "cls_results.txt"

    def __init__(self, options: InferOptions) -> None:
        super().__init__(options)
        from ppocr.infer.classifier import TextClassifier

        self.classifier = TextClassifier(options)
        self.batch_size = max(1, options.cls_batch_num)

    def run(self, images, keys):
        _, labels, elapsed = self.classifier(images)
        return [Outcome(fmt.text_score_payload(str(label), score)) for label, score in labels], {"cls": elapsed}


TASKS = {"system": SystemTask, "det": DetTask, "rec": RecTask, "cls": ClsTask}


@dataclasses.dataclass
class RunSummary:
    """Counts per status, model-stage seconds summed over images, wall time, where results went."""

    task: str
    inputs: int = 0
    counts: Dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    stage_seconds: Dict[str, float] = dataclasses.field(default_factory=dict)
    images: int = 0  # images and pages actually processed (not failed at loading)
    wall_seconds: float = 0.0
    results_path: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def all_failed(self) -> bool:
        return self.total > 0 and self.counts["failed"] == self.total

    def add_timings(self, timings: Dict[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + float(seconds)

    def describe(self) -> str:
        line = (f"{self.inputs} inputs ({self.total} images/pages): {self.counts['ok']} ok, "
                f"{self.counts['empty']} empty, {self.counts['failed']} failed")
        return line + (f"; results in {self.results_path}" if self.results_path else "")

    def describe_timings(self) -> str:
        per_image = max(self.images, 1)
        stages = ", ".join(f"{stage} {seconds / per_image:.3f}s" for stage, seconds in self.stage_seconds.items())
        rate = self.total / self.wall_seconds if self.wall_seconds > 0 else 0.0
        return f"per image: {stages}; {rate:.2f} images/s over {self.wall_seconds:.1f}s wall time"


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _save_picture(options: InferOptions, key: str, picture: Optional[np.ndarray]) -> None:
    if picture is None:
        return
    try:
        save_image(visual_path(options.draw_img_save_dir, key), picture)
    except (OSError, ValueError) as err:
        logger.warning("%s: could not save the visualised result: %s", key, _one_line(err))


def _run_images(task: Task, loaded: List[InputImage], summary: RunSummary) -> List[Union[Outcome, str]]:
    """An Outcome or an error message per image, in order; a failing batch is retried one image at a
    time so that only the culprit fails."""
    try:
        done, timings = task.run([item.image for item in loaded], [item.key for item in loaded])
    except Exception as err:  # noqa: BLE001 - any failure is confined to the input that caused it
        if len(loaded) == 1:
            logger.debug("%s failed", loaded[0].key, exc_info=True)
            return [_one_line(err)]
        return [result for item in loaded for result in _run_images(task, [item], summary)]
    summary.add_timings(timings)
    return list(done)


def _run_batch(task: Task, batch: List[Tuple[int, InputImage]], summary: RunSummary, emit: Emit) -> None:
    """Process the loaded images of ``batch`` and emit one line per entry, in input order."""
    loaded = [item for _, item in batch if item.error is None]
    outcomes = iter(_run_images(task, loaded, summary) if loaded else [])
    for index, item in batch:
        outcome = item.error if item.error is not None else next(outcomes)
        if not isinstance(outcome, Outcome):
            logger.warning("%s: %s", item.key, outcome)
            emit(index, item.key, fmt.error_payload(outcome))
            continue
        summary.images += 1
        _save_picture(task.options, item.key, outcome.picture)
        logger.debug("%s\t%s", item.key, outcome.payload)
        emit(index, item.key, outcome.payload)


def process_items(task: Task, items: Iterable[Item], summary: RunSummary, emit: Emit,
                  advance: Callable[[], None]) -> None:
    """Load, run and emit every item; ``advance`` is called once per input file (for progress)."""
    options = task.options
    batch: List[Tuple[int, InputImage]] = []
    for index, path, key in items:
        for item in iter_images(path, key, options.max_image_pixels, options.page_num):
            batch.append((index, item))
            if len(batch) >= task.batch_size:
                _run_batch(task, batch, summary, emit)
                batch = []
        advance()
    if batch:
        _run_batch(task, batch, summary, emit)


def _progress_bar(total: int, task: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"ppocr {task}", unit="file", disable=None, dynamic_ncols=True)


def _counting_writer(out: IO[str], task_cls: type, summary: RunSummary) -> Emit:
    def emit(index: int, key: str, payload: str) -> None:
        out.write(fmt.format_line(key, payload))
        summary.counts[task_cls.status(payload)] += 1
    return emit


def run(task_name: str, options: InferOptions) -> RunSummary:
    """Run ``task_name`` (system, det, rec or cls) over ``options.image_dir``; results file in
    ``options.draw_img_save_dir``; with ``options.ray`` on Ray (:mod:`ppocr.infer.ray_runner`). Raises only for
    problems with the run itself (no inputs, bad models)."""
    if task_name not in TASKS:
        raise ValueError(f"unknown task '{task_name}'; expected one of {', '.join(TASKS)}")
    if options.ray:
        from ppocr.infer.ray_runner import run_on_ray

        return run_on_ray(task_name, options)
    task_cls = TASKS[task_name]
    options.check_supported()
    start = time.perf_counter()
    files = _without_outputs(list_input_files(options.image_dir), options)
    summary = RunSummary(task_name, inputs=len(files))
    results_path = os.path.join(options.draw_img_save_dir, task_cls.results_name)
    summary.results_path = results_path if options.save_results else ""
    workers = min(options.total_process_num, len(files)) if options.use_mp else 1
    _check_output_dirs(options, task_cls, workers)
    sink = atomic_write(results_path) if options.save_results else open(os.devnull, "w", encoding="utf-8")
    with sink as out:
        if workers > 1:
            _run_processes(task_name, options, files, workers, summary, out)
        else:
            task = task_cls(options)
            items = ((index, path, key) for index, (path, key) in enumerate(files))
            with _progress_bar(len(files), task_name) as bar:
                process_items(task, items, summary, _counting_writer(out, task_cls, summary), lambda: bar.update(1))
    summary.wall_seconds = time.perf_counter() - start
    logger.info("%s", summary.describe())
    logger.info("%s", summary.describe_timings())
    if options.benchmark:
        write_benchmark_log(summary, options)
    return summary


def _check_output_dirs(options: InferOptions, task_cls: type, workers: int) -> None:
    """Make the output folders the run will write before any model loads, so a bad path fails in one line."""
    draws = options.is_visualize and task_cls in (SystemTask, DetTask)
    if options.save_results or draws or workers > 1:
        ensure_output_dir(options.draw_img_save_dir, "--draw_img_save_dir")
    if options.save_crop_res and task_cls is SystemTask:
        ensure_output_dir(options.crop_res_save_dir, "--crop_res_save_dir")
def write_benchmark_log(summary: RunSummary, options: InferOptions) -> str:
    """``--benchmark``: the run's counts and per-stage timings as JSON at ``--save_log_path`` (a ``.json``
    file, or a folder that gets ``<task>_benchmark.json``), as PaddleOCR's benchmark mode logs there."""
    import json

    path = options.save_log_path
    if not path.endswith(".json"):
        path = os.path.join(path, f"{summary.task}_benchmark.json")
    images = max(summary.images, 1)
    report = {"task": summary.task, "inputs": summary.inputs, "images": summary.images, "counts": summary.counts,
              "wall_seconds": summary.wall_seconds,
              "seconds_per_image": {stage: seconds / images for stage, seconds in summary.stage_seconds.items()},
              "cpu_threads": options.cpu_threads, "enable_mkldnn": options.enable_mkldnn,
              "use_onnx": options.use_onnx, "ir_optim": options.ir_optim}
    with atomic_write(path) as out:
        json.dump(report, out, indent=1)
    logger.info("benchmark log written to %s", path)
    return path


def _without_outputs(files: List[Tuple[str, str]], options: InferOptions) -> List[Tuple[str, str]]:
    """Leave out earlier pictures in ``draw_img_save_dir`` when it lies inside the input folder."""
    outputs = [os.path.abspath(folder) + os.sep for folder in (options.draw_img_save_dir, options.crop_res_save_dir)]
    kept = [(path, key) for path, key in files if not os.path.abspath(path).startswith(tuple(outputs))]
    if len(kept) < len(files):
        logger.info("skipping %d file(s) inside the output folders", len(files) - len(kept))
    if files and not kept:
        raise FileNotFoundError(f"image_dir '{options.image_dir}' holds only earlier outputs of ppocr")
    return kept


def _worker(task_name: str, options: InferOptions, items: List[Item], part_path: str, messages,
            log_level: int) -> None:
    """Entry point of a worker process: its share of the inputs into its part file, then its timings."""
    from ppocr.utils.logging import setup_logging

    setup_logging(level=log_level)
    worker_id = options.process_id
    try:
        task = TASKS[task_name](options)
        summary = RunSummary(task_name)
        with open(part_path, "w", encoding="utf-8") as part:
            def emit(index: int, key: str, payload: str) -> None:
                fmt.write_part_line(part, index, key, payload)
                part.flush()

            process_items(task, items, summary, emit, lambda: messages.put(("progress", worker_id, 1)))
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which ends the run with it
        messages.put(("fatal", worker_id, err if _picklable(err) else RuntimeError(_one_line(err))))
        return
    messages.put(("done", worker_id, (summary.stage_seconds, summary.images)))


def _picklable(err: BaseException) -> bool:
    import pickle

    try:
        pickle.loads(pickle.dumps(err))
    except Exception:  # noqa: BLE001 - anything unpicklable is sent as text instead
        return False
    return True


def _run_processes(task_name: str, options: InferOptions, files: Sequence[Tuple[str, str]], workers: int,
                   summary: RunSummary, out: IO[str]) -> None:
    threads = max(1, min(options.cpu_threads, os.cpu_count() or 1) // workers)
    logger.info("splitting %d inputs over %d processes, %d CPU thread(s) each", len(files), workers, threads)
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    part_dir = make_temp_dir(os.path.abspath(options.draw_img_save_dir), "parts")
    part_paths = [os.path.join(part_dir, f"part{worker}.txt") for worker in range(workers)]
    processes = []
    try:
        for worker in range(workers):
            share = [(index, path, key) for index, (path, key) in enumerate(files) if index % workers == worker]
            worker_options = options.replace(use_mp=False, process_id=worker, cpu_threads=threads)
            process = context.Process(target=_worker, name=f"ppocr-worker-{worker}",
                                      args=(task_name, worker_options, share, part_paths[worker], messages,
                                            logging.getLogger("ppocr").getEffectiveLevel()))
            process.start()
            processes.append(process)
        _collect(processes, messages, summary, len(files), task_name)
        emit = _counting_writer(out, TASKS[task_name], summary)
        for key, payload in fmt.merge_parts(part_paths, [key for _, key in files]):
            emit(-1, key, payload)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
        shutil.rmtree(part_dir, ignore_errors=True)


def _collect(processes: list, messages, summary: RunSummary, total: int, task_name: str) -> None:
    """Follow the workers' progress until each has finished or died; re-raise a worker's fatal error."""
    finished = set()
    with _progress_bar(total, task_name) as bar:
        while len(finished) < len(processes):
            try:
                kind, worker, value = messages.get(timeout=0.5)
            except queue_module.Empty:
                for worker, process in enumerate(processes):
                    if worker not in finished and process.exitcode not in (None, 0):
                        logger.error("worker process %d stopped with exit code %s; its remaining inputs are "
                                     "marked failed", worker, process.exitcode)
                        finished.add(worker)
                continue
            if kind == "progress":
                bar.update(value)
            elif kind == "fatal":
                raise value
            else:
                stage_seconds, images = value
                summary.add_timings(stage_seconds)
                summary.images += images
                finished.add(worker)
