"""Shared fixtures: small synthetic datasets and tiny rec/det configs shrunk from the real recipes."""
import copy
import logging
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

TOOLS = os.path.join(REPO, "tools")
REC_RECIPE = os.path.join(REPO, "configs", "rec", "rec_mv3_none_bilstm_ctc.yml")


def run_tool(name, config_path, *overrides, timeout=600, check=True):
    """``python tools/<name> -c config_path -o overrides`` from the repository root, as a user runs it."""
    cmd = [sys.executable, os.path.join(TOOLS, name), "-c", str(config_path)]
    if overrides:
        cmd += ["-o", *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def train_data_parallel(config_path, log_dir, timeout=600):
    """``tools/train.py`` under ``paddle.distributed.launch`` with two CPU ranks; a failure shows the launcher's
    output and the workers' logs."""
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(log_dir),
           os.path.join(TOOLS, "train.py"), "-c", str(config_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if proc.returncode != 0:
        logs = "".join(open(os.path.join(log_dir, name), encoding="utf-8", errors="replace").read()
                       for name in sorted(os.listdir(log_dir))) if os.path.isdir(log_dir) else ""
        raise AssertionError(f"data-parallel training failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                             f"{proc.stderr[-2000:]}\n{logs[-3000:]}")
    return proc


@pytest.fixture(autouse=True)
def _restore_ppocr_logger():
    """Tools run in-process set up the ``ppocr`` logger (no propagation); undo it so ``caplog`` keeps working."""
    logger = logging.getLogger("ppocr")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield
    logger.handlers[:] = handlers
    logger.propagate = propagate
    logger.setLevel(level)


@pytest.fixture(scope="session")
def rec_data(tmp_path_factory):
    """48 training and 16 evaluation word images (digits + lower case), made once per session."""
    from ppocr.data.synth.writers import make_rec_dataset

    root = tmp_path_factory.mktemp("rec_data")
    make_rec_dataset(str(root / "train"), 48, seed=0, length=(2, 5))
    make_rec_dataset(str(root / "val"), 16, seed=1, length=(2, 5))
    return root


def _shrunk_recipe(recipe, data_root, save_dir, label_file, global_settings, edit_op):
    """A recipe pointed at fixture data under ``data_root/{train,val}`` and writing to ``save_dir``;
    ``edit_op(name, args)`` returns the replacement arguments of each transform."""
    from ppocr.utils.config import load_config

    config = copy.deepcopy(load_config(recipe))
    config["Global"].update(save_model_dir=str(save_dir), save_epoch_step=1, seed=7,
                            save_inference_dir=str(save_dir / "inference"), **global_settings)
    for mode, sub in (("Train", "train"), ("Eval", "val")):
        dataset = config[mode]["dataset"]
        dataset["data_dir"] = str(data_root / sub)
        dataset["label_file_list"] = [str(data_root / sub / label_file)]
        dataset["transforms"] = [{name: edit_op(name, args)} for op in dataset["transforms"]
                                 for name, args in op.items()]
        config[mode]["loader"]["num_workers"] = 0
    return config


def tiny_rec_config(data_root, save_dir, epochs=2, batch_size=8, **global_overrides):
    """The rec_mv3 recipe shrunk to seconds per epoch: 32×100 input, MobileNetV3 small 0.35, BiLSTM 16."""
    settings = {"epoch_num": epochs, "print_batch_step": 2, "eval_batch_step": [0, 6],
                "save_res_path": str(save_dir / "predicts.txt"), **global_overrides}

    def edit(name, args):
        return dict(args, image_shape=[3, 32, 100]) if name == "RecResizeImg" else args

    config = _shrunk_recipe(REC_RECIPE, data_root, save_dir, "rec_gt.txt", settings, edit)
    config["Architecture"]["Backbone"]["scale"] = 0.35
    config["Architecture"]["Neck"]["hidden_size"] = 16
    for mode in ("Train", "Eval"):
        config[mode]["loader"]["batch_size_per_card"] = batch_size
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
    settings = {"epoch_num": epochs, "print_batch_step": 1, "eval_batch_step": [0, 2],
                "save_res_path": str(save_dir / "det_predicts.txt"), **global_overrides}

    def edit(name, args):
        if name == "EastRandomCropData":
            return dict(args, size=[320, 320])
        if name == "IaaAugment":
            augmenters = copy.deepcopy(args["augmenter_args"])
            augmenters[2]["args"]["size"] = [0.8, 1.2]
            return {"augmenter_args": augmenters}
        if name == "DetResizeForTest":
            return {"limit_side_len": 320, "limit_type": "max"}
        return args

    config = _shrunk_recipe(DET_RECIPE, data_root, save_dir, "det_gt.txt", settings, edit)
    config["Architecture"]["Backbone"]["scale"] = 0.35
    config["Architecture"]["Neck"]["out_channels"] = 32
    config["Optimizer"]["lr"]["warmup_epoch"] = 0
    config["Train"]["loader"]["batch_size_per_card"] = batch_size
    return config


OBJDET_RECIPES = {name: os.path.join(REPO, "configs", "objdet", f"efficientdet_{name}.yml") for name in ("d0", "lite0")}


@pytest.fixture(scope="session")
def shapes_data(tmp_path_factory):
    """12 training and 6 evaluation 128×128 images of rectangles, circles and triangles (COCO json)."""
    from ppocr.data.synth.shapes import make_shapes_dataset

    root = tmp_path_factory.mktemp("shapes")
    return {"root": root, "train": make_shapes_dataset(str(root / "train"), 12, seed=0),
            "val": make_shapes_dataset(str(root / "val"), 6, seed=1)}


def tiny_objdet_config(recipe, data, save_dir, epochs=1, batch_size=4, **global_overrides):
    """An EfficientDet recipe (``d0`` or ``lite0``) on the shapes fixture at 128×128: seconds per epoch."""
    from ppocr.utils.config import load_config

    config = copy.deepcopy(load_config(OBJDET_RECIPES[recipe]))
    settings = {"epoch_num": epochs, "print_batch_step": 1, "eval_batch_step": [0, 1000], "seed": 7,
                "save_model_dir": str(save_dir), "save_epoch_step": 1, "model_ema": False,
                "save_inference_dir": str(save_dir / "inference")}
    config["Global"].update({**settings, **global_overrides})
    config["Architecture"]["Head"]["num_classes"] = 3
    config["Metric"]["class_names"] = ["rectangle", "circle", "triangle"]
    for mode, split in (("Train", "train"), ("Eval", "val")):
        dataset = config[mode]["dataset"]
        dataset["data_dir"] = data[split]["image_dir"]
        dataset["annotation_file"] = data[split]["annotation_file"]
        for op in dataset["transforms"]:
            if "ObjDetResizePad" in op:
                op["ObjDetResizePad"]["image_size"] = [128, 128]
        config[mode]["loader"].update(batch_size_per_card=batch_size, num_workers=0)
    return config


@pytest.fixture(scope="session")
def tiny_inference_models(tmp_path_factory):
    """Random-init DB det, CRNN rec and direction cls models exported for Paddle Inference (with their
    inference.yml), as ``{"det": dir, "rec": dir, "cls": dir}``: real exported models of each role in
    seconds, with deterministic outputs."""
    import paddle

    from ppocr.engine.export import export_model
    from ppocr.modeling.architectures import build_model, with_class_count
    from ppocr.postprocess import build_post_process
    from ppocr.utils.config import load_config

    root = tmp_path_factory.mktemp("tiny_inference")
    configs = {"det": tiny_det_config(root / "data", root / "det"),
               "rec": tiny_rec_config(root / "data", root / "rec"),
               "cls": copy.deepcopy(load_config(os.path.join(REPO, "configs", "cls", "cls_mv3.yml")))}
    exported = {}
    for role, config in configs.items():
        paddle.seed(3)
        post = build_post_process(config["PostProcess"], config["Global"])
        model = build_model(with_class_count(config["Architecture"], post))
        weights = root / role / "random"
        weights.parent.mkdir(parents=True, exist_ok=True)
        paddle.save(model.state_dict(), f"{weights}.pdparams")
        exported[role] = export_model(config, save_dir=str(root / role / "inference"), weights=str(weights))
    return exported
