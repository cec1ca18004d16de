"""End-to-end recognition: train → checkpoint → resume → evaluate → export → infer, through the real tools."""
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from conftest import REPO, TOOLS, run_tool, tiny_rec_config, train_data_parallel, write_config


def read_params(prefix):
    import paddle

    params = paddle.load(prefix + ".pdparams")
    return {k: np.asarray(v) for k, v in params.items() if not k.startswith("@")}


@pytest.fixture(scope="module")
def trained(rec_data, tmp_path_factory):
    """A tiny CRNN trained for 3 epochs through tools/train.py, with VisualDL on."""
    out = tmp_path_factory.mktemp("trained")
    config = tiny_rec_config(rec_data, out, epochs=3, use_visualdl=True)
    path = write_config(config, out / "rec.yml")
    proc = run_tool("train.py", path)
    return {"dir": out, "config": path, "proc": proc}


def test_training_writes_checkpoints_logs_and_scalars(trained):
    out = trained["dir"]
    for prefix in ("latest", "best_accuracy", "iter_epoch_1", "iter_epoch_3"):
        for suffix in (".pdparams", ".pdopt", ".states"):
            assert (out / (prefix + suffix)).is_file(), prefix + suffix
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
    with open(out / "latest.states", "rb") as f:
        states = pickle.load(f)
    assert states["epoch"] == 3 and states["global_step"] == 18  # 48 samples / 8 per batch × 3 epochs
    assert "acc" in states["best_model_dict"] and "best_epoch" in states["best_model_dict"]
    log = (out / "train.log").read_text()
    for field in ("global_step: 2,", "lr:", "loss:", "acc:", "norm_edit_dis:", "avg_reader_cost:",
                  "avg_batch_cost:", "ips:", "eta:", "best metric", "Architecture:"):
        assert field in log, field
    vdl_files = os.listdir(out / "vdl")
    assert vdl_files and os.path.getsize(out / "vdl" / vdl_files[0]) > 0


def test_loss_goes_down(trained):
    log = (trained["dir"] / "train.log").read_text()
    losses = [float(part.split("loss: ")[1].split(",")[0]) for part in log.splitlines() if "global_step" in part]
    assert len(losses) >= 6
    assert np.mean(losses[-2:]) < np.mean(losses[:2])


def test_eval_tool_reports_metric(trained):
    proc = run_tool("eval.py", trained["config"], f"Global.checkpoints={trained['dir'] / 'best_accuracy'}")
    text = proc.stdout + proc.stderr
    assert "acc:" in text and "norm_edit_dis:" in text and "fps:" in text


def test_export_runs_in_paddle_inference_and_matches_dygraph(trained, rec_data, tmp_path):
    import paddle

    from ppocr.engine.onnx_export import paddle_inference_run

    out = tmp_path / "export"
    run_tool("export_model.py", trained["config"], f"Global.pretrained_model={trained['dir'] / 'latest'}",
             f"Global.save_inference_dir={out}")
    assert (out / "inference.json").is_file() and (out / "inference.pdiparams").is_file()
    meta = yaml.safe_load((out / "inference.yml").read_text())
    assert meta["Global"]["model_type"] == "rec"
    assert meta["PostProcess"]["name"] == "CTCLabelDecode"
    assert "".join(meta["PostProcess"]["character_dict"]) == "0123456789abcdefghijklmnopqrstuvwxyz"
    resize = [op for op in meta["PreProcess"]["transform_ops"] if "RecResizeImg" in op]
    assert resize and resize[0]["RecResizeImg"]["image_shape"] == [3, 32, 100]

    from ppocr.engine.checkpoint_predictor import CheckpointPredictor
    from ppocr.utils.config import load_config

    predictor = CheckpointPredictor(load_config(trained["config"]), weights=str(trained["dir"] / "latest"))
    for width in (100, 160):
        x = np.random.RandomState(width).uniform(-1, 1, (2, 3, 32, width)).astype("float32")
        got = paddle_inference_run(str(out), x)
        with paddle.no_grad():
            want = predictor.model(paddle.to_tensor(x)).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-4)  # probabilities, not logits


def test_infer_rec_on_folder_with_a_bad_file(trained, rec_data, tmp_path):
    images = tmp_path / "crops"
    shutil.copytree(rec_data / "val" / "images", images)
    (images / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "res.txt"
    proc = run_tool("infer_rec.py", trained["config"], f"Global.pretrained_model={trained['dir'] / 'best_accuracy'}",
                    f"Global.infer_img={images}", f"Global.save_res_path={out}")
    lines = out.read_text().splitlines()
    assert len(lines) == 17
    bad = [line for line in lines if line.startswith(str(images / "broken.png"))]
    assert len(bad) == 1 and "ERROR" in bad[0]
    good = [line.split("\t") for line in lines if "ERROR" not in line]
    assert all(len(parts) == 3 and 0.0 <= float(parts[2]) <= 1.0 for parts in good)
    assert "17 inputs: 16 done, 1 failed" in proc.stdout + proc.stderr


def test_resume_after_kill_matches_uninterrupted_run(rec_data, tmp_path):
    """Kill training mid-way, resume from ``latest``: the final weights equal an uninterrupted run's."""
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    straight = write_config(tiny_rec_config(rec_data, straight_dir, epochs=4, eval_batch_step=[0, 1000]),
                            tmp_path / "straight.yml")
    killed = write_config(tiny_rec_config(rec_data, killed_dir, epochs=4, eval_batch_step=[0, 1000]),
                          tmp_path / "killed.yml")
    run_tool("train.py", straight)

    proc = subprocess.Popen([sys.executable, os.path.join(TOOLS, "train.py"), "-c", killed],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    states_file = killed_dir / "latest.states"
    deadline = time.time() + 300
    while not states_file.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    with open(states_file, "rb") as f:
        epoch_at_kill = pickle.load(f)["epoch"]
    assert epoch_at_kill < 4

    run_tool("train.py", killed, f"Global.checkpoints={killed_dir / 'latest'}")
    a, b = read_params(str(straight_dir / "latest")), read_params(str(killed_dir / "latest"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)
    with open(straight_dir / "latest.states", "rb") as f1, open(killed_dir / "latest.states", "rb") as f2:
        s1, s2 = pickle.load(f1), pickle.load(f2)
    assert (s1["epoch"], s1["global_step"]) == (s2["epoch"], s2["global_step"]) == (4, 24)
    assert "resumed from" in (killed_dir / "train.log").read_text()


def test_pretrained_reports_mismatched_head(trained, caplog):
    from ppocr.modeling.architectures import build_model
    from ppocr.utils.checkpoint import load_pretrained
    from ppocr.utils.config import load_config

    arch = load_config(trained["config"])["Architecture"]
    arch["Head"]["out_channels"] = 96  # a bigger dictionary than the trained 37 classes
    model = build_model(arch)
    report = load_pretrained(model, str(trained["dir"] / "latest"))
    assert report["shape_mismatch"] and all("head" in item for item in report["shape_mismatch"])
    assert len(report["loaded"]) == len(model.state_dict()) - len(report["shape_mismatch"])
    assert "shape mismatch" in caplog.text


def test_inconsistent_checkpoint_set_is_refused(trained, tmp_path):
    from ppocr.modeling.architectures import build_model
    from ppocr.utils.checkpoint import CheckpointError, load_checkpoint
    from ppocr.utils.config import load_config

    mixed = tmp_path / "mixed"
    shutil.copy(trained["dir"] / "latest.pdparams", str(mixed) + ".pdparams")
    shutil.copy(trained["dir"] / "latest.pdopt", str(mixed) + ".pdopt")
    shutil.copy(trained["dir"] / "iter_epoch_1.states", str(mixed) + ".states")
    arch = load_config(trained["config"])["Architecture"]
    arch["Head"]["out_channels"] = 37
    with pytest.raises(CheckpointError, match="inconsistent"):
        load_checkpoint(build_model(arch), None, str(mixed))


def test_bad_items_are_skipped_and_counted(rec_data, tmp_path):
    from ppocr.engine.trainer import Trainer

    data = tmp_path / "data"
    shutil.copytree(rec_data / "train", data / "train")
    shutil.copytree(rec_data / "val", data / "val")
    (data / "train" / "images" / "word_000001.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    label_file = data / "train" / "rec_gt.txt"
    lines = label_file.read_text().splitlines()
    lines[1] = lines[1].split("\t")[0] + "\th\u00e9llo"  # a character outside the 0-9a-z dict
    label_file.write_text("\n".join(lines) + "\n")
    config = tiny_rec_config(data, tmp_path / "out", epochs=1, eval_batch_step=[0, 1000])
    trainer = Trainer(config)
    states = trainer.train()
    assert states["epoch"] == 1
    skipped = trainer.train_dataset.get_skip_stats()
    assert skipped["total"] >= 2


def test_two_process_data_parallel_on_cpu(rec_data, tmp_path):
    out = tmp_path / "dist"
    path = write_config(tiny_rec_config(rec_data, out, epochs=1, eval_batch_step=[0, 1000]), tmp_path / "d.yml")
    train_data_parallel(path, tmp_path / "launch_logs")
    log = (out / "train.log").read_text()
    assert "48 samples, 3 steps/epoch" in log  # each of the 2 ranks sees half the batches
    with open(out / "latest.states", "rb") as f:
        assert pickle.load(f)["global_step"] == 3
