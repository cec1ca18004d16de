"""Global.freeze_norm_stats: a fine-tuned model trains with the batch-norm statistics it was loaded with."""
import os

import numpy as np
import paddle
import pytest

from conftest import tiny_rec_config
from ppocr.engine.trainer import Trainer


def _norm_statistics(model):
    return {name: value.numpy().copy() for name, value in model.state_dict().items()
            if name.endswith(("_mean", "_variance"))}


@pytest.fixture(scope="module")
def pretrained(rec_data, tmp_path_factory):
    """A tiny CRNN trained one epoch, so its running statistics are the data's, not the initial 0 / 1."""
    out = tmp_path_factory.mktemp("freeze_pretrained")
    Trainer(tiny_rec_config(rec_data, out, epochs=1, eval_batch_step=[0, 10 ** 6])).train()
    return os.path.join(str(out), "latest")


def _fine_tune(rec_data, out, pretrained, freeze):
    config = tiny_rec_config(rec_data, out, epochs=1, eval_batch_step=[0, 10 ** 6], pretrained_model=pretrained,
                             freeze_norm_stats=freeze)
    trainer = Trainer(config)
    before_stats, before_weights = _norm_statistics(trainer.model), {
        name: p.numpy().copy() for name, p in trainer.model.named_parameters()}
    trainer.train()
    return trainer, before_stats, before_weights


def test_frozen_statistics_stay_as_loaded_while_the_weights_learn(rec_data, tmp_path, pretrained):
    trainer, before_stats, before_weights = _fine_tune(rec_data, tmp_path / "frozen", pretrained, True)
    after_stats = _norm_statistics(trainer.model)
    assert before_stats and all(np.array_equal(before_stats[k], after_stats[k]) for k in before_stats)
    moved = [name for name, p in trainer.model.named_parameters()
             if not np.array_equal(before_weights[name], p.numpy())]
    assert len(moved) > len(before_weights) // 2


def test_without_the_option_training_moves_the_statistics(rec_data, tmp_path, pretrained):
    trainer, before_stats, _ = _fine_tune(rec_data, tmp_path / "free", pretrained, False)
    after_stats = _norm_statistics(trainer.model)
    assert any(not np.allclose(before_stats[k], after_stats[k]) for k in before_stats)


def test_a_frozen_backbone_in_training_mode_computes_what_it_computes_in_eval_mode(rec_data, tmp_path, pretrained):
    config = tiny_rec_config(rec_data, tmp_path, pretrained_model=pretrained, freeze_norm_stats=True)
    trainer = Trainer(config)
    image = paddle.to_tensor(np.random.default_rng(0).normal(size=(4, 3, 32, 100)).astype("float32"))
    trainer.model.eval()
    with paddle.no_grad():
        evaluated = trainer.model.backbone(image).numpy()
    trainer.model.train()
    with paddle.no_grad():
        trained = trainer.model.backbone(image).numpy()
    np.testing.assert_allclose(trained, evaluated, rtol=1e-5, atol=1e-5)


def test_the_option_must_be_a_boolean(rec_data, tmp_path):
    from ppocr.utils.config import validate_config
    from ppocr.utils.registry import ConfigError

    config = tiny_rec_config(rec_data, tmp_path, freeze_norm_stats="yes")
    with pytest.raises(ConfigError, match="freeze_norm_stats"):
        validate_config(config)
