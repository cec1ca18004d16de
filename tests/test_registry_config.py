"""Registry lookups and config loading/overrides/validation, on the real recipes."""
import os
import subprocess
import sys
from typing import List, Optional

import pytest

from ppocr.utils.config import apply_overrides, load_and_override, load_config, parse_override, validate_config
from ppocr.utils.registry import ConfigError, Registry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REC_CONFIG = os.path.join(REPO, "configs", "rec", "rec_mv3_none_bilstm_ctc.yml")


def test_registry_unknown_name_lists_known_and_closest():
    reg = Registry("thing")

    @reg.register()
    class Alpha:
        def __init__(self, size: int = 1):
            self.size = size

    @reg.register(name="Beta")
    class _B:
        def __init__(self):
            pass

    with pytest.raises(ConfigError) as err:
        reg.build({"name": "Alpah"}, where="Sec.X")
    text = str(err.value)
    assert "Sec.X" in text and "Alpha, Beta" in text and "did you mean 'Alpha'" in text
    assert reg.build({"name": "Alpha", "size": 3}).size == 3


def test_registry_checks_keys_and_types():
    reg = Registry("thing")

    @reg.register()
    class Box:
        def __init__(self, width: int, ratio: float = 1.0, tags: Optional[List[str]] = None, flag: bool = False):
            self.width, self.ratio = width, ratio

    with pytest.raises(ConfigError, match="unknown key 'widht'.*did you mean 'width'"):
        reg.build({"name": "Box", "widht": 3})
    with pytest.raises(ConfigError, match="'width' of thing Box must be int, got str"):
        reg.build({"name": "Box", "width": "3"})
    with pytest.raises(ConfigError, match="needs key"):
        reg.build({"name": "Box"})
    with pytest.raises(ConfigError, match="'flag'.*must be bool"):
        reg.build({"name": "Box", "width": 1, "flag": 1})
    assert reg.build({"name": "Box", "width": 2, "ratio": 3}).ratio == 3  # int is a fine float
    with pytest.raises(KeyError, match="registered twice"):
        @reg.register(name="Box")
        class Other:  # noqa: F841
            pass


def test_parse_override_is_yaml_typed():
    assert parse_override("Global.epoch_num=10") == (["Global", "epoch_num"], 10)
    assert parse_override("Optimizer.lr.learning_rate=1e-4") == (["Optimizer", "lr", "learning_rate"], 1e-4)
    assert parse_override("Global.use_gpu=False")[1] is False
    assert parse_override("A.b=[3,48,320]")[1] == [3, 48, 320]
    assert parse_override("A.b=a=b")[1] == "a=b"
    with pytest.raises(ConfigError):
        parse_override("Global.epoch_num")


def test_recipe_loads_validates_and_overrides():
    config = load_and_override(REC_CONFIG, ["Global.epoch_num=3", "Train.loader.batch_size_per_card=8",
                                            "Train.dataset.transforms.3.RecResizeImg.image_shape=[3,48,320]"])
    assert config["Global"]["epoch_num"] == 3
    assert config["Train"]["loader"]["batch_size_per_card"] == 8
    assert config["Train"]["dataset"]["transforms"][3]["RecResizeImg"]["image_shape"] == [3, 48, 320]
    assert config["Optimizer"]["regularizer"]["factor"] == pytest.approx(1e-5)


@pytest.mark.parametrize("override, message", [
    ("Global.epoch_nun=3", "unknown key 'epoch_nun'.*did you mean 'epoch_num'"),
    ("Global.epoch_num=three", "Global.epoch_num: key 'epoch_num' must be int"),
    ("Architecture.Backbone.scal=0.5", "Architecture.Backbone: unknown key 'scal'.*did you mean 'scale'"),
    ("Architecture.Backbone.name=MobileNetV4", "unknown backbone 'MobileNetV4'.*did you mean 'MobileNetV3'"),
    ("Train.loader.batch_size=8", "Train.loader: unknown key 'batch_size'.*batch_size_per_card"),
    ("Glob.epoch_num=3", "unknown section 'Glob'.*did you mean 'Global'"),
    ("Loss.name=CTCLos", "unknown loss 'CTCLos'.*did you mean 'CTCLoss'"),
])
def test_typos_name_the_key_and_file(override, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_and_override(REC_CONFIG, [override])
    assert str(err.value).startswith(REC_CONFIG)


def test_unknown_section_and_missing_section(tmp_path):
    config = load_config(REC_CONFIG)
    config["Extra"] = {}
    with pytest.raises(ConfigError, match="x.yml: unknown section 'Extra'"):
        validate_config(config, "x.yml")
    del config["Extra"]
    del config["Train"]
    with pytest.raises(ConfigError, match="missing required section 'Train'"):
        validate_config(config, "x.yml", require=("Train",))


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yml"))
    bad = tmp_path / "bad.yml"
    bad.write_text("Global: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yml: invalid YAML"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="'Global.nothere' does not exist"):
        apply_overrides({"Global": {}}, ["Global.nothere.x=1"])


def test_cli_reports_typo_in_one_line():
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "train.py"), "-c", REC_CONFIG,
                           "-o", "Global.epoch_nun=3"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "epoch_nun" in lines[0] and REC_CONFIG in lines[0]
