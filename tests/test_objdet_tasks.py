"""The TAO EfficientDet tasks through our tools: train, evaluate, export (+ONNX, int8, encrypted), inference
(KITTI, COCO json, label map), prune with TAO's options then retrain from the pruned model, TAO spec conversion."""
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import REPO, TOOLS, run_tool, tiny_objdet_config, write_config

KEY = "objdet-test-key"


def _run(*args, check=True, timeout=600):
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def trained(shapes_data, tmp_path_factory):
    """A Lite0 trained three steps by tools/train.py (EMA on), its config and output folder."""
    out = tmp_path_factory.mktemp("objdet_train")
    config = tiny_objdet_config("lite0", shapes_data, out / "train", epochs=1, model_ema=True,
                                model_ema_decay=0.99)
    config_path = write_config(config, out / "lite0.yml")
    run_tool("train.py", config_path)
    return {"config": config_path, "out": out, "weights": str(out / "train" / "latest"), "data": shapes_data}


def test_evaluate_reports_coco_ap_per_class_from_the_ema_weights(trained):
    proc = run_tool("eval.py", trained["config"], f"Global.pretrained_model={trained['weights']}",
                    "Global.model_ema=false")
    text = proc.stdout + proc.stderr
    assert "using the EMA weights" in text
    for key in ("AP:", "AP50:", "AP75:", "APs:", "APm:", "APl:"):
        assert key in text
    assert "AP/rectangle" in text or "AP/circle" in text or "AP/triangle" in text


def test_export_onnx_parity_then_inference_writes_kitti_and_coco_results(trained, tmp_path):
    export_dir = tmp_path / "export"
    proc = _run(os.path.join(TOOLS, "export_model.py"), "-c", trained["config"], "--onnx", "-o",
                f"Global.pretrained_model={trained['weights']}", f"Global.save_inference_dir={export_dir}")
    assert "matches Paddle Inference" in proc.stdout + proc.stderr
    assert {"inference.json", "inference.pdiparams", "inference.yml", "inference.onnx"} <= set(os.listdir(export_dir))
    label_map = tmp_path / "labels.txt"
    label_map.write_text("rectangle\ncircle\ntriangle\n")
    images = trained["data"]["val"]["image_dir"]
    out = tmp_path / "paddle"
    _run(os.path.join(TOOLS, "infer_objdet.py"), "-m", str(export_dir), "-i", images, "-o", str(out / "vis"),
         "-l", str(out / "labels"), "--coco_results", str(out / "results.json"), "--label_map", str(label_map),
         "--min_score_thresh", "0.0", "--max_detections_per_image", "10", "-a",
         trained["data"]["val"]["annotation_file"])
    names = sorted(os.listdir(images))
    assert sorted(os.listdir(out / "vis")) == names
    assert sorted(os.listdir(out / "labels")) == sorted(n.replace(".jpg", ".txt") for n in names)
    lines = open(out / "labels" / "shape_00000.txt").read().splitlines()
    assert len(lines) == 10
    for line in lines:
        fields = line.split()
        assert len(fields) == 16 and fields[0] in ("rectangle", "circle", "triangle")
        x1, y1, x2, y2, score = map(float, fields[4:8] + fields[15:])
        assert 0 <= x1 <= x2 <= 128 and 0 <= y1 <= y2 <= 128 and 0 <= score <= 1
    results = json.loads((out / "results.json").read_text())
    assert len(results) == 60 and {r["image_id"] for r in results} == set(range(1, 7))
    # the same images through the ONNX model give the same detections
    from ppocr.infer.object_detector import ExportedObjectDetector
    from ppocr.infer.options import InferOptions

    onnx = ExportedObjectDetector(str(export_dir), InferOptions(use_onnx=True),
                                  {"min_score_thresh": 0.0, "max_detections_per_image": 10})
    assert type(onnx.backend).__name__ == "OnnxBackend"
    first = onnx.predict_file(os.path.join(images, "shape_00000.jpg"))
    paddle_first = sorted(r["score"] for r in results if r["image_id"] == 1)
    np.testing.assert_allclose(sorted(first["scores"].tolist()), paddle_first, atol=1e-3)


def test_encrypted_export_needs_its_key_and_int8_ptq_runs_in_paddle_inference(trained, tmp_path):
    secret = tmp_path / "secret"
    _run(os.path.join(TOOLS, "export_model.py"), "-c", trained["config"], "-k", KEY, "-o",
         f"Global.pretrained_model={trained['weights']}", f"Global.save_inference_dir={secret}")
    assert b"inference" not in (secret / "inference.yml").read_bytes()[:200]
    image = os.path.join(trained["data"]["val"]["image_dir"], "shape_00001.jpg")
    ok = _run(os.path.join(TOOLS, "infer_objdet.py"), "-m", str(secret), "-i", image, "-k", KEY,
              "-l", str(tmp_path / "kitti"))
    assert (tmp_path / "kitti" / "shape_00001.txt").is_file(), ok.stderr
    refused = _run(os.path.join(TOOLS, "infer_objdet.py"), "-m", str(secret), "-i", image, check=False)
    last = refused.stderr.strip().splitlines()[-1]
    assert refused.returncode == 2 and last.startswith("error: ") and "encrypted" in last and "-k" in last

    int8 = tmp_path / "int8"
    _run(os.path.join(TOOLS, "quant.py"), "-c", trained["config"], "-o", f"Global.pretrained_model={trained['weights']}",
         f"Global.save_inference_dir={int8}", "Quant.mode=ptq", "Quant.algorithm=abs_max", "Quant.batch_nums=1",
         f"Quant.calibration_dir={trained['data']['val']['image_dir']}")
    proc = _run(os.path.join(TOOLS, "infer_objdet.py"), "-m", str(int8), "-i", image, "--min_score_thresh", "0.0",
                "--max_detections_per_image", "5", "-l", str(tmp_path / "int8_kitti"))
    assert len((tmp_path / "int8_kitti" / "shape_00001.txt").read_text().splitlines()) == 5, proc.stderr


def test_prune_with_tao_options_then_retrain_and_export(trained, tmp_path):
    from ppocr.slim.prune.plan import load_plan

    pruned_dir = tmp_path / "pruned"
    proc = _run(os.path.join(TOOLS, "prune.py"), "-c", trained["config"], "-m", trained["weights"],
                "--output_dir", str(pruned_dir), "-n", "max", "-eq", "union", "-pg", "8", "-pth", "0.7", "-nf", "16",
                "-el", "backbone.blocks.15.*")
    text = proc.stdout + proc.stderr
    assert "params_before" in text and "params_after" in text
    before = int(text.split("params_before: ")[1].split()[0])
    after = int(text.split("params_after: ")[1].split()[0])
    assert after < before
    plan = load_plan(str(pruned_dir / "pruned"))
    pruned = {g["name"]: g for g in plan["stages"][-1]["groups"]}
    assert "backbone.blocks.15.expand_conv" not in pruned or pruned["backbone.blocks.15.expand_conv"]["kept"] == 1152
    assert all(g["kept"] % 8 == 0 and g["kept"] >= 16 for g in pruned.values() if g["kept"] < g["channels"])
    # retrain from the pruned model (TAO pruned_model_path) for an epoch, then export and run it
    retrain = tmp_path / "retrain"
    run_tool("train.py", trained["config"], f"Global.pretrained_model={pruned_dir / 'pruned'}",
             f"Global.save_model_dir={retrain}", "Global.model_ema=false")
    export_dir = tmp_path / "export"
    run_tool("export_model.py", trained["config"], f"Global.pretrained_model={retrain / 'latest'}",
             f"Global.save_inference_dir={export_dir}")
    from ppocr.engine.onnx_export import paddle_inference_run

    out = paddle_inference_run(str(export_dir), np.zeros((1, 3, 128, 128), np.float32))
    assert out.shape == (1, (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1) * 9, 7)


def test_tao_spec_converts_to_a_config_that_trains_on_converted_shards(shapes_data, tmp_path):
    lmdb = tmp_path / "lmdb"
    for split in ("train", "val"):
        _run(os.path.join(TOOLS, "dataset_convert.py"), "-i", shapes_data[split]["image_dir"], "-a",
             shapes_data[split]["annotation_file"], "-o", str(lmdb), "-t", split, "-s", "2")
    spec = tmp_path / "spec.txt"
    spec.write_text(f"""
training_config {{
  train_batch_size: 4
  num_examples_per_epoch: 12
  num_epochs: 1
  checkpoint_period: 1
  tf_random_seed: 42
  lr_warmup_epoch: 1
  lr_warmup_init: 0.0001
  learning_rate: 0.01
  amp: False
  moving_average_decay: 0.999
  l2_weight_decay: 0.00004
  l1_weight_decay: 0.00001
  clip_gradients_norm: 5.0
  skip_checkpoint_variables: "predict"
  model_name: 'efficientdet-lite0'
}}
dataset_config {{
  num_classes: 4
  image_size: "128,128"
  training_file_pattern: "{lmdb}/train-*"
  validation_file_pattern: "{lmdb}/val-*"
  max_instances_per_image: 50
  skip_crowd_during_training: True
}}
eval_config {{
  eval_batch_size: 4
  eval_epoch_cycle: 1
  min_score_thresh: 0.01
  max_detections_per_image: 50
}}
model_config {{
  model_name: 'efficientdet-lite0'
  num_scales: 2
  aspect_ratios: "[(1.0, 1.0), (1.4, 0.7)]"
  anchor_scale: 3
}}
augmentation_config {{
  rand_hflip: True
  random_crop_min_scale: 0.5
  random_crop_max_scale: 1.5
}}
""")
    out = tmp_path / "spec.yml"
    _run(os.path.join(TOOLS, "convert_tao_spec.py"), "-e", str(spec), "--output", str(out))
    from ppocr.utils.config import load_config

    config = load_config(str(out))
    g, head = config["Global"], config["Architecture"]["Head"]
    assert (g["epoch_num"], g["seed"], g["model_ema_decay"], g["eval_batch_step"]) == (1, 42, 0.999, [0, 3])
    assert (head["num_classes"], head["num_scales"], head["anchor_scale"]) == (3, 2, 3.0)
    assert config["Optimizer"]["regularizer"] == {"name": "L1L2", "l1_factor": 1e-5, "l2_factor": 4e-5}
    assert config["Optimizer"]["lr"] == {"name": "WarmupCosine", "learning_rate": 0.01, "warmup_epoch": 1.0,
                                         "warmup_start_lr": 0.0001}
    assert config["Train"]["dataset"]["data_dir"] == [str(lmdb / "train-00000-of-00002"),
                                                      str(lmdb / "train-00001-of-00002")]
    config["Global"]["save_model_dir"] = str(tmp_path / "train")
    config["Train"]["loader"]["num_workers"] = config["Eval"]["loader"]["num_workers"] = 0
    run_tool("train.py", write_config(config, tmp_path / "run.yml"))
    assert (tmp_path / "train" / "best_accuracy.pdparams").is_file()

    spec.write_text(spec.read_text().replace("rand_hflip", "rand_hflipp"))
    refused = _run(os.path.join(TOOLS, "convert_tao_spec.py"), "-e", str(spec), "--output", str(out), check=False)
    last = refused.stderr.strip().splitlines()[-1]
    assert refused.returncode == 2 and last.startswith("error: ")
    assert "augmentation_config.rand_hflipp: unknown field; did you mean 'rand_hflip'?" in last


def test_skip_checkpoint_variables_leaves_matching_weights_untouched(trained, tmp_path):
    from ppocr.engine.trainer import Trainer
    from ppocr.utils.checkpoint import load_params_file
    from ppocr.utils.config import load_config

    config = load_config(trained["config"])
    config["Global"].update(pretrained_model=trained["weights"], skip_checkpoint_variables=r"predict_pointwise",
                            save_model_dir=str(tmp_path))
    paddle.seed(123)
    model = Trainer(config, mode="eval").model
    saved = load_params_file(trained["weights"], prefer_ema=True)
    state = model.state_dict()
    skipped = [k for k in state if "predict_pointwise" in k]
    assert len(skipped) == 4
    assert all(not np.allclose(state[k].numpy(), saved[k].numpy()) for k in skipped)
    assert all(np.allclose(state[k].numpy(), saved[k].numpy()) for k in state if k not in skipped)


def test_warmup_cosine_and_l1l2_decay_follow_tao():
    from ppocr.optimizer import build_optimizer

    layer = paddle.nn.Linear(2, 1)
    config = {"name": "SGD", "regularizer": {"name": "L1L2", "l1_factor": 0.1, "l2_factor": 0.01},
              "lr": {"name": "WarmupCosine", "learning_rate": 1.0, "warmup_epoch": 1, "warmup_start_lr": 0.1}}
    optimizer, schedule = build_optimizer(config, epochs=3, step_each_epoch=2, model=layer)
    lrs = []
    for _ in range(6):
        lrs.append(optimizer.get_lr())
        schedule.step()
    expected = [0.1, 0.55] + [0.5 * (1 + np.cos(np.pi * k / 4)) for k in range(4)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    layer.weight.set_value(paddle.to_tensor([[2.0], [-3.0]]))
    optimizer, _ = build_optimizer(dict(config, lr={"name": "Const", "learning_rate": 1.0}), 1, 1, layer)
    loss = layer(paddle.zeros([1, 2])).sum()  # no gradient on the weight from the loss itself
    loss.backward()
    optimizer.step()
    np.testing.assert_allclose(layer.weight.numpy().reshape(-1), [2 - 0.1 - 0.02, -3 + 0.1 + 0.03], rtol=1e-6)
