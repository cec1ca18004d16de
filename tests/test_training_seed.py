"""Global.seed is honoured end to end: model init, sample order and every augmentation draw depend on the seed
only, so two trainings with the same seed give bit-identical weights whatever the process or the number of
loader workers, and another seed gives other weights."""
import numpy as np
import paddle
import pytest

from conftest import run_tool, tiny_rec_config, write_config


def _train(rec_data, save_dir, seed, num_workers, in_process):
    config = tiny_rec_config(rec_data, save_dir, epochs=1)  # 6 steps with RecAug at the recipe's strength
    config["Global"]["seed"] = seed
    config["Train"]["loader"]["num_workers"] = num_workers
    if in_process:
        from ppocr.engine.trainer import Trainer

        Trainer(config).train()
    else:
        run_tool("train.py", write_config(config, save_dir.parent / f"{save_dir.name}.yml"))
    state = paddle.load(str(save_dir / "latest.pdparams"))
    return {name: np.asarray(value) for name, value in state.items() if hasattr(value, "shape")}  # not the token


@pytest.fixture(scope="module")
def weights(rec_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("seed")
    return {
        "tool, 2 workers": _train(rec_data, root / "a", seed=11, num_workers=2, in_process=False),
        "in process, no workers": _train(rec_data, root / "b", seed=11, num_workers=0, in_process=True),
        "other seed": _train(rec_data, root / "c", seed=12, num_workers=0, in_process=True),
    }


def test_same_seed_gives_identical_weights_whatever_the_workers(weights):
    first, second = weights["tool, 2 workers"], weights["in process, no workers"]
    assert first.keys() == second.keys() and len(first) > 10
    different = [name for name in first if not np.array_equal(first[name], second[name])]
    assert not different, different[:5]


def test_another_seed_gives_other_weights(weights):
    first, other = weights["in process, no workers"], weights["other seed"]
    assert any(not np.array_equal(first[name], other[name]) for name in first)
