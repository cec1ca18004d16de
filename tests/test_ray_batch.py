"""Batch OCR on Ray (local 2-CPU instance): the same results files as the single-process run, bad files included."""
import json
import os
import subprocess
import sys

import cv2
import pytest

from ppocr.infer.options import InferOptions
from ppocr.infer.results import load_system_results
from test_infer_inputs import make_bad_input_corpus
from test_system import SENTENCE, render_page

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ray_inputs"))
    make_bad_input_corpus(root)
    cv2.imwrite(os.path.join(root, "sentence.png"), render_page(SENTENCE))
    return root


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="pip install 'ppocr[ray]'")
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_ray_run_equals_the_single_process_run(corpus, local_ray, tmp_path):
    from ppocr.infer.runner import run

    single_dir, ray_dir = str(tmp_path / "single"), str(tmp_path / "ray")
    single = run("system", InferOptions(image_dir=corpus, draw_img_save_dir=single_dir, is_visualize=False))
    on_ray = run("system", InferOptions(image_dir=corpus, draw_img_save_dir=ray_dir, is_visualize=False,
                                        ray=True, num_actors=2))
    assert on_ray.counts == single.counts and on_ray.counts["failed"] >= 5 and on_ray.counts["ok"] >= 8
    assert (on_ray.inputs, on_ray.images) == (single.inputs, single.images)
    assert _read(os.path.join(ray_dir, "system_results.txt")) == _read(os.path.join(single_dir, "system_results.txt"))
    lines = list(load_system_results(os.path.join(ray_dir, "system_results.txt")))
    assert "two_pages.pdf#page2" in [key for key, _, _ in lines]  # PDFs are split page by page
    records = [json.loads(line) for line in _read(os.path.join(ray_dir, "system_results.jsonl")).splitlines()]
    assert [record["key"] for record in records] == [key for key, _, _ in lines]
    for record, (key, results, error) in zip(records, lines):
        if error is not None:
            assert record["status"] == "failed" and record["error"] == error, key
        else:
            assert record["results"] == results and record["status"] == ("ok" if results else "empty"), key
    assert not [name for name in os.listdir(ray_dir) if name.startswith(".")], "no temporary files left"


def test_predict_system_takes_the_ray_flags():
    sys.path.insert(0, os.path.join(REPO, "tools", "infer"))
    try:
        import utility
    finally:
        sys.path.pop(0)
    options = utility.parse_args(["--image_dir", "x", "--ray", "True", "--ray_address", "auto", "--num_actors", "3"])
    assert (options.ray, options.ray_address, options.num_actors) == (True, "auto", 3)


def test_without_ray_the_flag_says_how_to_install_it(corpus, tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from ppocr.cli import console; "
            f"sys.argv = ['ppocr', 'ocr', {corpus!r}, '--draw_img_save_dir', {str(tmp_path)!r}, '--ray']; console()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "pip install 'ppocr[ray]'" in proc.stderr, proc.stderr
