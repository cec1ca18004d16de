"""PP-OCRv3/v4 model family: PP-LCNetV3 and its re-parameterisation, RSEFPN, LKPAN, DB head options, the svtr neck,
MultiHead with NRTR/SAR branches and their losses; compatibility with PaddleOCR's checkpoints and key lists."""
import json
import os

import numpy as np
import paddle
import pytest

from conftest import REPO
from ppocr.modeling.architectures import build_model
from ppocr.modeling.backbones.rec_lcnetv3 import LearnableRepLayer, PPLCNetV3
from ppocr.modeling.reparam import fuse_rep_layers, has_unfused_layers
from ppocr.utils.config import load_config
from ppocr.utils.registry import ConfigError

REFERENCE = "/work/shared/reference/paddleocr_checkpoints"
V4_DET = os.path.join(REFERENCE, "train", "PP-OCRv4_mobile_det")
needs_reference = pytest.mark.skipif(not os.path.isdir(REFERENCE), reason="PaddleOCR reference checkpoints absent")


def reference_keys(name):
    with open(os.path.join(REFERENCE, "keys", f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def model_keys(model, prefix=""):
    return {prefix + key: list(value.shape) for key, value in model.state_dict().items()}


def randomize_bn_statistics(model, seed=0):
    """Non-trivial running statistics, so fusing really has to fold them."""
    rng = np.random.RandomState(seed)
    for name, buffer in model.named_buffers():
        if name.endswith("_mean"):
            buffer.set_value(rng.normal(0, 0.1, buffer.shape).astype("float32"))
        elif name.endswith("_variance"):
            buffer.set_value(rng.uniform(0.5, 1.5, buffer.shape).astype("float32"))


def v4_rec_arch(classes=37, nrtr=True, **neck):
    head_list = [{"CTCHead": {"Neck": {"name": "svtr", "dims": 120, "depth": 2, "hidden_dims": 120,
                                       "kernel_size": [1, 3], "use_guide": True, **neck},
                              "Head": {"fc_decay": 0.00001}}}]
    if nrtr:
        head_list.append({"NRTRHead": {"nrtr_dim": 384, "max_text_length": 25}})
    return {"model_type": "rec", "algorithm": "SVTR_LCNet", "Backbone": {"name": "PPLCNetV3", "scale": 0.95},
            "Head": {"name": "MultiHead", "out_channels": classes, "head_list": head_list}}


# -- re-parameterisation -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    dict(in_channels=8, out_channels=8, kernel_size=3, groups=8),  # depthwise with identity + 1x1 branches
    dict(in_channels=8, out_channels=16, kernel_size=1),  # pointwise, no identity
    dict(in_channels=8, out_channels=8, kernel_size=5, stride=2, groups=8),  # stride 2: no activation
    dict(in_channels=8, out_channels=8, kernel_size=3, stride=(2, 1), groups=8),  # rec stride
])
def test_rep_layer_fuses_into_one_equal_conv(args):
    layer = LearnableRepLayer(num_conv_branches=4, **args)
    randomize_bn_statistics(layer)
    layer.eval()
    x = paddle.randn([2, 8, 12, 12])
    before = layer(x).numpy()
    layer.rep()
    assert layer.is_repped and not hasattr(layer, "conv_kxk")
    keys = set(layer.state_dict())
    assert {"reparam_conv.weight", "reparam_conv.bias", "lab.scale", "act.lab.scale"} <= keys
    np.testing.assert_allclose(layer(x).numpy(), before, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("det", [True, False])
def test_pplcnetv3_fused_equals_branches_and_trains_in_both_forms(det):
    paddle.seed(0)
    model = PPLCNetV3(scale=0.5, det=det)
    randomize_bn_statistics(model)
    model.eval()
    x = paddle.to_tensor(np.random.RandomState(1).uniform(-1, 1, [1, 3, 64, 64] if det else [1, 3, 48, 64])
                         .astype("float32"))
    before = model(x)
    before = [t.numpy() for t in (before if det else [before])]
    assert fuse_rep_layers(model) == 28 and not has_unfused_layers(model)
    after = model(x)
    after = [t.numpy() for t in (after if det else [after])]
    for a, b in zip(after, before):  # random weights blow activations up: compare relative to their size
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(b).max())
    if det:
        assert [t.shape[1] for t in after] == model.out_channels == [8, 12, 28, 240]
        assert [t.shape[2] for t in after] == [16, 8, 4, 2]
    else:
        assert after[0].shape == (1, model.out_channels, 1, 8)
    for fused in (False, True):  # a training step in either form reaches every parameter
        model = PPLCNetV3(scale=0.5, det=det, fused=fused)
        model.train()
        out = model(paddle.randn([2, 3, 64, 64]))
        loss = sum(t.mean() for t in out) if det else out.mean()
        loss.backward()
        no_grad = {name for name, p in model.named_parameters() if not p.stop_gradient and p.grad is None}
        # stride-2 layers have no activation, so their act.lab stays unused (as in PaddleOCR)
        unused = {f"{name}.act.lab.{w}" for name, layer in model.named_sublayers()
                  if isinstance(layer, LearnableRepLayer) and not layer.use_act for w in ("scale", "bias")}
        assert no_grad == unused, (fused, sorted(no_grad - unused))


def test_pplcnetv3_rejects_bad_settings():
    with pytest.raises(ConfigError, match="lr_mult_list"):
        PPLCNetV3(lr_mult_list=[1.0, 1.0])
    with pytest.raises(ConfigError, match="scale"):
        PPLCNetV3(scale=0)


# -- PaddleOCR compatibility ---------------------------------------------------------------------------------

@needs_reference
def test_paddleocr_v4_det_checkpoint_loads_and_reproduces_its_output():
    config = load_config(os.path.join(REPO, "configs", "det", "PP-OCRv4", "PP-OCRv4_mobile_det.yml"))
    model = build_model(config["Architecture"])
    params = paddle.load(os.path.join(V4_DET, "latest.pdparams"))
    own = model.state_dict()
    assert sorted(set(own) - set(params)) == [] and sorted(set(params) - set(own)) == []
    model.set_state_dict(params)
    model.eval()
    sample = paddle.to_tensor(np.load(os.path.join(V4_DET, "sample_input.npy")))
    expected = np.load(os.path.join(V4_DET, "sample_output.npy"))
    with paddle.no_grad():
        got = model(sample)["maps"].numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4
    fuse_rep_layers(model)  # the deployed form gives the same map
    with paddle.no_grad():
        assert np.abs(model(sample)["maps"].numpy() - expected).max() < 1e-4


@needs_reference
def test_v4_recipes_have_paddleocr_keys():
    from ppocr.modeling.architectures import with_class_count
    from ppocr.postprocess import build_post_process

    config = load_config(os.path.join(REPO, "configs", "rec", "PP-OCRv4", "PP-OCRv4_mobile_rec.yml"))
    post = build_post_process(config["PostProcess"], config["Global"])
    assert len(post.character) == 6625
    rec = build_model(with_class_count(config["Architecture"], post))
    assert model_keys(rec) == reference_keys("PP-OCRv4_mobile_rec")
    config = load_config(os.path.join(REPO, "configs", "det", "PP-OCRv4", "PP-OCRv4_mobile_det.yml"))
    assert model_keys(build_model(config["Architecture"])) == reference_keys("PP-OCRv4_mobile_det")


@needs_reference
def test_v3_rec_distillation_and_det_cml_keys_match_paddleocr():
    for name, config_path in [
        ("PP-OCRv3_mobile_rec_distillation", "rec/PP-OCRv3/PP-OCRv3_mobile_rec_distillation.yml"),
        ("PP-OCRv3_det_cml", "det/PP-OCRv3/PP-OCRv3_det_cml.yml"),
    ]:
        config = load_config(os.path.join("/work/shared/reference/paddleocr_configs", config_path))
        arch = config["Architecture"]
        for sub in arch["Models"].values():
            if sub["Head"]["name"] == "MultiHead":
                sub["Head"]["out_channels"] = 6625
        assert model_keys(build_model(arch)) == reference_keys(name), name


# -- necks and heads -----------------------------------------------------------------------------------------

def _features(channels, side=64, batch=2):
    return [paddle.randn([batch, c, side // s, side // s]) for c, s in zip(channels, (4, 8, 16, 32))]


@pytest.mark.parametrize("neck", [{"name": "RSEFPN", "out_channels": 32, "shortcut": True},
                                  {"name": "RSEFPN", "out_channels": 32, "shortcut": False},
                                  {"name": "LKPAN", "out_channels": 32},
                                  {"name": "LKPAN", "out_channels": 32, "mode": "lite"}])
def test_det_necks_with_db_head_train_a_step(neck):
    from ppocr.losses import build_loss

    arch = {"model_type": "det", "Backbone": {"name": "PPLCNetV3", "scale": 0.5, "det": True}, "Neck": neck,
            "Head": {"name": "DBHead", "k": 50, "kernel_list": [7, 2, 2], "fix_nan": True}}
    model = build_model(arch)
    model.train()
    maps = model(paddle.randn([2, 3, 64, 64]))["maps"]
    assert maps.shape == [2, 3, 64, 64]
    target = (paddle.rand([2, 64, 64]) > 0.5).astype("float32")
    batch = [None, paddle.rand([2, 64, 64]), paddle.ones([2, 64, 64]), target, paddle.ones([2, 64, 64])]
    loss = build_loss({"name": "DBLoss"})({"maps": maps}, batch)["loss"]
    loss.backward()
    assert model.neck.ins_conv[0].parameters()[0].grad is not None
    model.eval()
    assert model(paddle.randn([1, 3, 64, 64]))["maps"].shape == [1, 1, 64, 64]


def test_db_head_fix_nan_and_kernel_list():
    from ppocr.modeling.heads.det_db_head import DBHead

    head = DBHead(16, fix_nan=True, kernel_list=[5, 4, 2])
    assert head.binarize.conv1.weight.shape == [4, 16, 5, 5] and head.binarize.conv2.weight.shape[2:] == [4, 4]
    head.train()
    x = paddle.randn([1, 16, 8, 8])
    x[0, :, 0, 0] = float("nan")
    assert np.isfinite(head(x)["maps"].numpy()).all()
    with pytest.raises(ConfigError, match="kernel_list"):
        DBHead(16, kernel_list=[3, 2])


def test_svtr_sequence_encoder_shapes_and_guide():
    from ppocr.modeling.necks.rnn import SequenceEncoder

    neck = SequenceEncoder(64, encoder_type="svtr", dims=32, depth=1, hidden_dims=48, kernel_size=[1, 3],
                           use_guide=True)
    x = paddle.randn([2, 64, 1, 10])
    x.stop_gradient = False
    out = neck(x)
    assert out.shape == [2, 10, 32] and neck.out_channels == 32
    out.mean().backward()
    assert x.grad is None  # use_guide: no gradient reaches the input (the backbone)
    assert neck.encoder.conv1.conv.weight.grad is not None


@pytest.mark.parametrize("branch", ["nrtr", "sar"])
def test_multihead_trains_both_branches_and_infers_with_ctc(branch):
    from ppocr.data.imaug.rec_multi_label_ops import MultiLabelEncode
    from ppocr.losses import build_loss

    if branch == "nrtr":
        arch = v4_rec_arch()
        encode = MultiLabelEncode(25, gtc_encode="NRTRLabelEncode")
    else:
        arch = {"model_type": "rec", "Backbone": {"name": "MobileNetV1Enhance", "scale": 0.5,
                                                  "last_conv_stride": [1, 2], "last_pool_type": "avg"},
                "Head": {"name": "MultiHead", "out_channels": 37, "head_list": [
                    {"CTCHead": {"Neck": {"name": "svtr", "dims": 64, "depth": 1, "hidden_dims": 120,
                                          "use_guide": True}, "Head": {"fc_decay": 0.00001}}},
                    {"SARHead": {"enc_dim": 512, "max_text_length": 25}}]}}
        encode = MultiLabelEncode(25)
    model = build_model(arch)
    labels = [encode({"label": text}) for text in ("hello", "ocr42")]
    gtc_key = "label_gtc" if branch == "nrtr" else "label_sar"
    batch = [paddle.randn([2, 3, 48, 96]),
             paddle.to_tensor(np.stack([item["label_ctc"] for item in labels])),
             paddle.to_tensor(np.stack([item[gtc_key] for item in labels])),
             paddle.to_tensor(np.stack([item["length"] for item in labels])),
             paddle.to_tensor(np.array([1.0, 0.75], dtype="float32"))]
    model.train()
    out = model(batch[0], data=batch[1:])
    assert set(out) == {"ctc", "ctc_neck", branch}
    assert out["ctc"].shape[2] == 37
    expected_classes = 37 + 4 if branch == "nrtr" else 37 + 1  # NRTR C+3 (+1 unused), SAR C+2 (- padding)
    assert out[branch].shape[2] == expected_classes
    loss_name = "NRTRLoss" if branch == "nrtr" else "SARLoss"
    losses = build_loss({"name": "MultiLoss", "loss_config_list": [{"CTCLoss": None}, {loss_name: None}]})(out, batch)
    assert set(losses) == {"loss", "CTCLoss", loss_name} and np.isfinite(float(losses["loss"]))
    losses["loss"].backward()
    # use_guide: the backbone learns from the attention branch only, the CTC neck from CTC
    assert all(p.grad is not None for p in model.backbone.parameters() if not p.stop_gradient)
    assert model.head.ctc_encoder.encoder.conv1.conv.weight.grad is not None
    model.eval()
    with paddle.no_grad():
        probs = model(paddle.randn([1, 3, 48, 96])).numpy()
    assert probs.shape[2] == 37 and np.allclose(probs.sum(axis=2), 1.0, atol=1e-4)


def test_multihead_config_errors_name_the_problem():
    with pytest.raises(ConfigError, match="unknown branch 'AttnHead'"):
        build_model({**v4_rec_arch(), "Head": {"name": "MultiHead", "out_channels": 37,
                                               "head_list": [{"AttnHead": {}}]}})
    with pytest.raises(ConfigError, match="CTCHead"):
        build_model({**v4_rec_arch(), "Head": {"name": "MultiHead", "out_channels": 37,
                                               "head_list": [{"NRTRHead": {}}]}})
    with pytest.raises(ConfigError, match="nrtr_dim"):
        arch = v4_rec_arch()
        arch["Head"]["head_list"][1]["NRTRHead"]["nrtr_dim"] = 100
        build_model(arch)


def test_sar_and_nrtr_losses_ignore_padding():
    from ppocr.losses.rec_nrtr_loss import NRTRLoss
    from ppocr.losses.rec_sar_loss import SARLoss

    # SAR: 5 classes predicted, padding id 5; a perfect prediction on the real steps gives ~0 whatever the padding
    labels = np.array([[3, 1, 2, 3, 5, 5]])
    logits = np.full([1, 6, 5], -20.0, dtype="float32")
    for step, target in enumerate(labels[0, 1:]):
        if target < 5:
            logits[0, step, target] = 20.0
    assert float(SARLoss()(paddle.to_tensor(logits), [None, paddle.to_tensor(labels)])["loss"]) < 1e-3
    # NRTR without smoothing: padding (0) is not scored
    target = np.array([[2, 5, 6, 3, 0, 0]])
    logits = np.full([1, 4, 8], -20.0, dtype="float32")
    for step, token in enumerate([5, 6, 3]):
        logits[0, step, token] = 20.0
    batch = [None, paddle.to_tensor(target), paddle.to_tensor(np.array([2]))]
    assert float(NRTRLoss(smoothing=False)(paddle.to_tensor(logits[:, :3]), batch)["loss"]) < 1e-3
    assert float(NRTRLoss()(paddle.to_tensor(logits[:, :3]), batch)["loss"]) > 0.1  # smoothing costs something


def test_distillation_multi_head_losses_read_their_branch():
    from ppocr.losses import build_loss

    paddle.seed(0)
    outputs = {name: {"head_out": {"ctc": paddle.randn([2, 10, 37]), "sar": paddle.randn([2, 25, 38])}}
               for name in ("Student", "Teacher")}
    from ppocr.data.imaug.rec_multi_label_ops import MultiLabelEncode

    encode = MultiLabelEncode(25)
    items = [encode({"label": text}) for text in ("abc", "hello")]
    batch = [None, paddle.to_tensor(np.stack([i["label_ctc"] for i in items])),
             paddle.to_tensor(np.stack([i["label_sar"] for i in items])),
             paddle.to_tensor(np.stack([i["length"] for i in items])), paddle.ones([2])]
    loss = build_loss({"name": "CombinedLoss", "loss_config_list": [
        {"DistillationDMLLoss": {"weight": 1.0, "act": "softmax", "use_log": True, "key": "head_out",
                                 "multi_head": True, "dis_head": "sar", "model_name_pairs": [["Student", "Teacher"]],
                                 "name": "dml_sar"}},
        {"DistillationCTCLoss": {"weight": 1.0, "model_name_list": ["Student"], "key": "head_out",
                                 "multi_head": True}},
        {"DistillationSARLoss": {"weight": 1.0, "model_name_list": ["Student", "Teacher"], "key": "head_out",
                                 "multi_head": True}}]})(outputs, batch)
    assert {"dml_sar_0", "loss_ctc_Student_0", "loss_sar_Student_0", "loss_sar_Teacher_1"} <= set(loss), sorted(loss)
    assert all(np.isfinite(float(v)) for v in loss.values())
    nrtr = build_loss({"name": "DistillationNRTRLoss", "model_name_list": ["Student"], "key": "head_out",
                       "multi_head": True})
    with pytest.raises(KeyError, match="nrtr"):
        nrtr(outputs, batch)


def test_attention_heads_decode_greedily_in_eval_mode():
    from ppocr.modeling.heads.rec_nrtr_head import NRTRHead
    from ppocr.modeling.heads.rec_sar_head import SARHead

    sar = SARHead(32, 10, enc_dim=32, d_k=32, max_text_length=5)
    sar.eval()
    with paddle.no_grad():
        probs = sar(paddle.randn([2, 32, 2, 8]), [None, None, paddle.to_tensor([1.0, 0.5])]).numpy()
    assert probs.shape == (2, 5, 9) and np.allclose(probs.sum(-1), 1.0, atol=1e-4)
    nrtr = NRTRHead(10, d_model=32, nhead=1, num_decoder_layers=1, max_len=4)
    nrtr.eval()
    with paddle.no_grad():
        ids, scores = nrtr(paddle.randn([2, 6, 32]))
    assert ids.shape[0] == 2 and ids.shape[1] <= 4 and (ids.numpy()[:, 0] == 2).all()
    assert scores.shape == ids.shape
