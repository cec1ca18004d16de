"""DBNet model pieces: backbone/neck/head shapes, BaseModel assembly, DBLoss behaviour and training."""
import numpy as np
import paddle
import pytest

from ppocr.losses.det_basic_loss import BalanceLoss, DiceLoss, MaskL1Loss
from ppocr.losses.det_db_loss import DBLoss
from ppocr.modeling.architectures import build_model
from ppocr.modeling.backbones.det_mobilenet_v3 import MobileNetV3Det
from ppocr.modeling.backbones.det_resnet_vd import ResNet_vd
from ppocr.modeling.necks.db_fpn import DBFPN, upsample_nearest
from ppocr.utils.registry import BACKBONES, HEADS, LOSSES, NECKS, ConfigError

DB_ARCH = {
    "model_type": "det",
    "algorithm": "DB",
    "Backbone": {"name": "MobileNetV3Det", "scale": 0.5, "model_name": "large", "disable_se": True},
    "Neck": {"name": "DBFPN", "out_channels": 96},
    "Head": {"name": "DBHead", "k": 50},
}


def shapes(tensors):
    return [tuple(t.shape) for t in tensors]


def n_params(layer):
    return sum(int(np.prod(p.shape)) for p in layer.parameters())


@pytest.fixture(scope="module")
def mv3_features():
    paddle.seed(0)
    backbone = MobileNetV3Det(model_name="large", scale=0.5)
    backbone.eval()
    with paddle.no_grad():
        return backbone, backbone(paddle.rand([1, 3, 640, 640]))


def test_mobilenet_v3_det_large_half_stage_shapes(mv3_features):
    backbone, features = mv3_features
    assert shapes(features) == [(1, 16, 160, 160), (1, 24, 80, 80), (1, 56, 40, 40), (1, 480, 20, 20)]
    assert backbone.out_channels == [16, 24, 56, 480]


def test_mobilenet_v3_det_small_and_disable_se():
    small = MobileNetV3Det(model_name="small", scale=1.0)
    small.eval()
    with paddle.no_grad():
        features = small(paddle.rand([1, 3, 64, 96]))
    assert [f.shape[2:] for f in features] == [[16, 24], [8, 12], [4, 6], [2, 3]]
    assert [f.shape[1] for f in features] == small.out_channels == [16, 24, 48, 576]
    with_se = MobileNetV3Det(scale=0.5, disable_se=False)
    without_se = MobileNetV3Det(scale=0.5, disable_se=True)
    assert without_se.out_channels == with_se.out_channels
    assert n_params(without_se) < n_params(with_se)
    assert not any("mid_se" in name for name, _ in without_se.named_sublayers())


@pytest.mark.parametrize(
    "layers, channels", [(18, [64, 128, 256, 512]), (34, [64, 128, 256, 512]), (50, [256, 512, 1024, 2048])]
)
def test_resnet_vd_det_stages(layers, channels):
    backbone = ResNet_vd(layers=layers)
    backbone.eval()
    with paddle.no_grad():
        features = backbone(paddle.rand([1, 3, 64, 64]))
    assert backbone.out_channels == channels
    assert shapes(features) == [(1, c, 64 // s, 64 // s) for c, s in zip(channels, (4, 8, 16, 32))]


def test_bad_backbone_options_are_config_errors():
    with pytest.raises(ConfigError, match="model_name"):
        BACKBONES.build({"name": "MobileNetV3Det", "model_name": "huge"}, in_channels=3)
    with pytest.raises(ConfigError, match="scale"):
        BACKBONES.build({"name": "MobileNetV3Det", "scale": 0.6}, in_channels=3)
    with pytest.raises(ConfigError, match="layers"):
        BACKBONES.build({"name": "ResNet_vd", "layers": 20}, in_channels=3)


def test_upsample_nearest_matches_interpolate():
    x = paddle.rand([2, 3, 5, 7])
    expected = paddle.nn.functional.interpolate(x, scale_factor=4, mode="nearest")
    np.testing.assert_array_equal(upsample_nearest(x, 4).numpy(), expected.numpy())


def test_dbfpn_fuses_stages_at_quarter_resolution(mv3_features):
    backbone, features = mv3_features
    neck = NECKS.build({"name": "DBFPN", "out_channels": 96}, in_channels=backbone.out_channels)
    with paddle.no_grad():
        fused = neck(features)
    assert neck.out_channels == 96
    assert tuple(fused.shape) == (1, 96, 160, 160)
    with pytest.raises(ConfigError, match="divisible by 4"):
        DBFPN(in_channels=[16, 24, 56, 480], out_channels=90)


def test_dbhead_train_returns_three_maps_eval_returns_shrink():
    paddle.seed(1)
    head = HEADS.build({"name": "DBHead", "k": 50}, in_channels=32)
    x = paddle.rand([2, 32, 16, 24])
    maps = head(x)["maps"].numpy()
    assert maps.shape == (2, 3, 64, 96)
    assert ((maps >= 0) & (maps <= 1)).all()
    shrink, thresh, binary = maps[:, 0], maps[:, 1], maps[:, 2]
    np.testing.assert_allclose(binary, 1 / (1 + np.exp(-50 * (shrink - thresh))), atol=1e-5)

    head.eval()
    with paddle.no_grad():
        eval_maps = head(x)["maps"]
        np.testing.assert_allclose(eval_maps.numpy(), head.binarize(x).numpy(), atol=1e-6)
    assert tuple(eval_maps.shape) == (2, 1, 64, 96)


def test_build_model_db_train_and_eval_shapes():
    paddle.seed(2)
    model = build_model(DB_ARCH)
    x = paddle.rand([2, 3, 64, 96])
    assert tuple(model(x)["maps"].shape) == (2, 3, 64, 96)
    model.eval()
    with paddle.no_grad():
        assert tuple(model(x)["maps"].shape) == (2, 1, 64, 96)


# ---- losses -----------------------------------------------------------------------------------


def test_dice_and_masked_l1_values():
    pred = paddle.to_tensor([[[0.8, 0.2], [0.6, 0.0]]])
    gt = paddle.to_tensor([[[1.0, 0.0], [1.0, 1.0]]])
    mask = paddle.to_tensor([[[1.0, 1.0], [1.0, 0.0]]])
    # masked: intersection 0.8+0.6, sum(pred) 1.6, sum(gt) 2
    assert DiceLoss()(pred, gt, mask).item() == pytest.approx(1 - 2 * 1.4 / 3.6, abs=1e-5)
    assert MaskL1Loss()(pred, gt, mask).item() == pytest.approx((0.2 + 0.2 + 0.4) / 3, abs=1e-5)


def test_balance_loss_keeps_positives_and_hardest_negatives():
    pred = np.array([[[0.7, 0.9, 0.8, 0.6, 0.1, 0.05, 0.2, 0.3]]], dtype=np.float32)
    gt = np.array([[[1, 0, 0, 0, 0, 0, 0, 0]]], dtype=np.float32)
    mask = np.ones_like(gt)
    bce = -(gt * np.log(pred) + (1 - gt) * np.log(1 - pred))
    negatives = np.sort(bce[gt == 0])[::-1]
    expected = (bce[gt == 1].sum() + negatives[:3].sum()) / 4  # 1 positive, 3 × 1 negatives
    loss = BalanceLoss(main_loss_type="BCELoss", negative_ratio=3)
    got = loss(*(paddle.to_tensor(a) for a in (pred, gt, mask))).item()
    assert got == pytest.approx(expected, rel=1e-4)
    unbalanced = BalanceLoss(balance_loss=False, main_loss_type="BCELoss")
    assert unbalanced(*(paddle.to_tensor(a) for a in (pred, gt, mask))).item() == pytest.approx(bce.mean(), rel=1e-4)
    with pytest.raises(ConfigError, match="main_loss_type"):
        BalanceLoss(main_loss_type="FocalLoss")


def make_db_batch(size=64):
    """Two images with one text rectangle each; labels the way DB label makers draw them."""
    shrink = np.zeros((2, size, size), np.float32)
    shrink[0, 20:36, 10:50] = 1
    shrink[1, 30:42, 16:40] = 1
    threshold = np.full((2, size, size), 0.3, np.float32)
    threshold_mask = np.zeros((2, size, size), np.float32)
    for i, (y0, y1, x0, x1) in enumerate([(20, 36, 10, 50), (30, 42, 16, 40)]):
        threshold_mask[i, y0 - 4 : y1 + 4, x0 - 4 : x1 + 4] = 1
        threshold[i, y0 - 2 : y1 + 2, x0 - 2 : x1 + 2] = 0.7
        threshold[i, y0 + 2 : y1 - 2, x0 + 2 : x1 - 2] = 0.3
    shrink_mask = np.ones((2, size, size), np.float32)
    image = np.random.default_rng(0).random((2, 3, size, size), dtype=np.float32)
    return [paddle.to_tensor(a) for a in (image, threshold, threshold_mask, shrink, shrink_mask)]


def test_dbloss_weights_follow_paddleocr():
    paddle.seed(3)
    batch = make_db_batch()
    maps = {"maps": paddle.rand([2, 3, 64, 64]) * 0.98 + 0.01}
    plain = DBLoss(alpha=1, beta=1)(maps, batch)
    weighted = LOSSES.build({"name": "DBLoss", "alpha": 5, "beta": 10})(maps, batch)
    assert set(weighted) == {"loss", "loss_shrink_maps", "loss_threshold_maps", "loss_binary_maps"}
    assert weighted["loss_shrink_maps"].item() == pytest.approx(5 * plain["loss_shrink_maps"].item(), rel=1e-5)
    assert weighted["loss_threshold_maps"].item() == pytest.approx(10 * plain["loss_threshold_maps"].item(), rel=1e-5)
    assert weighted["loss_binary_maps"].item() == pytest.approx(plain["loss_binary_maps"].item(), rel=1e-5)
    total = sum(weighted[k].item() for k in ("loss_shrink_maps", "loss_threshold_maps", "loss_binary_maps"))
    assert weighted["loss"].item() == pytest.approx(total, rel=1e-5)
    with pytest.raises(ValueError, match="3 channels"):
        DBLoss()({"maps": maps["maps"][:, :1]}, batch)


@pytest.mark.parametrize("main_loss_type", ["DiceLoss", "BCELoss"])
def test_dbloss_decreases_when_training_a_db_model(main_loss_type):
    paddle.seed(4)
    model = build_model(DB_ARCH)
    loss_fn = DBLoss(main_loss_type=main_loss_type)
    optimizer = paddle.optimizer.Adam(learning_rate=2e-3, parameters=model.parameters())
    batch = make_db_batch()
    losses = []
    for _ in range(20):
        out = loss_fn(model(batch[0]), batch)
        assert all(np.isfinite(v.item()) for v in out.values())
        out["loss"].backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(out["loss"].item())
    assert losses[-1] < 0.8 * losses[0]
    assert np.sum(np.diff(losses) < 0) >= 15
