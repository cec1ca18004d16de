"""TAO-style features on a real tiny training run: results_dir layout, model EMA, encryption, ONNX export."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, tiny_rec_config, write_config

KEY = "correct horse battery staple"


def tool(name, config, *args, env=None, check=True):
    cmd = [sys.executable, os.path.join(REPO, "tools", name), "-c", str(config), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def run(rec_data, tmp_path_factory):
    """One training run with results_dir, EMA and an encryption key given with -k."""
    root = tmp_path_factory.mktemp("tao")
    config = tiny_rec_config(rec_data, root / "unused", epochs=2, model_ema=True, model_ema_decay=0.9,
                             results_dir=str(root / "results"), eval_batch_step=[0, 6])
    path = write_config(config, root / "rec.yml")
    tool("train.py", path, "-k", KEY)
    return {"root": root, "config": path, "results": root / "results"}


def test_results_dir_layout(run):
    train = run["results"] / "train"
    assert (train / "latest.pdparams").is_file() and (train / "best_accuracy.states").is_file()
    assert (train / "train.log").is_file()
    assert not (run["root"] / "unused").exists()

    tool("eval.py", run["config"], "-k", KEY)
    metrics = json.loads((run["results"] / "evaluate" / "metrics.json").read_text())
    assert {"acc", "norm_edit_dis"} <= metrics.keys()
    assert (run["results"] / "evaluate" / "evaluate.log").is_file()


def test_checkpoints_are_encrypted_and_need_the_key(run, tmp_path):
    from ppocr.utils.crypto import MAGIC

    train = run["results"] / "train"
    for suffix in (".pdparams", ".pdopt", ".pdema", ".states"):
        assert (train / ("latest" + suffix)).read_bytes().startswith(MAGIC), suffix
    log = (train / "train.log").read_text()
    assert KEY not in log and "encryption_key: '***'" in log

    missing = tool("eval.py", run["config"], check=False)
    assert missing.returncode == 2 and "is encrypted" in missing.stderr
    wrong = tool("eval.py", run["config"], "-k", "not the key", check=False)
    assert wrong.returncode == 2 and "wrong encryption key" in wrong.stderr
    assert len([line for line in wrong.stderr.splitlines() if line.startswith("error:")]) == 1
    via_env = tool("eval.py", run["config"], env={"PPOCR_ENCRYPTION_KEY": KEY})
    assert "acc:" in via_env.stdout + via_env.stderr


def test_ema_differs_from_raw_weights_and_is_exported(run):
    import paddle

    from ppocr.engine.onnx_export import paddle_inference_run
    from ppocr.modeling.architectures import build_model
    from ppocr.utils.checkpoint import load_params_file
    from ppocr.utils.config import load_config

    prefix = str(run["results"] / "train" / "latest")
    raw = load_params_file(prefix, KEY)
    ema = load_params_file(prefix, KEY, prefer_ema=True)
    differing = [k for k in raw if not np.allclose(np.asarray(raw[k]), np.asarray(ema[k]))]
    assert differing, "EMA weights equal the raw weights"

    tool("export_model.py", run["config"], "-k", KEY)  # weights default to results/train/best_accuracy
    export_dir = run["results"] / "export"
    from ppocr.utils.crypto import decrypted_copy, is_encrypted

    assert all(is_encrypted(str(export_dir / n)) for n in ("inference.json", "inference.pdiparams", "inference.yml"))

    arch = load_config(run["config"])["Architecture"]
    arch["Head"]["out_channels"] = 37
    best = str(run["results"] / "train" / "best_accuracy")
    x = np.random.RandomState(1).uniform(-1, 1, (2, 3, 32, 100)).astype("float32")
    outputs = {}
    for name, params in (("ema", load_params_file(best, KEY, prefer_ema=True)), ("raw", load_params_file(best, KEY))):
        model = build_model(arch)
        model.set_state_dict(params)
        model.eval()
        with paddle.no_grad():
            outputs[name] = model(paddle.to_tensor(x)).numpy()
    with decrypted_copy(str(export_dir), ["inference.json", "inference.pdiparams"], KEY) as plain:
        got = paddle_inference_run(plain, x)
    np.testing.assert_allclose(got, outputs["ema"], rtol=1e-4, atol=1e-5)
    assert not np.allclose(got, outputs["raw"], atol=1e-4)


def test_onnx_export_checks_parity(rec_data, tmp_path):
    import onnxruntime
    import paddle

    from ppocr.modeling.architectures import build_model

    config = tiny_rec_config(rec_data, tmp_path / "out")
    arch = dict(config["Architecture"], Head=dict(config["Architecture"]["Head"], out_channels=37))
    paddle.seed(3)
    paddle.save(build_model(arch).state_dict(), str(tmp_path / "w.pdparams"))
    path = write_config(config, tmp_path / "rec.yml")
    out = tmp_path / "onnx_export"
    proc = tool("export_model.py", path, "--onnx", "-o", f"Global.pretrained_model={tmp_path / 'w'}",
                f"Global.save_inference_dir={out}")
    assert "matches Paddle Inference" in proc.stdout + proc.stderr
    session = onnxruntime.InferenceSession(str(out / "inference.onnx"), providers=["CPUExecutionProvider"])
    probs = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, 32, 160), "float32")})[0]
    assert probs.shape[0] == 1 and probs.shape[2] == 37
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)


def test_encryption_roundtrip_and_tamper():
    from ppocr.utils.crypto import EncryptionError, decrypt_bytes, encrypt_bytes

    blob = encrypt_bytes(b"weights", KEY)
    assert b"weights" not in blob and decrypt_bytes(blob, KEY) == b"weights"
    tampered = blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:]
    with pytest.raises(EncryptionError, match="wrong encryption key"):
        decrypt_bytes(tampered, KEY)
    assert decrypt_bytes(b"plain", None) == b"plain"


def test_encrypted_export_runs_in_the_inference_backends(run, monkeypatch):
    """predict_* backends decrypt exported models given the key (option or environment), else fail clearly."""
    from ppocr.infer.backends import PaddleBackend
    from ppocr.infer.options import InferOptions
    from ppocr.utils.crypto import EncryptionError

    tool("export_model.py", run["config"], "-k", KEY)
    export_dir = str(run["results"] / "export")
    x = np.zeros((1, 3, 32, 100), "float32")
    probs = PaddleBackend(export_dir, InferOptions(encryption_key=KEY)).run(x)[0]
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)
    monkeypatch.delenv("PPOCR_ENCRYPTION_KEY", raising=False)
    with pytest.raises(EncryptionError, match="is encrypted"):
        PaddleBackend(export_dir, InferOptions())
    monkeypatch.setenv("PPOCR_ENCRYPTION_KEY", "wrong")
    with pytest.raises(EncryptionError, match="wrong encryption key"):
        PaddleBackend(export_dir, InferOptions())


def test_encrypted_onnx_model_loads_in_memory(rec_data, tmp_path):
    import paddle

    from ppocr.infer.backends import OnnxBackend
    from ppocr.infer.options import InferOptions
    from ppocr.modeling.architectures import build_model

    config = tiny_rec_config(rec_data, tmp_path / "out")
    arch = dict(config["Architecture"], Head=dict(config["Architecture"]["Head"], out_channels=37))
    paddle.save(build_model(arch).state_dict(), str(tmp_path / "w.pdparams"))
    path = write_config(config, tmp_path / "rec.yml")
    out = tmp_path / "enc_onnx"
    tool("export_model.py", path, "--onnx", "-k", KEY, "-o", f"Global.pretrained_model={tmp_path / 'w'}",
         f"Global.save_inference_dir={out}")
    from ppocr.utils.crypto import is_encrypted

    assert is_encrypted(str(out / "inference.onnx"))
    probs = OnnxBackend(str(out / "inference.onnx"), InferOptions(encryption_key=KEY)).run(
        np.zeros((1, 3, 32, 100), "float32"))[0]
    assert probs.shape[-1] == 37


def test_decrypted_copy_left_by_a_killed_process_is_removed_by_the_next_one(tmp_path):
    """A process killed while Paddle loads an encrypted model must not leave the plain model readable for good."""
    from ppocr.utils.crypto import DECRYPTED_DIR_NAME, decrypted_copy, encrypt_file_in_place

    model = tmp_path / "model"
    model.mkdir()
    (model / "inference.json").write_bytes(b'{"secret": "graph"}')
    encrypt_file_in_place(str(model / "inference.json"), KEY)
    child = ("import os, sys\nfrom ppocr.utils.crypto import decrypted_copy\n"
             f"with decrypted_copy({str(model)!r}, ['inference.json'], {KEY!r}) as plain:\n"
             "    print(plain, flush=True)\n    os._exit(9)\n")
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 9, proc.stderr[-2000:]
    left = proc.stdout.strip()
    assert os.path.basename(left).startswith(f".{DECRYPTED_DIR_NAME}.")
    assert open(os.path.join(left, "inference.json"), "rb").read() == b'{"secret": "graph"}'

    with decrypted_copy(str(model), ["inference.json"], KEY) as plain:
        assert open(os.path.join(plain, "inference.json"), "rb").read() == b'{"secret": "graph"}'
        assert not os.path.exists(left)
    assert not os.path.exists(plain)
