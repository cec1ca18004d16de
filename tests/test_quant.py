"""Quantization: PACT, fake quantizers and observers against hand computations; a tiny CRNN through QAT
(tools/quant.py) and PTQ to Paddle Inference and a QDQ ONNX model in onnxruntime."""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import REPO, tiny_rec_config, write_config

paddle.set_device("cpu")


# -- building blocks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("signed", [True, False])
def test_pact_clips_at_alpha_and_alpha_learns_from_clipped_inputs(signed):
    from ppocr.slim.quant.pact import PACT

    pact = PACT(init_alpha=4.0, signed=signed)
    x = paddle.to_tensor([-9.0, -4.5, -1.0, 0.0, 2.5, 3.9, 4.5, 12.0], stop_gradient=False)
    y = pact(x)
    low = -4.0 if signed else 0.0
    np.testing.assert_allclose(y.numpy(), np.clip(x.numpy(), low, 4.0))
    y.sum().backward()
    # each input above alpha adds +1 to d(sum)/d(alpha); each below -alpha (signed) adds -1
    above, below = 2, (2 if signed else 0)
    assert float(pact.alpha.grad.numpy()[0]) == pytest.approx(above - below)
    inside = (x.numpy() > low) & (x.numpy() < 4.0)
    np.testing.assert_allclose(x.grad.numpy(), inside.astype("float32"))


def test_insert_pact_replaces_relu_and_follows_hardswish():
    from ppocr.slim.quant.pact import PACT, insert_pact

    model = paddle.nn.Sequential(paddle.nn.Linear(3, 3), paddle.nn.ReLU(), paddle.nn.Hardswish(), paddle.nn.Tanh())
    assert insert_pact(model, init_alpha=1.0) == 2
    assert isinstance(model[1], PACT) and not model[1].signed
    assert isinstance(model[2], paddle.nn.Sequential) and model[2][1].signed
    x = paddle.to_tensor([[5.0, -5.0, 0.5]])
    np.testing.assert_allclose(model[1](x).numpy(), [[1.0, 0.0, 0.5]])


@pytest.mark.parametrize("layer_type", ["conv", "linear"])
def test_per_channel_weight_fake_quant_matches_hand_computation(layer_type):
    from ppocr.slim.quant.quanters import PerChannelAbsMaxQuanterLayer

    rng = np.random.RandomState(3)
    if layer_type == "conv":
        layer, axis = paddle.nn.Conv2D(2, 3, 3), 0
    else:
        layer, axis = paddle.nn.Linear(4, 3), 1
    weight = rng.uniform(-1, 1, layer.weight.shape).astype("float32")
    channel_size = np.array([0.1, 1.0, 7.0], "float32").reshape([-1 if i == axis else 1 for i in range(weight.ndim)])
    weight = weight * channel_size
    layer.weight.set_value(weight)
    quanter = PerChannelAbsMaxQuanterLayer(layer, bit_length=8)

    w = paddle.to_tensor(weight, stop_gradient=False)
    got = quanter(w)
    moved = np.moveaxis(weight, axis, 0)
    expected = np.empty_like(moved)
    for c in range(3):  # one step per output channel: its largest magnitude / 127
        step = np.abs(moved[c]).max() / 127.0
        expected[c] = np.round(moved[c] / step) * step
    np.testing.assert_allclose(got.numpy(), np.moveaxis(expected, 0, axis), rtol=1e-6, atol=1e-7)
    assert len(np.unique(np.moveaxis(got.numpy(), axis, 0)[0])) <= 255
    got.sum().backward()  # straight-through estimator
    np.testing.assert_allclose(w.grad.numpy(), np.ones_like(weight))
    step, zero_point = quanter.quant_params(layer.weight)
    np.testing.assert_allclose(step, np.abs(moved).reshape(3, -1).max(1) / 127, rtol=1e-6)
    assert not zero_point.any()


def test_moving_average_quanter_starts_from_the_first_batch():
    from ppocr.slim.quant.quanters import MovingAverageAbsMaxQuanterLayer

    quanter = MovingAverageAbsMaxQuanterLayer(paddle.nn.Linear(2, 2), moving_rate=0.9)
    quanter.train()
    quanter(paddle.to_tensor([[3.0, -6.0]]))
    assert float(quanter.quant_params()[0][0]) * 127 == pytest.approx(6.0, rel=1e-5)
    quanter(paddle.to_tensor([[1.0, 2.0]]))  # (0.9·6 + 2) / (0.9 + 1)
    assert float(quanter.quant_params()[0][0]) * 127 == pytest.approx(7.4 / 1.9, rel=1e-5)


def test_kl_threshold_clips_outliers_of_a_gaussian():
    from ppocr.slim.quant.observers import kl_threshold_bin

    rng = np.random.RandomState(0)
    values = np.abs(np.concatenate([rng.randn(200000), [40.0, -35.0, 30.0]]))
    hist, edges = np.histogram(values, bins=1024, range=(0, values.max()))
    threshold = edges[kl_threshold_bin(hist) + 1]
    assert 2.5 < threshold < 8.0  # near the bulk of N(0, 1), far below the outliers at 30-40
    uniform = np.ones(1024)
    assert kl_threshold_bin(uniform) == 1023  # nothing to gain from clipping a flat histogram


def test_kl_observer_histogram_survives_range_growth():
    from ppocr.slim.quant.observers import KLObserverLayer

    rng = np.random.RandomState(1)
    first, second = rng.uniform(-1, 1, 5000), rng.uniform(-3.5, 3.5, 5000)
    first[0] = 1.0  # range 1.0 first, then it doubles twice to 4.0
    observer = KLObserverLayer(paddle.nn.Linear(2, 2), bins=512)
    observer(paddle.to_tensor(first.astype("float32")))
    observer(paddle.to_tensor(second.astype("float32")))
    direct, _ = np.histogram(np.abs(np.concatenate([first, second]).astype("float32")), bins=512, range=(0, 4.0))
    assert observer._range == pytest.approx(4.0)
    assert np.abs(observer._hist - direct).sum() <= 4  # bin-edge rounding only


def test_kl_observer_ignores_exact_zeros():
    """ReLU outputs are mostly exact zeros; they must not pull the KL threshold down."""
    from ppocr.slim.quant.observers import KLObserverLayer

    rng = np.random.RandomState(2)
    active = np.abs(rng.randn(20000)).astype("float32")
    sparse = np.concatenate([active, np.zeros(180000, "float32")])
    thresholds = []
    for values in (active, sparse):
        observer = KLObserverLayer(paddle.nn.Linear(2, 2), bins=1024)
        observer(paddle.to_tensor(values))
        thresholds.append(float(observer.quant_params()[0][0]) * 127)
    assert thresholds[1] == pytest.approx(thresholds[0])
    assert thresholds[0] > 2.0  # the bulk of |N(0, 1)| stays inside the range


def test_min_max_observer_uses_a_zero_point_for_non_negative_inputs():
    from ppocr.slim.quant.observers import AbsMaxObserverLayer, MinMaxObserverLayer

    x = paddle.to_tensor(np.linspace(0.0, 6.0, 101).astype("float32"))
    min_max, abs_max = MinMaxObserverLayer(paddle.nn.Linear(2, 2)), AbsMaxObserverLayer(paddle.nn.Linear(2, 2))
    min_max(x), abs_max(x)
    step, zero_point = min_max.quant_params()
    assert step[0] == pytest.approx(6.0 / 255) and zero_point[0] == -128  # all 256 codes for [0, 6]
    assert abs_max.quant_params()[0][0] == pytest.approx(6.0 / 127) and abs_max.quant_params()[1][0] == 0


def test_quant_section_is_validated():
    from ppocr.slim.quant.settings import QuantSettings
    from ppocr.utils.registry import ConfigError

    assert QuantSettings.from_config({"activation_preprocess_type": None}).activation_preprocess_type is None
    with pytest.raises(ConfigError, match="Quant.algorithm"):
        QuantSettings.from_config({"algorithm": "entropy"})
    with pytest.raises(ConfigError, match="did you mean 'moving_rate'"):
        QuantSettings.from_config({"moving_rat": 0.9})


def test_onnx_fake_quant_chain_becomes_qdq_with_int8_weights_and_folded_batch_norm():
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    from ppocr.slim.quant.onnx_qdq import fake_quant_to_qdq, weight_grid_error

    rng = np.random.RandomState(0)
    step = 0.02
    codes = rng.randint(-127, 128, (4, 3, 3, 3))
    codes[:, 0, 0, 0] = 127  # every channel reaches its abs-max
    weight = (codes * np.array([0.01, 0.02, 0.005, 0.1]).reshape(4, 1, 1, 1)).astype(np.float32)
    assert weight_grid_error(weight, 0) < 1e-4 and weight_grid_error(weight + 1e-3, 0) > 1e-2
    consts = {"inv": 1 / step, "half": 0.5, "lo": -127.0, "hi": 127.0, "step": step, "zero": 0.0}
    inits = [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in consts.items()]
    inits += [numpy_helper.from_array(weight, "w")]
    bn = {"gamma": rng.uniform(-2, 2, 4), "beta": rng.randn(4), "mean": rng.randn(4), "var": rng.uniform(0.5, 2, 4)}
    inits += [numpy_helper.from_array(v.astype(np.float32), k) for k, v in bn.items()]
    nodes = [helper.make_node("Mul", ["x", "inv"], ["a"]), helper.make_node("Add", ["a", "half"], ["b"]),
             helper.make_node("Floor", ["b"], ["c"]), helper.make_node("Clip", ["c", "lo", "hi"], ["d"]),
             helper.make_node("Mul", ["d", "step"], ["e"]), helper.make_node("Add", ["e", "zero"], ["f"]),
             helper.make_node("Conv", ["f", "w"], ["g"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["g", "gamma", "beta", "mean", "var"], ["h"]),
             helper.make_node("Relu", ["h"], ["y"])]
    graph = helper.make_graph(nodes, "fq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    qdq, counts = fake_quant_to_qdq(model)
    assert counts == {"activations": 1, "weights": 1, "folded_batch_norms": 1}
    ops = [n.op_type for n in qdq.graph.node]
    assert sorted(ops) == ["Conv", "DequantizeLinear", "DequantizeLinear", "QuantizeLinear", "Relu"]
    stored = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer}
    factor = bn["gamma"] / np.sqrt(bn["var"] + 1e-5)
    np.testing.assert_array_equal(stored["w.int8"], codes * np.sign(factor).reshape(4, 1, 1, 1))
    x = rng.uniform(-2.5, 2.5, (1, 3, 8, 8)).astype(np.float32)  # inside ±127 steps: ONNX saturates at -128
    outputs = [onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
               .run(None, {"x": x})[0] for m in (model, qdq)]
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-4, atol=1e-4)
    assert onnx.checker.check_model(qdq) is None


# -- a tiny CRNN end to end ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def float_model(rec_data, tmp_path_factory):
    """A tiny CRNN trained for 2 epochs (float): the starting point of QAT and PTQ."""
    from ppocr.engine.trainer import Trainer

    out = tmp_path_factory.mktemp("float")
    config = tiny_rec_config(rec_data, out, epochs=2, eval_batch_step=[0, 1000])
    Trainer(config).train()
    return {"config": config, "weights": str(out / "latest")}


@pytest.fixture(scope="module")
def qat_run(float_model, rec_data, tmp_path_factory):
    """tools/quant.py in QAT mode: one epoch (6 steps) of PACT QAT from the float weights, then export."""
    out = tmp_path_factory.mktemp("qat")
    config = tiny_rec_config(rec_data, out, epochs=1, eval_batch_step=[0, 3])
    config["Quant"] = {"mode": "qat"}
    path = write_config(config, out / "rec.yml")
    cmd = [sys.executable, os.path.join(REPO, "tools", "quant.py"), "-c", path,
           "-o", f"Global.pretrained_model={float_model['weights']}", "Optimizer.lr.warmup_epoch=0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"dir": out, "config": config, "log": proc.stdout + proc.stderr}


def _val_batch(rec_data, n=8):
    import cv2

    from ppocr.data.imaug.rec_img_aug import resize_norm_img

    names = sorted(os.listdir(rec_data / "val" / "images"))[:n]
    images = [cv2.imread(str(rec_data / "val" / "images" / name)) for name in names]
    return np.stack([resize_norm_img(img, [3, 32, 100], True)[0] for img in images]).astype("float32")


def _run_exported(model_dir, batch):
    from ppocr.infer.backends import OnnxBackend, PaddleBackend
    from ppocr.infer.options import InferOptions

    options = InferOptions(enable_mkldnn=True, cpu_threads=2)
    paddle_out = PaddleBackend(str(model_dir), options).run(batch)[0]
    onnx_out = OnnxBackend(str(model_dir / "inference.onnx"), options).run(batch)[0]
    return paddle_out, onnx_out


def _assert_qdq(onnx_path, min_weights):
    import onnx

    model = onnx.load(str(onnx_path))
    ops = [node.op_type for node in model.graph.node]
    int8 = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) >= 2]
    assert ops.count("QuantizeLinear") >= min_weights and "Floor" not in ops
    assert len(int8) >= min_weights  # conv/linear weights stored as int8
    assert "LSTM" in ops  # the LSTM stays float


def test_qat_export_runs_in_paddle_inference_and_onnxruntime_close_to_dygraph(qat_run, rec_data):
    from ppocr.slim.quant.export import build_quantized_from_checkpoint
    from ppocr.slim.quant.settings import QuantSettings

    out = qat_run["dir"]
    log = qat_run["log"]
    assert "PACT: 24 activations" in log and "QAT: 54 layers fake-quantized" in log
    assert "QDQ ONNX model" in log
    inference = out / "inference"
    for name in ("inference.json", "inference.pdiparams", "inference.yml", "inference.onnx"):
        assert (inference / name).is_file(), name
    _assert_qdq(inference / "inference.onnx", min_weights=50)

    model = build_quantized_from_checkpoint(qat_run["config"], QuantSettings(), str(out / "best_accuracy"))
    model.eval()
    alphas = [float(p.numpy()[0]) for n, p in model.named_parameters() if n.endswith(".alpha")]
    assert len(alphas) == 24 and any(a != 20.0 for a in alphas)  # PACT's alpha trained
    batch = _val_batch(rec_data)
    with paddle.no_grad():
        want = model(paddle.to_tensor(batch)).numpy()
    paddle_out, onnx_out = _run_exported(inference, batch)
    for got in (paddle_out, onnx_out):
        assert got.shape == want.shape
        # same int8 codes; only values at a rounding boundary may land one step away (float op order differs)
        assert np.abs(got - want).mean() < 2e-3 and np.abs(got - want).max() < 0.05
        assert (got.argmax(-1) == want.argmax(-1)).mean() > 0.95


def test_qat_checkpoint_reloads_for_export_only(qat_run, tmp_path):
    config = dict(qat_run["config"])
    config["Global"] = dict(config["Global"], checkpoints=str(qat_run["dir"] / "latest"),
                            save_inference_dir=str(tmp_path / "export"))
    path = write_config(config, tmp_path / "rec.yml")
    cmd = [sys.executable, os.path.join(REPO, "tools", "quant.py"), "-c", path, "--export_only",
           "-o", "Quant.onnx=false"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "export" / "inference.pdiparams").is_file()
    assert not (tmp_path / "export" / "inference.onnx").exists()


def test_export_only_refuses_a_float_checkpoint(float_model):
    from ppocr.slim.quant.export import build_quantized_from_checkpoint
    from ppocr.slim.quant.settings import QuantSettings
    from ppocr.utils.registry import ConfigError

    with pytest.raises(ConfigError, match="a float checkpoint"):
        build_quantized_from_checkpoint(float_model["config"], QuantSettings(), float_model["weights"])


@pytest.mark.parametrize("algorithm, source", [("abs_max", "folder"), ("KL", "eval set")])
def test_ptq_calibrates_and_exports(float_model, rec_data, tmp_path, algorithm, source):
    import shutil

    from ppocr.engine.checkpoint_predictor import CheckpointPredictor
    from ppocr.slim.quant.settings import QuantSettings
    from ppocr.slim.quant.workflow import run_ptq

    calib = None
    if source == "folder":
        calib = tmp_path / "calib"
        calib.mkdir()
        for name in sorted(os.listdir(rec_data / "train" / "images"))[:6]:
            shutil.copy(rec_data / "train" / "images" / name, calib / name)
    config = dict(float_model["config"])
    config["Global"] = dict(config["Global"], pretrained_model=float_model["weights"],
                            save_inference_dir=str(tmp_path / "ptq"))
    settings = QuantSettings(mode="ptq", algorithm=algorithm, calibration_dir=calib and str(calib), batch_size=4,
                             batch_nums=2, hist_bins=512)
    out = run_ptq(config, settings)
    _assert_qdq(os.path.join(out, "inference.onnx"), min_weights=50)

    float_predictor = CheckpointPredictor(config, weights=float_model["weights"])
    batch = _val_batch(rec_data)
    with paddle.no_grad():
        float_out = float_predictor.model(paddle.to_tensor(batch)).numpy()
    paddle_out, onnx_out = _run_exported(tmp_path / "ptq", batch)
    assert np.abs(paddle_out - onnx_out).mean() < 2e-3
    assert np.abs(paddle_out - float_out).max() < 0.25  # int8 stays near the float model it calibrated


def test_pruned_checkpoint_goes_through_ptq_and_qat(float_model, rec_data, tmp_path):
    """A pruned CRNN keeps its plan through both quantization paths: PTQ builds the pruned shapes before loading,
    QAT checkpoints carry the plan, and the export of either runs at the pruned size."""
    from ppocr.infer.backends import PaddleBackend
    from ppocr.infer.options import InferOptions
    from ppocr.slim.prune.workflow import run_prune
    from ppocr.slim.quant.settings import QuantSettings
    from ppocr.slim.quant.workflow import run_ptq, run_qat

    config = dict(float_model["config"])
    config["Global"] = dict(config["Global"], pretrained_model=float_model["weights"],
                            save_model_dir=str(tmp_path / "pruned"))
    config["Prune"] = {"amount": 0.4}
    pruned = run_prune(config)["checkpoint"]
    assert os.path.isfile(pruned + ".prune.json")

    ptq = dict(config, Global=dict(config["Global"], pretrained_model=pruned,
                                   save_inference_dir=str(tmp_path / "ptq")))
    out = run_ptq(ptq, QuantSettings(mode="ptq", batch_size=4, batch_nums=1, onnx=False))

    qat = dict(config, Global=dict(config["Global"], pretrained_model=pruned, epoch_num=1,
                                   save_model_dir=str(tmp_path / "qat"), save_inference_dir=str(tmp_path / "qat_inf")))
    qat["Optimizer"] = dict(qat["Optimizer"], lr=dict(qat["Optimizer"]["lr"], warmup_epoch=0))
    run_qat(qat, QuantSettings(mode="qat", onnx=False))
    assert os.path.isfile(tmp_path / "qat" / "latest.prune.json")

    batch = _val_batch(rec_data)
    for model_dir in (out, tmp_path / "qat_inf"):
        got = PaddleBackend(str(model_dir), InferOptions(cpu_threads=1)).run(batch)[0]
        assert got.shape[0] == len(batch) and np.isfinite(got).all()
    def size(prefix):
        return sum(int(np.prod(v.shape)) for k, v in paddle.load(prefix + ".pdparams").items() if hasattr(v, "shape"))

    assert size(pruned) < 0.8 * size(float_model["weights"])
    assert size(str(tmp_path / "qat" / "latest")) > size(pruned)  # plus PACT alphas and quantizer scales
