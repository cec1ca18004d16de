"""CTC greedy decoding and the recognition metric on hand-made inputs."""
import time

import numpy as np
import paddle
import pytest

from ppocr.metrics import build_metric
from ppocr.metrics.rec_metric import RecMetric
from ppocr.postprocess import build_post_process
from ppocr.postprocess.rec_postprocess import CTCLabelDecode, ctc_greedy_decode, decode_label_ids
from ppocr.utils.registry import ConfigError

DEFAULT = ["blank"] + list("0123456789abcdefghijklmnopqrstuvwxyz")


def probs_for(rows, classes=len(DEFAULT), peak=0.9):
    """N×T×C probabilities whose argmax follows ``rows``; an entry may be ``(id, prob)``."""
    steps = max(len(r) for r in rows)
    out = np.zeros((len(rows), steps, classes), dtype="float32")
    for n, row in enumerate(rows):
        for t in range(steps):
            cls, p = (row[t] if isinstance(row[t], tuple) else (row[t], peak)) if t < len(row) else (0, peak)
            out[n, t, :] = (1.0 - p) / (classes - 1)
            out[n, t, cls] = p
    return out


def ids(text):
    return [DEFAULT.index(ch) for ch in text]


A, B, C = ids("abc")


# ---------------------------------------------------------------- decoding


def test_repeats_merge_and_blanks_separate_real_repeats():
    probs = probs_for([[A, A, B, B, B], [A, 0, A, 0, 0], [A, A, 0, A, B]])
    texts = [t for t, _ in ctc_greedy_decode(probs, DEFAULT)]
    assert texts == ["ab", "aa", "aab"]


def test_score_is_mean_of_kept_characters():
    probs = probs_for([[(A, 0.9), (A, 0.5), (0, 0.99), (B, 0.6)]])
    [(text, score)] = ctc_greedy_decode(probs, DEFAULT)
    assert text == "ab"
    assert score == pytest.approx((0.9 + 0.6) / 2)


def test_all_blank_gives_empty_text_and_zero_score():
    [(text, score)] = ctc_greedy_decode(probs_for([[0, 0, 0, 0]]), DEFAULT)
    assert text == "" and score == 0.0


def test_decode_accepts_tensor_dict_and_tuple_predictions():
    post = CTCLabelDecode()
    probs = probs_for([[A, B, 0, C]])
    expected = [("abc", pytest.approx(0.9))]
    assert post(probs) == expected
    assert post(paddle.to_tensor(probs)) == expected
    assert post({"head_out": paddle.to_tensor(probs), "neck_out": None}) == expected
    assert post((np.zeros(1), probs)) == expected
    with pytest.raises(ValueError, match="head_out"):
        post({"maps": probs})


def test_class_count_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="character_dict_path"):
        CTCLabelDecode()(np.zeros((1, 4, 10), dtype="float32"))
    with pytest.raises(ValueError, match="N×T×C"):
        ctc_greedy_decode(np.zeros((4, len(DEFAULT))), DEFAULT)


def test_labels_are_decoded_without_merging_and_padding_dropped():
    post = CTCLabelDecode()
    labels = np.array([ids("aab") + [0, 0], ids("c") + [0] * 4, [0] * 5], dtype="int64")
    preds, decoded = post(probs_for([[A, B], [C], [0]]), [None, paddle.to_tensor(labels), None])
    assert [t for t, _ in preds] == ["ab", "c", ""]
    assert decoded == [("aab", 1.0), ("c", 1.0), ("", 1.0)]
    with pytest.raises(ValueError, match="another dict"):
        decode_label_ids(np.array([[len(DEFAULT)]]), DEFAULT)


def test_dict_file_and_space_character(tmp_path):
    dict_path = tmp_path / "dict.txt"
    dict_path.write_text("x\ny\nz\n", encoding="utf-8")
    post = CTCLabelDecode(character_dict_path=str(dict_path), use_space_char=True)
    assert post.character == ["blank", "x", "y", "z", " "]
    probs = probs_for([[1, 4, 2, 0, 3, 3]], classes=5)
    assert post(probs)[0][0] == "x yz"


def test_built_from_config_with_global_dict(tmp_path):
    dict_path = tmp_path / "dict.txt"
    dict_path.write_text("p\nq\n", encoding="utf-8")
    post = build_post_process({"name": "CTCLabelDecode"}, {"character_dict_path": str(dict_path)})
    assert post.character == ["blank", "p", "q"]
    with pytest.raises(ConfigError, match="use_space"):
        build_post_process({"name": "CTCLabelDecode", "use_space": True})


def test_large_batch_decodes_quickly():
    rng = np.random.default_rng(0)
    character = ["blank"] + [chr(0x4E00 + i) for i in range(6624)]
    probs = rng.random((6, 80, 6625), dtype=np.float32)
    path = rng.integers(0, 6625, size=(6, 80))
    np.put_along_axis(probs, path[..., None], 2.0, axis=2)
    start = time.perf_counter()
    results = ctc_greedy_decode(probs, character)
    elapsed = time.perf_counter() - start
    for row, (text, _) in zip(path, results):
        kept = [i for t, i in enumerate(row) if i != 0 and (t == 0 or row[t - 1] != i)]
        assert text == "".join(character[i] for i in kept)
    assert elapsed < 1.0


# ---------------------------------------------------------------- metric


def pairs(preds, labels):
    return [(p, 0.5) for p in preds], [(t, 1.0) for t in labels]


def test_metric_accuracy_and_edit_distance():
    metric = RecMetric()
    batch = metric(pairs(["abc", "abd", "", "xyz"], ["abc", "abc", "ab", "xy"]))
    assert batch["acc"] == pytest.approx(0.25)
    assert batch["norm_edit_dis"] == pytest.approx(1 - (0 + 1 / 3 + 1 + 1 / 3) / 4)


def test_metric_accumulates_and_resets():
    metric = RecMetric()
    metric(pairs(["ab"], ["ab"]))
    second = metric(pairs(["ab", "cd", "ef"], ["xx", "cd", "ef"]))
    assert second["acc"] == pytest.approx(2 / 3)
    assert metric.get_metric() == {"acc": pytest.approx(3 / 4), "norm_edit_dis": pytest.approx(1 - 1 / 4)}
    assert metric.get_metric() == {"acc": 0.0, "norm_edit_dis": 0.0}
    metric(pairs(["a"], ["b"]))
    metric.reset()
    assert metric.get_metric() == {"acc": 0.0, "norm_edit_dis": 0.0}


def test_ignore_space():
    data = pairs(["a b", " ab"], ["ab", "ab"])
    assert RecMetric()(data)["acc"] == 1.0
    assert RecMetric(ignore_space=False)(data)["acc"] == 0.0


def test_is_filter_keeps_alphanumerics_case_insensitive():
    data = pairs(["Hello-World!", "A.B"], ["helloworld", "ab"])
    assert RecMetric(is_filter=True)(data)["acc"] == 1.0
    assert RecMetric()(data)["acc"] == 0.0


def test_metric_rejects_unlabelled_results():
    with pytest.raises(ValueError, match="predictions, labels"):
        RecMetric()([("a", 0.9)])
    with pytest.raises(ValueError, match="2 predictions for 1 labels"):
        RecMetric()(pairs(["a", "b"], ["a"]))


def test_decode_then_metric_from_configs():
    post = build_post_process({"name": "CTCLabelDecode"})
    metric = build_metric({"name": "RecMetric", "main_indicator": "acc"})
    assert metric.main_indicator == "acc"
    labels = np.array([ids("ab") + [0], ids("cab")], dtype="int64")
    metric(post(probs_for([[A, 0, B], [C, A, 0]]), [None, labels, None]))
    figures = metric.get_metric()
    assert figures["acc"] == pytest.approx(0.5)
    assert figures["norm_edit_dis"] == pytest.approx(1 - (1 / 3) / 2)
