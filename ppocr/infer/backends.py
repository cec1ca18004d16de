"""Run an inference model on a float32 batch: Paddle Inference or ONNX Runtime behind one interface.

Predictors only call ``run(batch) -> list of outputs``; which engine runs is decided by what is on disk
(:func:`create_backend`). Both engines are imported lazily so an ONNX-only install never loads paddle.

Thread safety: a backend may be shared by any number of threads, including threads started after it
was built (a new thread pool, a web server's request threads); no lock is held around a model run.

- ONNX Runtime: ``InferenceSession.run`` is thread-safe (ORT guarantees it), so all threads share one
  session and their runs overlap.
- Paddle Inference: a predictor must only ever run in one thread that outlives it. With oneDNN, once
  a thread that ran a predictor has exited, runs of that predictor from other threads fail at random
  with ``RuntimeError: std::exception`` while other predictors run (paddlepaddle 3.3.1;
  tests/test_backend_threads.py). So a Paddle backend runs its model on its own long-lived worker
  threads, each with a predictor it made and alone runs; callers hand batches over and wait. It starts
  with one worker and adds one (up to ``workers`` = cores // cpu_threads) only when a batch arrives
  while all are busy. Each worker is one more copy of the model in memory: Paddle's ``clone()`` would
  not share it either, since for PIR programs (``inference.json``) a clone reloads the weights
  (measured). Different models (det, rec, cls) always run in parallel. A backend used in a forked
  child process starts its own workers there.
"""
from __future__ import annotations

import functools
import glob
import logging
import os
import queue
import threading
import time
import weakref
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ppocr.infer.model_meta import INFERENCE_YML, check_model_role, load_inference_yml, paddle_program_shapes
from ppocr.infer.onnx_session import apply_session_options, choose_providers
from ppocr.infer.options import InferOptions
from ppocr.utils.crypto import ENV_KEY, decrypted_copy, read_file

logger = logging.getLogger(__name__)

PADDLE_MODEL_FILES = ("inference.json", "inference.pdmodel")
PADDLE_PARAMS_FILE = "inference.pdiparams"
TRT_PRECISIONS = ("fp32", "fp16", "int8")
TRT_WORKSPACE_BYTES = 1 << 30


def model_key(options: InferOptions) -> Optional[str]:
    return options.encryption_key or os.environ.get(ENV_KEY) or None


def cpu_thread_count(requested: int) -> int:
    """PaddleOCR's default of 10 threads oversubscribes small machines, which measurably slows
    ONNX Runtime and oneDNN down; never ask for more threads than there are cores."""
    return max(1, min(int(requested), os.cpu_count() or 1))


class Backend:
    """One loaded model; ``run`` may be called from any thread, concurrently (see the module docstring)."""

    model_path: str
    metadata: Dict[str, Any]
    input_name: str
    input_shape: List[Optional[int]]  # None for dynamic dimensions; empty when the model does not tell
    output_shapes: List[List[Optional[int]]]  # likewise, one per output

    def __init__(self) -> None:
        self.input_shape, self.output_shapes = [], []
        self._seconds_lock = threading.Lock()
        # seconds inside model runs, summed over calls (overlapping runs each count); benchmarks compare it
        # with the total
        self.run_seconds = 0.0

    def check_role(self, role: str) -> None:
        """Raise :class:`~ppocr.infer.model_meta.ModelRoleError` unless this is a ``role`` (det, rec, cls)
        model, or the model does not tell."""
        check_model_role(role, self.model_path, self.metadata, self.output_shapes)

    def run(self, batch: np.ndarray) -> List[np.ndarray]:
        outputs, seconds = self._run(np.ascontiguousarray(batch, dtype=np.float32))
        with self._seconds_lock:
            self.run_seconds += seconds
        return outputs

    def _run(self, batch: np.ndarray) -> Tuple[List[np.ndarray], float]:
        """The model's outputs and the seconds the run itself took."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_path!r})"


def _static_dims(shape: Any) -> List[Optional[int]]:
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


class PaddleBackend(Backend):
    """Paddle Inference on an exported folder (``inference.json``/``.pdmodel`` + ``inference.pdiparams``),
    run by ``workers`` threads that each own a predictor (see the module docstring)."""

    def __init__(self, model_dir: str, options: Optional[InferOptions] = None, role: Optional[str] = None):
        super().__init__()
        options = options or InferOptions()
        model_file = next((os.path.join(model_dir, name) for name in PADDLE_MODEL_FILES
                           if os.path.isfile(os.path.join(model_dir, name))), None)
        params_file = os.path.join(model_dir, PADDLE_PARAMS_FILE)
        if model_file is None or not os.path.isfile(params_file):
            raise FileNotFoundError(f"'{model_dir}' must hold {' or '.join(PADDLE_MODEL_FILES)} and "
                                    f"{PADDLE_PARAMS_FILE} (export one with tools/export_model.py)")
        self.model_path = model_dir
        key = model_key(options)
        self.metadata = load_inference_yml(model_dir, key)
        # Paddle Inference reports shapes only after a run; the program file declares them
        self.input_shape, self.output_shapes = paddle_program_shapes(model_file, key)
        if role is not None:
            self.check_role(role)  # before paddle is even imported: a wrong model is refused at once
        try:
            import paddle.inference  # noqa: F401 - fail here, with the fix, rather than in a worker
        except ImportError as err:
            raise ImportError(f"'{model_dir}' is a Paddle inference model, which needs paddlepaddle "
                              "(pip install paddlepaddle), or convert it to ONNX with paddle2onnx") from err
        use_gpu = options.use_gpu and _gpu_available(options)
        # GPU runs queue on the device anyway; on CPU, parallel runs only help when cores are left over
        self.workers = 1 if use_gpu else max(1, (os.cpu_count() or 1) // cpu_thread_count(options.cpu_threads))
        # the workers hold only this loader, never the backend, so a dropped backend stops its threads
        self._load = functools.partial(_load_predictor, model_dir, os.path.basename(model_file), key, options,
                                       use_gpu)
        self._start_lock = threading.Lock()
        self._start_pool()

    def _start_pool(self) -> None:
        self._pool = _PredictorPool(self._load, self.workers, os.path.basename(os.path.normpath(self.model_path)))
        self._pid = os.getpid()
        self.input_name = self._pool.input_name
        weakref.finalize(self, self._pool.stop)

    def _run(self, batch: np.ndarray) -> Tuple[List[np.ndarray], float]:
        if self._pid != os.getpid():  # a forked child has the backend but not its threads
            with self._start_lock:
                if self._pid != os.getpid():
                    self._start_pool()
        return self._pool.run(batch)


def _gpu_available(options: InferOptions) -> bool:
    import paddle

    if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > options.gpu_id:
        return True
    logger.warning("use_gpu is set but this paddle build has no CUDA device %d; running on CPU", options.gpu_id)
    return False


def _load_predictor(model_dir: str, program_name: str, key: Optional[str], options: InferOptions,
                    use_gpu: bool) -> Any:
    from paddle import inference

    with decrypted_copy(model_dir, [program_name, PADDLE_PARAMS_FILE], key) as plain:
        # Paddle Inference loads from paths only; an encrypted model is read from a private copy
        config = inference.Config(os.path.join(plain, program_name), os.path.join(plain, PADDLE_PARAMS_FILE))
        if program_name.endswith(".json"):
            # PIR programs need the new IR and executor; memory_optim fails on them without it
            config.enable_new_ir(True)
            config.enable_new_executor()
        if use_gpu:
            _configure_gpu(config, inference, options, model_dir)
        else:
            _configure_cpu(config, options)
        config.switch_ir_optim(options.ir_optim)
        config.enable_memory_optim()
        config.disable_glog_info()
        return _create_predictor(inference, config, options)


def _configure_cpu(config: Any, options: InferOptions) -> None:
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(cpu_thread_count(options.cpu_threads))
    if options.enable_mkldnn:
        config.enable_mkldnn()
        # oneDNN keeps a primitive cache per input shape; bound it for variable-width inputs
        config.set_mkldnn_cache_capacity(10)
    else:
        config.disable_mkldnn()


def _configure_gpu(config: Any, inference: Any, options: InferOptions, model_dir: str) -> None:
    config.enable_use_gpu(options.gpu_mem, options.gpu_id)
    if not options.use_tensorrt:
        return
    if options.precision not in TRT_PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(TRT_PRECISIONS)}, got {options.precision!r}")
    precision = {"fp32": inference.PrecisionType.Float32, "fp16": inference.PrecisionType.Half,
                 "int8": inference.PrecisionType.Int8}[options.precision]
    shape_dir = options.trt_shape_dir or model_dir
    os.makedirs(shape_dir, exist_ok=True)
    shape_file = os.path.join(shape_dir, f"{os.path.basename(os.path.normpath(model_dir))}_trt_shapes.pbtxt")
    if not os.path.isfile(shape_file):
        # TensorRT needs each input's min/max/opt shapes; record them on a plain GPU run first
        config.collect_shape_range_info(shape_file)
        logger.warning("collecting TensorRT input shapes into %s; TensorRT is used from the next start",
                       shape_file)
        return
    config.enable_tensorrt_engine(workspace_size=TRT_WORKSPACE_BYTES, max_batch_size=options.max_batch_size,
                                  min_subgraph_size=options.min_subgraph_size, precision_mode=precision,
                                  use_static=False, use_calib_mode=options.precision == "int8")
    config.enable_tuned_tensorrt_dynamic_shape(shape_file, True)


def _create_predictor(inference: Any, config: Any, options: InferOptions) -> Any:
    try:
        return inference.create_predictor(config)
    except Exception as err:  # oneDNN may be missing or fail on an unusual CPU; plain CPU kernels still work
        if config.use_gpu() or not options.enable_mkldnn:
            raise
        logger.warning("Paddle Inference with enable_mkldnn failed (%s); retrying without oneDNN", err)
        config.disable_mkldnn()
        return inference.create_predictor(config)


class _OwnedPredictor:
    """A predictor with its input and output handles; used only by the thread that made it."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.input_name = predictor.get_input_names()[0]
        self.input = predictor.get_input_handle(self.input_name)
        self.outputs = [predictor.get_output_handle(name) for name in predictor.get_output_names()]

    def run(self, batch: np.ndarray) -> List[np.ndarray]:
        self.input.reshape(list(batch.shape))
        self.input.copy_from_cpu(batch)
        self.predictor.run()
        return [output.copy_to_cpu() for output in self.outputs]


class _PredictorPool:
    """Worker threads that each make, own and alone run one predictor. A batch goes to whichever worker
    is free; a worker is added (up to ``limit``) when a batch arrives while all are busy."""

    def __init__(self, load: Callable[[], Any], limit: int, name: str) -> None:
        self._load, self._limit, self._name = load, limit, name
        self._jobs: "queue.SimpleQueue[Optional[Tuple[np.ndarray, Future]]]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = self._busy = 0
        self.input_name: str = self._add().result()  # the first predictor now: a model that fails, fails here

    def _add(self) -> Future:
        ready: Future = Future()
        ready.add_done_callback(self._added)  # before the start, so it runs in the worker, never here
        worker = threading.Thread(target=_serve, args=(self._load, self._jobs, ready), daemon=True,
                                  name=f"ppocr-paddle-{self._name}-{self._threads}")
        self._threads += 1
        worker.start()
        return ready

    def _added(self, ready: Future) -> None:
        if ready.exception() is None:
            return
        with self._lock:  # that worker has ended; keep the others and stop growing
            self._threads -= 1
            self._limit = max(self._threads, 1)
            remaining = self._threads
        if remaining:
            logger.warning("could not start another Paddle predictor for %s (%s); using %d",
                           self._name, ready.exception(), remaining)

    def run(self, batch: np.ndarray) -> Tuple[List[np.ndarray], float]:
        with self._lock:
            self._busy += 1
            if self._busy > self._threads and self._threads < self._limit:
                self._add()  # it loads in the background; the batch goes to whichever worker is free first
        done: Future = Future()
        self._jobs.put((batch, done))
        try:
            return done.result()
        finally:
            with self._lock:
                self._busy -= 1

    def stop(self) -> None:
        with self._lock:
            count = self._threads
        for _ in range(count):
            self._jobs.put(None)


def _serve(load: Callable[[], Any], jobs: "queue.SimpleQueue", ready: Future) -> None:
    """A worker thread: make a predictor, report its input name (or the error), then run batches until
    ``None`` arrives."""
    try:
        owned = _OwnedPredictor(load())
    except BaseException as err:  # noqa: BLE001 - handed to whoever waits for this worker
        ready.set_exception(err)
        return
    ready.set_result(owned.input_name)
    while True:
        job = jobs.get()
        if job is None:
            return
        batch, done = job
        start = time.perf_counter()
        try:
            outputs = owned.run(batch)
        except BaseException as err:  # noqa: BLE001 - raised again in the calling thread
            done.set_exception(err)
        else:
            done.set_result((outputs, time.perf_counter() - start))


class OnnxBackend(Backend):
    """ONNX Runtime session; ``metadata`` is the model's custom metadata map, plus an ``inference.yml``
    found next to the file (a paddle2onnx conversion of an exported folder keeps its preprocess there)."""

    def __init__(self, model_path: str, options: Optional[InferOptions] = None, role: Optional[str] = None):
        super().__init__()
        options = options or InferOptions()
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError(f"'{model_path}' is an ONNX model, which needs onnxruntime "
                              "(pip install onnxruntime)") from err
        if not os.path.isfile(model_path):
            raise FileNotFoundError(f"ONNX model '{model_path}' does not exist")
        self.model_path = model_path
        key = model_key(options)
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = cpu_thread_count(options.cpu_threads)
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session_options.log_severity_level = 3
        # idle-spinning worker threads burn the cores other sessions and processes need; measured on the
        # PP-OCRv4 models with other work on the machine, it cost 20-40% wall time and CPU time per run
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        apply_session_options(session_options, options.onnx_sess_options)
        providers = ["CPUExecutionProvider"]
        if options.use_gpu:
            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, ("CUDAExecutionProvider", {"device_id": options.gpu_id}))
            else:
                logger.warning("use_gpu is set but onnxruntime has no CUDAExecutionProvider "
                               "(pip install onnxruntime-gpu); running on CPU")
        providers = choose_providers(options.onnx_providers, providers, ort.get_available_providers())
        try:
            model = read_file(model_path, key)  # decrypted in memory when encrypted
            self._session = ort.InferenceSession(model, sess_options=session_options, providers=providers)
        except Exception as err:  # ORT raises its own exception types for unreadable or invalid files
            raise ValueError(f"cannot load ONNX model '{model_path}': {err}") from err
        model_input = self._session.get_inputs()[0]
        self.input_name = model_input.name
        self.input_shape = _static_dims(model_input.shape)
        self.output_shapes = [_static_dims(output.shape) for output in self._session.get_outputs()]
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.metadata.update(load_inference_yml(os.path.dirname(os.path.abspath(model_path)), key))
        if role is not None:
            self.check_role(role)

    def _run(self, batch: np.ndarray) -> Tuple[List[np.ndarray], float]:
        start = time.perf_counter()
        outputs = self._session.run(None, {self.input_name: batch})
        return outputs, time.perf_counter() - start


def _onnx_in(folder: str) -> Optional[str]:
    found = sorted(glob.glob(os.path.join(folder, "*.onnx")))
    if not found:
        return None
    preferred = [p for p in found if os.path.basename(p) in ("inference.onnx", "model.onnx")]
    if len(found) > 1 and not preferred:
        raise ValueError(f"'{folder}' holds several .onnx files ({', '.join(map(os.path.basename, found))}); "
                         "pass the file itself")
    return (preferred or found)[0]


def create_backend(model_path: str, options: Optional[InferOptions] = None, role: Optional[str] = None) -> Backend:
    """Pick the engine from what is on disk: a ``.onnx`` file → ONNX Runtime; a folder with an exported
    Paddle model → Paddle Inference, or its ``.onnx`` when ``use_onnx``; a folder with only a ``.onnx``
    → ONNX Runtime. With ``role`` (det, rec or cls) a model that says it is another is refused as it loads."""
    options = options or InferOptions()
    if not model_path:
        raise ValueError("no model path given")
    path = os.path.expanduser(str(model_path))
    if os.path.isfile(path):
        if path.endswith(".onnx"):
            return OnnxBackend(path, options, role)
        if os.path.basename(path) in PADDLE_MODEL_FILES + (PADDLE_PARAMS_FILE, INFERENCE_YML):
            path = os.path.dirname(os.path.abspath(path))
        else:
            raise ValueError(f"'{model_path}' is neither a .onnx file nor an exported Paddle model folder")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"model '{model_path}' does not exist")
    has_paddle = any(os.path.isfile(os.path.join(path, name)) for name in PADDLE_MODEL_FILES)
    onnx_file = _onnx_in(path) if options.use_onnx or not has_paddle else None
    if onnx_file is not None:
        return OnnxBackend(onnx_file, options, role)
    if options.use_onnx:
        raise FileNotFoundError(f"use_onnx is set but '{model_path}' holds no .onnx file "
                                "(convert the exported model with paddle2onnx)")
    if has_paddle:
        return PaddleBackend(path, options, role)
    raise FileNotFoundError(f"'{model_path}' holds no model: expected {' or '.join(PADDLE_MODEL_FILES)} + "
                            f"{PADDLE_PARAMS_FILE}, or a .onnx file")
