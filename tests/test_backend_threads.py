"""Backends shared by threads: two successive thread pools get the sequential results, on Paddle Inference
(exported models, oneDNN on) and ONNX Runtime (packaged models). Paddle predictors live on their backend's
worker threads, added only while calls overlap, ended with the backend and started again in a forked child."""
import concurrent.futures
import gc
import multiprocessing
import threading
import time

import numpy as np
import pytest

from ppocr.infer import InferOptions, TextSystem
from ppocr.infer.backends import OnnxBackend, PaddleBackend
from test_infer_inputs import render_text

THREADS = 8
CALLS_PER_POOL = 24


def _images():
    rng = np.random.default_rng(0)
    words = [render_text(word) for word in ("Hello 42", "thread pool", "abc xyz")]
    noise = [rng.integers(0, 255, (64 + 32 * i, 96 + 16 * i, 3), dtype=np.uint8) for i in range(3)]
    return words + noise


def _two_pools_match_sequential(system, images):
    """Both pools are new threads; with the old shared predictors the second pool failed most calls
    (RuntimeError: std::exception) because the first pool's threads, which had run them, were gone."""
    sequential = [system(image) for image in images]
    calls = [images[i % len(images)] for i in range(CALLS_PER_POOL)]
    for _ in range(2):
        with concurrent.futures.ThreadPoolExecutor(max_workers=THREADS) as pool:
            threaded = list(pool.map(system, calls))
        assert threaded == [sequential[i % len(images)] for i in range(CALLS_PER_POOL)]
    return sequential


def test_paddle_text_system_shared_by_two_successive_thread_pools(tiny_inference_models):
    models = tiny_inference_models
    system = TextSystem(det_model_dir=models["det"], rec_model_dir=models["rec"], cls_model_dir=models["cls"],
                        use_angle_cls=True, rec_algorithm="CRNN", enable_mkldnn=True, cpu_threads=1,
                        det_db_thresh=0.01, det_db_box_thresh=0.01, cls_thresh=0.0, drop_score=0.0)
    stages = [system.detector.backend, system.classifier.backend, system.recognizer.backend]
    assert all(isinstance(backend, PaddleBackend) for backend in stages)
    sequential = _two_pools_match_sequential(system, _images())
    assert all(result for result in sequential)  # every image went through all three models
    assert all(backend.run_seconds > 0 for backend in stages)


def test_onnx_text_system_shared_by_two_successive_thread_pools():
    system = TextSystem(use_angle_cls=True, cpu_threads=2)
    assert isinstance(system.recognizer.backend, OnnxBackend)
    sequential = _two_pools_match_sequential(system, _images())
    read = ["".join(item["transcription"] for item in result).replace(" ", "").lower() for result in sequential]
    assert read[:3] == ["hello42", "threadpool", "abcxyz"]


def _paddle_threads():
    return [thread for thread in threading.enumerate() if thread.name.startswith("ppocr-paddle-")]


def _run_in_child(backend, batch, results):
    results.put(backend.run(batch)[0])


def test_paddle_workers_grow_with_overlapping_calls_end_with_the_backend_and_restart_in_a_fork(tiny_inference_models):
    before = len(_paddle_threads())
    backend = PaddleBackend(tiny_inference_models["rec"], InferOptions(cpu_threads=1))
    assert backend.input_shape == [None, 3, 32, None] and backend.output_shapes[0][2] == 37
    batch = np.random.default_rng(1).standard_normal((2, 3, 32, 100)).astype(np.float32)
    expected = backend.run(batch)[0]
    assert expected.shape[0] == 2 and len(_paddle_threads()) == before + 1  # more only when calls overlap
    with concurrent.futures.ThreadPoolExecutor(max_workers=THREADS) as pool:
        for output in pool.map(lambda _: backend.run(batch)[0], range(CALLS_PER_POOL)):
            np.testing.assert_array_equal(output, expected)
    assert before + 1 <= len(_paddle_threads()) <= before + backend.workers

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_run_in_child, args=(backend, batch, results))
    child.start()
    try:
        np.testing.assert_array_equal(results.get(timeout=120), expected)
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0

    del backend
    gc.collect()
    deadline = time.monotonic() + 10
    while len(_paddle_threads()) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_paddle_threads()) == before
