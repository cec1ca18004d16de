"""Recognition model parts (MobileNetV3, ResNet-vd, SequenceEncoder, CTCHead, BaseModel) and losses."""
import copy
import itertools
import math
import os

import numpy as np
import paddle
import pytest
from paddle.static import InputSpec

from ppocr.losses.combined_loss import CombinedLoss
from ppocr.losses.rec_ctc_loss import CTCLoss
from ppocr.modeling.architectures import build_model
from ppocr.modeling.backbones.mobilenet_v3_blocks import ConvBNLayer, SEModule, make_divisible
from ppocr.modeling.backbones.rec_mobilenet_v3 import MobileNetV3
from ppocr.modeling.backbones.rec_resnet_vd import ResNet
from ppocr.modeling.heads.rec_ctc_head import CTCHead
from ppocr.modeling.necks.rnn import SequenceEncoder
from ppocr.utils.registry import BACKBONES, LOSSES, ConfigError

CRNN_CONFIG = {
    "model_type": "rec",
    "algorithm": "CRNN",
    "Transform": None,
    "Backbone": {"name": "MobileNetV3", "model_name": "small", "scale": 0.5, "small_stride": [1, 2, 2, 2]},
    "Neck": {"name": "SequenceEncoder", "encoder_type": "rnn", "hidden_size": 48},
    "Head": {"name": "CTCHead", "out_channels": 37, "fc_decay": 0.00001},
}


def _run(layer, shape, seed=0):
    layer.eval()
    rng = np.random.default_rng(seed)
    with paddle.no_grad():
        return layer(paddle.to_tensor(rng.random(shape, dtype=np.float32)))


def _crnn_batch(batch_size=4, width=100, num_classes=37, max_len=6, seed=0):
    rng = np.random.default_rng(seed)
    images = paddle.to_tensor(rng.standard_normal((batch_size, 3, 32, width), dtype=np.float32))
    lengths = rng.integers(2, max_len + 1, size=batch_size)
    labels = np.zeros((batch_size, max_len), dtype=np.int64)
    for row, length in enumerate(lengths):
        labels[row, :length] = rng.integers(1, num_classes, size=length)
    return [images, paddle.to_tensor(labels), paddle.to_tensor(lengths.astype(np.int64))]


# ---------------------------------------------------------------- MobileNetV3


@pytest.mark.parametrize(
    "model_name, scale, strides, expected_channels",
    [
        ("small", 0.35, [1, 2, 2, 2], 200),
        ("small", 0.5, [1, 2, 2, 2], 288),
        ("small", 0.5, None, 288),
        ("small", 1.0, [2, 2, 2, 2], 576),
        ("large", 0.5, [1, 2, 2, 2], 480),
        ("large", 1.25, None, 1200),
    ],
)
@pytest.mark.parametrize("shape", [(2, 3, 32, 320), (1, 3, 48, 320), (1, 3, 32, 100), (1, 3, 32, 64)])
def test_mobilenet_v3_gives_one_row_of_width_over_four(model_name, scale, strides, expected_channels, shape):
    stride_key = f"{model_name}_stride"
    model = MobileNetV3(model_name=model_name, scale=scale, **{stride_key: strides})
    out = _run(model, shape)
    assert model.out_channels == expected_channels
    assert list(out.shape) == [shape[0], expected_channels, 1, shape[3] // 4]


def test_mobilenet_v3_single_channel_input():
    model = MobileNetV3(model_name="small", scale=0.5, small_stride=[1, 2, 2, 2], in_channels=1)
    assert list(_run(model, (1, 1, 32, 100)).shape) == [1, 288, 1, 25]


def test_small_stride_entries_act_on_height_only():
    x_shape = (1, 3, 32, 320)
    heights = {}
    for strides in ([1, 2, 2, 2], [2, 2, 2, 2], [1, 1, 2, 2]):
        model = MobileNetV3(model_name="small", scale=0.5, small_stride=strides)
        model.eval()
        with paddle.no_grad():
            feats = model.blocks(model.conv1(paddle.rand(x_shape)))
        heights[tuple(strides)] = feats.shape[2]
        assert feats.shape[3] == 160  # only the stem halves the width
    assert heights == {(1, 2, 2, 2): 2, (2, 2, 2, 2): 1, (1, 1, 2, 2): 4}


def test_channel_counts_are_multiples_of_eight():
    assert [make_divisible(v) for v in (16 * 0.35, 16 * 0.5, 72 * 0.35, 576 * 1.25)] == [8, 8, 24, 720]
    for name in ("small", "large"):
        model = MobileNetV3(model_name=name, scale=0.35)
        convs = [layer for layer in model.sublayers() if isinstance(layer, ConvBNLayer)]
        assert convs and all(layer.conv.weight.shape[0] % 8 == 0 for layer in convs)


def test_disable_se_removes_squeeze_excitation():
    with_se = MobileNetV3(model_name="small", scale=0.5)
    without_se = MobileNetV3(model_name="small", scale=0.5, disable_se=True)
    assert any(isinstance(layer, SEModule) for layer in with_se.sublayers())
    assert not any(isinstance(layer, SEModule) for layer in without_se.sublayers())
    assert list(_run(without_se, (1, 3, 32, 320)).shape) == [1, 288, 1, 80]


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"scale": 0.6}, "scale"),
        ({"model_name": "tiny"}, "model_name"),
        ({"small_stride": [1, 2, 2]}, "small_stride"),
        ({"model_name": "large", "large_stride": [1, 2, 0, 2]}, "large_stride"),
    ],
)
def test_mobilenet_v3_rejects_bad_values(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        BACKBONES.build({"name": "MobileNetV3", **kwargs}, where="Architecture.Backbone")


# ---------------------------------------------------------------- ResNet-vd


@pytest.mark.parametrize("layers", [18, 34])
@pytest.mark.parametrize("shape", [(1, 3, 32, 160), (2, 3, 32, 48)])
def test_resnet_vd_gives_one_row_of_width_over_four(layers, shape):
    model = ResNet(layers=layers)
    assert model.out_channels == 512
    assert list(_run(model, shape).shape) == [shape[0], 512, 1, shape[3] // 4]


def test_resnet_vd_50_and_structure():
    model = ResNet(layers=50)
    assert model.out_channels == 2048
    assert list(_run(model, (1, 3, 32, 24)).shape) == [1, 2048, 1, 6]
    small = ResNet(layers=18)
    # vd: the first block of a later stage pools its shortcut; the network's first block does not.
    assert small.bb_1_0.short.avg_down and not small.bb_0_0.short.avg_down
    assert len(small.block_list) == 8 and len(ResNet(layers=34).block_list) == 16
    with pytest.raises(ConfigError, match="layers"):
        ResNet(layers=20)


# ---------------------------------------------------------------- SequenceEncoder


@pytest.mark.parametrize(
    "encoder_type, hidden_size, channels",
    [("reshape", 48, 96), ("fc", 40, 40), ("rnn", 48, 96)],
)
def test_sequence_encoder_types(encoder_type, hidden_size, channels):
    neck = SequenceEncoder(in_channels=96, encoder_type=encoder_type, hidden_size=hidden_size)
    assert neck.out_channels == channels
    assert list(_run(neck, (2, 96, 1, 25)).shape) == [2, 25, channels]


def test_reshape_keeps_columns_in_order():
    neck = SequenceEncoder(in_channels=3, encoder_type="reshape")
    x = paddle.arange(12, dtype="float32").reshape([1, 3, 1, 4])
    np.testing.assert_array_equal(neck(x).numpy()[0], x.numpy()[0, :, 0, :].T)


def test_sequence_encoder_errors():
    with pytest.raises(ConfigError, match="reshape, fc, rnn"):
        SequenceEncoder(in_channels=8, encoder_type="transformer")
    neck = SequenceEncoder(in_channels=8, encoder_type="rnn")
    with pytest.raises(ValueError, match="height 1"):
        neck(paddle.rand([1, 8, 2, 10]))


# ---------------------------------------------------------------- CTCHead


def test_ctc_head_logits_in_train_probabilities_in_eval():
    head = CTCHead(in_channels=16, out_channels=11, fc_decay=0.0004)
    x = paddle.rand([2, 7, 16])
    head.train()
    logits = head(x)
    assert list(logits.shape) == [2, 7, 11]
    assert not np.allclose(logits.numpy().sum(-1), 1.0)
    head.eval()
    probs = head(x).numpy()
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probs, paddle.nn.functional.softmax(logits, axis=-1).numpy(), rtol=1e-5)


def test_ctc_head_weight_decay_and_feats():
    head = CTCHead(in_channels=16, out_channels=11, fc_decay=0.00001)
    for param in (head.fc.weight, head.fc.bias):
        assert isinstance(param.regularizer, paddle.regularizer.L2Decay)
        assert math.isclose(param.regularizer._coeff, 0.00001)
    two_layer = CTCHead(in_channels=16, out_channels=11, mid_channels=24, return_feats=True)
    assert two_layer.fc1.weight.regularizer is not None and two_layer.fc2.weight.regularizer is not None
    two_layer.train()
    feats, logits = two_layer(paddle.rand([2, 7, 16]))
    assert list(feats.shape) == [2, 7, 24] and list(logits.shape) == [2, 7, 11]
    two_layer.eval()
    assert list(two_layer(paddle.rand([2, 7, 16])).shape) == [2, 7, 11]


# ---------------------------------------------------------------- BaseModel


def test_build_crnn_from_config():
    model = build_model(CRNN_CONFIG)
    out = _run(model, (2, 3, 32, 320))
    assert list(out.shape) == [2, 80, 37]
    np.testing.assert_allclose(out.numpy().sum(-1), 1.0, rtol=1e-5)
    assert model.backbone.out_channels == 288 and model.neck.out_channels == 96


def test_return_all_feats():
    config = dict(copy.deepcopy(CRNN_CONFIG), return_all_feats=True)
    model = build_model(config)
    model.train()
    feats = model(paddle.rand([2, 3, 32, 160]))
    assert set(feats) == {"backbone_out", "neck_out", "head_out"}
    assert list(feats["backbone_out"].shape) == [2, 288, 1, 40]
    assert list(feats["neck_out"].shape) == [2, 40, 96]
    assert list(feats["head_out"].shape) == [2, 40, 37]


def test_model_without_neck_uses_backbone_channels():
    config = copy.deepcopy(CRNN_CONFIG)
    config["Backbone"] = {"name": "ResNet", "layers": 18}
    config["Neck"] = {"name": "SequenceEncoder", "encoder_type": "reshape"}
    assert list(_run(build_model(config), (1, 3, 32, 64)).shape) == [1, 16, 37]


def test_config_errors_name_the_key():
    config = copy.deepcopy(CRNN_CONFIG)
    config["Backbone"]["scal"] = 0.5
    with pytest.raises(ConfigError, match="scal") as info:
        build_model(config)
    assert info.value.where == "Architecture.Backbone"
    assert "scale" in str(info.value)

    config = copy.deepcopy(CRNN_CONFIG)
    config["Backbone"]["scale"] = 0.6
    with pytest.raises(ConfigError, match="scale") as info:
        build_model(config)
    assert info.value.where == "Architecture.Backbone"

    config = copy.deepcopy(CRNN_CONFIG)
    config["Neck"]["encoder_type"] = "lstm"
    with pytest.raises(ConfigError, match="encoder_type") as info:
        build_model(config)
    assert info.value.where == "Architecture.Neck"

    config = copy.deepcopy(CRNN_CONFIG)
    del config["Backbone"]
    with pytest.raises(ConfigError, match="Backbone"):
        build_model(config)

    config = copy.deepcopy(CRNN_CONFIG)
    config["Head"]["name"] = "CTCHed"
    with pytest.raises(ConfigError, match="CTCHead"):
        build_model(config)


def test_export_and_run_with_paddle_inference(tmp_path):
    paddle.seed(3)
    model = build_model(CRNN_CONFIG)
    model.eval()
    # Paddle 3 honours input_spec only with full_graph=True (the SOT path ignores it).
    static = paddle.jit.to_static(
        model, input_spec=[InputSpec([None, 3, 32, None], "float32", "x")], full_graph=True
    )
    prefix = os.path.join(tmp_path, "inference")
    paddle.jit.save(static, prefix)
    config = paddle.inference.Config(prefix + ".json", prefix + ".pdiparams")
    config.disable_gpu()
    config.disable_glog_info()
    predictor = paddle.inference.create_predictor(config)
    rng = np.random.default_rng(5)
    for width in (160, 320):
        x = rng.random((2, 3, 32, width), dtype=np.float32)
        handle = predictor.get_input_handle(predictor.get_input_names()[0])
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(x)
        predictor.run()
        out = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
        with paddle.no_grad():
            expected = model(paddle.to_tensor(x)).numpy()
        assert out.shape == (2, width // 4, 37)
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- losses


def _brute_force_ctc(logits, label, blank=0):
    """-log of the summed probability of every path that collapses to ``label``."""
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    steps, classes = probs.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=steps):
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        if collapsed == list(label):
            total += np.prod([probs[t, c] for t, c in enumerate(path)])
    return -np.log(total)


def test_ctc_loss_matches_brute_force():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 5, 4)).astype(np.float32)  # N=3, T=5, blank + 3 chars
    labels = np.array([[1, 2, 0], [3, 3, 0], [2, 1, 3]], dtype=np.int64)  # 0 = padding
    lengths = np.array([2, 2, 3], dtype=np.int64)
    expected = np.mean([_brute_force_ctc(logits[i], labels[i, : lengths[i]]) for i in range(3)])
    batch = [None, paddle.to_tensor(labels), paddle.to_tensor(lengths)]
    loss = CTCLoss()(paddle.to_tensor(logits), batch)["loss"]
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
    # the same logits inside a return_all_feats dict or a (feats, logits) pair
    as_dict = CTCLoss()({"head_out": paddle.to_tensor(logits)}, batch)["loss"]
    as_pair = CTCLoss()((paddle.rand([3, 5, 8]), paddle.to_tensor(logits)), batch)["loss"]
    np.testing.assert_allclose([float(as_dict), float(as_pair)], [expected, expected], rtol=1e-4)


def test_focal_ctc_loss_down_weights_each_sample():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((2, 6, 5)).astype(np.float32)
    labels = np.array([[1, 4], [2, 0]], dtype=np.int64)
    lengths = np.array([2, 1], dtype=np.int64)
    per_sample = np.array([_brute_force_ctc(logits[i], labels[i, : lengths[i]]) for i in range(2)])
    expected = np.mean(per_sample * (1 - np.exp(-per_sample)) ** 2)
    loss = LOSSES.build({"name": "CTCLoss", "use_focal_loss": True})(
        paddle.to_tensor(logits), [None, paddle.to_tensor(labels), paddle.to_tensor(lengths)]
    )["loss"]
    assert np.isfinite(float(loss))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)


def test_tiny_crnn_overfits_one_batch():
    paddle.seed(0)
    config = copy.deepcopy(CRNN_CONFIG)
    config["Backbone"]["scale"] = 0.35
    config["Head"]["out_channels"] = 11
    model = build_model(config)
    model.train()
    batch = _crnn_batch(batch_size=4, width=100, num_classes=11, max_len=5)
    loss_fn = CTCLoss()
    optimizer = paddle.optimizer.Adam(learning_rate=0.005, parameters=model.parameters())
    losses = []
    for _ in range(30):
        loss = loss_fn(model(batch[0]), batch)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(loss))
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.3 * np.mean(losses[:3])


class _TwoTermLoss(paddle.nn.Layer):
    """A loss reporting named terms and no ``loss`` key, as distillation losses do."""

    def forward(self, predicts, batch):
        return {"loss_ctc": paddle.to_tensor(2.0), "loss_dml": paddle.to_tensor(3.0)}


def test_combined_loss_weights_and_names_terms():
    rng = np.random.default_rng(4)
    logits = paddle.to_tensor(rng.standard_normal((2, 6, 5)).astype(np.float32))
    batch = [None, paddle.to_tensor([[1, 4], [2, 0]], dtype="int64"), paddle.to_tensor([2, 1], dtype="int64")]
    plain = float(CTCLoss()(logits, batch)["loss"])
    focal = float(CTCLoss(use_focal_loss=True)(logits, batch)["loss"])

    combined = LOSSES.build(
        {
            "name": "CombinedLoss",
            "loss_config_list": [
                {"CTCLoss": {"weight": 1.0}},
                {"CTCLoss": {"weight": 0.5, "use_focal_loss": True}},
            ],
        }
    )
    out = combined(logits, batch)
    assert set(out) == {"CTCLoss_0", "CTCLoss_1", "loss"}
    np.testing.assert_allclose(float(out["CTCLoss_0"]), plain, rtol=1e-5)
    np.testing.assert_allclose(float(out["CTCLoss_1"]), 0.5 * focal, rtol=1e-5)
    np.testing.assert_allclose(float(out["loss"]), plain + 0.5 * focal, rtol=1e-5)

    # terms from a loss without a "loss" key are weighted and summed; repeated names get the index
    with_terms = CombinedLoss(
        [{"CTCLoss": {"weight": 1.0}}, {"CTCLoss": {"weight": 2.0}}, {"CTCLoss": {"weight": 1.0}}]
    )
    with_terms.loss_funcs[1] = _TwoTermLoss()
    with_terms.loss_funcs[2] = _TwoTermLoss()
    out = with_terms(logits, batch)
    assert float(out["loss_ctc"]) == 4.0 and float(out["loss_dml"]) == 6.0
    assert float(out["loss_ctc_2"]) == 2.0 and float(out["loss_dml_2"]) == 3.0
    np.testing.assert_allclose(float(out["loss"]), plain + 10.0 + 5.0, rtol=1e-5)


@pytest.mark.parametrize(
    "entries, message",
    [
        ([{"CTCLoss": {}}], "weight"),
        ([{"CTCLos": {"weight": 1.0}}], "CTCLoss"),
        ([{"CTCLoss": {"weight": 1.0, "use_focal": True}}], "use_focal"),
        ([], "at least one"),
    ],
)
def test_combined_loss_config_errors(entries, message):
    with pytest.raises(ConfigError, match=message):
        LOSSES.build({"name": "CombinedLoss", "loss_config_list": entries}, where="Loss")
