"""CopyPaste (PP-OCRv2 det augmentation) and the datasets' ext_data: extra samples handed to operators."""
from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
from shapely.geometry import Polygon, box

from conftest import tiny_det_config
from ppocr.data import SimpleDataSet
from ppocr.data.imaug.copy_paste import FEATHER_PX, CopyPaste, feathered_alpha
from ppocr.utils.registry import ConfigError

SIZE = 320
DECODE = [{"DecodeImage": {"img_mode": "BGR", "channel_first": False}}, {"DetLabelEncode": None}]


def with_copy_paste(ratio=0.5, limit_paste=True):
    return DECODE + [{"CopyPaste": {"objects_paste_ratio": ratio, "limit_paste": limit_paste}}]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """6 synthetic 320×320 pages with 3–10 lines each (some ignored)."""
    from ppocr.data.synth.writers import make_det_dataset

    root = tmp_path_factory.mktemp("copy_paste_pages")
    make_det_dataset(str(root), 6, seed=3, size=(SIZE, SIZE))
    return root


def dataset(root, transforms, label_file="det_gt.txt", **kwargs):
    return SimpleDataSet(str(root), str(root / label_file), copy.deepcopy(transforms), seed=5, **kwargs)


def pasted_part(item, plain):
    """(count of original boxes, pasted polygons) after checking the originals came through unchanged."""
    count = len(plain["polys"])
    np.testing.assert_array_equal(item["polys"][:count, :plain["polys"].shape[1]], plain["polys"])
    assert item["texts"][:count] == plain["texts"]
    np.testing.assert_array_equal(item["ignore_tags"][:count], plain["ignore_tags"])
    assert len(item["polys"]) == len(item["texts"]) == len(item["ignore_tags"])
    return count, item["polys"][count:]


# -- ext_data in the dataset -------------------------------------------------------------------------------------------
def test_items_get_one_other_decoded_and_encoded_sample(pages):
    plain = dataset(pages, DECODE)
    assert "ext_data" not in plain[0] and plain.ext_data_num == 0
    ds = dataset(pages, with_copy_paste())
    assert ds.ext_data_num == 1
    for index in range(len(ds)):
        item = ds[index]
        (ext,) = item["ext_data"]
        assert ext["img_path"] != item["img_path"]
        assert ext["image"].shape == (SIZE, SIZE, 3) and ext["image"].dtype == np.uint8
        assert ext["polys"].ndim == 3 and len(ext["texts"]) == len(ext["polys"])
        assert "ext_data" not in ext


def test_ext_draws_depend_on_seed_epoch_and_index_only(pages):
    first = dataset(pages, with_copy_paste())
    paths = [first[i]["ext_data"][0]["img_path"] for i in range(len(first))]
    again = dataset(pages, with_copy_paste())
    reverse = [again[i]["ext_data"][0]["img_path"] for i in reversed(range(len(again)))]
    assert reverse[::-1] == paths  # access order (i.e. which worker asks first) does not matter
    again.set_epoch(1)
    assert [again[i]["ext_data"][0]["img_path"] for i in range(len(again))] != paths
    other_seed = SimpleDataSet(str(pages), str(pages / "det_gt.txt"), with_copy_paste(), seed=6)
    assert [other_seed[i]["ext_data"][0]["img_path"] for i in range(len(other_seed))] != paths


def test_unusable_extra_samples_are_skipped_counted_and_replaced(pages, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    lines = (pages / "det_gt.txt").read_text().splitlines()[:2]
    for line in lines:
        name = line.split("\t")[0]
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes((pages / name).read_bytes())
    (tmp_path / "gt.txt").write_text("\n".join(lines + ["broken.jpg\t[]"]) + "\n")
    ds = dataset(tmp_path, with_copy_paste(), label_file="gt.txt", mode="eval")
    for epoch in range(4):
        ds.set_epoch(epoch)
        for index in range(len(ds)):
            item = ds[index]
            if item is not None:
                (ext,) = item["ext_data"]
                assert not ext["img_path"].endswith("broken.jpg")
    reasons = ds.get_skip_stats()["by_reason"]
    assert any(reason.startswith("ext_data: DecodeImage") for reason in reasons), reasons


def test_a_single_sample_has_no_other_sample_and_copy_paste_leaves_it_alone(pages, tmp_path):
    line = (pages / "det_gt.txt").read_text().splitlines()[0]
    (tmp_path / "one.txt").write_text(line + "\n")
    item = SimpleDataSet(str(pages), str(tmp_path / "one.txt"), with_copy_paste(), seed=0)[0]
    plain = SimpleDataSet(str(pages), str(tmp_path / "one.txt"), DECODE, seed=0)[0]
    assert item["ext_data"] == []
    np.testing.assert_array_equal(item["image"], plain["image"])
    np.testing.assert_array_equal(item["polys"], plain["polys"])


def test_ext_op_transform_idx_must_stop_before_the_operator_that_wants_the_samples(pages):
    with pytest.raises(ConfigError, match="ext_op_transform_idx.*0 to 2.*CopyPaste"):
        dataset(pages, with_copy_paste(), ext_op_transform_idx=3)
    # with only DecodeImage run on it, the extra sample has no boxes: CopyPaste rejects the item and says why
    ds = dataset(pages, with_copy_paste(), ext_op_transform_idx=1, mode="eval")
    assert ds[0] is None
    assert ds.get_skip_stats()["by_reason"] == {"CopyPaste raised ValueError": 1}
    with pytest.raises(ValueError, match="ext_op_transform_idx"):
        CopyPaste()({**dataset(pages, DECODE)[0], "ext_data": [{"image": np.zeros((8, 8, 3), np.uint8)}]})


# -- CopyPaste on real pages -------------------------------------------------------------------------------------------
def test_pasted_polygons_are_valid_inside_and_overlap_nothing(pages):
    ratio = 0.5
    plain = dataset(pages, DECODE)
    ds = dataset(pages, with_copy_paste(ratio))
    np.random.seed(0)
    total = 0
    for index in range(len(ds)):
        item = ds[index]
        count, pasted = pasted_part(item, plain[index])
        ext = item["ext_data"][0]
        ext_texts = [t for t, ignored in zip(ext["texts"], ext["ignore_tags"]) if not ignored]
        assert len(pasted) <= max(1, int(ratio * len(ext_texts)))
        assert not item["ignore_tags"][count:].any()
        assert set(item["texts"][count:]) <= set(ext_texts)
        originals = [Polygon(p).buffer(0) for p in plain[index]["polys"]]
        placed = []
        for polygon in pasted:
            shape = Polygon(polygon)
            assert shape.is_valid and shape.area > 4
            assert shape.within(box(0, 0, SIZE, SIZE).buffer(1e-3))
            assert not any(shape.intersects(other) for other in originals + placed)
            placed.append(shape)
        total += len(pasted)
    assert total >= len(ds) // 2


def test_pasted_pixels_are_the_source_pixels_and_nothing_else_changes(pages):
    plain = dataset(pages, DECODE)
    ds = dataset(pages, with_copy_paste(ratio=1.0, limit_paste=False))
    np.random.seed(1)
    compared = 0
    for index in range(len(ds)):
        item = ds[index]
        original = plain[index]
        count, pasted = pasted_part(item, original)
        ext = item["ext_data"][0]
        changed = np.zeros((SIZE, SIZE), np.uint8)
        for polygon, text in zip(pasted, item["texts"][count:]):
            # unscaled paste: the polygon is a source polygon moved by a whole-pixel offset
            sources = [p for p, t in zip(ext["polys"], ext["texts"]) if t == text]
            offsets = [polygon[0] - p[0] for p in sources if np.allclose(polygon - p, polygon[0] - p[0])]
            assert offsets, f"pasted {text!r} matches no source polygon"
            dx, dy = np.round(offsets[0]).astype(int)
            mask = np.zeros((SIZE, SIZE), np.uint8)
            cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
            # deeper inside than the feathered rim, also where the polygon touches the image border
            inner = cv2.erode(mask, np.ones((7, 7), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
            ys, xs = np.nonzero(inner)
            np.testing.assert_array_equal(item["image"][ys, xs], ext["image"][ys - dy, xs - dx])
            compared += len(ys)
            changed |= cv2.dilate(mask, np.ones((3, 3), np.uint8))
        outside = changed == 0
        np.testing.assert_array_equal(item["image"][outside], original["image"][outside])
    assert compared > 1000


def test_paste_count_on_an_empty_page_is_ratio_times_source_text_count(pages):
    source = dataset(pages, DECODE)[2]
    texts = int((~source["ignore_tags"]).sum())
    assert texts >= 3
    for ratio in (0.2, 0.5, 1.0):
        np.random.seed(4)
        blank = {"image": np.zeros((640, 640, 3), np.uint8), "polys": np.zeros((0, 4, 2), np.float32),
                 "texts": [], "ignore_tags": np.zeros(0, bool), "ext_data": [source]}
        out = CopyPaste(objects_paste_ratio=ratio)(blank)
        expected = max(1, int(ratio * texts))
        assert out["polys"].shape == (expected, 4, 2) and len(out["texts"]) == expected
        assert out["ignore_tags"].dtype == bool and not out["ignore_tags"].any()
        # limit_paste: nothing wider or taller than half the page
        spans = out["polys"].max(axis=1) - out["polys"].min(axis=1)
        assert (spans <= 320 + 1e-3).all()
        assert out["image"].any()


def test_same_numpy_seed_same_result(pages):
    ds = dataset(pages, with_copy_paste(ratio=1.0))
    results = []
    for _ in range(2):
        np.random.seed(9)
        results.append([ds[i] for i in range(3)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["polys"], b["polys"])
        assert a["texts"] == b["texts"]


def test_no_ext_data_or_no_text_in_it_changes_nothing(pages):
    page = dataset(pages, DECODE)[0]
    ignored_only = {**page, "ignore_tags": np.ones(len(page["texts"]), bool)}
    for ext_data in (None, [], [ignored_only]):
        data = {key: copy.deepcopy(value) for key, value in page.items()}
        if ext_data is not None:
            data["ext_data"] = ext_data
        out = CopyPaste(objects_paste_ratio=1.0)(data)
        np.testing.assert_array_equal(out["image"], page["image"])
        np.testing.assert_array_equal(out["polys"], page["polys"])
        assert out["texts"] == page["texts"]


def test_feathered_alpha_is_zero_outside_one_inside_and_soft_at_the_edge():
    square = np.array([[2, 2], [18, 2], [18, 18], [2, 18]], np.float32)
    alpha = feathered_alpha(square, (21, 21))
    assert alpha[0, 0] == 0 and alpha[20, 20] == 0
    inside = slice(3 + int(FEATHER_PX), 17 - int(FEATHER_PX))
    assert (alpha[inside, inside] == 1).all()
    assert 0 < alpha[2, 10] < 1


def test_bad_settings_and_misplaced_operator_are_named():
    for ratio in (0.0, 1.5):
        with pytest.raises(ConfigError, match="objects_paste_ratio"):
            CopyPaste(objects_paste_ratio=ratio)
    with pytest.raises(ValueError, match="after DecodeImage and DetLabelEncode"):
        CopyPaste()({"image": np.zeros((8, 8, 3), np.uint8), "ext_data": [{"image": np.zeros((8, 8, 3))}]})


# -- training with CopyPaste -------------------------------------------------------------------------------------------
def test_tiny_db_trains_with_copy_paste(det_data, tmp_path):
    from ppocr.engine.trainer import Trainer

    config = tiny_det_config(det_data, tmp_path, epochs=1, eval_batch_step=[1000, 1000])
    transforms = config["Train"]["dataset"]["transforms"]
    at = next(i for i, op in enumerate(transforms) if "DetLabelEncode" in op) + 1
    transforms.insert(at, {"CopyPaste": {"objects_paste_ratio": 0.5}})
    trainer = Trainer(config)
    assert trainer.train_dataset.ext_data_num == 1
    states = trainer.train()
    assert states["global_step"] == len(trainer.train_loader) == 2
    assert trainer.train_dataset.get_skip_stats()["total"] == 0
