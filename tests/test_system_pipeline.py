"""TextSystem.ocr_many: detection of the next images overlapping recognition of the current one gives exactly what
image-by-image ``ocr`` gives, in input order, with the packaged models."""
import os

import cv2
import numpy as np
import pytest

from test_infer_inputs import WORD, render_text
from test_system import SENTENCE, render_page


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Paths, arrays and bytes: pages with several lines, one word, a blank image and a tilted page."""
    root = str(tmp_path_factory.mktemp("pipeline"))
    page = render_page(SENTENCE + ["Pack my box", "jugs 0123"])
    path = os.path.join(root, "page.png")
    cv2.imwrite(path, page)
    tilted = cv2.warpAffine(page, cv2.getRotationMatrix2D((page.shape[1] / 2, page.shape[0] / 2), 4, 1.0),
                            (page.shape[1], page.shape[0]), borderValue=(245, 245, 245))
    word = render_text(WORD)
    return [path, word, np.full((64, 64, 3), 255, np.uint8), tilted, cv2.imencode(".png", word)[1].tobytes(),
            render_page(SENTENCE[::-1])]


@pytest.fixture(scope="module")
def system():
    from ppocr.infer import TextSystem

    return TextSystem(cpu_threads=1)  # one thread per stage: how overlapping is meant to run on 2 cores


def test_overlapped_results_equal_image_by_image_results(system, inputs):
    sequential = [system.ocr(image)[0] for image in inputs]
    for lookahead in (1, 2):
        overlapped = list(system.ocr_many(iter(inputs), lookahead=lookahead))
        assert [results for results, _ in overlapped] == sequential
        for _, timings in overlapped:
            assert set(timings) == {"det", "cls", "rec", "total"} and timings["total"] >= timings["det"] > 0
    assert sum(bool(results) for results in sequential) == len(inputs) - 1  # all but the blank image read
    assert len(sequential[0]) == 4 and sequential[1][0]["transcription"].lower() == WORD.lower()


def test_a_bad_image_raises_after_the_results_before_it(system, inputs, tmp_path):
    missing = str(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError) as direct:
        system.ocr(missing)
    got = []
    with pytest.raises(FileNotFoundError) as raised:
        for results, _ in system.ocr_many([inputs[0], inputs[1], missing, inputs[3]]):
            got.append(results)
    assert str(raised.value) == str(direct.value)
    assert len(got) == 2 and got[1] == system(inputs[1])
    stopped = system.ocr_many(inputs)  # a consumer that stops early leaves no thread running
    next(stopped)
    stopped.close()
