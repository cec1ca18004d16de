"""Datasets and loaders: label files, LMDBs, ratio_list draws, skipped samples, batching."""
from __future__ import annotations

import os
import pickle

import cv2
import lmdb
import numpy as np
import pytest

from ppocr.data import DataError, LMDBDataSet, SimpleDataSet, build_dataloader
from ppocr.data.lmdb_writer import write_lmdb
from ppocr.utils.registry import OPERATORS, ConfigError

H, W = 8, 24


# Test-only operators; real ones live in ppocr/data/imaug. Each sample's label is "s<id>" so the
# tests can tell exactly which samples a batch holds.
@OPERATORS.register(name="TestDatasetsDecode")
class _DecodeForTest:
    def __call__(self, data):
        image = cv2.imdecode(np.frombuffer(data["image"], np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError("not an image")
        data["image"] = image
        return data


@OPERATORS.register(name="TestDatasetsDropLabel")
class _DropLabelForTest:
    def __init__(self, label: str = "DROP"):
        self.label = label

    def __call__(self, data):
        return None if data["label"] == self.label else data


@OPERATORS.register(name="TestDatasetsKeep")
class _KeepForTest:
    def __call__(self, data):
        image = cv2.resize(data["image"], (W, H)).transpose(2, 0, 1).astype(np.float32) / 255.0
        return [image, np.array(int(data["label"][1:]), dtype=np.int64)]


TRANSFORMS = [{"TestDatasetsDecode": None}, {"TestDatasetsDropLabel": None}, {"TestDatasetsKeep": None}]


def png_bytes(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, size=(H + seed % 5, W + seed % 7, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def write_label_file(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def image_dir(tmp_path):
    """40 images img_0.png … img_39.png plus one corrupt file bad.png."""
    root = tmp_path / "data"
    (root / "imgs").mkdir(parents=True)
    for i in range(40):
        (root / "imgs" / f"img_{i}.png").write_bytes(png_bytes(i))
    (root / "imgs" / "bad.png").write_bytes(b"definitely not a png")
    return root


def rec_lines(ids):
    return [f"imgs/img_{i}.png\ts{i}" for i in ids]


def ids_of(dataset):
    """Sample ids of the current epoch, in dataset order."""
    return [int(dataset[i][1]) for i in range(len(dataset))]


def sample_ids(loader):
    out = []
    for image, ids in loader:
        out.extend(ids.numpy().tolist())
    return out


def make_config(dataset, batch_size=4, mode="Train", **loader):
    return {"Global": {}, mode: {"dataset": dataset,
                                 "loader": {"batch_size_per_card": batch_size, "num_workers": 0, **loader}}}


# ---- label files ---------------------------------------------------------------------------------

def test_ratio_list_draws_per_file_and_redraws_each_epoch(image_dir, tmp_path):
    a = write_label_file(tmp_path / "a.txt", rec_lines(range(0, 10)))
    b = write_label_file(tmp_path / "b.txt", rec_lines(range(10, 30)))
    ds = SimpleDataSet(str(image_dir), [a, b], TRANSFORMS, ratio_list=[0.5, 0.25], seed=7)
    assert len(ds) == 5 + 5
    draws = []
    for epoch in range(3):
        ds.set_epoch(epoch)
        ids = ids_of(ds)
        assert sum(i < 10 for i in ids) == 5 and sum(i >= 10 for i in ids) == 5
        assert len(set(ids)) == 10
        draws.append(sorted(ids))
    assert draws[0] != draws[1] != draws[2]

    same_seed = SimpleDataSet(str(image_dir), [a, b], TRANSFORMS, ratio_list=[0.5, 0.25], seed=7)
    same_seed.set_epoch(2)
    assert sorted(ids_of(same_seed)) == draws[2]
    other_seed = SimpleDataSet(str(image_dir), [a, b], TRANSFORMS, ratio_list=[0.5, 0.25], seed=8)
    assert sorted(ids_of(other_seed)) != draws[0]


def test_shuffle_orders_deterministically_and_ratio_one_keeps_everything(image_dir, tmp_path):
    a = write_label_file(tmp_path / "a.txt", rec_lines(range(20)))
    plain = SimpleDataSet(str(image_dir), a, TRANSFORMS, ratio_list=1.0)
    assert ids_of(plain) == list(range(20))
    shuffled = SimpleDataSet(str(image_dir), a, TRANSFORMS, shuffle=True, seed=3)
    again = SimpleDataSet(str(image_dir), a, TRANSFORMS, shuffle=True, seed=3)
    assert ids_of(shuffled) == ids_of(again) != list(range(20))
    assert sorted(ids_of(shuffled)) == list(range(20))


def test_delimiter_blank_lines_and_label_with_delimiter(image_dir, tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes("\ufeffimgs/img_0.png\thello\tworld\n\n   \r\nimgs/img_1.png\t  spaced  \r\n".encode())
    ds = SimpleDataSet(str(image_dir), str(path), [])
    assert [label for _, label in ds.samples] == ["hello\tworld", "  spaced  "]
    item = ds[0]
    assert item["label"] == "hello\tworld" and item["image"] == png_bytes(0)
    assert item["img_path"] == os.path.join(str(image_dir), "imgs/img_0.png")

    spaces = write_label_file(tmp_path / "spaces.txt", ["imgs/img_2.png a b c"])
    ds = SimpleDataSet(str(image_dir), spaces, [], delimiter=" ")
    assert ds.samples[0][1] == "a b c"


def test_missing_image_names_label_file_line_and_path(image_dir, tmp_path):
    labels = write_label_file(tmp_path / "labels.txt", rec_lines([0, 1]) + ["imgs/nope.png\tx"])
    with pytest.raises(DataError, match=r"labels\.txt, line 3: image .*imgs/nope\.png does not exist"):
        SimpleDataSet(str(image_dir), labels, TRANSFORMS)


def test_line_without_delimiter_and_missing_label_file(image_dir, tmp_path):
    labels = write_label_file(tmp_path / "labels.txt", rec_lines([0]) + ["imgs/img_1.png s1"])
    with pytest.raises(DataError, match=r"labels\.txt, line 2: no delimiter"):
        SimpleDataSet(str(image_dir), labels, TRANSFORMS)
    good = write_label_file(tmp_path / "good.txt", rec_lines([0]))
    with pytest.raises(DataError, match=r"cannot read label file .*missing\.txt"):
        SimpleDataSet(str(image_dir), [good, str(tmp_path / "missing.txt")], TRANSFORMS)


def test_bad_ratio_list_is_a_config_error(image_dir, tmp_path):
    a = write_label_file(tmp_path / "a.txt", rec_lines(range(4)))
    with pytest.raises(ConfigError, match="ratio_list.*2 entries but there are 1 label files"):
        SimpleDataSet(str(image_dir), a, TRANSFORMS, ratio_list=[0.5, 0.5])
    with pytest.raises(ConfigError, match="between 0 and 1"):
        SimpleDataSet(str(image_dir), a, TRANSFORMS, ratio_list=1.5)


# ---- skipped samples -----------------------------------------------------------------------------

def test_train_replaces_corrupt_and_dropped_samples_and_counts_them(image_dir, tmp_path, caplog):
    lines = rec_lines(range(6)) + ["imgs/bad.png\ts90", "imgs/img_7.png\tDROP"]
    ds = SimpleDataSet(str(image_dir), write_label_file(tmp_path / "l.txt", lines), TRANSFORMS, mode="train")
    items = [ds[i] for i in range(len(ds))]
    assert all(item is not None and item[0].shape == (3, H, W) for item in items)
    assert {int(item[1]) for item in items} <= set(range(6))
    stats = ds.get_skip_stats()
    assert stats["total"] >= 2
    assert stats["by_reason"]["TestDatasetsDecode raised ValueError"] >= 1
    assert stats["by_reason"]["TestDatasetsDropLabel dropped the sample"] >= 1
    assert "bad.png" in caplog.text and "not an image" in caplog.text


def test_train_gives_up_when_nothing_is_usable(image_dir, tmp_path):
    labels = write_label_file(tmp_path / "l.txt", ["imgs/bad.png\ts1"])
    ds = SimpleDataSet(str(image_dir), labels, TRANSFORMS, mode="train")
    with pytest.raises(DataError, match="samples in a row could not be used.*bad.png"):
        ds[0]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_eval_drops_bad_samples_without_duplicates(image_dir, tmp_path, num_workers):
    # batch 2 = samples 2 and 3, both unusable: the whole batch disappears
    lines = rec_lines([0, 1]) + ["imgs/bad.png\ts90", "imgs/img_3.png\tDROP"] + rec_lines(range(4, 9))
    labels = write_label_file(tmp_path / "l.txt", lines)
    dataset = {"name": "SimpleDataSet", "data_dir": str(image_dir), "label_file_list": [labels],
               "transforms": TRANSFORMS}
    ds, loader = build_dataloader(make_config(dataset, 2, "Eval", num_workers=num_workers), "Eval")
    assert ds[2] is None
    assert len(loader) == 5
    batches = [ids.numpy().tolist() for _, ids in loader]
    assert batches == [[0, 1], [4, 5], [6, 7], [8]]
    stats = ds.get_skip_stats()
    assert ds.skipped == stats
    assert stats["total"] == 3  # ds[2] above plus one pass over the loader
    assert stats["by_reason"] == {"TestDatasetsDecode raised ValueError": 2,
                                  "TestDatasetsDropLabel dropped the sample": 1}


# ---- LMDB ----------------------------------------------------------------------------------------

def make_lmdb(path, ids):
    return write_lmdb(str(path), [(png_bytes(i), f"s{i}") for i in ids])


def lmdb_ids(ds):
    return sorted(ids_of(ds))


def test_lmdb_single_nested_and_several_dirs(tmp_path):
    make_lmdb(tmp_path / "one", range(5))
    make_lmdb(tmp_path / "tree" / "b" / "lmdb2", range(10, 13))
    make_lmdb(tmp_path / "tree" / "a", range(20, 24))
    single = LMDBDataSet(str(tmp_path / "one"), TRANSFORMS, mode="eval")
    assert lmdb_ids(single) == list(range(5))
    item = single[0]
    assert item[0].shape == (3, H, W) and item[0].dtype == np.float32

    nested = LMDBDataSet(str(tmp_path / "tree"), TRANSFORMS, mode="eval")
    assert nested.lmdb_dirs == [str(tmp_path / "tree" / "a"), str(tmp_path / "tree" / "b" / "lmdb2")]
    assert lmdb_ids(nested) == [10, 11, 12, 20, 21, 22, 23]

    several = LMDBDataSet([str(tmp_path / "one"), str(tmp_path / "tree")], TRANSFORMS, mode="eval",
                          ratio_list=[0.4, 1.0])
    ids = lmdb_ids(several)
    assert len(ids) == 2 + 3 + 4 and sum(i < 5 for i in ids) == 2
    per_lmdb = LMDBDataSet([str(tmp_path / "one"), str(tmp_path / "tree")], TRANSFORMS, mode="eval",
                           ratio_list=[1.0, 0.5, 0.0])
    ids = lmdb_ids(per_lmdb)
    assert ids[:5] == list(range(5)) and len(ids) == 7 and set(ids[5:]) < {20, 21, 22, 23}

    pickle.loads(pickle.dumps(several))  # spawn-started workers get a copy without open environments


def test_lmdb_errors_name_the_path(tmp_path):
    raw = tmp_path / "no_count"
    env = lmdb.open(str(raw), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"image-000000001", png_bytes(0))
    env.close()
    with pytest.raises(DataError, match="no_count has no 'num-samples'"):
        LMDBDataSet(str(raw), TRANSFORMS)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="no LMDB .* found in .*empty"):
        LMDBDataSet(str(tmp_path / "empty"), TRANSFORMS)
    with pytest.raises(DataError, match="missing_dir is not a directory"):
        LMDBDataSet(str(tmp_path / "missing_dir"), TRANSFORMS)


def test_lmdb_corrupt_sample_is_skipped(tmp_path):
    write_lmdb(str(tmp_path / "db"), [(png_bytes(0), "s0"), (b"junk", "s1"), (png_bytes(2), "s2")])
    ds = LMDBDataSet(str(tmp_path / "db"), TRANSFORMS, mode="eval")
    assert ds[1] is None
    assert ds.get_skip_stats()["by_reason"] == {"TestDatasetsDecode raised ValueError": 1}


# ---- loader --------------------------------------------------------------------------------------

def test_workers_yield_the_same_samples_and_shapes(tmp_path):
    make_lmdb(tmp_path / "a", range(9))
    make_lmdb(tmp_path / "b", range(100, 108))
    dataset = {"name": "LMDBDataSet", "data_dir": [str(tmp_path / "a"), str(tmp_path / "b")],
               "transforms": TRANSFORMS, "ratio_list": [1.0, 0.5]}
    results = []
    for workers in (0, 2):
        _, loader = build_dataloader(make_config(dataset, 4, shuffle=True, num_workers=workers), "Train", seed=5)
        batches = list(loader)
        assert [len(ids) for _, ids in batches] == [4, 4, 4, 1]
        for image, ids in batches:
            assert tuple(image.shape) == (len(ids), 3, H, W) and str(image.dtype) == "paddle.float32"
        results.append([ids.numpy().tolist() for _, ids in batches])
    assert results[0] == results[1]
    flat = sum(results[0], [])
    assert len(set(flat)) == 13 and sum(i >= 100 for i in flat) == 4


def test_drop_last_and_epochs_redraw(image_dir, tmp_path):
    labels = write_label_file(tmp_path / "l.txt", rec_lines(range(20)))
    dataset = {"name": "SimpleDataSet", "data_dir": str(image_dir), "label_file_list": labels,
               "transforms": TRANSFORMS, "ratio_list": 0.55}
    ds, loader = build_dataloader(make_config(dataset, 4, drop_last=True), "Train", seed=1)
    assert len(ds) == 11 and len(loader) == 2
    first = sample_ids(loader)
    loader.set_epoch(1)
    second = sample_ids(loader)
    assert len(first) == len(second) == 8 and sorted(first) != sorted(second)
    ds.set_epoch(0)  # what a trainer may call instead of loader.set_epoch
    loader.batch_sampler.set_epoch(0)
    assert sample_ids(loader) == first

    _, eval_loader = build_dataloader(make_config(dataset, 4, mode="Eval"), "Eval", seed=1)
    assert sample_ids(eval_loader) == sample_ids(eval_loader)  # evaluations compare the same draw


def test_loader_config_errors(image_dir, tmp_path):
    labels = write_label_file(tmp_path / "l.txt", rec_lines(range(4)))
    dataset = {"name": "SimpleDataSet", "data_dir": str(image_dir), "label_file_list": labels,
               "transforms": TRANSFORMS}
    with pytest.raises(ConfigError, match=r"Train\.loader\.batchsize"):
        build_dataloader(make_config(dataset, batchsize=3), "Train")
    with pytest.raises(ConfigError, match=r"Train\.loader\.num_workers: must be int"):
        build_dataloader(make_config(dataset, num_workers="2"), "Train")
    with pytest.raises(ConfigError, match=r"Eval\.dataset\.ratio_list"):
        build_dataloader(make_config({**dataset, "ratio_list": [1.0, 1.0]}, mode="Eval"), "Eval")
    with pytest.raises(ConfigError, match=r"Train\.dataset.*label_fil"):
        build_dataloader(make_config({**dataset, "label_files": labels}), "Train")


# ---- with the real operators ---------------------------------------------------------------------

REAL_OPS = ("DecodeImage", "CTCLabelEncode", "RecResizeImg", "KeepKeys")


@pytest.mark.skipif(not all(name in OPERATORS for name in REAL_OPS), reason="real rec operators not written yet")
def test_rec_pipeline_end_to_end(image_dir, tmp_path):
    lines = [f"imgs/img_{i}.png\tab{i}" for i in range(6)] + ["imgs/bad.png\tok", "imgs/img_6.png\tmuch_too_long"]
    labels = write_label_file(tmp_path / "l.txt", lines)
    dataset = {"name": "SimpleDataSet", "data_dir": str(image_dir), "label_file_list": [labels],
               "transforms": [{"DecodeImage": {"img_mode": "BGR", "channel_first": False}},
                              {"CTCLabelEncode": None},
                              {"RecResizeImg": {"image_shape": [3, 32, 100]}},
                              {"KeepKeys": {"keep_keys": ["image", "label", "length"]}}]}
    loader_config = {"batch_size_per_card": 4, "num_workers": 0}
    config = {"Global": {"max_text_length": 8, "use_space_char": False},
              "Train": {"dataset": dataset, "loader": {**loader_config, "shuffle": True}},
              "Eval": {"dataset": dataset, "loader": loader_config}}

    ds, loader = build_dataloader(config, "Train", seed=0)
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [4, 4]  # the two bad lines are replaced by good ones
    image, label, length = batches[0]
    assert tuple(image.shape) == (4, 3, 32, 100) and tuple(label.shape) == (4, 8)
    assert length.numpy().tolist() == [3, 3, 3, 3]
    reasons = ds.get_skip_stats()["by_reason"]
    assert reasons["CTCLabelEncode dropped the sample"] >= 1
    assert any(reason.startswith("DecodeImage raised") for reason in reasons)

    ds, loader = build_dataloader(config, "Eval")
    assert [len(b[0]) for b in loader] == [4, 2]
    assert ds.get_skip_stats()["total"] == 2
