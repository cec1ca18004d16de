"""Filter pruning: criteria, channel groups, surgery, plans beside checkpoints, retrain/export, sensitivity."""
import copy
import importlib.util
import json
import logging
import os

import numpy as np
import paddle
import paddle.nn as nn
import pytest

from conftest import REPO, tiny_det_config
from ppocr.slim.flops import count_flops, count_params
from ppocr.slim.prune import (
    PrunePlanError,
    PruneSettings,
    apply_plan,
    load_plan,
    model_plan,
    prune_model,
    search_amount,
    trace_channel_groups,
)
from ppocr.slim.prune.criteria import filter_scores, normalize
from ppocr.slim.prune.planner import hybrid_threshold, kept_count, plan_groups
from ppocr.utils.registry import ConfigError

# Five 2-D filters around (20, 20): f4 sits next to the geometric median, f1 has the smallest norms.
POINTS = np.array([[30.0, 20.0], [10.0, 20.0], [20.0, 30.0], [20.0, 11.0], [21.0, 21.0]])
NEAR_MEDIAN, SMALLEST_NORM = 4, 1


class TwoConvs(nn.Layer):
    """conv(2→5, 1×1) → BN → ReLU → conv(5→3): one prunable group of 5 channels."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2D(2, 5, 1, bias_attr=False)
        self.bn = nn.BatchNorm2D(5)
        self.conv2 = nn.Conv2D(5, 3, 1)
        self.conv1.weight.set_value(POINTS.reshape(5, 2, 1, 1).astype("float32"))

    def forward(self, x):
        return self.conv2(nn.functional.relu(self.bn(self.conv1(x))))


def exact(**overrides):
    return PruneSettings(**{"granularity": 1, "min_num_filters": 1, **overrides})


def build(config):
    from ppocr.modeling.architectures import build_model, with_class_count
    from ppocr.postprocess import build_post_process

    post = build_post_process(config["PostProcess"], config["Global"])
    return build_model(with_class_count(config["Architecture"], post))


def recipe(path):
    from ppocr.utils.config import load_config

    return load_config(os.path.join(REPO, "configs", path))


def head_maps(out):
    return out["maps"] if isinstance(out, dict) else out


# -- criteria and arithmetic -------------------------------------------------------------------------------

def test_fpgm_removes_the_filter_nearest_the_geometric_median_and_norms_the_smallest():
    weight = POINTS.reshape(5, 2, 1, 1)
    assert int(np.argmin(filter_scores(weight, 0, "fpgm"))) == NEAR_MEDIAN
    assert int(np.argmin(filter_scores(weight, 0, "l1"))) == SMALLEST_NORM
    assert int(np.argmin(filter_scores(weight, 0, "l2"))) == SMALLEST_NORM
    for criterion, removed in (("fpgm", NEAR_MEDIAN), ("l1", SMALLEST_NORM), ("l2", SMALLEST_NORM)):
        model = TwoConvs()
        model.eval()
        x = paddle.rand([2, 2, 4, 4])
        masked = copy.deepcopy(model)  # reference: the same model with that channel's contribution cut
        w2 = masked.conv2.weight.numpy()
        w2[:, removed] = 0
        masked.conv2.weight.set_value(w2)
        prune_model(model, exact(criterion=criterion, amount=0.2), [2, 4, 4])
        kept = [i for i in range(5) if i != removed]
        assert model_plan(model)["stages"][0]["layers"]["conv1"]["out"]["keep"] == kept
        assert list(model.conv1.weight.shape) == [4, 2, 1, 1] and list(model.bn._mean.shape) == [4]
        assert list(model.conv2.weight.shape) == [3, 4, 1, 1]
        model.eval()
        np.testing.assert_allclose(model(x).numpy(), masked(x).numpy(), rtol=1e-5, atol=1e-5)


def test_threshold_granularity_and_min_num_filters_arithmetic():
    assert kept_count(64, 40, 8, 16) == 40
    assert kept_count(64, 41, 8, 16) == 48  # rounded up to the granularity
    assert kept_count(64, 3, 8, 16) == 16  # never below min_num_filters
    assert kept_count(12, 3, 8, 16) == 12  # a layer smaller than the minimum stays whole
    assert kept_count(20, 9, 8, 0) == 16 and kept_count(20, 17, 8, 0) == 20  # rounding past the size keeps all
    assert kept_count(10, 0, 1, 0) == 1
    np.testing.assert_allclose(normalize(np.array([1.0, 2.0, 4.0]), "max"), [0.25, 0.5, 1.0])
    np.testing.assert_allclose(normalize(np.array([3.0, 4.0]), "L2"), [0.6, 0.8])
    assert hybrid_threshold([np.array([0.1, 0.9]), np.array([0.2, 0.3, 1.0])], 0.4) == 0.3

    model = TwoConvs()
    graph = trace_channel_groups(model, [2, 4, 4])
    (decision,) = plan_groups(model, graph, exact(criterion="l1", mode="threshold", threshold=0.9))
    l1 = normalize(np.abs(POINTS).sum(1), "max")  # L1 50/30/50/31/42 → 1, .6, 1, .62, .84: only f0 and f2 stay
    assert decision.keep.tolist() == [int(i) for i in np.flatnonzero(l1 >= 0.9)] == [0, 2]
    (decision,) = plan_groups(model, graph, exact(criterion="l1", mode="threshold", threshold=0.9,
                                                  granularity=3, min_num_filters=0))
    assert decision.keep.tolist() == [0, 2, 4]  # rounded up to 3 by importance: f4 is next
    (decision,) = plan_groups(model, graph, exact(amount=0.5, ratios={"conv1": 0.2}))
    assert len(decision.keep) == 4  # per-layer ratio beats the global amount
    excluded = exact(amount=0.5, excluded_layers=["conv*"])
    assert plan_groups(model, graph, excluded) == []


def test_settings_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"Prune\.mode"):
        PruneSettings.from_config({"mode": "random"})
    with pytest.raises(ConfigError, match="unknown key 'amout'.*amount"):
        PruneSettings.from_config({"amout": 0.3})
    with pytest.raises(ConfigError, match=r"Prune\.amount"):
        PruneSettings.from_config({"amount": 1.5})
    assert PruneSettings.from_config({"raw_prune_score": "L1"}).criterion == "l1"  # TAO's name
    with pytest.raises(ConfigError, match="needs an amount"):
        plan_groups(TwoConvs(), trace_channel_groups(TwoConvs(), [2, 4, 4]), PruneSettings())


# -- channel groups ----------------------------------------------------------------------------------------

def test_mv3_dbnet_groups_follow_residuals_concat_and_skip_the_output():
    model = build(recipe("det/det_mv3_db.yml"))
    graph = trace_channel_groups(model, [3, 32, 32])
    residual = graph.group("backbone.stage1.0.linear_conv.conv")
    assert residual.producers == ["backbone.stage1.0.linear_conv.conv", "backbone.stage1.1.linear_conv.conv",
                                  "backbone.stage1.2.linear_conv.conv"]
    consumers = {s.layer for s in residual.consumers}
    assert {"backbone.stage2.0.expand_conv.conv", "neck.in3_conv", "backbone.stage1.1.expand_conv.conv"} <= consumers
    expand = graph.group("backbone.stage1.1.expand_conv.conv")
    assert {s.layer for s in expand.consumers} >= {"backbone.stage1.1.bottleneck_conv.conv",
                                                   "backbone.stage1.1.bottleneck_conv.bn"}  # depthwise follows
    assert graph.group("neck.in2_conv").producers == ["neck.in2_conv", "neck.in3_conv", "neck.in4_conv",
                                                      "neck.in5_conv"]
    offsets = {name: sorted((s.layer, s.offset) for s in graph.group(name).consumers)
               for name in ("neck.p5_conv", "neck.p2_conv")}
    assert offsets["neck.p5_conv"] == [("head.binarize.conv1", 0), ("head.thresh.conv1", 0)]
    assert offsets["neck.p2_conv"] == [("head.binarize.conv1", 72), ("head.thresh.conv1", 72)]
    assert "its channels reach the model output" in graph.group("head.binarize.conv3").skip_reasons


def test_se_blocks_tie_the_gate_to_its_input():
    config = recipe("rec/rec_mv3_none_bilstm_ctc.yml")
    config["Architecture"]["Backbone"]["scale"] = 0.35
    graph = trace_channel_groups(build(config), [3, 32, 32])
    group = next(g for g in graph.groups if "backbone.blocks.3.mid_se.conv2" in g.producers)
    assert group.producers == ["backbone.blocks.3.expand_conv.conv", "backbone.blocks.3.mid_se.conv2"]
    assert {s.layer for s in group.consumers} >= {"backbone.blocks.3.mid_se.conv1", "backbone.blocks.3.linear_conv.conv"}
    assert graph.group("neck.encoder.lstm").skip_reasons == ["is a recurrent layer (its hidden size is not pruned)"]


# -- rec and cls ---------------------------------------------------------------------------------------------

def test_crnn_prunes_into_the_lstm_and_trains_a_step(caplog):
    from ppocr.losses import build_loss

    config = recipe("rec/rec_mv3_none_bilstm_ctc.yml")
    config["Architecture"]["Backbone"]["scale"] = 0.35
    config["Architecture"]["Neck"]["hidden_size"] = 16
    model = build(config)
    before = count_params(model)
    with caplog.at_level(logging.INFO, logger="ppocr.slim.prune.pruner"):
        prune_model(model, PruneSettings(amount=0.4), [3, 32, 64])
    assert "not pruned: head.fc (its channels reach the model output)" in caplog.text
    lstm = model.neck.encoder.lstm
    assert lstm.input_size == model.backbone.conv2.conv.weight.shape[0] < 200
    assert count_params(model) < before
    model.train()
    optimizer = paddle.optimizer.Adam(parameters=model.parameters())
    logits = model(paddle.rand([2, 3, 32, 100]))
    assert list(logits.shape) == [2, 25, 37]
    batch = [None, paddle.to_tensor([[3, 4, 0], [5, 0, 0]], dtype="int64"), paddle.to_tensor([2, 1], dtype="int64")]
    loss = build_loss(config["Loss"])(logits, batch)["loss"]
    loss.backward()
    optimizer.step()
    model.eval()
    assert list(model(paddle.rand([1, 3, 32, 100])).shape) == [1, 25, 37]


def test_classifier_prunes_into_its_head():
    model = build(recipe("cls/cls_mv3.yml"))
    fresh = build(recipe("cls/cls_mv3.yml"))
    flops = count_flops(model, [3, 48, 192])
    prune_model(model, PruneSettings(amount=0.3), [3, 48, 64])
    assert model.head.fc.weight.shape[0] == model.backbone.conv2.conv.weight.shape[0] < 200
    assert count_flops(model, [3, 48, 192]) < flops
    apply_plan(fresh, model_plan(model))
    fresh.set_state_dict(model.state_dict())
    model.eval()
    fresh.eval()
    x = paddle.rand([2, 3, 48, 192])
    np.testing.assert_allclose(fresh(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_plan_that_does_not_fit_is_refused_with_the_layer_name(tmp_path):
    from ppocr.slim.prune import save_plan

    small = recipe("cls/cls_mv3.yml")
    model = build(small)
    prune_model(model, PruneSettings(amount=0.3), [3, 48, 64])
    other = copy.deepcopy(small)
    other["Architecture"]["Backbone"]["scale"] = 0.5
    with pytest.raises(PrunePlanError, match=r"does not fit this model: layer 'backbone\.[\w.]+' has \d+ \w+put "
                                             r"channels, the plan expects \d+"):
        apply_plan(build(other), model_plan(model))
    save_plan(model_plan(model), str(tmp_path / "w"))
    assert load_plan(str(tmp_path / "w"))["stages"][0]["params"]["after"] == count_params(model)
    (tmp_path / "bad.prune.json").write_text("{\"format\": \"x\"}")
    with pytest.raises(PrunePlanError, match="is not a prune plan"):
        load_plan(str(tmp_path / "bad"))


# -- detection end to end ----------------------------------------------------------------------------------

def det_config(det_data, out, epochs=1):
    """The det_mv3_db recipe's model (MV3 large 0.5, DBFPN 96) on tiny pages; no evaluation while training."""
    config = tiny_det_config(det_data, out, epochs=epochs, eval_batch_step=[0, 1000])
    config["Architecture"]["Backbone"]["scale"] = 0.5
    config["Architecture"]["Neck"]["out_channels"] = 96
    config["PostProcess"]["max_candidates"] = 50
    for op in config["Train"]["dataset"]["transforms"]:
        if "EastRandomCropData" in op:
            op["EastRandomCropData"]["size"] = [160, 160]
    for op in config["Eval"]["dataset"]["transforms"]:
        if "DetResizeForTest" in op:
            op["DetResizeForTest"] = {"limit_side_len": 160, "limit_type": "max"}
    return config


@pytest.fixture(scope="module")
def det_trained(det_data, tmp_path_factory):
    from ppocr.engine.trainer import Trainer

    out = tmp_path_factory.mktemp("prune_det")
    config = det_config(det_data, out / "train")
    Trainer(config).train()
    return {"config": config, "weights": str(out / "train" / "latest"), "dir": out}


def run_prune_tool(args, monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(REPO, "tools"))
    spec = importlib.util.spec_from_file_location("prune_tool", os.path.join(REPO, "tools", "prune.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.main(args)


def test_pruned_dbnet_runs_retrains_and_exports(det_trained, det_data, tmp_path, monkeypatch):
    from ppocr.engine.export import export_model
    from ppocr.engine.onnx_export import paddle_inference_run
    from ppocr.engine.trainer import Trainer
    from ppocr.utils.config import load_config
    from conftest import write_config

    config_path = write_config(det_trained["config"], tmp_path / "det.yml")
    assert run_prune_tool(["-c", config_path, "-o", f"Global.pretrained_model={det_trained['weights']}",
                           f"Global.save_model_dir={tmp_path / 'prune'}", "Prune.amount=0.3",
                           "Prune.criterion=fpgm"], monkeypatch) == 0
    pruned = str(tmp_path / "prune" / "pruned")
    plan = load_plan(pruned)
    assert plan["stages"][0]["params"]["after"] < 0.7 * plan["stages"][0]["params"]["before"]

    # Global.pretrained_model at the pruned checkpoint rebuilds the shapes in a new Trainer
    config = det_config(det_data, tmp_path / "retrain")
    config["Global"]["pretrained_model"] = pruned
    trainer = Trainer(config)
    assert count_params(trainer.model) == plan["stages"][0]["params"]["after"]
    reference = build(load_config(config_path))
    params = paddle.load(pruned + ".pdparams")
    apply_plan(reference, plan)
    reference.set_state_dict(params)
    x = paddle.rand([1, 3, 96, 128])
    reference.eval()
    trainer.model.eval()
    np.testing.assert_allclose(head_maps(trainer.model(x)).numpy(), head_maps(reference(x)).numpy(), rtol=1e-5)
    trainer.model.train()
    assert list(head_maps(trainer.model(x)).shape) == [1, 3, 96, 128]
    trainer.train()  # one epoch of two steps on the pruned shapes
    latest = str(tmp_path / "retrain" / "latest")
    assert load_plan(latest) == plan  # every checkpoint of the retrain carries the plan

    resumed = det_config(det_data, tmp_path / "retrain", epochs=2)
    resumed["Global"]["checkpoints"] = latest
    assert Trainer(resumed).states["epoch"] == 1

    out = export_model(dict(config, Global=dict(config["Global"], pretrained_model=latest)),
                       save_dir=str(tmp_path / "inference"))
    image = np.random.RandomState(0).uniform(-1, 1, (1, 3, 96, 128)).astype("float32")
    got = paddle_inference_run(out, image)
    retrained = Trainer(dict(config, Global=dict(config["Global"], pretrained_model=latest)), mode="eval").model
    retrained.eval()
    want = head_maps(retrained(paddle.to_tensor(image))).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_saving_an_unpruned_model_removes_a_stale_plan(tmp_path):
    from ppocr.utils.checkpoint import save_checkpoint

    model = TwoConvs()
    prune_model(model, exact(amount=0.2), [2, 4, 4])
    prefix = str(tmp_path / "latest")
    save_checkpoint(model, None, prefix, {})
    assert load_plan(prefix) is not None
    save_checkpoint(TwoConvs(), None, prefix, {})
    assert load_plan(prefix) is None


def test_uniform_search_and_sensitivity_ratios_reach_a_params_target(det_trained, tmp_path):
    from ppocr.engine.trainer import Trainer
    from ppocr.slim.prune.pruner import estimate_reduction
    from ppocr.slim.sensitivity import analyze_sensitivity, load_table, ratios_for_target

    config = dict(det_trained["config"], Global=dict(det_trained["config"]["Global"],
                                                     pretrained_model=det_trained["weights"]))
    trainer = Trainer(config, mode="eval")
    model = trainer.model
    settings = PruneSettings(excluded_layers=["backbone.stage0.*", "backbone.stage1.*", "backbone.stage2.*",
                                              "neck.p*", "head.*"])
    shape = [3, 32, 32]
    graph = trace_channel_groups(model, shape)
    amount = search_amount(model, settings, shape, 0.25, graph=graph)
    reached = estimate_reduction(model, graph, PruneSettings(**{**settings.__dict__, "amount": amount}), shape)
    assert abs(reached - 0.25) < 0.05

    calls = []

    def evaluate(m):
        calls.append(1)
        trainer.model = m
        try:
            return trainer.evaluate()["hmean"]
        finally:
            trainer.model = model

    path = str(tmp_path / "sens.csv")
    table = analyze_sensitivity(model, evaluate, shape, settings, ratios=[0.25, 0.5], path=path, metric="hmean",
                                graph=graph)
    groups = {row["group"] for row in table.rows}
    assert "backbone.stage3.1.expand_conv.conv" in groups and "neck.in2_conv" in groups
    assert not any(g.startswith("backbone.stage1.") for g in groups)
    for row in table.rows:
        assert row["drop"] == pytest.approx(table.baseline - row["metric"])
        assert row["kept"] <= row["channels"]
    evaluated = len(calls)
    again = analyze_sensitivity(model, evaluate, shape, settings, ratios=[0.25, 0.5], path=path, metric="hmean",
                                graph=graph)
    assert len(calls) == evaluated and again.rows == load_table(path).rows == table.rows  # resumed from the file
    ratios = ratios_for_target(table, model, settings, shape, 0.2, graph=graph)
    plan_settings = PruneSettings(**{**settings.__dict__, "amount": 0.0})
    assert estimate_reduction(model, graph, plan_settings, shape, ratios=ratios) >= 0.2
    assert set(ratios) == groups and max(ratios.values()) <= 0.5
    json_path = str(tmp_path / "sens.json")
    from ppocr.slim.sensitivity import save_table

    save_table(table, json_path)
    assert json.loads(open(json_path).read())["baseline"] == table.baseline
