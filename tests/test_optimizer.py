"""Optimizer and lr schedule building from PaddleOCR-style Optimizer sections."""
import logging
import math

import numpy as np
import paddle
import pytest

from ppocr.optimizer import build_lr_scheduler, build_optimizer
from ppocr.utils.registry import ConfigError


def lr_curve(scheduler, steps):
    """The lr used at each of ``steps`` iterations, stepping after each as the trainer does."""
    values = []
    for _ in range(steps):
        values.append(scheduler())
        scheduler.step()
    return values


def tiny_model(seed=0):
    paddle.seed(seed)
    return paddle.nn.Linear(4, 3)


def weights(model):
    return {n: p.numpy().copy() for n, p in model.named_parameters()}


def train_step(model, optimizer, loss_fn):
    x = paddle.to_tensor(np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4))
    loss = loss_fn(model(x))
    loss.backward()
    optimizer.step()
    optimizer.clear_grad()


def const_section(name="SGD", lr=0.1, **extra):
    return {"name": name, "lr": {"name": "Const", "learning_rate": lr}, **extra}


# ---------------------------------------------------------------- lr schedules


def test_cosine_warmup_rises_linearly_from_zero_to_base_lr():
    sched = build_lr_scheduler({"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 2}, 10, 5)
    lrs = lr_curve(sched, 12)
    assert lrs[0] == 0.0
    np.testing.assert_allclose(lrs[:10], [0.1 * i / 10 for i in range(10)], rtol=1e-9, atol=1e-12)
    assert lrs[10] == pytest.approx(0.1)
    assert lrs[11] < 0.1


def test_cosine_after_warmup_follows_cosine_counted_from_warmup_end():
    sched = build_lr_scheduler({"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 1}, 4, 10)
    lrs = lr_curve(sched, 50)
    total = 4 * 10
    for k in (0, 5, 20, 39):
        assert lrs[10 + k] == pytest.approx(0.05 * (1 + math.cos(math.pi * k / total)), rel=1e-6, abs=1e-12)


def test_cosine_without_warmup_starts_at_base_and_ends_near_zero():
    sched = build_lr_scheduler({"name": "Cosine", "learning_rate": 0.01}, 3, 20)
    lrs = lr_curve(sched, 60)
    assert lrs[0] == pytest.approx(0.01)
    assert lrs[30] == pytest.approx(0.005, rel=1e-6)
    assert lrs[-1] < 0.01 * 1e-2
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_fractional_warmup_epoch():
    sched = build_lr_scheduler({"name": "Const", "learning_rate": 0.2, "warmup_epoch": 0.5}, 2, 10)
    lrs = lr_curve(sched, 8)
    np.testing.assert_allclose(lrs[:5], [0.0, 0.04, 0.08, 0.12, 0.16], atol=1e-12)
    assert lrs[5:] == [pytest.approx(0.2)] * 3


def test_const_without_warmup_is_constant():
    sched = build_lr_scheduler({"name": "Const", "learning_rate": 0.3}, 2, 3)
    assert lr_curve(sched, 10) == [0.3] * 10


def test_linear_decays_polynomially_to_end_lr():
    sched = build_lr_scheduler({"name": "Linear", "learning_rate": 0.1, "end_lr": 0.02}, 2, 10)
    lrs = lr_curve(sched, 25)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[10] == pytest.approx(0.06)
    assert lrs[20] == pytest.approx(0.02)
    assert lrs[24] == pytest.approx(0.02)
    squared = lr_curve(build_lr_scheduler({"name": "Linear", "learning_rate": 0.1, "power": 2.0}, 2, 10), 11)
    assert squared[10] == pytest.approx(0.1 * 0.25)


def test_piecewise_values_switch_at_epoch_boundaries():
    sched = build_lr_scheduler(
        {"name": "Piecewise", "decay_epochs": [1, 3], "values": [0.1, 0.01, 0.001]}, 5, 4
    )
    lrs = lr_curve(sched, 14)
    assert lrs[3] == 0.1 and lrs[4] == 0.01
    assert lrs[11] == 0.01 and lrs[12] == 0.001 and lrs[13] == 0.001


def test_piecewise_warmup_rises_to_first_value_then_counts_from_warmup_end():
    sched = build_lr_scheduler(
        {"name": "Piecewise", "decay_epochs": [1], "values": [0.1, 0.01], "warmup_epoch": 1}, 5, 4
    )
    lrs = lr_curve(sched, 10)
    np.testing.assert_allclose(lrs[:4], [0.0, 0.025, 0.05, 0.075])
    assert lrs[4:8] == [0.1] * 4
    assert lrs[8:] == [0.01] * 2


def test_piecewise_paddleocr_form_with_equal_lengths_keeps_last_value(caplog):
    with caplog.at_level(logging.WARNING):
        sched = build_lr_scheduler({"name": "Piecewise", "decay_epochs": [1, 2], "values": [0.1, 0.01]}, 4, 2)
    assert "after the last boundary" in caplog.text
    assert lr_curve(sched, 6) == [0.1, 0.1, 0.01, 0.01, 0.01, 0.01]


@pytest.mark.parametrize(
    "section, message",
    [
        ({"decay_epochs": [1, 2], "values": [0.1]}, "values needs"),
        ({"decay_epochs": [1, 2], "values": [0.1, 0.01, 0.001, 0.0001]}, "values needs"),
        ({"decay_epochs": [3, 2], "values": [0.1, 0.01, 0.001]}, "ascending"),
        ({"decay_epochs": [2, 2], "values": [0.1, 0.01, 0.001]}, "ascending"),
        ({"decay_epochs": [], "values": [0.1]}, "at least one"),
        ({"decay_epochs": [1], "values": [0.1, "x"]}, "numbers"),
    ],
)
def test_piecewise_validation(section, message):
    with pytest.raises(ConfigError, match=message) as info:
        build_lr_scheduler({"name": "Piecewise", **section}, 4, 2)
    assert info.value.where == "Optimizer.lr"


@pytest.mark.parametrize(
    "section",
    [
        {"name": "Const", "learning_rate": 0.1, "warmup_epoch": 1},
        {"name": "Cosine", "learning_rate": 0.1},
        {"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 1.5},
        {"name": "Linear", "learning_rate": 0.1, "end_lr": 0.001, "power": 2.0, "warmup_epoch": 1},
        {"name": "Piecewise", "decay_epochs": [2, 3], "values": [0.1, 0.05, 0.01], "warmup_epoch": 1},
    ],
)
def test_resumed_scheduler_continues_the_same_lr_sequence(section):
    uninterrupted = build_lr_scheduler(dict(section), 4, 4)
    reference = lr_curve(uninterrupted, 12)[7:]

    first = build_lr_scheduler(dict(section), 4, 4)
    lr_curve(first, 7)
    state = first.state_dict()
    resumed = build_lr_scheduler(dict(section), 4, 4)
    resumed.set_state_dict(state)
    assert lr_curve(resumed, 5) == pytest.approx(reference, rel=1e-12, abs=1e-15)


def test_optimizer_checkpoint_restores_lr_position():
    config = {"name": "Adam", "lr": {"name": "Cosine", "learning_rate": 0.01, "warmup_epoch": 1}}
    model = tiny_model()
    optimizer, scheduler = build_optimizer(config, 3, 4, model)
    for _ in range(6):
        train_step(model, optimizer, lambda out: (out**2).mean())
        scheduler.step()
    state = optimizer.state_dict()
    expected = lr_curve(scheduler, 3)

    new_optimizer, new_scheduler = build_optimizer(config, 3, 4, model)
    new_optimizer.set_state_dict(state)
    assert lr_curve(new_scheduler, 3) == pytest.approx(expected)
    assert new_optimizer.get_lr() == pytest.approx(new_scheduler())


@pytest.mark.parametrize(
    "section, message",
    [
        ({"name": "Cosin", "learning_rate": 0.1}, "did you mean 'Cosine'"),
        ({"name": "Cosine", "learning_rate": 0.1, "warmup_epochs": 2}, "did you mean 'warmup_epoch'"),
        ({"name": "Cosine", "learning_rate": "0.1"}, "must be float"),
        ({"name": "Cosine", "learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": -1}, "warmup_epoch must be >= 0"),
        ({"name": "Cosine", "learning_rate": 0.1, "epochs": 3}, "set by training"),
        ({"name": "Cosine"}, "needs key"),
        ({"warmup_epoch": 1}, "needs a 'name'"),
    ],
)
def test_lr_config_errors(section, message):
    with pytest.raises(ConfigError, match=message) as info:
        build_lr_scheduler(section, 2, 2)
    assert info.value.where == "Optimizer.lr"


# ---------------------------------------------------------------- optimizers


@pytest.mark.parametrize(
    "section",
    [
        {"name": "Adam", "beta1": 0.9, "beta2": 0.999},
        {"name": "AdamW", "weight_decay": 0.05},
        {"name": "Momentum", "momentum": 0.9},
        {"name": "SGD"},
        {"name": "Adadelta", "epsilon": 1e-6, "rho": 0.9},
    ],
)
def test_each_optimizer_updates_weights(section):
    model = tiny_model()
    before = weights(model)
    config = {**section, "lr": {"name": "Const", "learning_rate": 0.1}}
    optimizer, _ = build_optimizer(config, 1, 1, model)
    assert type(optimizer).__name__ == section["name"]
    train_step(model, optimizer, lambda out: ((out - 1.0) ** 2).mean())
    after = weights(model)
    for name in before:
        assert not np.allclose(before[name], after[name]), name


def test_frozen_parameters_are_left_alone():
    model = tiny_model()
    model.weight.stop_gradient = True
    before = weights(model)
    optimizer, _ = build_optimizer(const_section(), 1, 1, model)
    train_step(model, optimizer, lambda out: ((out - 1.0) ** 2).mean())
    after = weights(model)
    np.testing.assert_array_equal(before["weight"], after["weight"])
    assert not np.allclose(before["bias"], after["bias"])


def zero_gradient_loss(out):
    return (out * 0.0).sum()


def test_l2_regularizer_decays_weights_without_loss_gradient():
    model = tiny_model()
    before = weights(model)
    optimizer, _ = build_optimizer(const_section(regularizer={"name": "L2", "factor": 0.5}), 1, 1, model)
    train_step(model, optimizer, zero_gradient_loss)
    np.testing.assert_allclose(weights(model)["weight"], before["weight"] * (1 - 0.1 * 0.5), rtol=1e-6)


def test_l1_regularizer_subtracts_sign():
    model = tiny_model()
    before = weights(model)
    optimizer, _ = build_optimizer(const_section(regularizer={"name": "L1Decay", "factor": 0.01}), 1, 1, model)
    train_step(model, optimizer, zero_gradient_loss)
    expected = before["weight"] - 0.1 * 0.01 * np.sign(before["weight"])
    np.testing.assert_allclose(weights(model)["weight"], expected, rtol=1e-6)


def test_l2_with_adam_shrinks_every_weight():
    model = tiny_model()
    before = weights(model)
    config = const_section("Adam", lr=0.01, regularizer={"name": "L2", "factor": 1e-4})
    optimizer, _ = build_optimizer(config, 1, 1, model)
    train_step(model, optimizer, zero_gradient_loss)
    assert np.all(np.abs(weights(model)["weight"]) < np.abs(before["weight"]))


def test_yaml_weight_decay_number_acts_as_l2():
    model = tiny_model()
    before = weights(model)
    optimizer, _ = build_optimizer(const_section(weight_decay=0.5), 1, 1, model)
    train_step(model, optimizer, zero_gradient_loss)
    np.testing.assert_allclose(weights(model)["weight"], before["weight"] * 0.95, rtol=1e-6)


def test_zero_factor_regularizer_changes_nothing():
    model = tiny_model()
    before = weights(model)
    optimizer, _ = build_optimizer(const_section(regularizer={"name": "L2", "factor": 0}), 1, 1, model)
    train_step(model, optimizer, zero_gradient_loss)
    np.testing.assert_array_equal(weights(model)["weight"], before["weight"])


@pytest.mark.parametrize("names", [["bias"], "bias norm"])
def test_adamw_skips_decay_for_named_parameters(names):
    model = tiny_model()
    before = weights(model)
    config = const_section("AdamW", weight_decay=0.5, no_weight_decay_name=names)
    optimizer, _ = build_optimizer(config, 1, 1, model)
    train_step(model, optimizer, zero_gradient_loss)
    after = weights(model)
    np.testing.assert_allclose(after["weight"], before["weight"] * (1 - 0.1 * 0.5), rtol=1e-6)
    np.testing.assert_array_equal(after["bias"], before["bias"])


def test_adamw_one_dim_params_skip_decay():
    model = tiny_model()
    model.bias.set_value(paddle.ones([3]))
    config = const_section("AdamW", weight_decay=0.5, one_dim_param_no_weight_decay=True)
    optimizer, _ = build_optimizer(config, 1, 1, model)
    train_step(model, optimizer, zero_gradient_loss)
    np.testing.assert_array_equal(weights(model)["bias"], np.ones(3, dtype="float32"))


def steep_loss(out):
    return (out * 1000.0).sum()


def sgd_update(config_extra):
    model = tiny_model()
    before = weights(model)
    optimizer, _ = build_optimizer(const_section(lr=1.0, **config_extra), 1, 1, model)
    train_step(model, optimizer, steep_loss)
    after = weights(model)
    return {n: before[n] - after[n] for n in before}


def test_clip_norm_limits_each_gradient_norm():
    raw = sgd_update({})
    assert all(np.linalg.norm(g) > 1.0 for g in raw.values())
    clipped = sgd_update({"clip_norm": 1.0})
    for name, update in clipped.items():
        assert np.linalg.norm(update) == pytest.approx(1.0, rel=1e-4)
        cos = np.dot(update.ravel(), raw[name].ravel()) / np.linalg.norm(update) / np.linalg.norm(raw[name])
        assert cos == pytest.approx(1.0, abs=1e-5)


def test_clip_norm_global_limits_the_joint_norm():
    raw = sgd_update({})
    clipped = sgd_update({"clip_norm_global": 1.0})
    global_norm = math.sqrt(sum(np.sum(u**2) for u in clipped.values()))
    assert global_norm == pytest.approx(1.0, rel=1e-4)
    raw_norm = math.sqrt(sum(np.sum(u**2) for u in raw.values()))
    for name in raw:
        np.testing.assert_allclose(clipped[name], raw[name] / raw_norm, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "config, where, message",
    [
        ({"name": "Adamm", "lr": {"name": "Const", "learning_rate": 0.1}}, "Optimizer", "did you mean 'Adam'"),
        (const_section("Adam", clip_grad_norm=10), "Optimizer", "did you mean 'clip_norm'"),
        (const_section("Adam", beta3=0.9), "Optimizer", "unknown key 'beta3'"),
        (const_section("Adam", beta1="high"), "Optimizer", "must be float"),
        ({"name": "Adam", "beta1": 0.9}, "Optimizer.lr", "missing lr section"),
        ({"lr": {"name": "Const", "learning_rate": 0.1}}, "Optimizer", "needs a 'name'"),
        (const_section(clip_norm=0), "Optimizer", "clip_norm must be a number > 0"),
        (const_section(clip_norm=1, clip_norm_global=1), "Optimizer", "not both"),
        (const_section(regularizer={"name": "L3", "factor": 0.1}), "Optimizer.regularizer", "did you mean"),
        (const_section(regularizer={"name": "L2", "coeff": 0.1}), "Optimizer.regularizer", "unknown key 'coeff'"),
        (const_section(regularizer={"name": "L2", "factor": -1.0}), "Optimizer.regularizer", "factor must be >= 0"),
        (const_section(weight_decay=0.1, regularizer={"name": "L2", "factor": 0.1}), "Optimizer", "not both"),
        (const_section("AdamW", regularizer={"name": "L2", "factor": 0.1}), "Optimizer.regularizer", "AdamW"),
    ],
)
def test_optimizer_config_errors(config, where, message):
    with pytest.raises(ConfigError, match=message) as info:
        build_optimizer(config, 2, 2, tiny_model())
    assert info.value.where == where


def test_build_optimizer_does_not_modify_the_config():
    config = const_section("Adam", clip_norm=5, regularizer={"name": "L2", "factor": 1e-5})
    snapshot = {**config, "lr": dict(config["lr"]), "regularizer": dict(config["regularizer"])}
    build_optimizer(config, 2, 2, tiny_model())
    assert config == snapshot
