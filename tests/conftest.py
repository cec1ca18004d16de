"""Shared fixtures: small synthetic datasets and a tiny CRNN config built from the real recipe."""
import copy
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

REC_RECIPE = os.path.join(REPO, "configs", "rec", "rec_mv3_none_bilstm_ctc.yml")


@pytest.fixture(scope="session")
def rec_data(tmp_path_factory):
    """48 training and 16 evaluation word images (digits + lower case), made once per session."""
    from ppocr.data.synth.writers import make_rec_dataset

    root = tmp_path_factory.mktemp("rec_data")
    make_rec_dataset(str(root / "train"), 48, seed=0, length=(2, 5))
    make_rec_dataset(str(root / "val"), 16, seed=1, length=(2, 5))
    return root


def tiny_rec_config(data_root, save_dir, epochs=2, batch_size=8, **global_overrides):
    """The rec_mv3 recipe shrunk to seconds per epoch: 32×100 input, MobileNetV3 small 0.35, BiLSTM 16."""
    from ppocr.utils.config import load_config

    config = copy.deepcopy(load_config(REC_RECIPE))
    g = config["Global"]
    g.update(epoch_num=epochs, print_batch_step=2, save_model_dir=str(save_dir), save_epoch_step=1,
             eval_batch_step=[0, 6], save_inference_dir=str(save_dir / "inference"), seed=7,
             save_res_path=str(save_dir / "predicts.txt"))
    g.update(global_overrides)
    config["Architecture"]["Backbone"]["scale"] = 0.35
    config["Architecture"]["Neck"]["hidden_size"] = 16
    for mode, sub in (("Train", "train"), ("Eval", "val")):
        dataset = config[mode]["dataset"]
        dataset["data_dir"] = str(data_root / sub)
        dataset["label_file_list"] = [str(data_root / sub / "rec_gt.txt")]
        for op in dataset["transforms"]:
            if "RecResizeImg" in op:
                op["RecResizeImg"]["image_shape"] = [3, 32, 100]
        config[mode]["loader"].update(batch_size_per_card=batch_size, num_workers=0)
    config["Train"]["loader"]["drop_last"] = False
    return config


def write_config(config, path):
    import yaml

    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)
    return str(path)


DET_RECIPE = os.path.join(REPO, "configs", "det", "det_mv3_db.yml")


@pytest.fixture(scope="session")
def det_data(tmp_path_factory):
    """8 training and 4 evaluation synthetic pages of 320×320, made once per session."""
    from ppocr.data.synth.writers import make_det_dataset

    root = tmp_path_factory.mktemp("det_data")
    make_det_dataset(str(root / "train"), 8, seed=0, size=(320, 320))
    make_det_dataset(str(root / "val"), 4, seed=1, size=(320, 320))
    return root


def tiny_det_config(data_root, save_dir, epochs=2, batch_size=4, **global_overrides):
    """The det_mv3_db recipe on 320-px crops with a 0.35 backbone: seconds per epoch."""
    from ppocr.utils.config import load_config

    config = copy.deepcopy(load_config(DET_RECIPE))
    g = config["Global"]
    g.update(epoch_num=epochs, print_batch_step=1, save_model_dir=str(save_dir), save_epoch_step=1,
             eval_batch_step=[0, 2], save_inference_dir=str(save_dir / "inference"), seed=7,
             save_res_path=str(save_dir / "det_predicts.txt"))
    g.update(global_overrides)
    config["Architecture"]["Backbone"]["scale"] = 0.35
    config["Architecture"]["Neck"]["out_channels"] = 32
    config["Optimizer"]["lr"]["warmup_epoch"] = 0
    for mode, sub in (("Train", "train"), ("Eval", "val")):
        dataset = config[mode]["dataset"]
        dataset["data_dir"] = str(data_root / sub)
        dataset["label_file_list"] = [str(data_root / sub / "det_gt.txt")]
        for op in dataset["transforms"]:
            if "EastRandomCropData" in op:
                op["EastRandomCropData"]["size"] = [320, 320]
            if "IaaAugment" in op:
                op["IaaAugment"]["augmenter_args"][2]["args"]["size"] = [0.8, 1.2]
            if "DetResizeForTest" in op:
                op["DetResizeForTest"] = {"limit_side_len": 320, "limit_type": "max"}
        config[mode]["loader"]["num_workers"] = 0
    config["Train"]["loader"]["batch_size_per_card"] = batch_size
    return config
