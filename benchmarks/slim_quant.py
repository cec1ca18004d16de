"""Issue 6 proof, quantization half: a CRNN trained on synthetic words, PACT-QAT'd and post-training quantized.

1. Generates words (digits + lower case) with ``ppocr.data.synth.make_rec_dataset``: a training pool and a
   held-out set with another seed (reused from ``--work_dir`` when already there).
2. Float: ``configs/rec/rec_mv3_none_bilstm_ctc.yml`` with a 32×``--width`` input, a ``--lr`` cosine schedule
   and lighter RecAug (``--aug_prob``), trained by ``Trainer(config).train()`` for as many epochs as fit
   ``--minutes`` of CPU time (measured on a few probe steps), or taken from ``--float_weights``; exported with
   ``export_model`` (+ ONNX).
3. QAT: ``ppocr.slim.quant.run_qat`` — PACT and int8 fake quantization fine-tuned from the float weights for
   ``--qat_epochs`` at a tenth of the learning rate, exported to Paddle inference files and a QDQ ONNX model.
4. PTQ: ``ppocr.slim.quant.run_ptq`` for each of ``--ptq`` (abs_max, min_max, KL) on ``--calib_images`` training
   images, exported the same way.
5. Every exported model runs on the held-out words in Paddle Inference (oneDNN) and ONNX Runtime on the CPU:
   word accuracy, 1 − normalised edit distance, how often an int8 model reads the same text as the float one
   (with the mean probability change: quantization fidelity, telling even when the short float run is weak), latency (median and minimum of ``--runs`` batch-1 and batch-16 calls after warm-up, all models
   taking turns), files and parameters.

Quantized Paddle models keep float32 weight files (the weights are on their int8 grid; Paddle Inference 3.3.1 on
CPU runs them in float); the QDQ ONNX files store int8 weights (the LSTM stays float, as in PP-OCR). The load
average is printed with the latencies because other processes may share the machine. The script never asserts.

    python benchmarks/slim_quant.py                          # 8 CPU-minutes of float training
    python benchmarks/slim_quant.py --work_dir /tmp/quant_bench --minutes 3 --qat_epochs 1
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import _common
from _common import Clock, Figure

RECIPE = os.path.join(_common.REPO, "configs", "rec", "rec_mv3_none_bilstm_ctc.yml")
TEST_SEED_OFFSET = 1000
PROBE_STEPS = 6
PADDLE, ORT = "Paddle Inference (oneDNN)", "ONNX Runtime"

log = logging.getLogger("slim_quant")


def add_quant_args(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options (``benchmarks/slim.py quant`` adds them to its subcommand)."""
    parser.add_argument("--minutes", type=float, default=8.0, help="CPU minutes of float training")
    parser.add_argument("--float_weights", default=None, metavar="PREFIX",
                        help="skip float training: quantize this checkpoint of the same recipe and 32x--width input "
                             "(e.g. benchmarks/rec_synth.py's WORK_DIR/model/latest)")
    parser.add_argument("--qat_epochs", type=int, default=1, help="QAT fine-tuning epochs")
    parser.add_argument("--train_words", type=int, default=6000, help="generated training words")
    parser.add_argument("--eval_words", type=int, default=500, help="generated held-out words")
    parser.add_argument("--width", type=int, default=100, help="input width (height is 32)")
    parser.add_argument("--batch_size", type=int, default=32, help="training batch size")
    parser.add_argument("--lr", type=float, default=0.002, help="peak learning rate of the float cosine schedule")
    parser.add_argument("--aug_prob", type=float, default=0.1,
                        help="every RecAug probability (the recipe's 0.4 slows a short run down)")
    parser.add_argument("--ptq", default="KL,abs_max", help="comma-separated PTQ algorithms (abs_max, min_max, KL)")
    parser.add_argument("--calib_images", type=int, default=160, help="training images used for PTQ calibration")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per latency figure")
    parser.add_argument("--seed", type=int, default=0, help="training-word seed; held-out words use seed + 1000")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = _common.base_parser(__doc__)
    add_quant_args(parser)
    return parser.parse_args(argv)


# -- data and config ---------------------------------------------------------------------------------------
def make_words(out_dir: str, num: int, seed: int) -> str:
    from ppocr.data.synth import make_rec_dataset

    label = os.path.join(out_dir, "rec_gt.txt")
    stamp = os.path.join(out_dir, ".made")
    wanted = f"num={num} seed={seed}\n"
    if os.path.isfile(stamp) and open(stamp).read() == wanted:
        return label
    shutil.rmtree(out_dir, ignore_errors=True)
    make_rec_dataset(out_dir, num, seed=seed, length=(3, 8))
    with open(stamp, "w") as f:
        f.write(wanted)
    return label


def base_config(args: argparse.Namespace, work_dir: str) -> Dict[str, Any]:
    from ppocr.utils.config import load_config

    config = load_config(RECIPE)
    g = config["Global"]
    g.update(epoch_num=1, print_batch_step=50, save_model_dir=os.path.join(work_dir, "float"), save_epoch_step=1000,
             eval_batch_step=[0, 10 ** 9], cal_metric_during_train=False, seed=args.seed,
             save_inference_dir=os.path.join(work_dir, "float", "inference"))
    config["Optimizer"]["lr"].update(learning_rate=args.lr, warmup_epoch=0)
    for mode, sub in (("Train", "train"), ("Eval", "eval")):
        dataset = config[mode]["dataset"]
        dataset["data_dir"] = os.path.join(work_dir, sub)
        dataset["label_file_list"] = [os.path.join(work_dir, sub, "rec_gt.txt")]
        for op in dataset["transforms"]:
            if "RecResizeImg" in op:
                op["RecResizeImg"]["image_shape"] = [3, 32, args.width]
            if "RecAug" in op:
                op["RecAug"] = {name: args.aug_prob for name in _common.RECAUG_PROBS}
        config[mode]["loader"].update(batch_size_per_card=args.batch_size, num_workers=1)
    return config


# -- training ----------------------------------------------------------------------------------------------
def probe_cpu_per_step(config: Dict[str, Any]) -> Tuple[float, int]:
    """CPU seconds of one training step (forward, loss, backward, update) and steps per epoch."""
    from ppocr.engine.trainer import Trainer

    trainer = Trainer(config)
    trainer.model.train()
    batches = []
    for batch in trainer.train_loader:
        batches.append(batch)
        if len(batches) == PROBE_STEPS + 1:
            break
    costs = []
    for batch in batches:
        with Clock() as clock:
            loss = trainer.loss(trainer.model(batch[0], data=batch[1:]), batch)["loss"]
            loss.backward()
            trainer.optimizer.step()
            trainer.optimizer.clear_grad()
        costs.append(clock.cpu)
    return statistics.median(costs[1:]), len(trainer.train_loader)


def train_float(args: argparse.Namespace, config: Dict[str, Any]) -> str:
    from ppocr.engine.trainer import Trainer

    cpu_step, steps = probe_cpu_per_step(config)
    epochs = max(1, int(args.minutes * 60 / (cpu_step * steps)))
    log.info("probe: %.2f CPU s/step, %d steps/epoch → %d epochs for %.1f CPU minutes", cpu_step, steps, epochs,
             args.minutes)
    config["Global"]["epoch_num"] = epochs
    with Clock() as clock:
        Trainer(config).train()
    log.info("float training: %d epochs in %.1f CPU min (%.1f wall min)", epochs, clock.cpu / 60, clock.wall / 60)
    return os.path.join(config["Global"]["save_model_dir"], "latest")


# -- measuring ---------------------------------------------------------------------------------------------
def held_out(config: Dict[str, Any], width: int) -> Tuple[List[Any], List[str]]:
    import cv2
    import numpy as np

    from ppocr.data.imaug.rec_img_aug import resize_norm_img

    pairs = _common.read_rec_gt(config["Eval"]["dataset"]["label_file_list"][0])
    images = [resize_norm_img(cv2.imread(path), [3, 32, width], True)[0] for path, _ in pairs]
    return np.stack(images).astype("float32"), [word for _, word in pairs]


def predict(backend, images) -> Any:
    """CTC probabilities (N×T×C) of every held-out image."""
    import numpy as np

    return np.concatenate([backend.run(images[start:start + 32])[0] for start in range(0, len(images), 32)])


def scores(probs, words: List[str], character: List[str], float_texts: Optional[List[str]] = None,
           float_probs=None) -> Tuple[Dict[str, str], List[str]]:
    """Word accuracy, 1 - normalised edit distance, and (for int8 models) agreement with the float model."""
    import numpy as np
    from rapidfuzz.distance import Levenshtein

    from ppocr.postprocess.rec_postprocess import ctc_greedy_decode

    texts = [text for text, _ in ctc_greedy_decode(probs, character)]
    pairs = [(_common.normalize_word(t), _common.normalize_word(w)) for t, w in zip(texts, words)]
    figures = {
        "word accuracy": f"{_common.word_accuracy(zip(texts, words))[0]:.2%}",
        "1 - norm. edit distance": f"{1 - np.mean([Levenshtein.normalized_distance(t, w) for t, w in pairs]):.4f}",
    }
    if float_texts is not None:
        same = np.mean([t == f for t, f in zip(texts, float_texts)])
        figures["same text as float"] = f"{same:.2%}, mean |Δp| {np.abs(probs - float_probs).mean():.2e}"
    return figures, texts


def latencies_ms(backends: Dict[str, Any], batch, runs: int) -> Dict[str, Tuple[float, float]]:
    """(median, min) ms of one call per backend, calls interleaved across backends."""
    times = _common.interleaved_call_ms(backends, batch, runs)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def weight_counts(onnx_path: str) -> Tuple[int, int]:
    """(parameters, of which stored as int8) in an ONNX model's weights (scales and zero points excluded)."""
    import numpy as np
    import onnx

    model = onnx.load(onnx_path)
    total = int8 = 0
    for init in model.graph.initializer:
        if init.name.endswith((".scale", ".zero_point")) or len(init.dims) < 1:
            continue
        count = int(np.prod(init.dims))
        total += count
        int8 += count if init.data_type == onnx.TensorProto.INT8 else 0
    return total, int8


def measure(models: Dict[str, str], images, words, character, runs: int, threads: int) -> List[Figure]:
    from ppocr.infer.backends import OnnxBackend, PaddleBackend
    from ppocr.infer.options import InferOptions

    options = InferOptions(enable_mkldnn=True, cpu_threads=threads)
    figures, backends = [], {}
    reference: Dict[str, Tuple[List[str], Any]] = {}
    for name, model_dir in models.items():
        onnx_path = os.path.join(model_dir, "inference.onnx")
        params, int8 = weight_counts(onnx_path)
        figures += [
            Figure(f"{name}: inference.pdiparams",
                   f"{os.path.getsize(os.path.join(model_dir, 'inference.pdiparams')) / 1e6:.2f} MB"),
            Figure(f"{name}: inference.onnx", f"{os.path.getsize(onnx_path) / 1e6:.2f} MB"),
            Figure(f"{name}: parameters (int8 in ONNX)", f"{params / 1e6:.3f} M ({int8 / max(params, 1):.0%})"),
        ]
        for label, backend in ((PADDLE, PaddleBackend(model_dir, options)), (ORT, OnnxBackend(onnx_path, options))):
            backends[f"{name}, {label}"] = backend
            probs = predict(backend, images)
            float_texts, float_probs = reference.get(label, (None, None))
            values, texts = scores(probs, words, character, float_texts, float_probs)
            reference.setdefault(label, (texts, probs))  # the first model (float) is the reference
            figures += [Figure(f"{name}: {key}, {label}", value) for key, value in values.items()]
    for batch_size in (1, 16):
        figures.append(Figure(f"load before batch-{batch_size} latencies", _common.load_average()))
        for key, (median, best) in latencies_ms(backends, images[:batch_size], runs).items():
            figures.append(Figure(f"latency batch {batch_size}: {key}", f"{median:.2f} ms (min {best:.2f})"))
    return figures


# -- main --------------------------------------------------------------------------------------------------
def run_quant_benchmark(args: argparse.Namespace, work_dir: str) -> Tuple[str, List[Figure]]:
    """Everything above; returns the table title and figures (``benchmarks/slim.py quant`` prints them)."""
    from ppocr.engine.export import export_model
    from ppocr.postprocess import build_post_process
    from ppocr.slim.quant import QuantSettings, run_ptq, run_qat

    with Clock() as clock:
        make_words(os.path.join(work_dir, "train"), args.train_words, args.seed)
        make_words(os.path.join(work_dir, "eval"), args.eval_words, args.seed + TEST_SEED_OFFSET)
    log.info("words ready in %s (%.0f s)", work_dir, clock.wall)
    config = base_config(args, work_dir)
    weights = args.float_weights or train_float(args, config)
    models = {"float": export_model(config, os.path.join(work_dir, "float", "inference"), weights, onnx=True)}

    qat = dict(config, Quant={"mode": "qat"})
    qat["Global"] = dict(config["Global"], pretrained_model=weights, epoch_num=args.qat_epochs,
                         save_model_dir=os.path.join(work_dir, "qat"),
                         save_inference_dir=os.path.join(work_dir, "qat", "inference"))
    qat["Optimizer"] = dict(config["Optimizer"], lr=dict(config["Optimizer"]["lr"],
                                                         learning_rate=config["Optimizer"]["lr"]["learning_rate"] / 10))
    with Clock() as clock:
        models["PACT QAT"] = run_qat(qat, QuantSettings(mode="qat"))
    log.info("QAT: %d epochs in %.1f CPU min", args.qat_epochs, clock.cpu / 60)

    calib = os.path.join(work_dir, "calib")
    if not os.path.isdir(calib):
        os.makedirs(calib)
        source = os.path.join(work_dir, "train", "images")
        for name in sorted(os.listdir(source))[: args.calib_images]:
            shutil.copy(os.path.join(source, name), calib)
    for algorithm in [a for a in args.ptq.split(",") if a]:
        ptq = dict(config)
        ptq["Global"] = dict(config["Global"], pretrained_model=weights,
                             save_inference_dir=os.path.join(work_dir, f"ptq_{algorithm}", "inference"))
        settings = QuantSettings(mode="ptq", algorithm=algorithm, calibration_dir=calib, batch_size=16,
                                 batch_nums=max(1, args.calib_images // 16))
        with Clock() as clock:
            models[f"PTQ {algorithm}"] = run_ptq(ptq, settings)
        log.info("PTQ %s: %.1f CPU s", algorithm, clock.cpu)

    images, words = held_out(config, args.width)
    character = build_post_process(config["PostProcess"], config["Global"]).character
    figures = measure(models, images, words, character, args.runs, args.threads)
    figures.append(Figure("load after measuring", _common.load_average()))
    title = (f"CRNN (MobileNetV3-small 0.5 + BiLSTM 48, 32x{args.width}) float vs int8, "
             f"{args.threads} thread(s)")
    return title, figures


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    work_dir = _common.start(args, "slim_quant_")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.info("work dir %s; %s", work_dir, _common.load_average())
    with Clock() as clock:
        title, figures = run_quant_benchmark(args, work_dir)
    figures.append(Figure("benchmark time", f"{clock.wall / 60:.1f} min wall, {clock.cpu / 60:.1f} min CPU"))
    print(_common.format_table(title, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
