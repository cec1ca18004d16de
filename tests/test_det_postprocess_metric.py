"""DBPostProcess (map → boxes) and DetMetric / iou_matching (ICDAR 2015 protocol)."""
import logging

import cv2
import numpy as np
import paddle
import pyclipper
import pytest
from shapely.geometry import Point, Polygon

from ppocr.metrics.det_metric import DetMetric
from ppocr.metrics.iou_matching import evaluate, match_detections
from ppocr.postprocess.db_postprocess import DBPostProcess, boxes_from_prob_map
from ppocr.utils.registry import METRICS, POSTPROCESS, ConfigError

SHRINK_RATIO = 0.4


def shrink(polygon, ratio=SHRINK_RATIO):
    """The DB label maker's kernel: offset inwards by area × (1 − r²) / perimeter."""
    poly = Polygon(polygon)
    distance = poly.area * (1 - ratio**2) / poly.length
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(np.round(polygon).astype(int).tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return np.array(offset.Execute(-distance)[0])


def prob_map(height, width, polygons, value=0.9):
    canvas = np.zeros((height, width), np.float32)
    for polygon in polygons:
        cv2.fillPoly(canvas, [np.round(polygon).astype(np.int32)], value)
    return canvas


def as_batch(*maps):
    return {"maps": np.stack(maps)[:, None]}


def rect(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def assert_same_corners(found, expected, tol):
    """Every expected corner has a found corner within ``tol`` pixels (order-free)."""
    distances = np.linalg.norm(found[:, None, :] - expected[None, :, :], axis=-1)
    assert distances.min(axis=0).max() <= tol, (found, expected)


# ---- DBPostProcess ----------------------------------------------------------------------------


def test_shrunk_rectangle_comes_back_as_the_text_box():
    text = rect(40, 30, 140, 70)
    post = DBPostProcess(unclip_ratio=1.5)
    [result] = post(as_batch(prob_map(128, 192, [shrink(text)])), [[128, 192, 1.0, 1.0]])
    assert result["points"].shape == (1, 4, 2)
    assert result["points"].dtype == np.int32
    np.testing.assert_allclose(result["points"][0], text, atol=3)
    assert result["scores"] == [pytest.approx(0.9, abs=1e-5)]


def test_rotated_box_is_recovered_and_ordered_clockwise_from_top_left():
    text = cv2.boxPoints(((100, 90), (120, 40), 25))
    post = DBPostProcess(unclip_ratio=1.5)
    [result] = post(as_batch(prob_map(192, 200, [shrink(text)])), None)
    [box] = result["points"].astype(np.float32)
    assert_same_corners(box, text, tol=4)
    assert Polygon(box).intersection(Polygon(text)).area / Polygon(box).union(Polygon(text)).area > 0.9
    x, y = box[:, 0], box[:, 1]
    assert 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0  # clockwise with y pointing down
    left_two = np.argsort(x)[:2]
    assert 0 in left_two and 3 in left_two and y[0] < y[3]


def test_ratios_map_boxes_to_a_differently_sized_source():
    text = rect(40, 30, 140, 70)
    src_h, src_w = 100, 600
    ratio_h, ratio_w = 128 / src_h, 192 / src_w  # resized = source × ratio
    post = DBPostProcess(unclip_ratio=1.5)
    [result] = post(as_batch(prob_map(128, 192, [shrink(text)])), np.array([[src_h, src_w, ratio_h, ratio_w]]))
    expected = text / np.array([ratio_w, ratio_h], np.float32)
    np.testing.assert_allclose(result["points"][0], expected, atol=3 / min(ratio_h, ratio_w))


def test_boxes_are_clipped_to_the_source_image():
    text = rect(150, 90, 200, 140)  # hangs over the right and bottom edges of a 128×192 map
    [result] = DBPostProcess(unclip_ratio=2.0)(as_batch(prob_map(128, 192, [shrink(text)])), [[64, 96, 0.5, 0.5]])
    points = result["points"][0]
    assert points[:, 0].max() == 95 and points[:, 1].max() == 63
    assert points.min() >= 0


def l_shape():
    return np.array([[20, 20], [120, 20], [120, 40], [40, 40], [40, 110], [20, 110]], np.float32)


def test_fast_and_slow_scores_differ_on_a_non_rectangular_blob():
    maps = as_batch(prob_map(128, 160, [l_shape()]))
    [fast] = DBPostProcess(box_thresh=0.0, score_mode="fast")(maps)
    [slow] = DBPostProcess(box_thresh=0.0, score_mode="slow")(maps)
    assert slow["scores"][0] == pytest.approx(0.9, abs=0.01)  # the contour holds only text pixels
    assert fast["scores"][0] < slow["scores"][0] - 0.2  # the box also covers the empty corner
    assert len(DBPostProcess(box_thresh=0.6, score_mode="fast")(maps)[0]["points"]) == 0
    assert len(DBPostProcess(box_thresh=0.6, score_mode="slow")(maps)[0]["points"]) == 1


def test_poly_mode_follows_the_contour():
    maps = as_batch(prob_map(160, 160, [l_shape() + 10]))
    [quad] = DBPostProcess(box_thresh=0.0, unclip_ratio=1.0)(maps)
    [poly] = DBPostProcess(box_thresh=0.0, unclip_ratio=1.0, box_type="poly")(maps)
    assert isinstance(poly["points"], list) and len(poly["points"]) == 1
    polygon = Polygon(poly["points"][0])
    empty_corner, arm = Point(100, 100), Point(40, 100)
    assert polygon.contains(arm) and not polygon.contains(empty_corner)
    assert Polygon(quad["points"][0]).contains(empty_corner)


def test_box_thresh_filters_and_max_candidates_caps():
    strong = [rect(10, 10 + 20 * i, 80, 24 + 20 * i) for i in range(3)]
    canvas = np.maximum(prob_map(128, 192, strong, 0.9), prob_map(128, 192, [rect(100, 10, 180, 24)], 0.5))
    maps = as_batch(canvas)
    assert len(DBPostProcess(box_thresh=0.7)(maps)[0]["points"]) == 3
    assert len(DBPostProcess(box_thresh=0.4)(maps)[0]["points"]) == 4
    capped = DBPostProcess(box_thresh=0.4, max_candidates=2)(maps)[0]
    assert len(capped["points"]) == len(capped["scores"]) == 2


def test_thin_regions_are_dropped_and_thresh_binarizes():
    canvas = prob_map(64, 64, [rect(5, 5, 60, 6)])  # 2 px tall
    assert DBPostProcess(box_thresh=0.0)(as_batch(canvas))[0]["points"].shape == (0, 4, 2)
    faint = prob_map(64, 64, [rect(10, 10, 50, 30)], 0.25)
    assert len(DBPostProcess(thresh=0.3, box_thresh=0.0)(as_batch(faint))[0]["points"]) == 0
    assert len(DBPostProcess(thresh=0.2, box_thresh=0.0)(as_batch(faint))[0]["points"]) == 1


def test_dilation_joins_regions_split_by_one_pixel():
    canvas = prob_map(64, 96, [rect(10, 20, 40, 36), rect(42, 20, 80, 36)])
    assert len(DBPostProcess()(as_batch(canvas))[0]["points"]) == 2
    assert len(DBPostProcess(use_dilation=True)(as_batch(canvas))[0]["points"]) == 1


def test_tensor_input_batches_and_whole_eval_batch_as_shape_list():
    one = prob_map(64, 96, [shrink(rect(10, 10, 60, 40))])
    two = prob_map(64, 96, [shrink(rect(10, 10, 40, 30)), shrink(rect(50, 30, 90, 55))])
    maps = paddle.to_tensor(np.stack([one, two])[:, None])
    shape_list = paddle.to_tensor([[64, 96, 1.0, 1.0], [128, 192, 0.5, 0.5]])
    image = paddle.zeros([2, 3, 64, 96])
    post = POSTPROCESS.build({"name": "DBPostProcess", "unclip_ratio": 1.5})
    from_shapes = post({"maps": maps}, shape_list)
    from_batch = post({"maps": maps}, [image, shape_list])
    assert [len(r["points"]) for r in from_shapes] == [1, 2]
    for a, b in zip(from_shapes, from_batch):
        np.testing.assert_array_equal(a["points"], b["points"])
    assert from_shapes[1]["points"][:, :, 0].max() > 150  # second image scaled ×2


def test_pure_numpy_decoder_and_config_errors():
    boxes, scores = boxes_from_prob_map(prob_map(64, 96, [shrink(rect(10, 10, 60, 40))]), [64, 96, 1, 1])
    assert boxes.shape == (1, 4, 2) and len(scores) == 1
    with pytest.raises(ConfigError, match="score_mode"):
        DBPostProcess(score_mode="exact")
    with pytest.raises(ConfigError, match="box_type"):
        POSTPROCESS.build({"name": "DBPostProcess", "box_type": "rect"})
    with pytest.raises(ConfigError, match="box_thresh"):
        POSTPROCESS.build({"name": "DBPostProcess", "box_thresh": "high"})
    with pytest.raises(ValueError, match="shape_list"):
        DBPostProcess()(as_batch(np.zeros((8, 8), np.float32)), [[8, 8, 1, 1], [8, 8, 1, 1]])


# ---- DetMetric / iou_matching -----------------------------------------------------------------


def eval_batch(gt_polys, ignore_tags):
    """[image, shape_list, polys, ignore_tags] for one image, as the det eval loader yields it."""
    return [np.zeros((1, 3, 8, 8)), np.array([[8, 8, 1, 1]]), [np.array(gt_polys)], [np.array(ignore_tags)]]


def score(preds, gt_polys, ignore_tags):
    metric = METRICS.build({"name": "DetMetric"})
    metric([{"points": preds}], eval_batch(gt_polys, ignore_tags))
    return metric.get_metric()


A, B, C = rect(0, 0, 100, 40), rect(0, 60, 100, 100), rect(200, 0, 300, 40)


def test_ground_truth_as_prediction_is_perfect():
    figures = score([A, B], [A, B], [False, False])
    assert figures == {"precision": 1.0, "recall": 1.0, "hmean": 1.0}
    assert DetMetric().main_indicator == "hmean"


def test_empty_predictions_score_zero():
    assert score([], [A, B], [False, False]) == {"precision": 0.0, "recall": 0.0, "hmean": 0.0}


def test_one_of_two_matched():
    figures = score([A], [A, B], [False, False])
    assert figures["precision"] == 1.0 and figures["recall"] == 0.5
    assert figures["hmean"] == pytest.approx(2 / 3)


def test_false_positive_lowers_precision():
    figures = score([A, C], [A], [False])
    assert figures["precision"] == 0.5 and figures["recall"] == 1.0


def test_detection_inside_dont_care_region_is_ignored():
    inside_care = rect(210, 5, 290, 35)
    assert score([A, inside_care], [A, C], [False, True]) == {"precision": 1.0, "recall": 1.0, "hmean": 1.0}
    result = match_detections([A, C], [A, inside_care], [False, True])
    assert result.ignored_dets == [1] and result.gt_care == 1 and result.det_care == 1
    # mostly outside the ### region: counted, as a false positive
    straddling = rect(150, 0, 230, 40)
    assert score([A, straddling], [A, C], [False, True])["precision"] == 0.5


def test_two_detections_on_one_ground_truth_count_once():
    slightly_off = A + np.array([3, 2], np.float32)
    result = match_detections([A], [A, slightly_off])
    assert result.matched == 1 and result.pairs == [(0, 0)]
    figures = score([A, slightly_off], [A], [False])
    assert figures["recall"] == 1.0 and figures["precision"] == 0.5


def test_iou_threshold_is_half():
    # A is 100×40; shifting right by s gives IoU (100 − s) / (100 + s)
    assert match_detections([A], [A + np.array([30, 0], np.float32)]).matched == 1  # IoU 0.54
    assert match_detections([A], [A + np.array([40, 0], np.float32)]).matched == 0  # IoU 0.43


def test_counts_accumulate_globally_and_get_metric_resets():
    metric = DetMetric()
    metric([{"points": [A]}], eval_batch([A], [False]))
    metric([{"points": []}], eval_batch([A, B, C], [False, False, False]))
    figures = metric.get_metric()
    assert figures["recall"] == 0.25  # 1 of 4 GT overall, not the per-image mean 0.5
    assert figures["precision"] == 1.0
    assert metric.get_metric() == {"precision": 0.0, "recall": 0.0, "hmean": 0.0}


def test_padded_tensor_batch_and_evaluate_over_lists(caplog):
    metric = DetMetric()
    padding = np.zeros((4, 2), np.float32)  # batches pad polygon lists to one length
    polys = paddle.to_tensor(np.stack([np.stack([A, B]), np.stack([C, padding])]))
    ignore = paddle.to_tensor([[False, False], [False, True]])
    with caplog.at_level(logging.WARNING, logger="ppocr.metrics.iou_matching"):
        metric([{"points": np.stack([A, B])}, {"points": np.stack([C])}], [None, None, polys, ignore])
    assert metric.get_metric() == {"precision": 1.0, "recall": 1.0, "hmean": 1.0}
    assert caplog.text == ""  # padding is not bad data
    figures = evaluate([[A.tolist(), B.tolist()], [C.tolist()]], [[A.tolist()], []])
    assert figures["recall"] == pytest.approx(1 / 3) and figures["precision"] == 1.0


def test_detection_inside_dont_care_is_ignored_even_if_it_matches_a_care_box():
    # ICDAR 2015 filters don't-care detections before matching
    result = match_detections([C, C], [C], [False, True])
    assert result.ignored_dets == [0] and result.matched == 0 and result.gt_care == 1


def test_self_intersecting_polygon_is_repaired_with_a_warning(caplog):
    bowtie = np.array([[0, 0], [100, 40], [100, 0], [0, 40]], np.float32)
    with caplog.at_level(logging.WARNING, logger="ppocr.metrics.iou_matching"):
        result = match_detections([bowtie], [bowtie, A])
    assert "repaired" in caplog.text
    assert result.gt_care == 1 and result.pairs == [(0, 0)]
    # repaired = the two triangular lobes, half of A's area: IoU with A is 0.5, not a match
    assert match_detections([bowtie], [A]).matched == 0
    degenerate = np.array([[0, 0], [10, 10], [20, 20], [30, 30]], np.float32)
    assert match_detections([A], [A, degenerate]).det_care == 1


def test_postprocess_then_metric_end_to_end():
    texts = [rect(20, 20, 120, 50), cv2.boxPoints(((150, 110), (90, 30), -15))]
    canvas = prob_map(160, 224, [shrink(t) for t in texts])
    preds = DBPostProcess(unclip_ratio=1.5)(as_batch(canvas), [[160, 224, 1.0, 1.0]])
    metric = DetMetric()
    metric(preds, eval_batch(texts, [False, False]))
    assert metric.get_metric()["hmean"] == 1.0
