"""Training under hostile conditions: wrong pretrained weights, a broken transform pipeline, kill -9 with loader
workers, leftovers of killed writes, and a kill at every step of a checkpoint save."""
import logging
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, TOOLS, run_tool, tiny_det_config, tiny_rec_config, write_config


def _dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---- item 5: pretrained weights that do not fit -------------------------------------------------------------

def test_pretrained_det_checkpoint_on_a_rec_model_stops_in_one_line(rec_data, tmp_path):
    from ppocr.modeling.architectures import build_model
    from ppocr.utils.checkpoint import save_checkpoint

    det_prefix = tmp_path / "det" / "latest"
    save_checkpoint(build_model(tiny_det_config(tmp_path, tmp_path)["Architecture"]), None, str(det_prefix), {})
    config = write_config(tiny_rec_config(rec_data, tmp_path / "out", epochs=1), tmp_path / "rec.yml")
    proc = run_tool("train.py", config, f"Global.pretrained_model={det_prefix}", check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and f"{det_prefix}.pdparams" in line
    assert "match 0 of" in line and "backbone." in line  # examples of the names on each side
    assert not (tmp_path / "out" / "latest.pdparams").exists()


def test_partial_pretrained_load_logs_one_summary(rec_data, tmp_path, caplog):
    from ppocr.modeling.architectures import build_model
    from ppocr.utils.checkpoint import load_pretrained, save_checkpoint

    arch = tiny_rec_config(rec_data, tmp_path)["Architecture"]
    arch["Head"]["out_channels"] = 37
    prefix = str(tmp_path / "rec")
    save_checkpoint(build_model(arch), None, prefix, {})
    arch["Head"]["out_channels"] = 96  # a bigger dictionary: the head does not fit
    model = build_model(arch)
    caplog.set_level(logging.INFO, logger="ppocr")
    report = load_pretrained(model, prefix)
    records = [r for r in caplog.records if r.name == "ppocr.utils.checkpoint"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    total = len(model.state_dict())
    mismatched = len(report["shape_mismatch"])
    assert mismatched == 2 and len(report["loaded"]) == total - mismatched
    assert f"loaded {total - mismatched}/{total} parameters from {prefix}.pdparams" in message
    assert f"shape mismatch: {mismatched} (e.g. head." in message and "file [" in message


# ---- item 8: an error inside the loader ends the run --------------------------------------------------------

@pytest.mark.parametrize("num_workers", [0, 2])
def test_keepkeys_asking_for_a_missing_key_ends_training_in_one_line(rec_data, tmp_path, num_workers):
    config = tiny_rec_config(rec_data, tmp_path / "out", epochs=1)
    config["Train"]["loader"]["num_workers"] = num_workers
    config["Train"]["dataset"]["transforms"][-1]["KeepKeys"]["keep_keys"] = ["image", "label", "lenght"]
    proc = run_tool("train.py", write_config(config, tmp_path / "bad.yml"), check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: Train.dataset.transforms: KeepKeys: key 'lenght' is not in the item")
    assert "present keys: image, img_path, label" in line and ", length" in line and str(rec_data / "train") in line


def _garbage_copy(src, dst, keep_first=False):
    """``src`` (images/ + rec_gt.txt) with every image replaced by bytes that do not decode (but the first
    listed one when ``keep_first``)."""
    shutil.copytree(src, dst)
    first = (dst / "rec_gt.txt").read_text().splitlines()[0].split("\t")[0]
    for path in (dst / "images").iterdir():
        if not (keep_first and path.name == os.path.basename(first)):
            path.write_bytes(b"not an image")
    return dst


def test_eval_pass_where_every_sample_fails_is_an_error(rec_data, tmp_path):
    from ppocr.data import build_dataloader
    from ppocr.data.errors import DataError

    config = tiny_rec_config(rec_data, tmp_path)
    config["Eval"]["dataset"]["data_dir"] = str(_garbage_copy(rec_data / "val", tmp_path / "val"))
    config["Eval"]["dataset"]["label_file_list"] = [str(tmp_path / "val" / "rec_gt.txt")]
    config["Eval"]["loader"]["num_workers"] = 2
    _, loader = build_dataloader(config, "Eval")
    with pytest.raises(DataError, match=r"Eval: every sample of the pass was skipped \(16\); by reason: {'Decode"):
        list(loader)


@pytest.mark.parametrize("keep_first", [False, True])
def test_eval_stops_when_the_first_samples_all_fail_alike(rec_data, tmp_path, keep_first):
    from ppocr.data.base_dataset import FIRST_FAILURES
    from ppocr.data.errors import PipelineError
    from ppocr.data.simple_dataset import SimpleDataSet

    data = _garbage_copy(rec_data / "train", tmp_path / "train", keep_first)
    config = tiny_rec_config(rec_data, tmp_path)
    ds = SimpleDataSet(str(data), [str(data / "rec_gt.txt")], config["Eval"]["dataset"]["transforms"],
                       global_config=config["Global"], mode="eval")
    assert len(ds) > FIRST_FAILURES + 1
    if keep_first:  # once a sample worked, failures are bad data: skipped and counted
        assert ds[0] is not None and all(ds[i] is None for i in range(1, len(ds)))
        assert ds.get_skip_stats()["total"] == len(ds) - 1
        return
    for index in range(FIRST_FAILURES - 1):
        assert ds[index] is None
    with pytest.raises(PipelineError, match=f"no sample could be used yet and {FIRST_FAILURES} failed the same way"):
        ds[FIRST_FAILURES - 1]


def test_a_batch_that_cannot_be_stacked_becomes_the_batch_error():
    from ppocr.data.collate import BatchCollator

    out = BatchCollator()([[np.zeros(2), 1], [np.zeros(2)]])
    assert out["batch"] is None and out["error"].startswith("cannot make a batch: ValueError: samples of one batch")


# ---- item 10: loader workers die with a killed trainer ------------------------------------------------------

def test_loader_workers_exit_when_the_trainer_is_killed(rec_data, tmp_path):
    psutil = pytest.importorskip("psutil")
    config = tiny_rec_config(rec_data, tmp_path / "out", epochs=100, eval_batch_step=[0, 100000])
    config["Train"]["loader"]["num_workers"] = 2
    proc = subprocess.Popen([sys.executable, os.path.join(TOOLS, "train.py"), "-c",
                             write_config(config, tmp_path / "w.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    workers = []
    try:
        trainer = psutil.Process(proc.pid)
        deadline = time.time() + 120
        while len(workers) < 2 and time.time() < deadline and proc.poll() is None:
            workers = trainer.children()
            time.sleep(0.05)
        assert len(workers) == 2, "the trainer never started its two loader workers"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _, alive = psutil.wait_procs(workers, timeout=10)
        alive = [w for w in alive if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"loader workers left running: {alive}"
    finally:
        proc.kill()
        for worker in workers:
            if worker.is_running():
                worker.kill()


# ---- item 11: temporary files of killed writes --------------------------------------------------------------

def test_training_start_removes_only_stale_temporary_files(rec_data, tmp_path):
    from ppocr.engine.trainer import Trainer

    out = tmp_path / "out"
    out.mkdir()
    dead = _dead_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [f".latest.pdparams.{dead}.ab_cd123.tmp", ".best_accuracy.states.k2j4h5g6.tmp",  # older name
                 f".train.log.{dead}.zzzzzzzz.tmp"]
        kept = [f".latest.pdopt.{sleeper.pid}.abcdefgh.tmp",  # a live writer's
                ".hidden.tmp", "notes.tmp", ".x.y.tmp", "mine.pdparams"]  # not ours
        for name in stale + kept:
            (out / name).write_bytes(b"x" * 100)
        (out / f".export.{dead}.abcdefgh.tmp").mkdir()
        (out / f".export.{dead}.abcdefgh.tmp" / "inference.json").write_text("{}")
        Trainer(tiny_rec_config(rec_data, out, epochs=1, eval_batch_step=[0, 100000])).train()
        names = set(os.listdir(out))
        assert not names & set(stale) and f".export.{dead}.abcdefgh.tmp" not in names
        assert set(kept) <= names
        assert not [n for n in names if n.endswith(".tmp") and n not in kept]  # the run's own were renamed
    finally:
        sleeper.kill()
        sleeper.wait()


def test_atomic_dir_killed_between_its_renames_gets_its_old_version_back(tmp_path):
    from ppocr.utils.io import atomic_dir

    dead = _dead_pid()
    old = tmp_path / f".db.{dead}.abcdefgh.tmp.old"  # the previous version, moved aside
    old.mkdir()
    (old / "data.mdb").write_text("old")
    new = tmp_path / f".db.{dead}.abcdefgh.tmp"  # the new one, never renamed into place
    new.mkdir()
    other = tmp_path / f".other.{dead}.abcdefgh.tmp"
    other.write_text("someone else's target")
    with atomic_dir(str(tmp_path / "db")) as tmp:
        assert (tmp_path / "db" / "data.mdb").read_text() == "old"  # restored before the new write
        with open(os.path.join(tmp, "data.mdb"), "w") as f:
            f.write("new")
    assert (tmp_path / "db" / "data.mdb").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == sorted(["db", other.name])


# ---- item 12: a kill at any moment of a checkpoint save -----------------------------------------------------

def _generation(gen, ema):
    """A model, optimizer and EMA weights that all carry the number ``gen``."""
    import paddle

    paddle.seed(gen)
    model = paddle.nn.Linear(3, 2)
    optimizer = paddle.optimizer.Adam(learning_rate=paddle.optimizer.lr.StepDecay(0.1 * gen, step_size=100),
                                      parameters=model.parameters())
    model(paddle.ones([1, 3])).sum().backward()
    optimizer.step()
    for param in model.parameters():
        param.set_value(np.full(param.shape, gen, dtype="float32"))
    return model, optimizer, ({k: v * 0 + gen for k, v in model.state_dict().items()} if ema else None)


def _save_generation(folder, gen, ema):
    from ppocr.utils.checkpoint import save_checkpoint

    model, optimizer, ema_params = _generation(gen, ema)
    for name in ("latest", "best_accuracy"):
        save_checkpoint(model, optimizer, os.path.join(folder, name), {"epoch": gen, "global_step": 10 * gen},
                        ema_params=ema_params)


def _save_killed_at(folder, step):
    """Save generation 2 in a forked child that dies like kill -9 (no cleanup) at its ``step``-th rename or
    removal; returns the child's pid once it has ended, not yet reaped (so it still counts as a running writer)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            calls = [0]

            def dying(real):
                def op(*args, **kwargs):
                    calls[0] += 1
                    if calls[0] == step:
                        os._exit(9)
                    return real(*args, **kwargs)
                return op

            os.replace, os.rename, os.unlink = dying(os.replace), dying(os.rename), dying(os.unlink)
            _save_generation(folder, 2, ema=False)
        except BaseException:  # noqa: BLE001 - the child must never return into pytest
            code = 1
        os._exit(code)
    deadline = time.time() + 60
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"save child for step {step} hung")
        time.sleep(0.01)
    return pid


def _loaded_generation(folder, name):
    import paddle

    from ppocr.utils.checkpoint import load_checkpoint

    model = paddle.nn.Linear(3, 2)
    optimizer = paddle.optimizer.Adam(learning_rate=paddle.optimizer.lr.StepDecay(1.0, step_size=100),
                                      parameters=model.parameters())
    states = load_checkpoint(model, optimizer, os.path.join(folder, name))
    gen = states["epoch"]
    assert states["global_step"] == 10 * gen
    assert all(np.all(p.numpy() == gen) for p in model.parameters()), name
    assert optimizer.get_lr() == pytest.approx(0.1 * gen), name
    assert ("ema_params" in states) == (gen == 1), name  # generation 1 had EMA weights, 2 has none
    return gen


def test_checkpoint_killed_at_any_step_of_a_save_loads_old_or_new(tmp_path):
    import paddle

    from ppocr.utils.checkpoint import recover_checkpoints

    outcomes = []
    for step in range(1, 40):
        folder = str(tmp_path / f"step{step}")
        _save_generation(folder, 1, ema=True)
        pid = _save_killed_at(folder, step)
        # the writer has not been reaped, so it counts as running: loads read the committed files in place
        before = sorted(os.listdir(folder))
        gens = {name: _loaded_generation(folder, name) for name in ("latest", "best_accuracy")}
        assert sorted(os.listdir(folder)) == before
        _, status = os.waitpid(pid, 0)
        finished = os.waitstatus_to_exitcode(status) == 0
        # once it is gone, the same generations load and the interrupted renames are completed
        assert {name: _loaded_generation(folder, name) for name in gens} == gens
        if gens["latest"] == 2:
            for suffix in (".pdparams", ".pdopt", ".states"):  # plain files a PaddleOCR user reads
                assert os.path.isfile(os.path.join(folder, "latest" + suffix))
            assert not os.path.exists(os.path.join(folder, "latest.pdema"))
            token = paddle.load(os.path.join(folder, "latest.pdparams"))["@checkpoint_token"]
            with open(os.path.join(folder, "latest.states"), "rb") as f:
                assert pickle.load(f)["@checkpoint_token"] == token
        recover_checkpoints(folder)  # what training does at its start
        assert not [n for n in os.listdir(folder) if n.startswith(".")], os.listdir(folder)
        assert {name: _loaded_generation(folder, name) for name in gens} == gens
        outcomes.append((gens["latest"], gens["best_accuracy"]))
        if finished:
            break
    else:
        raise AssertionError("the save never completed")
    assert outcomes[-1] == (2, 2) and (1, 1) in outcomes and (2, 1) in outcomes
    assert len(outcomes) >= 10  # a commit, renames and removals for each of the two prefixes


def test_best_accuracy_at_the_end_of_an_epoch_resumes_with_the_next_epoch(rec_data, tmp_path):
    out = tmp_path / "out"
    # 48 samples / 16 = 3 steps per epoch; the only evaluation is at step 6, the last step of epoch 2
    config = write_config(tiny_rec_config(rec_data, out, epochs=2, batch_size=16, eval_batch_step=[3, 3]),
                          tmp_path / "rec.yml")
    run_tool("train.py", config)
    with open(out / "best_accuracy.states", "rb") as f:
        best = pickle.load(f)
    assert (best["epoch"], best["global_step"], best["best_model_dict"]["best_epoch"]) == (2, 6, 2)

    (out / "train.log").unlink()
    run_tool("train.py", config, "Global.epoch_num=3", "Global.eval_batch_step=[0,100000]",
             f"Global.checkpoints={out / 'best_accuracy'}")
    with open(out / "latest.states", "rb") as f:
        latest = pickle.load(f)
    assert (latest["epoch"], latest["global_step"]) == (3, 9)
    log = (out / "train.log").read_text()
    assert set(re.findall(r"epoch: \[(\d)/3\]", log)) == {"3"}  # epoch 2 is not repeated
