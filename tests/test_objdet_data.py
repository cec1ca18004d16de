"""EfficientDet data: VOC → COCO → dataset round trip, sharded LMDB conversion with its warnings file, bad input."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO, TOOLS
from ppocr.data.coco_dataset import COCODataSet
from ppocr.data.errors import DataError
from ppocr.data.lmdb_dataset import LMDBDataSet
from ppocr.data.synth.shapes import SHAPE_CLASSES, draw_shapes_image, make_shapes_dataset
from ppocr.data.voc_to_coco import convert_voc

DECODE = [{"DecodeImage": {"img_mode": "RGB"}}, {"ObjDetLabelDecode": {"max_instances": 100}},
          {"KeepKeys": {"keep_keys": ["image", "gt_boxes", "gt_classes", "image_id"]}}]


def _tool(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=300)


def test_voc_to_coco_to_dataset_and_lmdb_shards_round_trip(tmp_path):
    make_shapes_dataset(str(tmp_path / "voc"), 5, seed=3, fmt="voc", split="train")
    out = tmp_path / "train.json"
    result = convert_voc(str(tmp_path / "voc"), str(out), split="train", class_names=list(SHAPE_CLASSES))
    assert result["images"] == 5 and not result["skipped"]
    dataset = COCODataSet(str(tmp_path / "voc" / "JPEGImages"), str(out), DECODE, mode="eval")
    from_json = {}
    for index in range(len(dataset)):
        image, boxes, classes, image_id = dataset[index]
        _, objects = draw_shapes_image(np.random.default_rng([3, int(image_id) - 1]), (128, 128), 3)
        np.testing.assert_allclose(boxes, [box for _, box in objects])
        assert classes.tolist() == [cls + 1 for cls, _ in objects] and image.shape == (128, 128, 3)
        from_json[int(image_id)] = (boxes, classes)

    proc = _tool(os.path.join(TOOLS, "dataset_convert.py"), "-i", str(tmp_path / "voc" / "JPEGImages"), "-a",
                 str(out), "-o", str(tmp_path / "lmdb"), "-t", "train", "-s", "2")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path / "lmdb")) == ["train-00000-of-00002", "train-00001-of-00002",
                                                      "train_categories.json", "train_warnings.json"]
    shards = LMDBDataSet(str(tmp_path / "lmdb"), DECODE, mode="eval")
    assert len(shards) == 5
    for index in range(len(shards)):
        _, boxes, classes, image_id = shards[index]
        np.testing.assert_allclose(boxes, from_json[int(image_id)][0])
        assert classes.tolist() == from_json[int(image_id)][1].tolist()


def _bad_set(root):
    """A COCO json with one good image and one of each problem the converter reports."""
    (root / "images").mkdir(parents=True)
    for name in ("good.jpg", "other.jpg"):
        cv2.imwrite(str(root / "images" / name), np.full((64, 64, 3), 128, np.uint8))
    (root / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    data = {"categories": [{"id": 1, "name": "a"}],
            "images": [{"id": 1, "file_name": "good.jpg", "width": 64, "height": 64},
                       {"id": 2, "file_name": "missing.jpg", "width": 64, "height": 64},
                       {"id": 3, "file_name": "broken.jpg", "width": 64, "height": 64},
                       {"id": 4, "file_name": "other.jpg", "width": 64, "height": 64}],
            "annotations": [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 20]},
                            {"id": 11, "image_id": 1, "category_id": 7, "bbox": [4, 4, 20, 20]},
                            {"id": 12, "image_id": 1, "category_id": 1, "bbox": [4, 4, 0, 20]},
                            {"id": 13, "image_id": 1, "category_id": 1, "bbox": [50, 50, 30, 30]}]}
    (root / "bad.json").write_text(json.dumps(data))
    return root


def test_dataset_convert_writes_tao_warnings_and_skips_bad_items(tmp_path):
    root = _bad_set(tmp_path / "data")
    proc = _tool(os.path.join(TOOLS, "dataset_convert.py"), "-i", str(root / "images"), "-a", str(root / "bad.json"),
                 "-o", str(tmp_path / "out"), "-s", "4")
    assert proc.returncode == 0, proc.stderr
    warnings = json.loads((tmp_path / "out" / "bad_warnings.json").read_text())
    assert warnings["1"]["box"] == [13] and warnings["1"]["mask"] == []  # box reaching outside the image
    issues = " | ".join(warnings["1"]["issues"])
    assert "unknown category id (object 11)" in issues and "zero-area box (object 12)" in issues
    assert warnings["2"]["issues"] == ["missing image"]
    assert warnings["3"]["issues"][-1].startswith("unreadable image")
    assert "image without annotations" in warnings["4"]["issues"]
    shards = LMDBDataSet(str(tmp_path / "out"), DECODE, mode="eval")
    assert len(shards) == 2  # good.jpg and other.jpg; 4 shards asked, 2 written
    boxes = {int(s[3]): s[1] for s in (shards[0], shards[1])}
    np.testing.assert_allclose(boxes[1], [[4, 4, 24, 24], [50, 50, 64, 64]])  # the outside box is clipped


def test_bad_input_gets_one_line_errors(tmp_path):
    root = _bad_set(tmp_path / "data")
    convert = os.path.join(TOOLS, "dataset_convert.py")
    proc = _tool(convert, "-i", str(root / "images"), "-a", str(root / "bad.json"), "-o", str(tmp_path / "o"),
                 "--include_mask")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: --include_mask")
    no_annotations = tmp_path / "no_ann.json"
    no_annotations.write_text(json.dumps({"images": [], "categories": []}))
    proc = _tool(convert, "-i", str(root / "images"), "-a", str(no_annotations), "-o", str(tmp_path / "o"))
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("error: ") and "no_ann.json: missing key 'annotations'" in last
    with pytest.raises(DataError, match="missing key 'categories'"):
        COCODataSet(str(root / "images"), str(tmp_path / "no_cat.json"), DECODE) if \
            (tmp_path / "no_cat.json").write_text('{"images": [], "annotations": []}') else None


def test_training_replaces_an_unreadable_image_and_counts_it(tmp_path):
    root = _bad_set(tmp_path / "data")
    data = json.loads((root / "bad.json").read_text())
    data["images"] = [i for i in data["images"] if i["id"] != 2]  # drop the missing file
    (root / "train.json").write_text(json.dumps(data))
    dataset = COCODataSet(str(root / "images"), str(root / "train.json"), DECODE, mode="train", seed=1)
    assert len(dataset) == 3
    samples = [dataset[i] for i in range(len(dataset))]
    assert all(s[0].shape == (64, 64, 3) for s in samples)
    assert dataset.skipped["total"] >= 1 and list(dataset.skipped["by_reason"]) == ["DecodeImage raised ValueError"]
