"""Hostile outputs and names: output folders that cannot be made, file names with tabs and newlines in
results files, a folder handed to ``TextSystem``. Every case ends in one line, not a traceback."""
import os
import subprocess
import sys

import cv2
import pytest

from conftest import REPO, TOOLS, run_tool, tiny_rec_config, write_config
from ppocr.infer.results import escape_key, format_line, load_system_results, parse_line, unescape_key
from ppocr.utils.errors import OutputDirError
from ppocr.utils.io import ensure_output_dir, ensure_output_file
from test_infer_inputs import WORD, render_text

# Names a results line must survive; the last is an ordinary one, written exactly as PaddleOCR does.
HOSTILE_NAMES = ["tab\tname.png", "new\nline.png", "carriage\rreturn.png", "back\\slash\\t.png", "plain.png"]
# /sys refuses new entries even to root: the one place a test running as root gets a real permission error.
NO_PERMISSION = "/sys/ppocr_cannot_write_here"


def _sys_refuses():
    try:
        os.mkdir(NO_PERMISSION)
    except PermissionError:
        return True
    except OSError:
        return False
    os.rmdir(NO_PERMISSION)
    return False


needs_refusing_sys = pytest.mark.skipif(not _sys_refuses(), reason="/sys accepts new folders here")


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "regular_file"
    path.write_text("not a folder")
    return path


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


# -- the helper ------------------------------------------------------------------------------------------------

def test_output_dir_helper_makes_folders_and_leaves_no_probe(tmp_path):
    target = tmp_path / "a" / "b"
    assert ensure_output_dir(str(target), "--out") == str(target)
    assert target.is_dir() and os.listdir(target) == []
    assert ensure_output_file(str(tmp_path / "c" / "res.txt"), "--out") == str(tmp_path / "c" / "res.txt")
    assert (tmp_path / "c").is_dir() and os.listdir(tmp_path / "c") == []


def test_output_dir_helper_names_option_path_and_what_is_wrong(a_file, tmp_path):
    with pytest.raises(OutputDirError, match=rf"^--draw_img_save_dir '{a_file}' is a file; expected a folder$"):
        ensure_output_dir(str(a_file), "--draw_img_save_dir")
    with pytest.raises(OutputDirError) as under:
        ensure_output_dir(str(a_file / "x" / "y"), "Global.save_model_dir")
    assert str(under.value).startswith(f"Global.save_model_dir '{a_file / 'x' / 'y'}': '{a_file}' is a file")
    with pytest.raises(OutputDirError, match="is a folder; expected a file path"):
        ensure_output_file(str(tmp_path), "Global.save_res_path")
    with pytest.raises(OutputDirError, match=f"'{a_file}' is a file"):
        ensure_output_file(str(a_file / "res.txt"), "Global.save_res_path")


@needs_refusing_sys
def test_output_dir_helper_turns_permission_errors_into_one_line():
    with pytest.raises(OutputDirError) as denied:
        ensure_output_dir(NO_PERMISSION + "/deeper", "Global.save_inference_dir")
    message = str(denied.value)
    assert message.startswith(f"Global.save_inference_dir '{NO_PERMISSION}/deeper': cannot make the folder")
    assert "not permitted" in message and "\n" not in message
    with pytest.raises(OutputDirError, match="cannot write in '/sys': permission denied"):
        ensure_output_file("/sys/ppocr_results.txt", "Global.save_res_path")


# -- the tools -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def line_image(tmp_path_factory):
    root = tmp_path_factory.mktemp("one_image")
    cv2.imwrite(str(root / "line.png"), render_text(WORD, height=48))
    return root


def _predict(tool, image_dir, out_dir, *flags):
    cmd = [sys.executable, os.path.join(TOOLS, "infer", tool), "--image_dir", str(image_dir),
           "--draw_img_save_dir", str(out_dir), *flags]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)


@pytest.mark.parametrize("tool", ["predict_system.py", "predict_det.py", "predict_rec.py", "predict_cls.py"])
def test_predict_tools_refuse_a_save_dir_under_a_file(tool, line_image, a_file):
    proc = _predict(tool, line_image, a_file / "out")
    assert_one_line_error(proc, f"--draw_img_save_dir '{a_file / 'out'}'", f"'{a_file}' is a file")


def test_predict_system_refuses_a_save_dir_it_may_not_write(line_image, a_file):
    proc = _predict("predict_system.py", line_image, a_file)
    assert_one_line_error(proc, f"--draw_img_save_dir '{a_file}' is a file; expected a folder")
    if _sys_refuses():
        proc = _predict("predict_system.py", line_image, NO_PERMISSION)
        assert_one_line_error(proc, f"--draw_img_save_dir '{NO_PERMISSION}'", "not permitted")
    proc = _predict("predict_system.py", line_image, a_file.parent / "ok", "--save_crop_res", "True",
                    "--crop_res_save_dir", str(a_file / "crops"))
    assert_one_line_error(proc, f"--crop_res_save_dir '{a_file / 'crops'}'")


@pytest.fixture(scope="module")
def rec_checkpoint(rec_data, tmp_path_factory):
    """The tiny rec recipe with freshly initialised weights: enough for tools that load a checkpoint."""
    import paddle

    from ppocr.modeling.architectures import build_model, with_class_count
    from ppocr.postprocess import build_post_process

    out = tmp_path_factory.mktemp("rec_checkpoint")
    config = tiny_rec_config(rec_data, out, epochs=1)
    post = build_post_process(config["PostProcess"], config["Global"])
    model = build_model(with_class_count(config["Architecture"], post))
    paddle.save(model.state_dict(), str(out / "init.pdparams"))
    config["Global"]["pretrained_model"] = str(out / "init")
    return {"config": config, "path": write_config(config, out / "rec.yml"), "dir": out}


@pytest.mark.parametrize("tool, option, extra", [
    ("train.py", "Global.save_model_dir", ()),
    ("export_model.py", "Global.save_inference_dir", ()),
    ("quant.py", "Global.save_inference_dir", ("Quant.mode=ptq",)),
    ("prune.py", "Global.save_model_dir", ()),
    ("eval.py", "Global.results_dir", ()),
    ("infer_rec.py", "Global.save_res_path", ()),
])
def test_config_tools_refuse_an_output_under_a_file(tool, option, extra, rec_checkpoint, rec_data, a_file):
    target = a_file / "out"
    overrides = [f"{option}={target}", *extra]
    if tool == "infer_rec.py":
        overrides.append(f"Global.infer_img={rec_data / 'val' / 'images'}")
    proc = run_tool(tool, rec_checkpoint["path"], *overrides, check=False)
    label = option if tool != "eval.py" else "Global.results_dir"
    assert_one_line_error(proc, label, f"'{a_file}' is a file")
    assert "epoch" not in proc.stdout, "refused before training started"


def test_trainer_checks_its_save_dir_before_building_anything(rec_checkpoint, a_file):
    from ppocr.engine.trainer import Trainer

    config = dict(rec_checkpoint["config"], Global=dict(rec_checkpoint["config"]["Global"],
                                                        save_model_dir=str(a_file)))
    with pytest.raises(OutputDirError, match=f"Global.save_model_dir '{a_file}' is a file"):
        Trainer(config, mode="train")


def test_file_writing_tools_refuse_an_output_under_a_file(rec_checkpoint, rec_data, a_file, tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, "export_center.py"), "-c", rec_checkpoint["path"],
                           "--out", str(a_file / "centers.pkl")], capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert_one_line_error(proc, f"--out '{a_file / 'centers.pkl'}'", f"'{a_file}' is a file")
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, "dataset_convert.py"),
                           "--label_file", str(rec_data / "val" / "rec_gt.txt"), "--data_dir", str(rec_data / "val"),
                           "--results_dir", str(a_file / "lmdb")], capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert_one_line_error(proc, f"results_dir '{a_file / 'lmdb'}'", f"'{a_file}' is a file")
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, "convert_icdar2015.py"), "--gt_dir", str(tmp_path),
                           "--image_dir", str(tmp_path), "--out", str(a_file / "label.txt")],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert_one_line_error(proc, f"--out '{a_file / 'label.txt'}'", f"'{a_file}' is a file")
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, "synth_text.py"), "rec", "--out", str(a_file),
                           "--num", "2"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"--out '{a_file}' is a file; expected a folder" in proc.stderr


# -- hostile names in results files ---------------------------------------------------------------------------

def test_keys_round_trip_through_escaping():
    tricky = ["a\tb", "a\nb", "a\rb", "a\\b", "a\\tb", "\\", "\\\\t", "\t\n\r\\", "x\\", "plain/name.png"]
    for key in tricky:
        line = format_line(key, "[]")
        assert line.count("\n") == 1 and line.endswith("\n") and "\r" not in line
        assert line.count("\t") == 1, repr(line)
        assert parse_line(line) == (key, "[]")
        assert unescape_key(escape_key(key)) == key
    assert format_line("plain/name.png", "[]") == "plain/name.png\t[]\n"
    assert escape_key("a\tb\\") == "a\\tb\\\\"


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_names")
    image = render_text(WORD, height=48)
    for name in HOSTILE_NAMES:
        ok, data = cv2.imencode(".png", image)
        (root / name).write_bytes(data.tobytes())
    return root


@pytest.mark.parametrize("flags", [(), ("--use_mp", "True", "--total_process_num", "2")], ids=["single", "mp"])
def test_predict_system_results_keep_tabs_and_newlines_in_names(hostile_folder, tmp_path, flags):
    proc = _predict("predict_system.py", hostile_folder, tmp_path, "--is_visualize", "False", *flags)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results_path = tmp_path / "system_results.txt"
    rows = list(load_system_results(str(results_path)))
    assert [key for key, _, _ in rows] == sorted(HOSTILE_NAMES)
    for key, results, error in rows:
        assert error is None, (key, error)
        assert "".join(item["transcription"] for item in results).replace(" ", "") == WORD.replace(" ", ""), key
    lines = results_path.read_text(encoding="utf-8").split("\n")
    assert len(lines) == len(HOSTILE_NAMES) + 1 and lines[-1] == ""
    assert [line for line in lines if line.startswith("plain.png\t[{")], "ordinary names are written as they are"
    assert "tab\\tname.png\t[" in results_path.read_text(encoding="utf-8")
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")], "no parts left behind"


def test_predict_rec_results_keep_tabs_and_newlines_in_names(hostile_folder, tmp_path):
    proc = _predict("predict_rec.py", hostile_folder, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "rec_results.txt", encoding="utf-8") as f:
        rows = [parse_line(line) for line in f]
    assert [key for key, _ in rows] == sorted(HOSTILE_NAMES)
    assert all(payload.count("\t") == 1 and not payload.startswith("ERROR") for _, payload in rows)


def test_infer_rec_results_keep_tabs_and_newlines_in_names(rec_checkpoint, hostile_folder, tmp_path):
    out = tmp_path / "predicts.txt"
    run_tool("infer_rec.py", rec_checkpoint["path"], f"Global.infer_img={hostile_folder}",
             f"Global.save_res_path={out}")
    with open(out, encoding="utf-8") as f:
        rows = [parse_line(line) for line in f]
    assert sorted(key for key, _ in rows) == sorted(str(hostile_folder / name) for name in HOSTILE_NAMES)
    assert all(not payload.startswith("ERROR") for _, payload in rows)


# -- a folder given to TextSystem ------------------------------------------------------------------------------

def test_text_system_on_a_folder_says_it_is_a_folder_and_points_to_run(line_image):
    from ppocr.infer import TextSystem
    from ppocr.infer.inputs import InputError

    system = TextSystem()
    with pytest.raises(InputError) as err:
        system(str(line_image))
    message = str(err.value)
    assert f"'{line_image}' is a folder" in message and "ppocr.infer.run" in message
    assert "does not exist" not in message
    assert system(str(line_image / "line.png")), "the same system reads the image inside"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        system(str(line_image / "missing.png"))
