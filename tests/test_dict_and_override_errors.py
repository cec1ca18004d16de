"""Bad character dicts and overrides of a section the file lacks end in one line naming the file (issue 12,
items 1 and 7): checked on the reader and through the real train / export / predict_system tools."""
import os
import subprocess
import sys

import pytest

from conftest import REPO, run_tool, tiny_rec_config, write_config

from ppocr.utils.character import load_character_list
from ppocr.utils.config import load_and_override, load_config
from ppocr.utils.errors import CharacterDictError
from ppocr.utils.registry import ConfigError

BAD_DICTS = {
    # name: (bytes, expected message after "character dict <path>")
    "duplicate": (b"a\nb\n\nc\nb\n", r":5: character 'b' appears twice \(first on line 2\)"),
    "two_chars": (b"a\nb\nab\n", r":3: expected one character per line, got 'ab'"),
    "not_utf8": ("a\nb\né\n".encode("latin-1"), r":3: not UTF-8 \(byte 0xe9 at byte 1 of the line\)"),
    "empty": (b"\n\n", r" has no characters"),
}


@pytest.mark.parametrize("name", sorted(BAD_DICTS))
def test_bad_dict_is_one_error_naming_file_and_line(tmp_path, name):
    content, message = BAD_DICTS[name]
    path = tmp_path / f"{name}.txt"
    path.write_bytes(content)
    with pytest.raises(CharacterDictError, match=f"^character dict {path}{message}$"):
        load_character_list(str(path))


def test_good_dict_keeps_order_space_line_and_allows_a_bom(tmp_path):
    path = tmp_path / "ok.txt"
    path.write_bytes(b"\xef\xbb\xbfz\r\n\n \r\n\xc3\xa9\n")  # BOM, CRLF, a blank line, the space, 'é'
    assert load_character_list(str(path)) == ["z", " ", "é"]
    # use_space_char appends the space even when the dict has one, as PaddleOCR does (its class counts)
    assert load_character_list(str(path), use_space_char=True) == ["z", " ", "é", " "]


@pytest.fixture(scope="module")
def bad_dict_configs(tmp_path_factory, rec_data):
    root = tmp_path_factory.mktemp("bad_dicts")
    configs = {}
    for name in ("duplicate", "not_utf8", "two_chars"):
        (root / f"{name}.txt").write_bytes(BAD_DICTS[name][0])
        config = tiny_rec_config(rec_data, root / f"out_{name}", epochs=1)
        config["Global"].update(character_dict_path=str(root / f"{name}.txt"),
                                pretrained_model=str(root / "never_read"))
        configs[name] = (write_config(config, root / f"{name}.yml"), str(root / f"{name}.txt"))
    return configs


def _single_error_line(proc):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    return errors[0]


@pytest.mark.parametrize("tool, name", [("train.py", "duplicate"), ("export_model.py", "two_chars")])
def test_tools_report_a_bad_dict_in_one_line(bad_dict_configs, tool, name):
    config, dict_path = bad_dict_configs[name]
    line = _single_error_line(run_tool(tool, config, check=False, timeout=300))
    assert line.startswith(f"error: character dict {dict_path}:")
    assert line.endswith(BAD_DICTS[name][1].replace("\\", ""))


def test_predict_system_reports_a_non_utf8_dict_with_its_line(bad_dict_configs, tmp_path):
    _, dict_path = bad_dict_configs["not_utf8"]
    cmd = [sys.executable, os.path.join(REPO, "tools", "infer", "predict_system.py"), "--image_dir",
           os.path.join(REPO, "doc", "imgs"), "--rec_char_dict_path", dict_path,
           "--draw_img_save_dir", str(tmp_path / "out")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    line = _single_error_line(proc)
    assert line == f"error: character dict {dict_path}:3: not UTF-8 (byte 0xe9 at byte 1 of the line)"


# -- overrides of a section the file does not have ----------------------------------------------------------

def test_override_of_a_known_section_missing_from_the_file_says_so(tmp_path, rec_data):
    config = tiny_rec_config(rec_data, tmp_path / "out")
    del config["Train"]
    path = write_config(config, tmp_path / "no_train.yml")
    with pytest.raises(ConfigError) as err:
        load_and_override(path, ["Train.dataset.name=SimpleDataSet"])
    message = str(err.value)
    assert message == (f"{path}: override 'Train.dataset.name=SimpleDataSet': section 'Train' is missing from "
                       "the file; add it there (-o only changes keys the file has)")
    assert "did you mean" not in message


def test_override_can_still_create_a_section_whose_keys_all_have_defaults(tmp_path, rec_data):
    path = write_config(tiny_rec_config(rec_data, tmp_path / "out"), tmp_path / "rec.yml")
    assert "Quant" not in load_config(path)
    assert load_and_override(path, ["Quant.mode=ptq"])["Quant"] == {"mode": "ptq"}
