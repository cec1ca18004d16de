"""Data operators of the PP-OCRv3/v4 recipes: multi-head labels, RecConAug, multi-scale batches, epoch-dependent
DB targets; and every PP-OCRv3/v4 mobile reference config of PaddleOCR training a step on tiny data."""
import copy
import os

import cv2
import numpy as np
import pytest

from conftest import REPO
from ppocr.data.imaug.make_border_map import MakeBorderMap
from ppocr.data.imaug.make_shrink_map import MakeShrinkMap
from ppocr.data.imaug.rec_con_aug import RecConAug
from ppocr.data.imaug.rec_multi_label_ops import MultiLabelEncode, NRTRLabelEncode, SARLabelEncode
from ppocr.utils.registry import ConfigError

PADDLEOCR_CONFIGS = "/work/shared/reference/paddleocr_configs"


def test_multi_label_encode_gives_ctc_and_attention_ids():
    nrtr = MultiLabelEncode(8, gtc_encode="NRTRLabelEncode")({"label": "ab1", "image": "img"})
    # default dict: 0-9 then a-z; CTC blank 0 → '1' is 2, 'a' is 11; NRTR: 4 specials first
    assert nrtr["label_ctc"].tolist() == [11, 12, 2, 0, 0, 0, 0, 0]
    assert nrtr["label_gtc"].tolist() == [2, 14, 15, 5, 3, 0, 0, 0]
    assert int(nrtr["length"]) == 3 and nrtr["image"] == "img" and "label" not in nrtr
    sar = MultiLabelEncode(8)({"label": "ab1"})
    chars = 36
    boundary, padding = chars + 1, chars + 2
    assert sar["label_sar"].tolist() == [boundary, 10, 11, 1, boundary, padding, padding, padding]
    # start + text + end must fit: a 7-character text is too long for width 8 in the attention labels
    assert MultiLabelEncode(8)({"label": "abcdefg"}) is None
    assert SARLabelEncode(8).num_classes == chars + 3 and NRTRLabelEncode(8).num_classes == chars + 4
    with pytest.raises(ConfigError, match="gtc_encode"):
        MultiLabelEncode(8, gtc_encode="AttnLabelEncode")


def test_rec_con_aug_appends_other_words_within_limits():
    first = {"image": np.zeros((32, 40, 3), np.uint8), "label": "abc"}
    other = {"image": np.full((16, 30, 3), 255, np.uint8), "label": "de"}
    out = RecConAug(prob=1.0, image_shape=[48, 320, 3], max_text_length=25, ext_data_num=2)(
        dict(first, ext_data=[other, dict(other, label="fgh")]))
    assert out["label"] == "abcdefgh" and "ext_data" not in out
    assert out["image"].shape[0] == 48 and out["image"].shape[1] == 60 + 90 + 90
    # the text limit stops the gluing
    out = RecConAug(prob=1.0, image_shape=[48, 320, 3], max_text_length=4)(dict(first, ext_data=[other]))
    assert out["label"] == "abc" and out["image"].shape == (32, 40, 3)
    # prob 0: unchanged; no ext_data at all: unchanged
    assert RecConAug(prob=0.0)(dict(first, ext_data=[other]))["label"] == "abc"
    assert RecConAug(prob=1.0)(dict(first))["label"] == "abc"


def test_rec_con_aug_with_a_separator_teaches_spaces_between_glued_words():
    first = {"image": np.full((48, 40, 3), 200, np.uint8), "label": "abc"}
    other = {"image": np.full((48, 60, 3), 100, np.uint8), "label": "de"}
    out = RecConAug(prob=1.0, image_shape=[48, 320, 3], separator=" ", gap=0.5)(dict(first, ext_data=[other]))
    assert out["label"] == "abc de"
    assert out["image"].shape == (48, 40 + 24 + 60, 3)
    gap = out["image"][:, 40:64]
    assert (gap == 150).all()  # the mean of the facing edges, so no new edge is drawn
    assert (out["image"][:, :40] == 200).all() and (out["image"][:, 64:] == 100).all()
    # grey images too; the separator counts towards the text limit
    grey = RecConAug(prob=1.0, image_shape=[48, 320, 3], separator=" ")(
        {"image": np.zeros((48, 40), np.uint8), "label": "ab", "ext_data": [{"image": np.zeros((48, 40), np.uint8),
                                                                            "label": "cd"}]})
    assert grey["label"] == "ab cd" and grey["image"].shape == (48, 40 + 19 + 40)
    assert RecConAug(prob=1.0, max_text_length=4, separator=" ")(dict(first, ext_data=[
        dict(other, label="d")]))["label"] == "abc"
    with pytest.raises(ConfigError, match="separator"):
        RecConAug(separator=None)


def test_total_epoch_grows_the_shrink_ratio_with_the_epoch():
    border = MakeBorderMap(shrink_ratio=0.4, total_epoch=10)
    shrink = MakeShrinkMap(shrink_ratio=0.4, total_epoch=10)
    assert border.shrink_ratio == shrink.shrink_ratio == 0.4
    for op in (border, shrink):
        op.set_epoch(5)
        assert op.shrink_ratio == pytest.approx(0.5)
        op.set_epoch(50)
        assert op.shrink_ratio == pytest.approx(0.6)
    assert MakeShrinkMap(shrink_ratio=0.4, total_epoch=10, epoch=10).shrink_ratio == pytest.approx(0.6)
    fixed = MakeShrinkMap(shrink_ratio=0.4)
    fixed.set_epoch(7)
    assert fixed.shrink_ratio == 0.4
    with pytest.raises(ConfigError, match="total_epoch"):
        MakeShrinkMap(total_epoch=0)


def _word_dataset(root, count=10):
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    lines = []
    for index in range(count):
        width = 40 + 12 * index
        image = np.full((24, width, 3), 255, np.uint8)
        cv2.putText(image, f"w{index}", (2, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
        name = f"images/w{index}.png"
        cv2.imwrite(os.path.join(root, name), image)
        lines.append(f"{name}\tw{index}")
    with open(os.path.join(root, "gt.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return root


def test_multi_scale_batches_have_their_own_size(tmp_path):
    from ppocr.data import build_dataloader

    root = _word_dataset(str(tmp_path / "words"))
    config = {"Global": {"max_text_length": 25}, "Train": {
        "dataset": {"name": "MultiScaleDataSet", "data_dir": root, "label_file_list": [os.path.join(root, "gt.txt")],
                    "transforms": [{"DecodeImage": {"img_mode": "BGR"}},
                                   {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}},
                                   {"KeepKeys": {"keep_keys": ["image", "label_ctc", "label_gtc", "length",
                                                               "valid_ratio"]}}]},
        "sampler": {"name": "MultiScaleSampler", "scales": [[64, 16], [64, 32]], "first_bs": 4, "fix_bs": False,
                    "divided_factor": [8, 16], "is_training": True},
        "loader": {"shuffle": True, "batch_size_per_card": 4, "drop_last": True, "num_workers": 0}}}
    dataset, loader = build_dataloader(config, "Train", seed=3)
    sizes = {}
    for batch in loader:
        image = batch[0]
        sizes.setdefault(tuple(image.shape[2:]), set()).add(int(image.shape[0]))
        ratios = batch[4].numpy()
        assert ((ratios > 0) & (ratios <= 1)).all()
    # 32-high batches hold half the images of 16-high ones (same pixels per batch)
    assert sizes == {(16, 64): {4}, (32, 64): {2}}
    assert len(loader) == 3  # 4 + 2 + 4 ≥ 10 samples
    config["Train"].pop("sampler")
    with pytest.raises(ConfigError, match="MultiScaleSampler"):
        build_dataloader(config, "Train", seed=3)


# -- PaddleOCR's PP-OCRv3/v4 mobile configs ----------------------------------------------------------------

def _shrink_transforms(transforms, rec_width):
    out = []
    for entry in transforms:
        (name, args), = entry.items()
        args = copy.deepcopy(args) or {}
        if name == "EastRandomCropData":
            args["size"] = [96, 96]
        elif name == "IaaAugment":
            args["augmenter_args"] = [a for a in args["augmenter_args"] if a["type"] != "Resize"]
        elif name == "DetResizeForTest":
            args = {"limit_side_len": 96, "limit_type": "max"}
        elif name == "RecResizeImg":
            args["image_shape"] = [3, 48, rec_width]
        elif name == "RecConAug":
            args["image_shape"] = [48, rec_width, 3]
        out.append({name: args or None})
    return out


MOBILE_CONFIGS = [
    "det/PP-OCRv3/PP-OCRv3_mobile_det.yml",
    "det/PP-OCRv4/PP-OCRv4_mobile_det.yml",
    "rec/PP-OCRv3/PP-OCRv3_mobile_rec.yml",
    "rec/PP-OCRv3/en_PP-OCRv3_mobile_rec.yml",
    "rec/PP-OCRv3/PP-OCRv3_mobile_rec_distillation.yml",
    "rec/PP-OCRv4/PP-OCRv4_mobile_rec.yml",
    "rec/PP-OCRv4/en_PP-OCRv4_mobile_rec.yml",
]


@pytest.fixture(scope="module")
def tiny_det_pages(tmp_path_factory):
    from ppocr.data.synth.writers import make_det_dataset

    root = tmp_path_factory.mktemp("v4_det")
    make_det_dataset(str(root), 2, seed=0, size=(128, 128), num_lines=(2, 3))
    return str(root), "det_gt.txt"


@pytest.fixture(scope="module")
def tiny_words(tmp_path_factory):
    return _word_dataset(str(tmp_path_factory.mktemp("v4_rec")), count=4), "gt.txt"


@pytest.mark.parametrize("relative", MOBILE_CONFIGS)
def test_paddleocr_mobile_config_trains_a_step(relative, tmp_path, tiny_det_pages, tiny_words):
    if not os.path.isdir(PADDLEOCR_CONFIGS):
        pytest.skip("PaddleOCR reference configs absent")
    from ppocr.engine.trainer import Trainer
    from ppocr.utils.config import load_config, validate_config

    config = load_config(os.path.join(PADDLEOCR_CONFIGS, relative))
    det = relative.startswith("det/")
    data_dir, label = tiny_det_pages if det else tiny_words
    g = config["Global"]
    g.update(epoch_num=1, save_model_dir=str(tmp_path / "out"), print_batch_step=1, eval_batch_step=[0, 1000],
             use_gpu=False, pretrained_model=None, checkpoints=None, cal_metric_during_train=not det)
    if not det and "en_" not in relative and "v4_mobile_rec.yml" not in relative:
        g["character_dict_path"] = None  # small head for speed; PP-OCRv4_mobile_rec keeps the 6623-char dict
    for mode in ("Train", "Eval"):
        dataset = config[mode]["dataset"]
        dataset.update(data_dir=data_dir, label_file_list=[os.path.join(data_dir, label)])
        dataset["transforms"] = _shrink_transforms(dataset["transforms"], rec_width=96)
        config[mode]["loader"].update(num_workers=0, batch_size_per_card=2, drop_last=False)
    if "sampler" in config["Train"]:
        config["Train"]["sampler"].update(first_bs=2, scales=[[96, 32], [96, 48]])
    validate_config(config)
    trainer = Trainer(config)
    states = trainer.train()
    assert states["global_step"] >= 1
    metric = trainer.evaluate()
    assert ("hmean" if det else "acc") in metric or "Student" in str(metric)


OUR_RECIPES = sorted(os.path.relpath(os.path.join(root, name), os.path.join(REPO, "configs"))
                     for sub in ("det/PP-OCRv3", "det/PP-OCRv4", "rec/PP-OCRv3", "rec/PP-OCRv4")
                     for root, _, names in os.walk(os.path.join(REPO, "configs", sub)) for name in names)


def test_our_v3_v4_recipes_validate():
    from ppocr.utils.config import load_config, validate_config

    assert len(OUR_RECIPES) == 8
    for relative in OUR_RECIPES:
        validate_config(load_config(os.path.join(REPO, "configs", relative)), relative)


@pytest.mark.parametrize("relative", ["det/PP-OCRv4/PP-OCRv4_mobile_det_finetune.yml",
                                      "rec/PP-OCRv4/PP-OCRv4_mobile_rec_finetune.yml"])
def test_finetune_recipes_train_a_step_in_fused_form(relative, tmp_path, tiny_det_pages, tiny_words):
    from ppocr.engine.trainer import Trainer
    from ppocr.modeling.reparam import has_unfused_layers
    from ppocr.utils.config import load_config

    config = load_config(os.path.join(REPO, "configs", relative))
    det = relative.startswith("det/")
    data_dir, label = tiny_det_pages if det else tiny_words
    config["Global"].update(epoch_num=1, save_model_dir=str(tmp_path / "out"), eval_batch_step=[0, 1000],
                            pretrained_model=None)
    for mode in ("Train", "Eval"):
        dataset = config[mode]["dataset"]
        dataset.update(data_dir=data_dir, label_file_list=[os.path.join(data_dir, label)])
        dataset["transforms"] = _shrink_transforms(dataset["transforms"], rec_width=96)
        config[mode]["loader"].update(num_workers=0, batch_size_per_card=2, drop_last=False)
    trainer = Trainer(config)
    assert not has_unfused_layers(trainer.model)
    assert trainer.train()["global_step"] >= 1


def test_width_by_aspect_ratio_batching_is_refused_in_one_line():
    from ppocr.data.multi_scale import MultiScaleDataSet

    with pytest.raises(ConfigError, match=r"^Train\.dataset\.ds_width: true .* not supported; use false$"):
        MultiScaleDataSet("unused", [], [], ds_width=True)
