"""The OCR system end to end with the packaged default models: API, tools, robustness, processes, threads."""
import concurrent.futures
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ppocr.infer.results import load_system_results
from test_infer_inputs import WORD, make_bad_input_corpus, render_text

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENTENCE = ["The quick brown fox", "jumps over the lazy dog"]
SUMMARY = re.compile(r"(\d+) inputs \((\d+) images/pages\): (\d+) ok, (\d+) empty, (\d+) failed")


def _normal(text):
    return " ".join(text.split()).lower()


def render_page(lines, gap=30):
    """Several rendered lines stacked on one white page, the second line indented."""
    rows = [render_text(line) for line in lines]
    width = max(row.shape[1] for row in rows) + 80
    page = np.full((sum(row.shape[0] + gap for row in rows) + gap, width, 3), 245, np.uint8)
    top = gap
    for number, row in enumerate(rows):
        left = 20 + 40 * number
        page[top:top + row.shape[0], left:left + row.shape[1]] = row
        top += row.shape[0] + gap
    return page


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("system_inputs"))
    expected = make_bad_input_corpus(root)
    cv2.imwrite(os.path.join(root, "sentence.png"), render_page(SENTENCE))
    expected["sentence.png"] = "sentence"
    return root, expected


@pytest.fixture(scope="module")
def system():
    from ppocr.infer import TextSystem

    return TextSystem()


def _expected_counts(expected):
    outcomes = []
    for outcome in expected.values():
        outcomes.extend(outcome if isinstance(outcome, list) else [outcome])
    return {"ok": sum(o in ("text", "sentence") for o in outcomes),
            "empty": sum(o in ("image", "downscaled") for o in outcomes),
            "failed": outcomes.count("error"), "total": len(outcomes)}


def _predict_system(corpus_root, out_dir, *flags):
    cmd = [sys.executable, os.path.join(REPO, "tools", "infer", "predict_system.py"), "--image_dir", corpus_root,
           "--draw_img_save_dir", out_dir, *flags]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)


@pytest.fixture(scope="module")
def single_run(corpus, tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp("single"))
    return out_dir, _predict_system(corpus[0], out_dir)


def _rect(left, top, right, bottom):
    return [[left, top], [right, top], [right, bottom], [left, bottom]]


def test_reading_order_groups_lines_with_uneven_baselines():
    from ppocr.infer.system import reading_order

    boxes = np.array([_rect(10, 110, 200, 140),   # second line
                      _rect(300, 8, 500, 38),     # first line, right word, sits a little higher
                      _rect(10, 14, 250, 44),     # first line, left word
                      _rect(220, 104, 400, 134)])  # second line, right word, higher than its neighbour
    assert reading_order(boxes) == [2, 1, 0, 3]


def test_crop_quad_straightens_and_turns_tall_crops():
    from ppocr.infer.system import crop_quad

    img = np.zeros((200, 300, 3), np.uint8)
    img[50:150, 100:130] = 255  # a tall white bar
    crop = crop_quad(img, np.array(_rect(100, 50, 130, 150), np.float32))
    assert crop.shape[:2] == (30, 100) and crop.mean() > 200
    tilted = np.array([[20, 40], [120, 20], [130, 70], [30, 90]], np.float32)
    assert crop_quad(img, tilted).shape[:2] == (51, 102)


def test_default_models_read_a_rendered_sentence_in_reading_order(system, corpus):
    results = system(os.path.join(corpus[0], "sentence.png"))
    assert [_normal(item["transcription"]) for item in results] == [_normal(line) for line in SENTENCE]
    for item in results:
        assert len(item["points"]) == 4 and all(isinstance(v, int) for point in item["points"] for v in point)
        assert 0.5 <= item["score"] <= 1.0
    first, second = results
    assert max(y for _, y in first["points"]) < min(y for _, y in second["points"])


def test_api_takes_arrays_and_bytes_and_reports_stage_timings(system):
    img = render_text(WORD)
    results, timings = system.ocr(img)
    assert [_normal(item["transcription"]) for item in results] == [_normal(WORD)]
    assert set(timings) == {"det", "cls", "rec", "total"} and timings["total"] >= timings["det"] > 0
    assert system(cv2.imencode(".png", img)[1].tobytes()) == results
    assert system(np.full((1, 1, 3), 255, np.uint8)) == []


def test_top_level_package_exports_text_system():
    import ppocr
    import ppocr.infer

    assert ppocr.TextSystem is ppocr.infer.TextSystem


def test_one_instance_shared_by_four_threads_matches_sequential(system, corpus):
    root, _ = corpus
    names = ["sentence.png", "gray.png", "photo.bmp", "nested/deeper/palette.png", "blank.png",
             "photo.webp", "nested/rgba.png", "animated.gif"]
    paths = [os.path.join(root, name) for name in names]
    sequential = [system(path) for path in paths]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(system, paths))
    assert threaded == sequential
    assert sum(bool(result) for result in sequential) == len(names) - 1


def test_predict_system_survives_the_bad_input_corpus(corpus, single_run):
    root, expected = corpus
    out_dir, proc = single_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = SUMMARY.search(proc.stdout)
    assert match, proc.stdout[-2000:]
    counts = _expected_counts(expected)
    assert [int(v) for v in match.groups()] == [len(expected), counts["total"], counts["ok"], counts["empty"],
                                               counts["failed"]]
    assert re.search(r"per image: det [\d.]+s, cls [\d.]+s, rec [\d.]+s", proc.stdout)
    lines = list(load_system_results(os.path.join(out_dir, "system_results.txt")))
    assert len(lines) == counts["total"]
    by_key = {key: (results, error) for key, results, error in lines}
    for name, outcome in expected.items():
        pages = outcome if isinstance(outcome, list) else [outcome]
        keys = [f"{name}#page{n}" for n in range(1, len(pages) + 1)] if isinstance(outcome, list) else [name]
        for key, page in zip(keys, pages):
            results, error = by_key[key]
            if page == "error":
                assert results is None and error, key
            elif page in ("image", "downscaled"):
                assert results == [], key
            elif page == "text":  # spaces are the least certain output of the model; letters must match
                assert "".join(item["transcription"] for item in results).replace(" ", "") == WORD.replace(" ", ""), key
    assert "enormous.png: 8000x6400 is more than 50000000 pixels" in proc.stdout


def test_visualised_image_has_the_text_panel(corpus, single_run):
    out_dir, _ = single_run
    source = cv2.imread(os.path.join(corpus[0], "sentence.png"))
    visual = cv2.imread(os.path.join(out_dir, "sentence.png"))
    assert visual is not None and visual.shape == (source.shape[0], 2 * source.shape[1], 3)
    panel = visual[:, source.shape[1]:]
    assert (panel < 128).any(), "the right panel shows the recognised text"
    assert os.path.isfile(os.path.join(out_dir, "two_pages.pdf_page1.jpg"))
    assert os.path.isfile(os.path.join(out_dir, "nested", "deeper", "palette.png"))


def test_multiprocess_output_equals_single_process(corpus, single_run, tmp_path):
    out_dir, _ = single_run
    proc = _predict_system(corpus[0], str(tmp_path), "--use_mp", "True", "--total_process_num", "2",
                           "--is_visualize", "False")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "splitting" in proc.stdout and "2 processes" in proc.stdout
    with open(os.path.join(out_dir, "system_results.txt"), encoding="utf-8") as f:
        single = f.read()
    with open(os.path.join(tmp_path, "system_results.txt"), encoding="utf-8") as f:
        multi = f.read()
    assert multi == single
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")], "temporary parts are removed"


def test_predict_rec_on_a_folder_of_crops(tmp_path):
    crops = tmp_path / "crops"
    crops.mkdir()
    words = {"a_hello.png": "hello", "b_world.jpg": "world", "c_number.png": "31415"}
    for name, word in words.items():
        cv2.imwrite(str(crops / name), render_text(word, height=32))
    (crops / "d_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    out = tmp_path / "out"
    cmd = [sys.executable, os.path.join(REPO, "tools", "infer", "predict_rec.py"), "--image_dir", str(crops),
           "--draw_img_save_dir", str(out), "--rec_batch_num", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.rstrip("\n").split("\t") for line in open(out / "rec_results.txt", encoding="utf-8")]
    assert [row[0] for row in rows] == sorted(words) + ["d_broken.png"]
    assert [row[1].strip() for row in rows[:3]] == list(words.values())
    assert all(0.5 < float(row[2]) <= 1.0 for row in rows[:3])
    assert rows[3][1].startswith("ERROR: ")
    assert "4 inputs (4 images/pages): 3 ok, 0 empty, 1 failed" in proc.stdout


def test_det_and_cls_runs_write_their_results(tmp_path):
    from ppocr.infer.options import InferOptions
    from ppocr.infer.runner import run

    images = tmp_path / "in"
    images.mkdir()
    line = render_text(WORD, height=32)
    cv2.imwrite(str(images / "upright.png"), line)
    cv2.imwrite(str(images / "upside_down.png"), cv2.rotate(line, cv2.ROTATE_180))
    options = InferOptions(image_dir=str(images), draw_img_save_dir=str(tmp_path / "out"))
    det = run("det", options)
    assert det.counts == {"ok": 2, "empty": 0, "failed": 0}
    det_lines = open(tmp_path / "out" / "det_results.txt", encoding="utf-8").read().splitlines()
    assert [line.split("\t")[0] for line in det_lines] == ["upright.png", "upside_down.png"]
    assert os.path.isfile(tmp_path / "out" / "upright.png")
    cls = run("cls", options)
    assert cls.counts["ok"] == 2
    labels = [line.split("\t")[1] for line in open(tmp_path / "out" / "cls_results.txt", encoding="utf-8")]
    assert labels == ["0", "180"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    from ppocr.cli import main
    from ppocr.cli import run_cli

    with pytest.raises(SystemExit) as exit_info:
        main(["ocr", str(tmp_path), "--det_db_threshh", "0.3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean --det_db_thresh?" in err
    with pytest.raises(SystemExit):
        main(["ocr", str(tmp_path), "--use_angle_cls", "maybe"])
    assert "expected True or False, got 'maybe'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, ["ocr", str(tmp_path / "missing_dir")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing_dir" in err and "does not exist" in err
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, ["ocr", str(tmp_path), "--det_model_dir", str(tmp_path / "no_model")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_model" in err


def test_console_command_exit_status(tmp_path):
    from ppocr.cli import main

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not an image")
    (bad / "b.png").write_bytes(b"")
    assert main(["ocr", str(bad), "--draw_img_save_dir", str(tmp_path / "o1"), "--show_log", "False"]) == 1
    cv2.imwrite(str(bad / "c.png"), np.full((40, 40, 3), 255, np.uint8))
    assert main(["ocr", str(bad), "--draw_img_save_dir", str(tmp_path / "o2"), "--show_log", "False"]) == 0
    lines = open(tmp_path / "o2" / "system_results.txt", encoding="utf-8").read().splitlines()
    assert lines[-1] == "c.png\t[]" and len(lines) == 3
