"""PP-OCRv2 strategies: PP-LCNet backbone, DistillationModel (CML, U-DML), distillation losses, metric and
postprocess, Enhanced CTC (CenterLoss, export_center), the four ch_PP-OCRv2 recipes and distillation export."""
import copy
import json
import os
import pickle

import cv2
import numpy as np
import paddle
import pytest
import yaml

from conftest import REPO, run_tool, train_data_parallel, write_config

from ppocr.losses import build_loss
from ppocr.utils.config import load_config, validate_config
from ppocr.utils.registry import ConfigError

REC_DIR = os.path.join(REPO, "configs", "rec", "ch_PP-OCRv2")
CML_RECIPE = os.path.join(REPO, "configs", "det", "ch_PP-OCRv2", "ch_PP-OCRv2_det_cml.yml")
REC_RECIPE = os.path.join(REC_DIR, "ch_PP-OCRv2_rec.yml")
UDML_RECIPE = os.path.join(REC_DIR, "ch_PP-OCRv2_rec_distillation.yml")
ENHANCED_RECIPE = os.path.join(REC_DIR, "ch_PP-OCRv2_rec_enhanced_ctc_loss.yml")


def t(array, dtype="float32"):
    return paddle.to_tensor(np.asarray(array, dtype=dtype))


# -- tiny recipes -------------------------------------------------------------------------------------------------
def _subset(src_dir, dst_dir, count):
    """A label file holding the first ``count`` lines of ``src_dir``'s, with absolute image paths."""
    os.makedirs(dst_dir, exist_ok=True)
    name = "rec_gt.txt" if os.path.isfile(os.path.join(src_dir, "rec_gt.txt")) else "det_gt.txt"
    with open(os.path.join(src_dir, name), encoding="utf-8") as f:
        lines = f.read().splitlines()[:count]
    path = os.path.join(dst_dir, name)
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            image, label = line.split("\t", 1)
            f.write(f"{os.path.join(src_dir, image)}\t{label}\n")
    return path


def _tiny_global(config, out_dir, **extra):
    config["Global"].update(epoch_num=1, print_batch_step=1, save_model_dir=str(out_dir), save_epoch_step=1,
                            eval_batch_step=[0, 2], save_inference_dir=str(out_dir / "inference"), seed=7,
                            distributed=False, **extra)
    config["Optimizer"]["lr"]["warmup_epoch"] = 0


def tiny_rec(recipe, data_root, out_dir, train=16, val=8):
    """A ch_PP-OCRv2 rec recipe on 32×100 digit/letter words: PP-LCNet 0.25, BiLSTM 16, CTC middle layer 16."""
    config = copy.deepcopy(load_config(recipe))
    _tiny_global(config, out_dir, character_dict_path=None, use_space_char=False)
    arch = config["Architecture"]
    for model in (arch["Models"].values() if "Models" in arch else [arch]):
        model["Backbone"]["scale"] = 0.25
        model["Neck"]["hidden_size"] = 16
        model["Head"]["mid_channels"] = 16
    for mode, sub, count in (("Train", "train", train), ("Eval", "val", val)):
        dataset = config[mode]["dataset"]
        dataset["data_dir"] = str(out_dir)
        dataset["label_file_list"] = [_subset(str(data_root / sub), str(out_dir / sub), count)]
        for op in dataset["transforms"]:
            if "RecResizeImg" in op:
                op["RecResizeImg"]["image_shape"] = [3, 32, 100]
        config[mode]["loader"].update(batch_size_per_card=8, num_workers=0)
    return config


def tiny_cml(data_root, out_dir, teacher_weights):
    """The CML recipe on 160-px crops: ResNet18_vd teacher with a 32-wide FPN, MobileNetV3 0.35 students."""
    config = copy.deepcopy(load_config(CML_RECIPE))
    _tiny_global(config, out_dir)
    models = config["Architecture"]["Models"]
    models["Teacher"]["pretrained"] = teacher_weights
    models["Teacher"]["Neck"]["out_channels"] = 32
    for name in ("Student", "Student2"):
        models[name]["Backbone"]["scale"] = 0.35
        models[name]["Neck"]["out_channels"] = 16
    for mode, sub, count in (("Train", "train", 4), ("Eval", "val", 2)):
        dataset = config[mode]["dataset"]
        dataset["data_dir"] = str(out_dir)
        dataset["label_file_list"] = [_subset(str(data_root / sub), str(out_dir / sub), count)]
        for op in dataset["transforms"]:
            if "EastRandomCropData" in op:
                op["EastRandomCropData"]["size"] = [160, 160]
            if "IaaAugment" in op:
                op["IaaAugment"]["augmenter_args"][2]["args"]["size"] = [0.5, 0.6]
            if "DetResizeForTest" in op:
                op["DetResizeForTest"] = {"limit_side_len": 160, "limit_type": "max"}
        config[mode]["loader"].update(num_workers=0)
    config["Train"]["loader"]["batch_size_per_card"] = 2
    return config


def state(layer):
    return {k: v.numpy().copy() for k, v in layer.state_dict().items()}


# -- PP-LCNet ---------------------------------------------------------------------------------------------------------
def test_mv1_enhance_shape_stages_and_pooling():
    from ppocr.modeling.backbones import BACKBONES

    net = BACKBONES.build({"name": "MobileNetV1Enhance", "scale": 0.5}, in_channels=3)
    assert net.out_channels == 512
    assert list(net(paddle.rand([1, 3, 32, 320])).shape) == [1, 512, 1, 80]  # as the PP-OCRv2 seed prints
    blocks = list(net.block_list)
    kernels = [b._depthwise_conv._conv.weight.shape[-1] for b in blocks]
    assert kernels == [3] * 6 + [5] * 7  # 5×5 depthwise in the last stage
    assert [b.use_se for b in blocks] == [False] * 11 + [True] * 2  # SE in its last two blocks
    assert isinstance(blocks[0]._pointwise_conv._act, paddle.nn.Hardswish)
    avg = BACKBONES.build({"name": "MobileNetV1Enhance", "scale": 0.5, "last_conv_stride": [1, 2],
                           "last_pool_type": "avg"}, in_channels=3)
    assert isinstance(avg.pool, paddle.nn.AvgPool2D)
    assert list(avg(paddle.rand([2, 3, 48, 320])).shape) == [2, 512, 1, 40]
    with pytest.raises(ConfigError, match="last_pool_type"):
        BACKBONES.build({"name": "MobileNetV1Enhance", "last_pool_type": "adaptive"}, in_channels=3)


# -- losses on hand-made tensors ------------------------------------------------------------------------------------
def test_dml_softmax_is_symmetric_kl_summed_per_sample():
    loss = build_loss({"name": "DistillationDMLLoss", "model_name_pairs": [["Student", "Teacher"]],
                       "act": "softmax", "use_log": True, "key": "head_out"})
    p = np.array([[[0.2, 0.8], [0.5, 0.5]], [[0.9, 0.1], [0.3, 0.7]]])
    q = np.array([[[0.6, 0.4], [0.5, 0.5]], [[0.9, 0.1], [0.6, 0.4]]])
    preds = {"Student": {"head_out": t(np.log(p))}, "Teacher": {"head_out": t(np.log(q))}}
    out = loss(preds, None)
    kl = lambda a, b: np.sum(a * np.log(a / b))  # noqa: E731
    by_hand = (kl(p, q) + kl(q, p)) / 2 / 2  # symmetric KL, summed over steps and classes, mean over batch of 2
    assert sorted(out) == ["dml_0", "loss"]
    np.testing.assert_allclose(float(out["dml_0"]), by_hand, rtol=1e-5)
    swapped = build_loss({"name": "DistillationDMLLoss", "model_name_pairs": [["Teacher", "Student"]],
                          "act": "softmax", "use_log": True, "key": "head_out"})
    np.testing.assert_allclose(float(swapped(preds, None)["loss"]), by_hand, rtol=1e-5)
    same = {"Student": preds["Student"], "Teacher": preds["Student"]}
    assert abs(float(loss(same, None)["loss"])) < 1e-7


def test_dml_on_db_maps_averages_per_pixel_for_the_named_channel():
    # CML's student↔student DML: one flat pair, maps_name thrink_maps (channel 0), no activation.
    loss = build_loss({"name": "DistillationDMLLoss", "model_name_pairs": ["Student", "Student2"],
                       "maps_name": "thrink_maps", "key": "maps"})
    a = np.random.RandomState(0).uniform(0.1, 0.9, (2, 3, 4, 5))
    b = np.random.RandomState(1).uniform(0.1, 0.9, (2, 3, 4, 5))
    out = loss({"Student": {"maps": t(a)}, "Student2": {"maps": t(b)}}, None)
    p, q = a[:, 0] + 1e-5, b[:, 0] + 1e-5
    by_hand = np.mean(0.5 * (p * np.log(p / q) + q * np.log(q / p)))
    assert sorted(out) == ["dml_thrink_maps_0", "loss"]
    np.testing.assert_allclose(float(out["dml_thrink_maps_0"]), by_hand, rtol=1e-4)


@pytest.mark.parametrize("mode, by_hand", [
    ("l2", lambda d: np.mean(d ** 2)),
    ("l1", lambda d: np.mean(np.abs(d))),
    ("smooth_l1", lambda d: np.mean(np.where(np.abs(d) < 1, 0.5 * d ** 2, np.abs(d) - 0.5))),
])
def test_distance_loss_modes(mode, by_hand):
    x = np.array([[0.0, 1.0, -2.0], [3.0, 0.5, 0.25]])
    y = np.array([[0.5, -1.0, -2.0], [0.0, 0.0, 1.0]])
    loss = build_loss({"name": "DistillationDistanceLoss", "mode": mode, "model_name_pairs": [["Student", "Teacher"]],
                       "key": "backbone_out"})
    out = loss({"Student": {"backbone_out": t(x)}, "Teacher": {"backbone_out": t(y)}}, None)
    name = f"loss_distance_{mode}_Student_Teacher_0"
    assert sorted(out) == sorted([name, "loss"])
    np.testing.assert_allclose(float(out[name]), by_hand(x - y), rtol=1e-6)


def test_distillation_ctc_and_db_losses_are_the_single_model_losses_per_model():
    rng = np.random.RandomState(0)
    logits = {name: t(rng.randn(2, 6, 5)) for name in ("Student", "Teacher")}
    batch = [None, paddle.to_tensor(np.array([[1, 2, 0], [3, 3, 4]], dtype="int64")), t([2, 3], "int64")]
    ctc = build_loss({"name": "DistillationCTCLoss", "model_name_list": ["Student", "Teacher"], "key": "head_out"})
    out = ctc({name: {"head_out": value} for name, value in logits.items()}, batch)
    single = build_loss({"name": "CTCLoss"})
    assert sorted(out) == ["loss", "loss_ctc_Student_0", "loss_ctc_Teacher_1"]
    for name, index in (("Student", 0), ("Teacher", 1)):
        np.testing.assert_allclose(float(out[f"loss_ctc_{name}_{index}"]), float(single(logits[name], batch)["loss"]),
                                   rtol=1e-6)

    maps = {name: {"maps": t(rng.uniform(0.05, 0.95, (2, 3, 8, 8)))} for name in ("Student", "Student2")}
    gt = [None, t(rng.uniform(0.3, 0.7, (2, 8, 8))), t(np.ones((2, 8, 8))),
          t((rng.rand(2, 8, 8) > 0.5)), t(np.ones((2, 8, 8)))]
    db = build_loss({"name": "DistillationDBLoss", "model_name_list": ["Student", "Student2"]})
    out = db(maps, gt)
    reference = build_loss({"name": "DBLoss"})
    for name in ("Student", "Student2"):
        expected = reference(maps[name], gt)
        for term in ("loss_shrink_maps", "loss_threshold_maps", "loss_binary_maps"):
            np.testing.assert_allclose(float(out[f"db_{name}_{term}"]), float(expected[term]), rtol=1e-5)
    np.testing.assert_allclose(float(out["loss"]), sum(float(reference(maps[n], gt)["loss"]) for n in maps), rtol=1e-5)


def test_dila_target_binarises_at_0_3_and_dilates_2x2():
    from ppocr.losses.distillation_loss import dilated_teacher_target

    prob = np.zeros((1, 5, 6), np.float32)
    prob[0, 1, 2] = 0.9      # a kernel pixel
    prob[0, 3, 0] = 0.31     # just above the threshold
    prob[0, 0, 5] = 0.3      # at the threshold: background
    prob[0, 4, 4] = 0.29
    expected = np.array([[0, 0, 0, 0, 0, 0],
                         [0, 0, 1, 1, 0, 0],
                         [0, 0, 1, 1, 0, 0],
                         [1, 1, 0, 0, 0, 0],
                         [1, 1, 0, 0, 0, 0]], np.float32)
    got = dilated_teacher_target(t(prob)).numpy()[0]
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, cv2.dilate((prob[0] > 0.3).astype(np.uint8), np.ones((2, 2), np.uint8)))


def test_dila_db_loss_trains_the_student_towards_the_dilated_teacher_map():
    from ppocr.losses.distillation_loss import dilated_teacher_target

    rng = np.random.RandomState(3)
    teacher = rng.uniform(0, 1, (2, 3, 8, 8)).astype("float32")
    student = rng.uniform(0.05, 0.95, (2, 3, 8, 8)).astype("float32")
    mask = (rng.rand(2, 8, 8) > 0.2).astype("float32")
    batch = [None, None, None, None, t(mask)]
    loss = build_loss({"name": "DistillationDilaDBLoss", "model_name_pairs": [["Student", "Teacher"]], "key": "maps",
                       "alpha": 5})
    out = loss({"Student": {"maps": t(student)}, "Teacher": {"maps": t(teacher)}}, batch)
    target = dilated_teacher_target(t(teacher[:, 0])).numpy()

    def dice(pred):
        return 1 - 2 * np.sum(pred * target * mask) / (np.sum(pred * mask) + np.sum(target * mask) + 1e-6)

    assert sorted(out) == ["dila_dbloss_Student_Teacher", "loss"]
    np.testing.assert_allclose(float(out["dila_dbloss_Student_Teacher"]),
                               5 * dice(student[:, 0]) + dice(student[:, 2]), rtol=1e-5)
    perfect = student.copy()
    perfect[:, 0] = perfect[:, 2] = target
    assert float(loss({"Student": {"maps": t(perfect)}, "Teacher": {"maps": t(teacher)}}, batch)["loss"]) < 1e-5


def test_combined_loss_sums_distillation_terms_under_their_names():
    loss = build_loss({"name": "CombinedLoss", "loss_config_list": [
        {"DistillationDMLLoss": {"weight": 2.0, "model_name_pairs": [["Student", "Teacher"]], "act": "softmax",
                                 "use_log": True, "key": "head_out"}},
        {"DistillationDistanceLoss": {"weight": 1.0, "model_name_pairs": [["Student", "Teacher"]],
                                      "key": "backbone_out"}},
    ]})
    rng = np.random.RandomState(0)
    preds = {name: {"head_out": t(rng.randn(2, 4, 3)), "backbone_out": t(rng.randn(2, 8))} for name in ("Student", "Teacher")}
    out = loss(preds, None)
    assert {"dml_0", "loss_distance_l2_Student_Teacher_0", "loss"} <= set(out)
    np.testing.assert_allclose(float(out["loss"]),
                               float(out["dml_0"]) + float(out["loss_distance_l2_Student_Teacher_0"]), rtol=1e-6)


def test_center_loss_by_hand_and_bad_center_files(tmp_path):
    centers = {0: np.zeros(2), 1: np.array([1.0, 1.0]), 2: np.array([-1.0, 2.0])}
    path = tmp_path / "centers.pkl"
    path.write_bytes(pickle.dumps(centers))
    loss = build_loss({"name": "CenterLoss", "num_classes": 3, "feat_dim": 2, "center_file_path": str(path)})
    feats = np.array([[[0.5, 0.0], [1.0, 3.0], [0.0, 0.0]]])     # 1 sample, 3 steps
    logits = np.array([[[5.0, 0, 0], [0, 4.0, 0], [0, 0, 3.0]]])  # argmax 0, 1, 2
    out = loss((t(feats), t(logits)), None)
    by_hand = (0.25 + (0 + 4.0) + (1 + 4.0)) / 3  # ‖f − c[argmax]‖² averaged over the steps
    np.testing.assert_allclose(float(out["loss_center"]), by_hand, rtol=1e-6)
    with pytest.raises(ValueError, match="return_feats"):
        loss(t(logits), None)
    with pytest.raises(ConfigError, match="not found"):
        build_loss({"name": "CenterLoss", "num_classes": 3, "feat_dim": 2, "center_file_path": str(tmp_path / "x")})
    with pytest.raises(ConfigError, match="feat_dim is 4"):
        build_loss({"name": "CenterLoss", "num_classes": 3, "feat_dim": 4, "center_file_path": str(path)})


# -- metric and postprocess -----------------------------------------------------------------------------------------
def test_distillation_metric_reports_every_model_and_tracks_the_key():
    from ppocr.metrics import build_metric

    metric = build_metric({"name": "DistillationMetric", "base_metric_name": "RecMetric", "main_indicator": "acc",
                           "key": "Student"})
    labels = [("ab", 1.0), ("cd", 1.0)]
    metric({"Teacher": ([("ab", 0.9), ("cd", 0.9)], labels), "Student": ([("ab", 0.9), ("xx", 0.9)], labels)}, None)
    figures = metric.get_metric()
    assert metric.main_indicator == "acc"
    assert figures["acc"] == 0.5 and figures["Teacher_acc"] == 1.0  # the better Teacher does not drive best-model
    assert set(figures) == {"acc", "norm_edit_dis", "Teacher_acc", "Teacher_norm_edit_dis"}
    with pytest.raises(KeyError, match="Student"):
        metric({"Teacher": ([("ab", 0.9)], labels[:1])}, None)
    with pytest.raises(ConfigError, match="is_filter"):
        build_metric({"name": "DistillationMetric", "base_metric_name": "DetMetric", "main_indicator": "hmean",
                      "is_filter": True})


def test_distillation_postprocess_decodes_each_model_and_exports_as_plain():
    from ppocr.postprocess import build_post_process
    from ppocr.postprocess.distillation_postprocess import single_model_config

    config = {"name": "DistillationCTCLabelDecode", "model_name": ["Student", "Teacher"], "key": "head_out"}
    post = build_post_process(config, {"character_dict_path": None, "use_space_char": False})
    probs = np.zeros((1, 4, 37), np.float32)
    probs[0, [0, 1, 2, 3], [11, 0, 12, 12]] = 1.0  # "a", blank, "b", "b" → "ab"
    other = np.zeros_like(probs)
    other[0, :, 1] = 1.0  # "0"
    out = post({"Student": {"head_out": probs}, "Teacher": {"head_out": other}})
    assert out == {"Student": [("ab", 1.0)], "Teacher": [("0", 1.0)]}
    with pytest.raises(KeyError, match="Student2"):
        build_post_process(dict(config, model_name=["Student2"]), {})({"Student": {"head_out": probs}})
    assert single_model_config(dict(config, use_space_char=True)) == {"name": "CTCLabelDecode", "use_space_char": True}
    assert single_model_config({"name": "DBPostProcess", "thresh": 0.3}) == {"name": "DBPostProcess", "thresh": 0.3}


# -- DistillationModel ----------------------------------------------------------------------------------------------
def test_recipes_validate_and_sub_model_errors_name_the_model():
    for path in (CML_RECIPE, REC_RECIPE, UDML_RECIPE, ENHANCED_RECIPE):
        validate_config(load_config(path), path)
    config = load_config(UDML_RECIPE)
    config["Architecture"]["Models"]["Student"]["Backbone"]["scal"] = 0.5
    with pytest.raises(ConfigError, match=r"Architecture\.Models\.Student\.Backbone: unknown key 'scal'"):
        validate_config(config)
    from ppocr.modeling.architectures import build_model

    arch = copy.deepcopy(load_config(UDML_RECIPE)["Architecture"])
    arch["Models"]["Teacher"]["Backbone"]["scal"] = 0.5
    with pytest.raises(ConfigError, match=r"Architecture\.Models\.Teacher\.Backbone"):
        build_model(arch)
    arch = copy.deepcopy(load_config(UDML_RECIPE)["Architecture"])
    arch["Models"]["Student"]["model_type"] = "det"
    with pytest.raises(ConfigError, match=r"Models\.Student\.model_type"):
        build_model(arch)


def test_class_count_reaches_every_sub_model_head():
    from ppocr.modeling.architectures import build_model, with_class_count
    from ppocr.postprocess import build_post_process

    arch = copy.deepcopy(load_config(UDML_RECIPE)["Architecture"])
    post = build_post_process({"name": "DistillationCTCLabelDecode", "model_name": ["Student"]}, {})
    arch = with_class_count(arch, post)
    assert [m["Head"]["out_channels"] for m in arch["Models"].values()] == [37, 37]
    for model in arch["Models"].values():
        model["Backbone"]["scale"] = 0.25
    model = build_model(arch)
    model.eval()
    out = model(paddle.rand([1, 3, 32, 64]))
    assert set(out) == {"Teacher", "Student"}
    assert set(out["Student"]) == {"backbone_out", "neck_out", "head_out"}
    assert list(out["Student"]["head_out"].shape) == [1, 16, 37]
    assert sorted({k.split(".")[0] for k in model.state_dict()}) == ["Student", "Teacher"]  # PaddleOCR's keys


def test_the_deployed_sub_model_is_the_student_unless_global_names_another():
    from ppocr.engine.export import deployed_sub_model

    assert deployed_sub_model({"Global": {}}, ["Teacher", "Student"]) == "Student"
    assert deployed_sub_model({}, ["Teacher", "Student2"]) == "Teacher"
    assert deployed_sub_model({"Global": {"export_model_name": "Teacher"}}, ["Teacher", "Student"]) == "Teacher"
    with pytest.raises(ConfigError, match="export_model_name"):
        deployed_sub_model({"Global": {"export_model_name": "Student3"}}, ["Teacher", "Student"])


# -- CML: frozen teacher + two students through the trainer ----------------------------------------------------------
@pytest.fixture(scope="module")
def cml_run(det_data, tmp_path_factory):
    from ppocr.engine.trainer import Trainer
    from ppocr.modeling.architectures import build_model

    out = tmp_path_factory.mktemp("cml")
    config = tiny_cml(det_data, out, teacher_weights=str(out / "teacher"))
    teacher_arch = {k: v for k, v in config["Architecture"]["Models"]["Teacher"].items()
                    if k not in ("pretrained", "freeze_params")}
    teacher = build_model(teacher_arch)
    rng = np.random.RandomState(0)
    saved = {}
    for key, value in teacher.state_dict().items():  # non-default batch-norm statistics, so drift would show
        array = value.numpy()
        if key.endswith("_mean"):
            array = rng.uniform(-0.1, 0.1, array.shape).astype(array.dtype)
        if key.endswith("_variance"):
            array = rng.uniform(0.5, 1.5, array.shape).astype(array.dtype)
        saved[key] = array
    paddle.save({k: paddle.to_tensor(v) for k, v in saved.items()}, str(out / "teacher.pdparams"))

    trainer = Trainer(config)
    loaded = state(trainer.model.sub_model("Teacher"))
    students = {name: state(trainer.model.sub_model(name)) for name in ("Student", "Student2")}
    trainer.train()
    return {"trainer": trainer, "config": config, "saved": saved, "loaded": loaded, "students": students, "out": out}


def test_cml_frozen_teacher_keeps_weights_and_batch_norm_statistics(cml_run):
    model = cml_run["trainer"].model
    saved, loaded = cml_run["saved"], cml_run["loaded"]
    assert set(loaded) == set(saved)
    for key in saved:  # Models.Teacher.pretrained was loaded ...
        np.testing.assert_array_equal(loaded[key], saved[key])
    after = state(model.sub_model("Teacher"))
    for key in saved:  # ... and training changed neither its parameters nor its running statistics
        np.testing.assert_array_equal(after[key], saved[key], err_msg=key)
    assert all(not p.trainable for p in model.sub_model("Teacher").parameters())
    model.train()
    assert not any(layer.training for layer in model.sub_model("Teacher").sublayers())
    assert all(layer.training for layer in model.sub_model("Student").sublayers())
    for name, before in cml_run["students"].items():  # the students did learn, statistics included
        now = state(model.sub_model(name))
        assert any(not np.array_equal(now[k], before[k]) for k in before if k.endswith(".weight"))
        assert any(not np.array_equal(now[k], before[k]) for k in before if k.endswith("_mean"))


def test_cml_losses_and_metrics_are_named_per_model(cml_run):
    trainer = cml_run["trainer"]
    batch = next(iter(trainer.train_loader))
    losses = trainer.loss(trainer.model(batch[0], data=batch[1:]), batch)
    expected = {"dila_dbloss_Student_Teacher", "dila_dbloss_Student2_Teacher", "dml_thrink_maps_0",
                "db_Student_loss_shrink_maps", "db_Student_loss_threshold_maps", "db_Student_loss_binary_maps",
                "db_Student2_loss_shrink_maps", "loss"}
    assert expected <= set(losses)
    best = trainer.states["best_model_dict"]
    assert {"hmean", "precision", "recall", "Student2_hmean", "Teacher_hmean"} <= set(best)


def test_cml_trains_data_parallel_with_the_teacher_frozen(cml_run, det_data, tmp_path):
    """The recipes set Global.distributed: DataParallel over a model with frozen parameters must still run."""
    out = tmp_path / "cml_dp"
    config = tiny_cml(det_data, out, teacher_weights=str(cml_run["out"] / "teacher"))
    config["Global"]["distributed"] = True
    path = write_config(config, tmp_path / "cml_dp.yml")
    train_data_parallel(path, tmp_path / "launch_logs")
    trained = paddle.load(str(out / "latest.pdparams"))
    saved = cml_run["saved"]
    for key, value in saved.items():
        np.testing.assert_array_equal(trained[f"Teacher.{key}"].numpy(), value, err_msg=key)
    # Same seed, same initial Student as cml_run's; one Adam step moves a weight by at most about the learning rate.
    before = cml_run["students"]["Student"]
    moved = max(float(np.abs(trained[f"Student.{k}"].numpy() - v).max()) for k, v in before.items()
                if k.endswith(".weight"))
    assert 0 < moved < 10 * config["Optimizer"]["lr"]["learning_rate"]


# -- U-DML, plain PP-LCNet CRNN and Enhanced CTC ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def udml_run(rec_data, tmp_path_factory):
    from ppocr.engine.trainer import Trainer

    out = tmp_path_factory.mktemp("udml")
    config = tiny_rec(UDML_RECIPE, rec_data, out)
    trainer = Trainer(config)
    before = {name: state(trainer.model.sub_model(name)) for name in ("Teacher", "Student")}
    trainer.train()
    return {"trainer": trainer, "config": config, "before": before, "out": out}


def test_udml_trains_both_models_and_tracks_the_student(udml_run):
    trainer = udml_run["trainer"]
    for name, before in udml_run["before"].items():
        now = state(trainer.model.sub_model(name))
        assert any(not np.array_equal(now[k], before[k]) for k in before)
    best = trainer.states["best_model_dict"]
    assert {"acc", "norm_edit_dis", "Teacher_acc", "Teacher_norm_edit_dis"} <= set(best)
    batch = next(iter(trainer.train_loader))
    losses = trainer.loss(trainer.model(batch[0], data=batch[1:]), batch)
    assert {"loss_ctc_Student_0", "loss_ctc_Teacher_1", "dml_0", "loss_distance_l2_Student_Teacher_0"} <= set(losses)


def test_export_writes_every_sub_model_and_the_student_runs_in_the_text_system(udml_run, cml_run, det_data):
    from ppocr.engine.export import export_model
    from ppocr.infer import TextSystem
    from ppocr.utils.checkpoint import load_params_file

    out = udml_run["out"] / "export"
    export_model(udml_run["config"], save_dir=str(out), weights=str(udml_run["out"] / "latest"))
    for folder in (out, out / "Student", out / "Teacher"):
        assert (folder / "inference.json").is_file() and (folder / "inference.pdiparams").is_file()
    assert (out / "inference.pdiparams").read_bytes() == (out / "Student" / "inference.pdiparams").read_bytes()
    meta = yaml.safe_load((out / "inference.yml").read_text())
    assert meta["Global"]["model_type"] == "rec"
    assert meta["PostProcess"]["name"] == "CTCLabelDecode" and len(meta["PostProcess"]["character_dict"]) == 36

    # The detector: the CML checkpoint exported with its Student alone (tracing the teacher and the second student
    # would only repeat what the rec export above checks, at most of this test's cost).
    det_config = copy.deepcopy(cml_run["config"])
    det_config["Architecture"]["Models"] = {"Student": det_config["Architecture"]["Models"]["Student"]}
    det_config["PostProcess"]["model_name"] = ["Student"]
    det_out = cml_run["out"] / "export"
    export_model(det_config, save_dir=str(det_out), weights=str(cml_run["out"] / "latest"))
    assert (det_out / "Student" / "inference.json").is_file()
    det_meta = yaml.safe_load((det_out / "inference.yml").read_text())
    assert det_meta["Global"]["model_type"] == "det" and det_meta["PostProcess"]["name"] == "DBPostProcess"
    assert det_meta["PostProcess"]["box_thresh"] == 0.6 and "model_name" not in det_meta["PostProcess"]
    system = TextSystem(det_model_dir=str(det_out), rec_model_dir=str(out), det_db_thresh=0.05,
                        det_db_box_thresh=0.05, drop_score=0.0)
    page = str(det_data / "val" / "images" / sorted(os.listdir(det_data / "val" / "images"))[0])
    results = system(page)
    assert isinstance(results, list)
    assert all(isinstance(r["transcription"], str) and len(r["points"]) == 4 for r in results)

    # The recogniser's Paddle Inference backend runs the exported Student exactly as the trained one.
    model = udml_run["trainer"].model
    model.set_state_dict(load_params_file(str(udml_run["out"] / "latest")))  # other tests ran train-mode steps
    student = model.sub_model("Student")
    student.eval()
    assert system.recognizer.backend.model_path.rstrip("/").endswith("export")
    for width in (100, 140):
        x = np.random.RandomState(width).uniform(-1, 1, (2, 3, 32, width)).astype("float32")
        got = system.recognizer.backend.run(x)[0]
        with paddle.no_grad():
            want = student(paddle.to_tensor(x))["head_out"].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_infer_tools_decode_every_sub_model_of_a_distillation_checkpoint(udml_run, cml_run, rec_data, det_data,
                                                                        tmp_path):
    rec_res = tmp_path / "rec.txt"
    run_tool("infer_rec.py", write_config(udml_run["config"], tmp_path / "udml.yml"),
             f"Global.pretrained_model={udml_run['out'] / 'latest'}", f"Global.infer_img={rec_data / 'val' / 'images'}",
             f"Global.save_res_path={rec_res}")
    lines = rec_res.read_text().splitlines()
    assert len(lines) == 16
    for line in lines:
        decoded = json.loads(line.split("\t", 1)[1])
        assert set(decoded) == {"Student", "Teacher"}
        assert all(isinstance(d["label"], str) and 0.0 <= d["score"] <= 1.0 for d in decoded.values())

    det_res = tmp_path / "det.txt"
    run_tool("infer_det.py", write_config(cml_run["config"], tmp_path / "cml.yml"),
             f"Global.pretrained_model={cml_run['out'] / 'latest'}", f"Global.infer_img={det_data / 'val' / 'images'}",
             f"Global.save_res_path={det_res}")
    lines = det_res.read_text().splitlines()
    names = cml_run["config"]["PostProcess"]["model_name"]
    assert len(lines) == 4 and len(names) >= 2
    for line in lines:
        decoded = json.loads(line.split("\t", 1)[1])
        assert set(decoded) == set(names)
        assert all(np.asarray(box["points"]).shape[1] == 2 for boxes in decoded.values() for box in boxes)
    for name in names:
        assert len(os.listdir(tmp_path / "det_results" / name)) == 4


@pytest.fixture(scope="module")
def plain_rec_run(rec_data, tmp_path_factory):
    from ppocr.engine.trainer import Trainer

    out = tmp_path_factory.mktemp("pp_lcnet")
    config = tiny_rec(REC_RECIPE, rec_data, out)
    trainer = Trainer(config)
    trainer.train()
    return {"trainer": trainer, "config": config, "out": out}


def _reference_centers(model, images, keep):
    """Per-class mean head feature at argmax steps, computed from the neck output with numpy."""
    head = model.head
    with paddle.no_grad():
        model.eval()
        neck = model.neck(model.backbone(images)).numpy()
    feats = neck @ head.fc1.weight.numpy() + head.fc1.bias.numpy()
    ids = (feats @ head.fc2.weight.numpy() + head.fc2.bias.numpy()).argmax(-1)
    sums, counts = {}, {}
    for sample in np.flatnonzero(keep):
        for step, cls in enumerate(ids[sample]):
            sums[cls] = sums.get(cls, 0) + feats[sample, step]
            counts[cls] = counts.get(cls, 0) + 1
    return {int(c): sums[c] / counts[c] for c in sums}


def test_export_center_then_enhanced_ctc_trains_with_the_centers(plain_rec_run, rec_data, tmp_path):
    from ppocr.data import build_dataloader
    from ppocr.engine.center import export_centers
    from ppocr.engine.trainer import Trainer

    trainer, config = plain_rec_run["trainer"], plain_rec_run["config"]
    weights = str(plain_rec_run["out"] / "latest")
    model = trainer.model
    # Labels = the model's own readings, except the last sample's: exactly those samples count as correct.
    _, loader = build_dataloader(config, "Eval")
    images = paddle.concat([batch[0] for batch in loader])
    with paddle.no_grad():
        model.eval()
        readings = [text for text, _ in trainer.post_process(model(images))]
    source = config["Eval"]["dataset"]["label_file_list"][0]
    with open(source, encoding="utf-8") as f:
        paths = [line.split("\t")[0] for line in f.read().splitlines()]
    keep = np.array([bool(text) for text in readings])
    keep[-1] = False
    labels = [text if ok else ("zz" if text != "zz" else "yy") for text, ok in zip(readings, keep)]
    label_file = tmp_path / "self_labels.txt"
    label_file.write_text("".join(f"{p}\t{label}\n" for p, label in zip(paths, labels)), encoding="utf-8")
    assert keep.sum() >= 3
    center_config = copy.deepcopy(config)
    center_config["Train"]["dataset"]["label_file_list"] = [str(label_file)]

    path = tmp_path / "train_center.pkl"
    centers = export_centers(center_config, str(path), weights=weights)
    with open(path, "rb") as f:
        written = pickle.load(f)
    reference = _reference_centers(model, images, keep)
    assert sorted(written) == sorted(centers) == sorted(reference)
    for cls, center in reference.items():
        np.testing.assert_allclose(written[cls], center, rtol=1e-4, atol=1e-5)

    enhanced = tiny_rec(ENHANCED_RECIPE, rec_data, tmp_path / "enhanced")
    center = enhanced["Loss"]["loss_config_list"][1]["CenterLoss"]
    center.update(num_classes=37, feat_dim=16, center_file_path=str(path))
    enhanced["Global"]["pretrained_model"] = weights
    enhanced_trainer = Trainer(enhanced)
    center_loss = enhanced_trainer.loss.loss_funcs[1]
    for cls, vector in written.items():
        np.testing.assert_allclose(center_loss.centers.numpy()[cls], vector, rtol=1e-6)
    batch = next(iter(enhanced_trainer.train_loader))
    losses = enhanced_trainer.loss(enhanced_trainer.model(batch[0], data=batch[1:]), batch)
    assert {"CTCLoss_0", "CenterLoss_1", "loss_center"} <= set(losses)
    enhanced_trainer.train()
    assert enhanced_trainer.states["global_step"] == 2
