"""Detection end to end: train DBNet a few steps → evaluate → export → Paddle Inference → infer_det."""
import json
import os
import pickle

import numpy as np
import pytest
import yaml

from conftest import run_tool, tiny_det_config, write_config


@pytest.fixture(scope="module")
def det_trained(det_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("det_trained")
    path = write_config(tiny_det_config(det_data, out, epochs=2), out / "det.yml")
    run_tool("train.py", path)
    return {"dir": out, "config": path}


def test_det_training_logs_each_loss_term_and_evaluates(det_trained):
    out = det_trained["dir"]
    log = (out / "train.log").read_text()
    for term in ("loss_shrink_maps:", "loss_threshold_maps:", "loss_binary_maps:", "hmean:", "precision:"):
        assert term in log, term
    with open(out / "latest.states", "rb") as f:
        states = pickle.load(f)
    assert states["epoch"] == 2 and "hmean" in states["best_model_dict"]


def test_det_export_matches_dygraph_and_infer_det_writes_boxes(det_trained, det_data, tmp_path):
    import paddle

    from ppocr.engine.checkpoint_predictor import CheckpointPredictor
    from ppocr.engine.onnx_export import paddle_inference_run
    from ppocr.utils.config import load_config

    out = tmp_path / "export"
    run_tool("export_model.py", det_trained["config"], f"Global.pretrained_model={det_trained['dir'] / 'latest'}",
             f"Global.save_inference_dir={out}")
    meta = yaml.safe_load((out / "inference.yml").read_text())
    assert meta["Global"]["model_type"] == "det" and meta["PostProcess"]["name"] == "DBPostProcess"
    assert any("DetResizeForTest" in op for op in meta["PreProcess"]["transform_ops"])

    predictor = CheckpointPredictor(load_config(det_trained["config"]), weights=str(det_trained["dir"] / "latest"))
    x = np.random.RandomState(0).uniform(-1, 1, (1, 3, 224, 320)).astype("float32")
    got = paddle_inference_run(str(out), x)
    with paddle.no_grad():
        want = predictor.model(paddle.to_tensor(x))["maps"].numpy()
    assert got.shape == want.shape == (1, 1, 224, 320)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

    images = det_data / "val" / "images"
    res = tmp_path / "det.txt"
    run_tool("infer_det.py", det_trained["config"], f"Global.pretrained_model={det_trained['dir'] / 'latest'}",
             f"Global.infer_img={images}", f"Global.save_res_path={res}")
    lines = res.read_text().splitlines()
    assert len(lines) == 4
    for line in lines:
        path, payload = line.split("\t")
        for item in json.loads(payload):
            assert item["transcription"] == "" and np.asarray(item["points"]).shape[1] == 2
    assert len(os.listdir(tmp_path / "det_results")) == 4


def test_icdar2015_converter(tmp_path):
    from ppocr.data.icdar2015 import convert_icdar2015, read_icdar2015_gt

    gt, imgs = tmp_path / "gt", tmp_path / "imgs"
    gt.mkdir()
    imgs.mkdir()
    (gt / "gt_img_1.txt").write_text("\ufeff10,20,110,20,110,60,10,60,Hello,world\n1,1,5,1,5,5,1,5,###\n",
                                     encoding="utf-8")
    (gt / "gt_img_2.txt").write_text("0,0,1,0,1,1,0,1,x\n")
    (imgs / "img_1.jpg").write_bytes(b"jpg")
    written, missing = convert_icdar2015(str(gt), str(imgs), str(tmp_path / "label.txt"), "imgs/")
    assert (written, missing) == (1, 1)
    path, payload = (tmp_path / "label.txt").read_text().strip().split("\t")
    items = json.loads(payload)
    assert path == "imgs/img_1.jpg"
    assert items[0] == {"transcription": "Hello,world", "points": [[10, 20], [110, 20], [110, 60], [10, 60]]}
    assert items[1]["transcription"] == "###"
    (gt / "gt_img_3.txt").write_text("1,2,3\n")
    from ppocr.data.errors import DataError

    with pytest.raises(DataError, match="gt_img_3.txt:1: expected 8 coordinates"):
        read_icdar2015_gt(str(gt / "gt_img_3.txt"))
