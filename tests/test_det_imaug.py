"""Detection data operators: labels, augmentation, crop, DB targets and the test-time resize."""
import json

import cv2
import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from ppocr.data.imaug import create_operators, transform
from ppocr.data.imaug.det_label_ops import DetLabelEncode
from ppocr.data.imaug.det_resize import DetResizeForTest, det_resize_shape, resize_for_det
from ppocr.data.imaug.iaa_augment import IaaAugment
from ppocr.data.imaug.make_border_map import MakeBorderMap, distance_to_polygon_edges
from ppocr.data.imaug.make_shrink_map import MakeShrinkMap
from ppocr.data.imaug.random_crop_data import EastRandomCropData, choose_crop
from ppocr.utils.registry import ConfigError

RED = (0, 0, 255)


def rect(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def random_boxes(rng, height, width, count, ignore_every=4):
    """Non-degenerate axis-aligned and slanted quads inside the image."""
    polys, ignore = [], []
    for i in range(count):
        w, h = rng.integers(20, width // 3), rng.integers(10, height // 5)
        x, y = rng.integers(0, width - w), rng.integers(0, height - h)
        slant = rng.integers(-5, 6)
        polys.append([[x, y], [x + w, y + slant], [x + w, y + h + slant], [x, y + h]])
        ignore.append(i % ignore_every == ignore_every - 1)
    polys = np.clip(np.array(polys, np.float32), 0, [width - 1, height - 1])
    return polys, np.array(ignore)


# ---------------------------------------------------------------- DetLabelEncode

def test_det_label_encode_mixed_points_and_ignore_marks():
    label = json.dumps([
        {"transcription": "hello", "points": rect(10, 10, 60, 30)},
        {"transcription": "###", "points": [[0, 0], [5, 0], [9, 3], [5, 6], [0, 6], [-1, 3]]},
        {"transcription": "*", "points": [[1, 1], [8, 1], [4, 9]]},
    ])
    out = DetLabelEncode()({"label": label})
    assert out["polys"].shape == (3, 6, 2) and out["polys"].dtype == np.float32
    assert out["texts"] == ["hello", "###", "*"]
    assert out["ignore_tags"].tolist() == [False, True, True]
    # shorter polygons are padded by repeating their last vertex
    np.testing.assert_array_equal(out["polys"][0, 3:], [[10, 30]] * 3)
    np.testing.assert_array_equal(out["polys"][2, 2:], [[4, 9]] * 4)
    np.testing.assert_array_equal(out["polys"][1], [[0, 0], [5, 0], [9, 3], [5, 6], [0, 6], [-1, 3]])


def test_det_label_encode_empty_and_bad_labels():
    out = DetLabelEncode()({"label": "[]"})
    assert out["polys"].shape == (0, 4, 2) and out["texts"] == [] and out["ignore_tags"].shape == (0,)
    with pytest.raises(ValueError, match="not valid JSON"):
        DetLabelEncode()({"label": '[{"transcription": "a", "points": [[1, 2]', "img_path": "a.jpg"})
    with pytest.raises(ValueError, match="a.jpg.*at least 3"):
        DetLabelEncode()({"label": '[{"transcription": "a", "points": [[1, 2], [3, 4]]}]', "img_path": "a.jpg"})
    with pytest.raises(ValueError, match=r"\[x, y\] pairs"):
        DetLabelEncode()({"label": '[{"transcription": "a", "points": [1, 2, 3, 4]}]'})
    with pytest.raises(ValueError, match="JSON list"):
        DetLabelEncode()({"label": '{"points": []}'})


# ---------------------------------------------------------------- MakeShrinkMap

def test_shrink_map_of_rectangle_matches_db_offset():
    poly = np.array([rect(50, 30, 150, 70)], np.float32)  # 100 × 40
    out = MakeShrinkMap(shrink_ratio=0.4)({"image": np.zeros((120, 200, 3), np.uint8), "polys": poly,
                                           "ignore_tags": np.array([False])})
    distance = 100 * 40 * (1 - 0.4**2) / (2 * (100 + 40))  # = 12
    ys, xs = np.nonzero(out["shrink_map"])
    assert abs(xs.min() - (50 + distance)) <= 1 and abs(xs.max() - (150 - distance)) <= 1
    assert abs(ys.min() - (30 + distance)) <= 1 and abs(ys.max() - (70 - distance)) <= 1
    assert out["shrink_map"][ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()
    assert out["shrink_mask"].all() and out["ignore_tags"].tolist() == [False]


def test_shrink_mask_covers_ignored_small_and_degenerate_boxes():
    polys = np.array([rect(10, 10, 110, 50),      # normal
                      rect(10, 70, 110, 110),     # ignored (###)
                      rect(130, 10, 135, 60),     # 5 px wide < min_text_size
                      [[150, 10], [170, 100], [170, 100], [150, 10]]],  # large extent, zero area
                     np.float32)
    data = {"image": np.zeros((120, 200, 3), np.uint8), "polys": polys,
            "ignore_tags": np.array([False, True, False, False])}
    out = MakeShrinkMap(shrink_ratio=0.01, min_text_size=8)(data)
    shrink_map, shrink_mask = out["shrink_map"], out["shrink_mask"]
    assert out["ignore_tags"].tolist() == [False, True, True, True]
    assert shrink_mask[30, 60] == 1 and shrink_map[30, 60] == 1
    for x, y in [(60, 90), (132, 30), (160, 55)]:
        assert shrink_mask[y, x] == 0 and shrink_map[y, x] == 0
    assert shrink_mask[5, 5] == 1 and shrink_map[5, 5] == 0


def test_shrink_map_does_not_depend_on_vertex_orientation():
    poly = np.array([[20, 20], [120, 30], [110, 70], [25, 60]], np.float32)
    maps = []
    for p in (poly, poly[::-1]):
        out = MakeShrinkMap()({"image": np.zeros((100, 150), np.uint8), "polys": p[None],
                               "ignore_tags": np.array([False])})
        maps.append(out["shrink_map"])
    assert maps[0].sum() > 500
    np.testing.assert_array_equal(maps[0], maps[1])


# ---------------------------------------------------------------- MakeBorderMap

def test_point_to_edge_distances_match_shapely():
    poly = np.array([[10, 5], [40, 8], [42, 30], [20, 28], [20, 28]], np.float32)  # padded vertex
    xs, ys = np.arange(0, 50, 3), np.arange(0, 40, 4)
    got = distance_to_polygon_edges(xs, ys, poly)
    ring = Polygon(poly[:4]).exterior
    expected = np.array([[ring.distance(Point(x, y)) for x in xs] for y in ys])
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_border_map_values_and_mask_extent():
    poly = np.array([rect(50, 40, 150, 80)], np.float32)  # D = 12 for r = 0.4
    out = MakeBorderMap(shrink_ratio=0.4, thresh_min=0.3, thresh_max=0.7)(
        {"image": np.zeros((140, 200, 3), np.uint8), "polys": poly, "ignore_tags": np.array([False])})
    tmap, tmask = out["threshold_map"], out["threshold_mask"]
    assert tmap.dtype == np.float32 and tmap.shape == (140, 200)
    # on the border: thresh_max; at distance D (dilated boundary): thresh_min; linear in between
    assert tmap[40, 100] == pytest.approx(0.7, abs=1e-5) and tmap[80, 100] == pytest.approx(0.7, abs=1e-5)
    assert tmap[28, 100] == pytest.approx(0.3, abs=1e-5)
    assert tmap[34, 100] == pytest.approx(0.3 + 0.4 * (1 - 6 / 12), abs=1e-5)
    assert tmap[46, 100] == pytest.approx(0.3 + 0.4 * (1 - 6 / 12), abs=1e-5)
    assert tmap[60, 100] == pytest.approx(0.3, abs=1e-5)  # 20 px inside: beyond D
    assert tmap.min() == pytest.approx(0.3) and tmap.max() == pytest.approx(0.7)
    # mask = dilated polygon: rows 28..92, columns 38..162 (round corners)
    ys, xs = np.nonzero(tmask)
    assert abs(ys.min() - 28) <= 1 and abs(ys.max() - 92) <= 1
    assert abs(xs.min() - 38) <= 1 and abs(xs.max() - 162) <= 1
    assert tmask[60, 100] == 1 and tmask[30, 40] == 0  # centre inside; corner rounded off


def test_border_map_skips_ignored_boxes():
    poly = np.array([rect(50, 40, 150, 80)], np.float32)
    out = MakeBorderMap()({"image": np.zeros((140, 200), np.uint8), "polys": poly,
                           "ignore_tags": np.array([True])})
    assert not out["threshold_mask"].any() and np.allclose(out["threshold_map"], 0.3)


# ---------------------------------------------------------------- EastRandomCropData

@pytest.mark.parametrize("seed", range(40))
def test_crop_never_cuts_a_cared_box(seed):
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(200, 500)), int(rng.integers(200, 700))
    polys, ignore = random_boxes(rng, height, width, int(rng.integers(1, 12)))
    np.random.seed(seed)
    ratio = 0.0 if seed % 2 else 0.1  # 0 lets 1-px crops through: edges at the image border
    x0, y0, x1, y1 = choose_crop(polys, ignore, height, width, max_tries=50, min_crop_side_ratio=ratio)
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    inside_any = False
    for poly in polys[~ignore]:
        inside = (poly[:, 0].min() >= x0 and poly[:, 0].max() <= x1 - 1
                  and poly[:, 1].min() >= y0 and poly[:, 1].max() <= y1 - 1)
        outside = (poly[:, 0].max() < x0 or poly[:, 0].min() > x1 - 1
                   or poly[:, 1].max() < y0 or poly[:, 1].min() > y1 - 1)
        assert inside or outside, f"box {poly.tolist()} cut by crop {(x0, y0, x1, y1)}"
        inside_any |= inside
    assert inside_any


def test_crop_op_output_size_boxes_and_pixels():
    size = [320, 256]  # [width, height]
    op = create_operators([{"EastRandomCropData": {"size": size, "max_tries": 50, "keep_ratio": True}}])[0]
    for seed in range(15):
        rng = np.random.default_rng(100 + seed)
        polys, ignore = random_boxes(rng, 300, 500, 6, ignore_every=10)
        image = np.full((300, 500, 3), 40, np.uint8)
        for poly in polys:
            cv2.fillPoly(image, [np.round(poly).astype(np.int32)], RED)
        np.random.seed(seed)
        out = op({"image": image, "polys": polys, "ignore_tags": ignore, "texts": [str(i) for i in range(6)]})
        assert out["image"].shape == (256, 320, 3) and out["image"].dtype == np.uint8
        assert len(out["polys"]) == len(out["ignore_tags"]) == len(out["texts"]) >= 1
        content = np.nonzero(out["image"].any(axis=2))
        for poly in out["polys"]:
            # every kept box is whole inside the resized content, and its centre is still red
            assert poly[:, 0].min() >= -0.5 and poly[:, 0].max() <= content[1].max() + 0.5
            assert poly[:, 1].min() >= -0.5 and poly[:, 1].max() <= content[0].max() + 0.5
            cx, cy = np.round(poly.mean(axis=0)).astype(int)
            assert tuple(out["image"][cy, cx]) == RED
        # keep_ratio: the crop is scaled uniformly and padded with 0 at the bottom/right only
        rows, cols = content
        assert rows.min() == 0 and cols.min() == 0
        assert rows.max() == 255 or cols.max() == 319


def test_crop_falls_back_to_whole_image_and_can_stretch():
    polys = np.array([rect(10, 10, 60, 30), rect(100, 50, 180, 90)], np.float32)
    image = np.full((100, 200, 3), 255, np.uint8)
    out = EastRandomCropData(size=[400, 100], max_tries=0, keep_ratio=False)(
        {"image": image, "polys": polys.copy(), "ignore_tags": np.array([False, False])})
    assert out["image"].shape == (100, 400, 3) and out["image"].min() == 255
    np.testing.assert_allclose(out["polys"][:, :, 1], polys[:, :, 1], atol=1e-4)
    np.testing.assert_allclose(out["polys"][:, :, 0], (polys[:, :, 0] + 0.5) * 2 - 0.5, atol=1e-4)
    # only ignored boxes: nothing to keep, whole image
    assert choose_crop(polys, np.array([True, True]), 100, 200) == (0, 0, 200, 100)
    # a cared box pushed out of the image by augmentation cannot be kept
    outside = np.array([rect(-100, -50, -10, -5)], np.float32)
    assert choose_crop(outside, np.array([False]), 100, 200) == (0, 0, 200, 100)


# ---------------------------------------------------------------- IaaAugment

def _poly_image(height=160, width=240):
    poly = np.array([[[40, 30], [170, 50], [160, 110], [50, 95]]], np.float32)
    image = np.full((height, width, 3), 60, np.uint8)
    cv2.fillPoly(image, [np.round(poly[0]).astype(np.int32)], RED)
    return image, poly


def _assert_polygon_on_colour(image, poly, tolerance):
    red = (image[..., 2] > 200) & (image[..., 0] < 30) & (image[..., 1] < 30)
    inside = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(poly).astype(np.int32)], 1)
    kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    near_inside = cv2.dilate(inside, kernel).astype(bool)
    deep_inside = cv2.erode(inside, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)
    assert red.sum() > 100
    assert not (red & ~near_inside).any(), "coloured pixels outside the transformed polygon"
    assert red[deep_inside].all(), "polygon interior not coloured"


@pytest.mark.parametrize("spec, tolerance", [
    ({"type": "Fliplr", "args": {"p": 1.0}}, 1),
    ({"type": "Flipud", "args": {"p": 1.0}}, 1),
    ({"type": "Affine", "args": {"rotate": [-30, 30]}}, 1),
    ({"type": "Affine", "args": {"rotate": 25, "scale": [0.7, 1.3], "shear": [-10, 10]}}, 1),
    ({"type": "Affine", "args": {"translate_px": {"x": [90, 110], "y": -40}}}, 1),  # polygon leaves the image
    ({"type": "Resize", "args": {"size": [0.5, 3]}}, 3),
])
@pytest.mark.parametrize("seed", range(3))
def test_iaa_augment_keeps_polygons_on_the_pixels(spec, tolerance, seed):
    image, poly = _poly_image()
    np.random.seed(seed)
    out = IaaAugment(augmenter_args=[spec])({"image": image, "polys": poly})
    assert out["polys"].shape == poly.shape and out["polys"].dtype == np.float32
    _assert_polygon_on_colour(out["image"], out["polys"][0], tolerance)


def test_iaa_augment_moves_points_exactly_and_keeps_them_outside():
    image, poly = _poly_image()
    out = IaaAugment([{"type": "Fliplr", "args": {"p": 1}}])({"image": image, "polys": poly})
    np.testing.assert_allclose(out["polys"][0, :, 0], 239 - poly[0, :, 0], atol=1e-4)
    out = IaaAugment([{"type": "Affine", "args": {"translate_px": {"x": 150, "y": 0}}}])(
        {"image": image, "polys": poly})
    np.testing.assert_allclose(out["polys"][0], poly[0] + [150, 0], atol=1e-3)
    assert out["polys"][0, :, 0].max() > 240  # vertices beyond the border are kept


def test_iaa_augment_default_pipeline_is_seeded_by_numpy():
    image, poly = _poly_image()
    op = create_operators([{"IaaAugment": None}])[0]
    assert [step.name for step in op.steps] == ["Fliplr", "Affine", "Resize"]
    results = []
    for _ in range(2):
        np.random.seed(7)
        results.append(op({"image": image, "polys": poly.copy()}))
    np.testing.assert_array_equal(results[0]["image"], results[1]["image"])
    np.testing.assert_array_equal(results[0]["polys"], results[1]["polys"])
    empty = op({"image": image, "polys": np.zeros((0, 4, 2), np.float32)})
    assert empty["polys"].shape == (0, 4, 2)


def test_iaa_augment_config_errors():
    with pytest.raises(ConfigError, match="supported: Affine, Fliplr, Flipud, Resize"):
        IaaAugment([{"type": "GaussianBlur", "args": {"sigma": 1}}])
    with pytest.raises(ConfigError, match="does not take angle"):
        create_operators([{"IaaAugment": {"augmenter_args": [{"type": "Affine", "args": {"angle": 3}}]}}])
    with pytest.raises(ConfigError, match="Resize.size"):
        IaaAugment([{"type": "Resize", "args": {"size": "big"}}])


# ---------------------------------------------------------------- DetResizeForTest

@pytest.mark.parametrize("kwargs, src, expected", [
    ({}, (100, 200), (736, 1472)),                                              # default: min 736
    ({"limit_side_len": 960, "limit_type": "max"}, (1000, 2000), (480, 960)),   # shrink to fit
    ({"limit_side_len": 960, "limit_type": "max"}, (100, 50), (96, 64)),        # never enlarge
    ({"limit_side_len": 736, "limit_type": "min"}, (800, 1000), (800, 992)),    # already large enough
    ({"limit_side_len": 640, "limit_type": "resize_long"}, (100, 200), (320, 640)),
    ({"resize_long": 960}, (500, 1000), (480, 960)),
    ({"image_shape": [640, 640]}, (123, 456), (640, 640)),
    ({"image_shape": [640, 640], "keep_ratio": True}, (100, 300), (640, 1920)),
])
def test_det_resize_modes(kwargs, src, expected):
    image = np.zeros(src + (3,), np.uint8)
    out = DetResizeForTest(**kwargs)({"image": image})
    assert out["image"].shape == expected + (3,)
    np.testing.assert_allclose(out["shape"], [src[0], src[1], expected[0] / src[0], expected[1] / src[1]],
                               rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"limit_side_len": 960, "limit_type": "max"},
                                    {"resize_long": 960}, {"image_shape": [640, 640], "keep_ratio": True}])
@pytest.mark.parametrize("src", [(1, 1), (1, 3000), (3000, 2), (2500, 3500)])
def test_det_resize_tiny_and_extreme_inputs(kwargs, src):
    image = np.zeros(src, np.uint8)
    resized, (ratio_h, ratio_w) = resize_for_det(image, **kwargs)
    height, width = resized.shape
    assert height >= 32 and width >= 32 and height % 32 == 0 and width % 32 == 0
    assert max(height, width) <= 4000
    assert ratio_h == pytest.approx(height / src[0]) and ratio_w == pytest.approx(width / src[1])


def test_det_resize_caps_extreme_aspect_and_rejects_bad_config():
    assert max(det_resize_shape(2, 1000, limit_side_len=736, limit_type="min")) <= 4000
    with pytest.raises(ConfigError, match="limit_type"):
        create_operators([{"DetResizeForTest": {"limit_side_len": 960, "limit_type": "longest"}}])
    with pytest.raises(ValueError, match="non-empty"):
        resize_for_det(np.zeros((0, 10, 3), np.uint8), limit_side_len=960, limit_type="max")


# ---------------------------------------------------------------- whole training pipeline

def test_db_training_pipeline_from_config():
    rng = np.random.default_rng(3)
    image = np.full((360, 640, 3), 30, np.uint8)
    boxes = []
    for i in range(8):
        x, y = int(rng.integers(0, 500)), int(rng.integers(0, 320))
        boxes.append({"transcription": "###" if i == 0 else f"t{i}", "points": rect(x, y, x + 120, y + 30)})
    ops = create_operators([
        {"DetLabelEncode": None},
        {"IaaAugment": {"augmenter_args": [{"type": "Fliplr", "args": {"p": 0.5}},
                                           {"type": "Affine", "args": {"rotate": [-10, 10]}},
                                           {"type": "Resize", "args": {"size": [0.5, 3]}}]}},
        {"EastRandomCropData": {"size": [320, 320], "max_tries": 50, "keep_ratio": True}},
        {"MakeBorderMap": {"shrink_ratio": 0.4, "thresh_min": 0.3, "thresh_max": 0.7}},
        {"MakeShrinkMap": {"shrink_ratio": 0.4, "min_text_size": 8}},
    ], {"character_dict_path": None})
    for seed in range(5):
        np.random.seed(seed)
        out = transform({"image": image, "label": json.dumps(boxes)}, ops)
        assert out["image"].shape == (320, 320, 3)
        for key in ("threshold_map", "threshold_mask", "shrink_map", "shrink_mask"):
            assert out[key].shape == (320, 320) and out[key].dtype == np.float32
        assert out["shrink_map"].sum() > 0 and out["threshold_mask"].sum() > out["shrink_map"].sum()
        assert 0.3 - 1e-6 <= out["threshold_map"].min() and out["threshold_map"].max() <= 0.7 + 1e-6
