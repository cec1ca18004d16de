"""PaddleOCR's own training configs (shared/reference/paddleocr_configs): each one trains a step on tiny
fixture data or is refused with one line per unsupported component; their keys and ours behave as
documented in ppocr.utils.paddleocr_compat."""
import copy
import glob
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TOOLS, write_config

REFERENCE = os.path.join(REPO, "..", "..", "shared", "reference", "paddleocr_configs")
if not os.path.isdir(REFERENCE):
    REFERENCE = "/work/shared/reference/paddleocr_configs"
CONFIGS = sorted(glob.glob(os.path.join(REFERENCE, "*", "**", "*.y*ml"), recursive=True))
pytestmark = pytest.mark.skipif(not CONFIGS, reason="PaddleOCR reference configs not available")

# The PP-OCR family: these must train unchanged (only data, output and pretrained-weight paths set).
MUST_TRAIN = ("det/det_mv3_db.yml", "det/det_r50_vd_db.yml", "rec/rec_mv3_none_bilstm_ctc.yml",
              "rec/rec_r34_vd_none_bilstm_ctc.yml", "cls/cls_mv3.yml", "det/ch_PP-OCRv2/", "rec/ch_PP-OCRv2/",
              "det/PP-OCRv3/PP-OCRv3_mobile_det.yml", "det/PP-OCRv4/PP-OCRv4_mobile_det.yml",
              "rec/PP-OCRv3/PP-OCRv3_mobile_rec.yml", "rec/PP-OCRv3/en_PP-OCRv3_mobile_rec.yml",
              "rec/PP-OCRv4/PP-OCRv4_mobile_rec.yml", "rec/PP-OCRv4/en_PP-OCRv4_mobile_rec.yml",
              "rec/PP-OCRv4/PP-OCRv4_mobile_rec_distillation.yml")
REQUIRED = ("Global", "Architecture", "Loss", "Optimizer", "PostProcess", "Metric", "Train")
OUTCOMES = {}


def _relative(path):
    return os.path.relpath(path, REFERENCE).replace(os.sep, "/")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Two samples of each kind: det pages, word crops (label file and LMDB) and 0/180 cls crops."""
    import cv2

    from ppocr.data.lmdb_writer import write_lmdb
    from ppocr.data.synth.writers import make_det_dataset, make_rec_dataset

    root = tmp_path_factory.mktemp("paddleocr_configs")
    make_det_dataset(str(root / "det"), 2, seed=0, size=(96, 96))
    make_rec_dataset(str(root / "rec"), 2, seed=0, length=(2, 4))
    lines = (root / "rec" / "rec_gt.txt").read_text(encoding="utf-8").splitlines()
    samples = []
    with open(root / "rec" / "cls_gt.txt", "w", encoding="utf-8") as cls_file:
        for index, line in enumerate(lines):
            name, text = line.split("\t", 1)
            cls_file.write(f"{name}\t{'180' if index % 2 else '0'}\n")
            ok, png = cv2.imencode(".png", cv2.imread(str(root / "rec" / name)))
            samples.append((png.tobytes(), text))
    write_lmdb(str(root / "lmdb"), samples)
    return root


def shrink(config, data, save_dir):
    """The reference config pointed at the fixture data and shrunk to one small step: data, output and
    pretrained paths, batch 2 without workers, 64-px det crops, no evaluation and no per-epoch saves."""
    config = copy.deepcopy(config)
    config["Global"].update(epoch_num=1, save_model_dir=str(save_dir), print_batch_step=1, use_gpu=False,
                            eval_batch_step=[0, 10 ** 6], save_epoch_step=10 ** 6, pretrained_model=None,
                            checkpoints=None, save_res_path=str(save_dir / "predicts.txt"))
    arch = config["Architecture"]
    for sub in (arch.get("Models") or {}).values():
        if isinstance(sub, dict) and "pretrained" in sub:
            sub["pretrained"] = None
    model_type = arch.get("model_type")
    for mode in ("Train", "Eval"):
        dataset = config[mode]["dataset"]
        if dataset.get("name") == "LMDBDataSet":
            dataset["data_dir"] = str(data / "lmdb")
        else:
            sub = "det" if model_type == "det" else "rec"
            label = {"det": "det_gt.txt", "rec": "rec_gt.txt", "cls": "cls_gt.txt"}[model_type]
            dataset.update(data_dir=str(data / sub), label_file_list=[str(data / sub / label)])
            if "ratio_list" in dataset:
                dataset["ratio_list"] = [1.0]
        for entry in dataset.get("transforms") or []:
            for name, args in entry.items():
                if name == "EastRandomCropData":
                    args["size"] = [64, 64]
        config[mode]["loader"].update(batch_size_per_card=2, num_workers=0, drop_last=False)
        sampler = config[mode].get("sampler")
        if isinstance(sampler, dict) and sampler.get("name") == "MultiScaleSampler":
            # PaddleOCR's is batch 192 at up to 320x64: tens of GB through an NRTR branch
            sampler.update(first_bs=2, scales=[[96, 32], [96, 48]])
    return config


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", CONFIGS, ids=_relative)
def test_reference_config_trains_one_step_or_is_refused(path, tiny_data, tmp_path):
    from ppocr.engine.trainer import Trainer
    from ppocr.utils.config import load_config, validate_config
    from ppocr.utils.registry import ConfigError

    name = _relative(path)
    config = shrink(load_config(path), tiny_data, tmp_path / "out")
    try:
        validate_config(config, path, require=REQUIRED)
    except ConfigError as exc:
        lines = str(exc).splitlines()
        assert lines and all(line.startswith(path + ": ") for line in lines), str(exc)
        assert all("not available in ppocr" in line or "not found; ppocr ships" in line for line in lines), \
            str(exc)
        OUTCOMES[name] = "refused"
        assert not any(name.startswith(prefix) for prefix in MUST_TRAIN), f"{name} must train: {exc}"
        return
    states = Trainer(config, mode="train").train()
    assert states["global_step"] == 1 and states["epoch"] == 1
    assert os.path.isfile(tmp_path / "out" / "latest.pdparams")
    OUTCOMES[name] = "trained"


def test_outcomes_listed():
    """Which reference configs trained (printed with -s; the parametrised test checks each)."""
    if not OUTCOMES:
        pytest.skip("the parametrised config test did not run in this session")
    trained = sorted(name for name, outcome in OUTCOMES.items() if outcome == "trained")
    print(f"\n{len(trained)} of {len(OUTCOMES)} PaddleOCR configs trained: {', '.join(trained)}")
    ran = [p for p in MUST_TRAIN if any(name.startswith(p) for name in OUTCOMES)]  # a -k selection runs a few
    if not ran:
        pytest.skip("no PP-OCR family config ran in this selection")
    assert all(any(name.startswith(p) for name in trained) for p in ran)


def test_ignored_keys_are_listed_once_and_removed(caplog):
    from ppocr.utils.paddleocr_compat import strip_ignored

    config = {"Global": {"debug": False, "model_name": "x", "epoch_num": 1}, "profiler_options": None,
              "Train": {"loader": {"num_sections": 1, "shuffle": True}},
              "Architecture": {"model_type": "rec", "Head": {"name": "AttentionHead", "l2_decay": 1e-5}}}
    with caplog.at_level(logging.INFO, logger="ppocr"):
        stripped = strip_ignored(config)
        assert strip_ignored(stripped) == stripped
    lines = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(lines) == 1
    for key in ("Global.debug", "Global.model_name", "profiler_options", "Train.loader.num_sections",
                "Architecture.Head.l2_decay"):
        assert key in lines[0]
    assert stripped == {"Global": {"epoch_num": 1}, "Train": {"loader": {"shuffle": True}},
                        "Architecture": {"model_type": "rec", "Head": {"name": "AttentionHead"}}}
    assert "debug" in config["Global"]  # the caller's dict is left alone


def test_typos_still_name_the_closest_key(tmp_path):
    from ppocr.utils.config import load_and_override
    from ppocr.utils.registry import ConfigError

    path = os.path.join(REFERENCE, "det", "det_mv3_db.yml")
    with pytest.raises(ConfigError, match=r"unknown key 'use_ampp'; did you mean 'use_amp'"):
        load_and_override(path, ["Global.use_ampp=true"])
    with pytest.raises(ConfigError, match=r"unknown head 'DBHaed'.*did you mean 'DBHead'"):
        load_and_override(path, ["Architecture.Head.name=DBHaed"])
    with pytest.raises(ConfigError, match="Global.amp_level.*must be str"):
        load_and_override(path, ["Global.amp_level=2"])


def test_refusal_names_every_unsupported_component_on_its_own_line():
    """A command line run: exit status 2, one ``error:`` line per component, no traceback."""
    path = os.path.join(REFERENCE, "rec", "rec_r31_sar.yml")
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, "train.py"), "-c", path], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert f"error: {path}: Architecture.Backbone: ResNet31 is not available in ppocr; available backbones: " \
        in "\n".join(errors)
    # backbone, decoder, the SAR resize operator and its dict, each once (SAR's head, loss and label encoder exist)
    assert len(errors) >= 4
    assert all("is not available in ppocr" in line or "not found; ppocr ships" in line for line in errors)
    assert len(set(errors)) == len(errors)


def test_constant_lr_without_name_and_amp_off_on_cpu(rec_data, tmp_path, caplog):
    """PaddleOCR's ``lr: {learning_rate: x}`` is a constant rate; ``use_amp`` on the CPU says once that AMP
    is off and trains in float32."""
    from conftest import tiny_rec_config
    from ppocr.engine.trainer import Trainer

    config = tiny_rec_config(rec_data, tmp_path, epochs=1, batch_size=16)
    config["Optimizer"]["lr"] = {"learning_rate": 0.002}
    config["Global"].update(use_amp=True, amp_level="O2", amp_dtype="bfloat16",
                            amp_custom_black_list=["matmul"], eval_batch_step=[0, 1000])
    with caplog.at_level(logging.INFO, logger="ppocr"):
        trainer = Trainer(config, mode="train")
        trainer.train()
    assert trainer.optimizer.get_lr() == pytest.approx(0.002)
    amp_lines = [r.getMessage() for r in caplog.records if "AMP is off" in r.getMessage()]
    assert len(amp_lines) == 1
    assert all(p.dtype == trainer.model.parameters()[0].dtype for p in trainer.model.parameters())
    assert np.isfinite(float(trainer.model.parameters()[0].numpy().sum()))


def test_to_static_training_matches_dynamic(rec_data, tmp_path):
    """``Global.to_static`` with ``d2s_train_image_shape`` trains through a compiled graph: the same
    losses as the dynamic run from the same seed, and the same parameter names."""
    from conftest import tiny_rec_config
    from ppocr.engine.trainer import Trainer

    losses = {}
    for to_static in (False, True):
        config = tiny_rec_config(rec_data, tmp_path / str(to_static), epochs=1, batch_size=24)
        config["Global"].update(to_static=to_static, d2s_train_image_shape=[3, 32, 100],
                                eval_batch_step=[0, 1000], print_batch_step=1)
        trainer = Trainer(config, mode="train")
        trainer.train()
        losses[to_static] = trainer.model.state_dict()
    assert list(losses[True]) == list(losses[False])
    for key in losses[False]:
        np.testing.assert_allclose(losses[True][key].numpy(), losses[False][key].numpy(), rtol=1e-3, atol=1e-4)


def test_json_list_image_field(tmp_path):
    """``["a.png", "b.png"]<TAB>label``: both images must exist; each epoch picks one of them (the pick, like every
    random draw of a sample, depends on seed, epoch and index only)."""
    import cv2

    from ppocr.data.errors import DataError
    from ppocr.data.simple_dataset import SimpleDataSet

    for name, value in (("a.png", 0), ("b.png", 255)):
        cv2.imwrite(str(tmp_path / name), np.full((8, 8, 3), value, np.uint8))
    label = tmp_path / "gt.txt"
    label.write_text('["a.png", "b.png"]\tword\n', encoding="utf-8")
    transforms = [{"DecodeImage": {"img_mode": "BGR"}}, {"KeepKeys": {"keep_keys": ["image"]}}]
    dataset = SimpleDataSet(str(tmp_path), str(label), transforms, mode="eval")
    seen = set()
    for epoch in range(40):
        dataset.set_epoch(epoch)
        seen.add(int(dataset[0][0].mean()))
    assert seen == {0, 255}
    assert len({int(dataset[0][0].mean()) for _ in range(5)}) == 1
    label.write_text('["a.png", "c.png"]\tword\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1: image .*c.png does not exist"):
        SimpleDataSet(str(tmp_path), str(label), transforms, mode="eval")


def test_packaged_dicts_at_paddleocr_paths(tmp_path):
    """``ppocr/utils/ppocr_keys_v1.txt`` & co resolve from any working directory; the PP-OCR list equals the
    packaged PP-OCRv4 rec model's metadata; a dict ppocr lacks is named in one line."""
    from ppocr.utils.character import load_character_list, resolve_dict_path
    from ppocr.utils.paddleocr_dicts import DICTS

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for name, make in DICTS.items():
            path = resolve_dict_path(f"ppocr/utils/{name}")
            assert path.startswith(REPO) and load_character_list(path) == make()
        # PaddleOCR appends the space class even when the dict has one: 95 + space + blank = 97 for en
        assert len(load_character_list("ppocr/utils/en_dict.txt", use_space_char=True)) == 96
        assert len(load_character_list("./ppocr/utils/ppocr_keys_v1.txt", use_space_char=True)) == 6624
        with pytest.raises(FileNotFoundError, match="'ppocr/utils/dict/arabic_dict.txt' not found; ppocr ships"):
            resolve_dict_path("ppocr/utils/dict/arabic_dict.txt")
    finally:
        os.chdir(cwd)


def test_ace_loss_counts_characters(rec_data):
    """label_ace from CTCLabelEncode feeds ACELoss: a prediction with the right character counts reaches
    the entropy of the count distribution, one with wrong counts scores far higher."""
    import paddle

    from ppocr.data.imaug.rec_label_ops import CTCLabelEncode
    from ppocr.losses.ace_loss import ACELoss

    encode = CTCLabelEncode(max_text_length=6)
    item = encode({"label": "abca"})
    assert item["label_ace"].shape == (37,) and item["label_ace"][0] == 2
    assert item["label_ace"][encode.char_to_id["a"]] == 2 and item["label_ace"].sum() == 6
    batch = [None, paddle.to_tensor(item["label"][None]), paddle.to_tensor(item["length"][None]),
             paddle.to_tensor(item["label_ace"][None])]

    def logits(ids):
        out = np.full((1, 6, 37), -10.0, np.float32)
        out[0, np.arange(6), ids] = 10.0
        return paddle.to_tensor(out)

    a, b, c = (encode.char_to_id[ch] for ch in "abc")
    right = float(ACELoss()(logits([a, 0, b, c, 0, a]), batch)["loss"])
    wrong = float(ACELoss()(logits([a, b, b, b, c, c]), batch)["loss"])
    target = np.array([2, 2, 1, 1]) / 6  # blank, a, b, c
    assert right == pytest.approx(-(target * np.log(target)).sum(), abs=1e-3)  # cross-entropy at its minimum
    assert wrong > right + 1


def test_enhanced_ctc_config_with_ace_trains(tiny_data, tmp_path):
    """ch_PP-OCRv2_rec_enhanced_ctc_loss with PaddleOCR's suggested ACE term switched on trains."""
    from ppocr.engine.trainer import Trainer
    from ppocr.utils.config import load_config, validate_config

    path = os.path.join(REFERENCE, "rec", "ch_PP-OCRv2", "ch_PP-OCRv2_rec_enhanced_ctc_loss.yml")
    config = shrink(load_config(path), tiny_data, tmp_path)
    config["Loss"]["loss_config_list"].append({"ACELoss": {"weight": 0.1}})
    validate_config(config, path, require=REQUIRED)
    states = Trainer(config, mode="train").train()
    assert states["global_step"] == 1


def test_base_data_augmentation_keeps_shape():
    from ppocr.data.imaug.rec_img_aug import BaseDataAugmentation

    image = np.random.default_rng(0).integers(0, 255, (48, 192, 3), dtype=np.uint8)
    out = BaseDataAugmentation(crop_prob=1, reverse_prob=1, noise_prob=1, jitter_prob=1, blur_prob=1,
                               hsv_aug_prob=1)({"image": image.copy()})["image"]
    assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)


def test_train_tool_lists_ignored_keys(tiny_data, tmp_path):
    """tools/train.py on a PaddleOCR config: the keys without effect are listed once at start."""
    path = os.path.join(REFERENCE, "rec", "ch_PP-OCRv2", "ch_PP-OCRv2_rec.yml")
    from ppocr.utils.config import load_config

    config = shrink(load_config(path), tiny_data, tmp_path / "out")
    config_path = write_config(config, tmp_path / "c.yml")
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, "train.py"), "-c", config_path],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ignored = [line for line in proc.stdout.splitlines() if "(ignored)" in line]
    assert len(ignored) == 1 and "Global.debug" in ignored[0]


def test_sync_bn_on_cpu_ranks_shares_batch_statistics(tmp_path):
    """``use_sync_bn`` with two CPU ranks: both end with the batch-norm statistics of the union of their
    batches (what one process computes on all the data)."""
    import paddle

    worker = os.path.join(REPO, "tests", "sync_bn_worker.py")
    proc = subprocess.run([sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
                           str(tmp_path / "logs"), worker, str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ranks = [np.load(tmp_path / f"rank{rank}.npz") for rank in (0, 1)]
    for key in ("1._mean", "1._variance"):
        np.testing.assert_allclose(ranks[0][key], ranks[1][key], rtol=1e-5, atol=1e-6)
    paddle.seed(0)
    single = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.BatchNorm2D(4))
    single(paddle.to_tensor(np.concatenate([ranks[0]["data"], ranks[1]["data"]])))
    np.testing.assert_allclose(ranks[0]["1._mean"], single[1]._mean.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ranks[0]["1._variance"], single[1]._variance.numpy(), rtol=1e-4, atol=1e-5)
