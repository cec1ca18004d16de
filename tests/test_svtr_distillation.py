"""PP-OCRv4 rec distillation parts: the SVTRNet teacher backbone, DKD on the NRTR branch, the CTC-logits KL, a frozen
teacher's training-form outputs, and PaddleOCR's distillation config through the trainer."""
import copy
import logging
import os

import numpy as np
import paddle
import pytest

from test_paddleocr_configs import REFERENCE, shrink, tiny_data  # noqa: F401  (tiny_data is a fixture)

# PaddleOCR's PP-OCRv4 distillation teacher, as its config gives it
TEACHER = dict(img_size=[48, 320], out_char_num=40, out_channels=192, patch_merging="Conv", embed_dim=[64, 128, 256],
               depth=[3, 6, 3], num_heads=[2, 4, 8], mixer=["Conv"] * 6 + ["Global"] * 6,
               local_mixer=[[5, 5], [5, 5], [5, 5]], prenorm=True)
# a small one for the slower checks
SMALL = dict(img_size=[32, 64], out_char_num=8, out_channels=24, embed_dim=[16, 32, 48], depth=[1, 1, 1],
             num_heads=[2, 2, 2], mixer=["Local", "Conv", "Global"], local_mixer=[[3, 5], [3, 3], [3, 3]])
DISTILL_CONFIG = os.path.join(REFERENCE, "rec", "PP-OCRv4", "PP-OCRv4_mobile_rec_distillation.yml")


def _svtr(**overrides):
    from ppocr.modeling.backbones.rec_svtrnet import SVTRNet

    paddle.seed(0)
    return SVTRNet(**{**TEACHER, **overrides})


@pytest.mark.parametrize("last_stage, channels", [(False, 256), (True, 192)])
def test_svtrnet_teacher_shapes(last_stage, channels):
    """last_stage false: the last stage's 256 channels pooled to 1×out_char_num (what MultiHead reads);
    true: projected to out_channels. A wider line than img_size gives the same output shape."""
    model = _svtr(last_stage=last_stage)
    assert model.out_channels == channels
    out = model(paddle.rand([2, 3, 48, 320]))
    assert out.shape == [2, channels, 1, 40]
    model.eval()
    assert model(paddle.rand([1, 3, 48, 480])).shape == [1, channels, 1, 40]


def test_svtrnet_parameter_names_follow_paddleocr():
    model = _svtr(last_stage=True, prenorm=False)
    keys = set(model.state_dict())
    for key in ("pos_embed", "patch_embed.proj.0.conv.weight", "patch_embed.proj.0.conv.bias",
                "patch_embed.proj.1.norm._variance", "blocks1.0.mixer.local_mixer.weight", "blocks1.2.mlp.fc2.bias",
                "sub_sample1.conv.weight", "sub_sample1.norm.weight", "blocks2.5.mixer.qkv.weight",
                "sub_sample2.conv.bias", "blocks3.2.mixer.proj.weight", "blocks3.2.norm2.weight", "norm.weight",
                "last_conv.weight"):
        assert key in keys, key
    assert model.state_dict()["pos_embed"].shape == [1, 12 * 80, 64]
    assert model.state_dict()["blocks1.0.mixer.local_mixer.weight"].shape == [64, 32, 5, 5]  # groups = heads
    assert not any("mask" in key for key in keys)
    assert "last_conv.weight" not in _svtr(last_stage=False).state_dict()


def test_svtrnet_forward_backward_local_pool_and_errors():
    from ppocr.modeling.backbones.rec_svtrnet import SVTRNet
    from ppocr.utils.registry import ConfigError

    for merging, sub_num in (("Conv", 2), ("Pool", 3)):
        paddle.seed(0)
        model = SVTRNet(**SMALL, patch_merging=merging, sub_num=sub_num, drop_path_rate=0.1, last_stage=True)
        opt = paddle.optimizer.Adam(parameters=model.parameters(), learning_rate=1e-3)
        before = model.pos_embed.numpy().copy()
        out = model(paddle.rand([2, 3, 32, 64]))
        assert out.shape == [2, 24, 1, 8]
        out.mean().backward()
        assert all(p.grad is not None for p in model.parameters() if not p.stop_gradient)
        opt.step()
        assert not np.array_equal(before, model.pos_embed.numpy())
    with pytest.raises(ValueError, match="Local mixer is built for a 8x16 token grid"):
        SVTRNet(**SMALL)(paddle.rand([1, 3, 32, 96]))
    with pytest.raises(ConfigError, match="'mixer'.*one mixer per block"):
        SVTRNet(**{**SMALL, "mixer": ["Global"]})
    with pytest.raises(ConfigError, match="'mixer' .*Global, Local, Conv, got 'Lokal'"):
        SVTRNet(**{**SMALL, "mixer": ["Lokal", "Conv", "Global"]})
    with pytest.raises(ConfigError, match="embed_dim\\[1\\] = 32 is not divisible by num_heads\\[1\\] = 3"):
        SVTRNet(**{**SMALL, "num_heads": [2, 3, 2]})


def test_local_attention_mask_is_a_window():
    from ppocr.modeling.backbones.rec_svtrnet import local_attention_mask

    mask = local_attention_mask([3, 4], [3, 3])
    allowed = (mask == 0).reshape(3, 4, 3, 4)
    assert allowed[1, 1].sum() == 9 and allowed[0, 0].sum() == 4  # interior 3×3, corner 2×2
    assert allowed[1, 1, 0, 0] and not allowed[0, 0, 2, 0] and not allowed[0, 0, 0, 2]


# -- DKD ---------------------------------------------------------------------------------------------------------------
def _nrtr_batch(labels, length):
    """[image, label_gtc, length]: label ids after the start token (2), then the end token (3), then padding 0."""
    rows = []
    for ids in labels:
        rows.append([2] + ids + [3] + [0] * (8 - len(ids)))
    return [None, np.array(rows, np.int64), np.array(length, np.int64)]


def _dkd_predicts(student, teacher):
    return {"Student": {"head_out": {"nrtr": student}}, "Teacher": {"head_out": {"nrtr": teacher}}}


def _full_batch(attention):
    # [image, label_ctc, label_gtc, length, valid_ratio]: DKD reads the attention part
    return [attention[0], None, attention[1], attention[2], None]


def test_dkd_zero_for_equal_logits_positive_otherwise_and_teacher_gets_no_gradient():
    from ppocr.losses.distillation_loss import DistillationDKDLoss

    loss = DistillationDKDLoss(model_name_pairs=[["Student", "Teacher"]], key="head_out", multi_head=True,
                               dis_head="gtc", alpha=1.0, beta=2.0, name="dkd", temperature=2.0)
    batch = _full_batch(_nrtr_batch([[5, 6, 7], [8]], [3, 1]))
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 10)).astype("float32")  # steps: longest 3 + end
    same = loss(_dkd_predicts(paddle.to_tensor(logits), paddle.to_tensor(logits.copy())), batch)
    assert set(same) == {"loss", "dkd_0"}
    assert float(same["loss"]) == pytest.approx(0.0, abs=1e-6)

    student = paddle.to_tensor(logits, stop_gradient=False)
    teacher = paddle.to_tensor(rng.normal(size=(2, 4, 10)).astype("float32"), stop_gradient=False)
    out = loss(_dkd_predicts(student, teacher), batch)["loss"]
    assert float(out) > 0.01
    out.backward()
    assert student.grad is not None and float(np.abs(student.grad.numpy()).sum()) > 0
    assert teacher.grad is None
    # padding steps (after sample 2's end token) do not count
    grad = student.grad.numpy()
    assert np.all(grad[1, 2:] == 0) and np.any(grad[1, :2] != 0)


def test_dkd_parts_target_and_non_target():
    """Same non-target distribution, different target probability: only TCKD (alpha) counts, and the other way
    round; the terms scale with alpha and beta."""
    from ppocr.losses.distillation_loss import decoupled_kd

    target = paddle.to_tensor([1], dtype="int64")
    keep = paddle.to_tensor([True])
    student = paddle.to_tensor([[0.0, 3.0, 1.0, 2.0]])
    confident_teacher = paddle.to_tensor([[0.0, 6.0, 1.0, 2.0]])  # same non-target logits
    reshuffled_teacher = paddle.to_tensor([[2.0, 3.0, 1.0, 0.0]])  # same target probability, other non-targets
    only_t = decoupled_kd(student, confident_teacher, target, keep, 1.0, 1.0, 0.0)
    assert float(only_t) > 0.05
    assert float(decoupled_kd(student, confident_teacher, target, keep, 1.0, 0.0, 1.0)) == pytest.approx(0, abs=1e-6)
    assert float(decoupled_kd(student, reshuffled_teacher, target, keep, 1.0, 1.0, 0.0)) == pytest.approx(0, abs=1e-6)
    only_n = decoupled_kd(student, reshuffled_teacher, target, keep, 1.0, 0.0, 1.0)
    assert float(only_n) > 0.05
    both = decoupled_kd(student, reshuffled_teacher, target, keep, 1.0, 0.5, 2.0)
    assert float(both) == pytest.approx(2.0 * float(only_n), rel=1e-5)


def test_dkd_config_errors():
    from ppocr.losses.distillation_loss import DistillationDKDLoss
    from ppocr.utils.registry import ConfigError

    with pytest.raises(ConfigError, match="multi_head: true with dis_head gtc, nrtr or sar"):
        DistillationDKDLoss(model_name_pairs=[["Student", "Teacher"]], dis_head="ctc", multi_head=True)
    with pytest.raises(ConfigError, match="'temperature' .* positive number, got 0"):
        DistillationDKDLoss(model_name_pairs=[["Student", "Teacher"]], multi_head=True, temperature=0)
    loss = DistillationDKDLoss(model_name_pairs=[["Student", "Teacher"]], key="head_out", multi_head=True)
    with pytest.raises(KeyError, match="dis_head gtc needs MultiHead's nrtr or sar branch"):
        loss({"Student": {"head_out": {"ctc": paddle.zeros([1, 2, 3])}},
              "Teacher": {"head_out": {"ctc": paddle.zeros([1, 2, 3])}}}, _full_batch(_nrtr_batch([[5]], [1])))


# -- CTC logits --------------------------------------------------------------------------------------------------------
def test_ctc_logits_zero_for_equal_logits_positive_otherwise_and_teacher_gets_no_gradient():
    from ppocr.losses.distillation_loss import DistillCTCLogits

    loss = DistillCTCLogits(model_name_pairs=[["Student", "Teacher"]], key="head_out", reduction="mean")
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 6, 7)).astype("float32")

    def predicts(student, teacher):
        return {"Student": {"head_out": {"ctc": student, "nrtr": None}}, "Teacher": {"head_out": {"ctc": teacher}}}

    same = loss(predicts(paddle.to_tensor(logits), paddle.to_tensor(logits.copy())), [])
    assert set(same) == {"loss", "ctc_logits_0"} and float(same["loss"]) == pytest.approx(0.0, abs=1e-6)
    student = paddle.to_tensor(logits, stop_gradient=False)
    teacher = paddle.to_tensor(rng.normal(size=(3, 6, 7)).astype("float32"), stop_gradient=False)
    mean = loss(predicts(student, teacher), [])["loss"]
    assert float(mean) > 0.001
    mean.backward()
    assert float(np.abs(student.grad.numpy()).sum()) > 0 and teacher.grad is None
    total = DistillCTCLogits(model_name_pairs=[["Student", "Teacher"]], key="head_out", reduction="sum")
    assert float(total(predicts(student, teacher), [])["loss"]) == pytest.approx(3 * float(mean), rel=1e-5)
    # the distribution is averaged over time: the same steps in another order give the same loss
    shuffled = paddle.to_tensor(logits[:, ::-1].copy())
    assert float(loss(predicts(shuffled, teacher), [])["loss"]) == pytest.approx(float(mean), rel=1e-5)


def test_ctc_logits_reduction_is_checked():
    from ppocr.losses.distillation_loss import DistillCTCLogits
    from ppocr.utils.registry import ConfigError

    with pytest.raises(ConfigError, match="'reduction' of loss DistillCTCLogits must be mean or sum, got 'max'"):
        DistillCTCLogits(model_name_pairs=[["Student", "Teacher"]], reduction="max")


# -- frozen teacher + trainer ------------------------------------------------------------------------------------------
def test_frozen_teacher_gives_training_outputs_with_eval_layers(rec_data):
    """The teacher's MultiHead gives CTC logits and teacher-forced NRTR logits while the model trains, with every
    layer in eval mode (no dropout: two passes agree; batch-norm statistics unchanged); in eval it gives the CTC
    probabilities like any model."""
    from ppocr.modeling.architectures.distillation_model import DistillationModel

    head = {"name": "MultiHead", "out_channels": 11, "head_list": [
        {"CTCHead": {"Neck": {"name": "svtr", "dims": 16, "depth": 1, "hidden_dims": 16, "kernel_size": [1, 3],
                              "use_guide": True}, "Head": {"fc_decay": 1e-5}}},
        {"NRTRHead": {"nrtr_dim": 32, "max_text_length": 8, "num_decoder_layers": 1}}]}
    paddle.seed(0)
    model = DistillationModel({"Teacher": {"freeze_params": True, "return_all_feats": True, "model_type": "rec",
                                           "Backbone": {"name": "SVTRNet", **SMALL, "mixer": ["Conv", "Conv", "Global"],
                                                        "last_stage": False}, "Head": copy.deepcopy(head)}},
                              model_type="rec")
    model.train()
    teacher = model.sub_model("Teacher")
    assert not any(layer.training for layer in teacher.sublayers())
    batch = _nrtr_batch([[5, 6], [7]], [2, 1])
    data = [np.zeros((2, 10), np.int64), batch[1], batch[2], np.ones(2, np.float32)]
    stats = teacher.state_dict()["backbone.patch_embed.proj.0.norm._mean"].numpy().copy()
    images = paddle.rand([2, 3, 32, 64])
    first = model(images, data)["Teacher"]["head_out"]
    second = model(images, data)["Teacher"]["head_out"]
    assert first["ctc"].shape == [2, 8, 11] and first["nrtr"].shape == [2, 3, 15]  # C + 3 ids, + 1 as NRTRHead sizes it
    assert not np.allclose(first["ctc"].numpy().sum(-1), 1.0)  # logits, not probabilities
    np.testing.assert_array_equal(first["nrtr"].numpy(), second["nrtr"].numpy())
    np.testing.assert_array_equal(stats, teacher.state_dict()["backbone.patch_embed.proj.0.norm._mean"].numpy())
    model.eval()
    probs = model(images)["Teacher"]["head_out"]
    np.testing.assert_allclose(probs.numpy().sum(-1), 1.0, rtol=1e-5)


def test_paddleocr_distillation_config_trains_with_dkd_and_ctc_logits(tiny_data, tmp_path, caplog):
    """PaddleOCR's PP-OCRv4 rec distillation config (data paths set): the missing Train resize is repaired with a
    WARNING; one step trains the student with all four losses while the frozen SVTR teacher stays unchanged."""
    from ppocr.engine.trainer import Trainer
    from ppocr.utils.config import load_config

    config = shrink(load_config(DISTILL_CONFIG), tiny_data, tmp_path / "out")
    with caplog.at_level(logging.WARNING, logger="ppocr"):
        trainer = Trainer(config, mode="train")
    notes = [r.getMessage() for r in caplog.records if "KeepKeys asks for valid_ratio" in r.getMessage()]
    assert len(notes) == 1 and "RecResizeImg image_shape [3, 48, 320]" in notes[0]
    teacher_before = {k: v.numpy().copy() for k, v in trainer.model.sub_model("Teacher").state_dict().items()}
    student_before = {k: v.numpy().copy() for k, v in trainer.model.sub_model("Student").state_dict().items()}
    states = trainer.train()
    assert states["global_step"] == 1
    for key, value in trainer.model.sub_model("Teacher").state_dict().items():
        np.testing.assert_array_equal(value.numpy(), teacher_before[key], err_msg=key)
    student_after = trainer.model.sub_model("Student").state_dict()
    assert any(not np.array_equal(student_after[k].numpy(), v) for k, v in student_before.items())

    trainer.model.train()
    batch = next(iter(trainer.train_loader))
    assert list(batch[0].shape[1:]) == [3, 48, 320]
    outputs = trainer.model(batch[0], data=batch[1:])
    assert outputs["Teacher"]["backbone_out"].shape[1:] == [256, 1, 40]
    losses = trainer.loss(outputs, batch)
    assert {"dkd_0", "ctc_logits_0", "loss_ctc_Student_0", "loss_nrtr_Student_0", "loss"} <= set(losses)
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert float(losses["dkd_0"]) > 0 and float(losses["ctc_logits_0"]) > 0


def test_train_resize_repair_only_where_needed():
    from ppocr.utils.config import load_config
    from ppocr.utils.paddleocr_compat import with_train_resize

    config = load_config(DISTILL_CONFIG)
    repaired, note = with_train_resize(config)
    names = [next(iter(op)) for op in repaired["Train"]["dataset"]["transforms"]]
    assert names == ["DecodeImage", "RecAug", "MultiLabelEncode", "RecResizeImg", "KeepKeys"] and note
    assert "RecResizeImg" not in [next(iter(op)) for op in config["Train"]["dataset"]["transforms"]]
    assert with_train_resize(repaired) == (repaired, None)
    v4 = load_config(os.path.join(REFERENCE, "rec", "PP-OCRv4", "PP-OCRv4_mobile_rec.yml"))  # MultiScaleDataSet
    assert with_train_resize(v4) == (v4, None)
