"""Recognition data operators: decoding, normalising, label encoding, resizing and augmentation."""
import io
import logging
import random

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from ppocr.data.imaug import create_operators, transform
from ppocr.data.imaug.operators import DecodeImage, KeepKeys, NormalizeImage, ToCHWImage, decode_image_bytes
from ppocr.data.imaug.rec_img_aug import RecAug, RecResizeImg, resize_norm_img, tia_distort, tps_warp
from ppocr.data.imaug.rec_label_ops import CTCLabelEncode
from ppocr.utils.character import DEFAULT_CHARACTERS
from ppocr.utils.registry import ConfigError


def pil_bytes(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def cv2_bytes(img: np.ndarray, ext: str) -> bytes:
    ok, encoded = cv2.imencode(ext, img)
    assert ok
    return encoded.tobytes()


def text_image(h: int = 32, w: int = 160, channels: int = 3) -> np.ndarray:
    img = np.full((h, w, 3), 235, np.uint8)
    cv2.putText(img, "Ab3 xyz", (2, h - 8), cv2.FONT_HERSHEY_SIMPLEX, h / 40, (30, 60, 150), 2)
    cv2.line(img, (0, h // 2), (w - 1, h // 3), (90, 200, 40), 1)
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if channels == 1 else img


# ---------------------------------------------------------------- DecodeImage
def test_decode_color_png_in_each_mode():
    bgr = np.zeros((3, 4, 3), np.uint8)
    bgr[0, 0] = (10, 20, 30)
    bgr[2, 3] = (200, 150, 100)
    raw = cv2_bytes(bgr, ".png")
    assert np.array_equal(DecodeImage()({"image": raw})["image"], bgr)
    rgb = DecodeImage(img_mode="RGB")({"image": raw})["image"]
    assert rgb.flags["C_CONTIGUOUS"] and np.array_equal(rgb, bgr[:, :, ::-1])
    gray = DecodeImage(img_mode="GRAY")({"image": raw})["image"]
    assert gray.shape == (3, 4) and np.array_equal(gray, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    chw = DecodeImage(channel_first=True)({"image": raw})["image"]
    assert chw.shape == (3, 3, 4) and np.array_equal(chw[:, 2, 3], [200, 150, 100])


def test_decode_grayscale_png():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    raw = cv2_bytes(gray, ".png")
    bgr = decode_image_bytes(raw)
    assert bgr.shape == (3, 4, 3) and bgr.dtype == np.uint8
    assert all(np.array_equal(bgr[:, :, c], gray) for c in range(3))
    assert np.array_equal(decode_image_bytes(raw, "GRAY"), gray)
    assert DecodeImage(img_mode="GRAY", channel_first=True)({"image": raw})["image"].shape == (1, 3, 4)


def test_decode_rgba_composites_alpha_on_white():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3] = (200, 100, 0)  # RGB
    rgba[0, :, 3] = (0, 128, 255)
    rgba[1, :, 3] = 64
    out = decode_image_bytes(pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG"), "RGB")
    alpha = rgba[..., 3:].astype(np.float64) / 255
    expected = np.round(rgba[..., :3] * alpha + 255 * (1 - alpha))
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert np.array_equal(out[0, 0], [255, 255, 255]) and np.array_equal(out[0, 2], [200, 100, 0])


def test_decode_16bit_scales_instead_of_truncating():
    values = np.array([[0, 25700, 65535, 1000]], np.uint16)  # 25700 = 100 * 257
    out = decode_image_bytes(cv2_bytes(values, ".png"), "GRAY")
    assert out.dtype == np.uint8 and out.tolist() == [[0, 100, 255, 4]]
    color16 = np.zeros((2, 2, 3), np.uint16)
    color16[..., 0], color16[..., 2] = 65535, 32896  # B full, R half
    out = decode_image_bytes(cv2_bytes(color16, ".tiff"))
    assert out[..., 0].tolist() == [[255, 255]] * 2 and out[..., 1].max() == 0 and out[..., 2].min() == 128


def test_decode_palette_png_with_and_without_transparency():
    indices = np.array([[0, 1, 2]], np.uint8)
    pal = Image.fromarray(indices, "P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    out = decode_image_bytes(pil_bytes(pal, "PNG"))
    assert out.tolist() == [[[0, 0, 255], [0, 255, 0], [255, 0, 0]]]
    out = decode_image_bytes(pil_bytes(pal, "PNG", transparency=1))
    assert out.tolist() == [[[0, 0, 255], [255, 255, 255], [255, 0, 0]]]


@pytest.mark.parametrize("fmt", ["PNG", "TGA"])  # TGA is not readable by cv2: exercises the PIL path
def test_decode_gray_alpha_two_channel(fmt):
    la = np.zeros((1, 3, 2), np.uint8)
    la[..., 0] = 100
    la[0, :, 1] = (0, 255, 51)
    out = decode_image_bytes(pil_bytes(Image.fromarray(la, "LA"), fmt), "GRAY")
    assert out.tolist() == [[255, 100, 224]]  # 100*0.2 + 255*0.8 = 224


def test_decode_gif_first_frame_and_pil_only_format():
    frames = [Image.fromarray(np.full((4, 5), i, np.uint8), "P") for i in range(2)]
    for frame in frames:
        frame.putpalette([10, 20, 30, 200, 210, 220] + [0] * 762)
    raw = pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    out = decode_image_bytes(raw, "RGB")
    assert out.shape == (4, 5, 3) and np.all(out == [10, 20, 30])
    tga = pil_bytes(Image.new("RGB", (6, 2), (1, 2, 3)), "TGA")
    assert np.all(decode_image_bytes(tga, "RGB") == [1, 2, 3])


def test_decode_cmyk_jpeg():
    raw = pil_bytes(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=95)
    out = decode_image_bytes(raw, "RGB")
    assert out.shape == (8, 8, 3)
    assert out[..., 0].min() > 230 and out[..., 1:].max() < 30  # red


@pytest.mark.parametrize("orientation", range(1, 9))
def test_decode_respects_exif_orientation(orientation):
    pixels = np.random.RandomState(orientation).randint(0, 255, (4, 6, 3)).astype(np.uint8)
    pil = Image.fromarray(pixels, "RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    raw = pil_bytes(pil, "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(raw))).convert("RGB"))
    assert np.array_equal(decode_image_bytes(raw, "RGB"), expected)
    ignored = DecodeImage(img_mode="RGB", ignore_orientation=True)({"image": raw})["image"]
    assert np.array_equal(ignored, pixels)


@pytest.mark.parametrize("raw", [b"", b"not an image at all", cv2_bytes(np.zeros((8, 8), np.uint8), ".png")[:20]])
def test_decode_bad_bytes_raise_value_error(raw):
    with pytest.raises(ValueError, match="cannot decode image"):
        DecodeImage()({"image": raw})


def test_decode_rejects_wrong_arguments():
    with pytest.raises(ValueError, match="img_mode"):
        DecodeImage(img_mode="HSV")
    with pytest.raises(TypeError, match="encoded bytes"):
        decode_image_bytes("picture.png")
    arr = np.frombuffer(cv2_bytes(np.full((2, 2), 7, np.uint8), ".png"), np.uint8)
    assert decode_image_bytes(arr, "GRAY").tolist() == [[7, 7], [7, 7]]


# ---------------------------------------------------------------- NormalizeImage / ToCHWImage / KeepKeys
def test_normalize_hwc_with_fraction_string():
    img = np.array([[[0, 51, 255], [255, 255, 255]]], np.uint8)
    op = NormalizeImage(scale="1./255.", mean=[0.5, 0.5, 0.5], std=[0.5, 0.25, 0.5], order="hwc")
    out = op({"image": img})["image"]
    assert out.dtype == np.float32 and out.shape == (1, 2, 3)
    np.testing.assert_allclose(out[0, 0], [-1.0, (0.2 - 0.5) / 0.25, 1.0], rtol=1e-6)
    np.testing.assert_allclose(out[0, 1], [1.0, 2.0, 1.0], rtol=1e-6)


def test_normalize_defaults_are_imagenet_in_chw():
    img = np.full((3, 2, 2), 255, np.uint8)
    out = NormalizeImage()({"image": img})["image"]
    expected = (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(out[:, 0, 0], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="order='chw'"):
        NormalizeImage()({"image": np.zeros((2, 2, 3), np.uint8)})
    with pytest.raises(ValueError, match="scale"):
        NormalizeImage(scale="1/255/2")
    halved = NormalizeImage(scale=0.5, mean=[0, 0, 0], std=[1, 1, 1], order="hwc")
    assert halved({"image": np.full((1, 1, 3), 2, np.uint8)})["image"].tolist() == [[[1.0, 1.0, 1.0]]]


def test_to_chw_and_keep_keys():
    img = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    chw = ToCHWImage()({"image": img})["image"]
    assert chw.shape == (3, 2, 4) and chw[2, 1, 3] == img[1, 3, 2]
    assert ToCHWImage()({"image": img[:, :, 0]})["image"].shape == (1, 2, 4)
    assert KeepKeys(keep_keys=["length", "image"])({"image": 1, "length": 2, "label": 3}) == [2, 1]
    with pytest.raises(KeyError, match="'valid_ratio'.*present keys: image, label"):
        KeepKeys(keep_keys=["image", "valid_ratio"])({"image": 1, "label": 3})


# ---------------------------------------------------------------- CTCLabelEncode
def test_ctc_default_dict_ids_padding_and_lowercase():
    op = CTCLabelEncode(max_text_length=6)
    assert op.character[0] == "blank" and op.character[1:] == list(DEFAULT_CHARACTERS)
    assert op.num_classes == 37
    out = op({"label": "Ab12"})
    assert out["label"].dtype == np.int64 and out["label"].tolist() == [11, 12, 2, 3, 0, 0]
    assert out["length"].dtype == np.int64 and int(out["length"]) == 4
    assert op({"label": "ab12"})["label"].tolist() == [11, 12, 2, 3, 0, 0]
    assert op({"label": "abc123"})["length"] == 6


def test_ctc_drops_and_counts(caplog):
    op = CTCLabelEncode(max_text_length=4)
    with caplog.at_level(logging.DEBUG, logger="ppocr.data.imaug.rec_label_ops"):
        assert op({"label": "toolong"}) is None
        assert op({"label": "a-b"}) is None
        assert op({"label": "a b"}) is None
        assert op({"label": ""}) is None
    assert op({"label": "ok"}) is not None
    assert op.dropped == {"too_long": 1, "unknown_char": 2, "empty": 1}
    assert "'toolong'" in caplog.text and "'a-b'" in caplog.text


def test_ctc_with_dict_space_char_and_case(tmp_path):
    dict_path = tmp_path / "dict.txt"
    dict_path.write_text("a\nb\nC\n", encoding="utf-8")
    op = CTCLabelEncode(max_text_length=5, character_dict_path=str(dict_path), use_space_char=True)
    assert op.character == ["blank", "a", "b", "C", " "] and op.num_classes == 5
    assert op({"label": "a Cb"})["label"].tolist() == [1, 4, 3, 2, 0]
    assert op({"label": "A"}) is None  # a dict keeps case unless lower=True
    assert op({"label": "c"}) is None
    lowered = CTCLabelEncode(max_text_length=5, character_dict_path=str(dict_path), lower=True)
    assert lowered({"label": "AB"})["label"].tolist() == [1, 2, 0, 0, 0]
    en = CTCLabelEncode(max_text_length=10, character_dict_path="en_dict.txt", use_space_char=True)
    assert en.num_classes == 96 and en({"label": "Hi !"})["length"] == 4
    no_space = CTCLabelEncode(max_text_length=10, character_dict_path="en_dict.txt")
    assert no_space({"label": "Hi !"}) is None and no_space.dropped["unknown_char"] == 1


# ---------------------------------------------------------------- RecResizeImg
@pytest.mark.parametrize(
    "hw, expected_w",
    [((32, 400), 100), ((16, 100), 100), ((32, 50), 50), ((64, 50), 25), ((100, 20), 7), ((1, 1), 32)],
)
def test_resize_keeps_ratio_and_pads_with_zero(hw, expected_w):
    img = np.full(hw + (3,), 255, np.uint8)
    data = RecResizeImg(image_shape=[3, 32, 100])({"image": img})
    out = data["image"]
    assert out.shape == (3, 32, 100) and out.dtype == np.float32
    assert data["valid_ratio"] == pytest.approx(expected_w / 100)
    assert np.all(out[:, :, :expected_w] == 1.0) and np.all(out[:, :, expected_w:] == 0.0)


def test_resize_value_range_and_channels():
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (40, 90, 3)).astype(np.uint8)
    img[0, 0], img[0, 1] = 0, 255
    out, ratio = resize_norm_img(img, [3, 40, 120])
    assert out.min() == -1.0 and out.max() == 1.0 and ratio == pytest.approx(0.75)
    np.testing.assert_allclose(out[:, :, :90], img.transpose(2, 0, 1) / 127.5 - 1, atol=1e-6)
    gray, _ = resize_norm_img(img[:, :, 0], [3, 32, 100])
    assert np.array_equal(gray[0], gray[1]) and np.array_equal(gray[1], gray[2])
    one, _ = resize_norm_img(img[:, :, :1], [1, 32, 100])
    assert one.shape == (1, 32, 100)
    from_color, _ = resize_norm_img(img, [1, 40, 120])
    expected = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) / 127.5 - 1
    np.testing.assert_allclose(from_color[0, :, :90], expected, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        resize_norm_img(np.zeros((0, 5), np.uint8), [3, 32, 100])
    with pytest.raises(ValueError, match="4 channels"):
        resize_norm_img(np.zeros((8, 8, 4), np.uint8), [3, 32, 100])
    with pytest.raises(ValueError, match="image_shape"):
        RecResizeImg(image_shape=[32, 100])


def test_resize_without_padding_stretches():
    img = np.full((32, 40, 3), 0, np.uint8)
    data = RecResizeImg(image_shape=[3, 32, 100], padding=False)({"image": img})
    assert data["valid_ratio"] == 1.0 and np.all(data["image"] == -1.0)


def test_resize_eval_and_infer_modes_widen_long_lines():
    wide = np.full((32, 400, 3), 255, np.uint8)
    train = RecResizeImg(image_shape=[3, 32, 100])({"image": wide.copy()})
    assert train["image"].shape == (3, 32, 100)
    evaluated = RecResizeImg(image_shape=[3, 32, 100], eval_mode=True)({"image": wide.copy()})
    assert evaluated["image"].shape == (3, 32, 400) and evaluated["valid_ratio"] == 1.0
    infer_default = RecResizeImg(image_shape=[3, 32, 100], infer_mode=True)({"image": wide.copy()})
    assert infer_default["image"].shape == (3, 32, 100)
    infer_dict = RecResizeImg(image_shape=[3, 32, 100], infer_mode=True, character_dict_path="en_dict.txt")
    assert infer_dict({"image": wide.copy()})["image"].shape == (3, 32, 400)
    narrow = infer_dict({"image": np.full((32, 30, 3), 255, np.uint8)})
    assert narrow["image"].shape == (3, 32, 100) and narrow["valid_ratio"] == pytest.approx(0.3)


# ---------------------------------------------------------------- RecAug
ALL_OFF = dict(aug_prob=0.0, crop_prob=0.0, reverse_prob=0.0, noise_prob=0.0, jitter_prob=0.0,
               blur_prob=0.0, hsv_aug_prob=0.0)


def seed(value: int) -> None:
    random.seed(value)
    np.random.seed(value)


def test_tps_warp_identity_and_translation():
    img = text_image()
    h, w = img.shape[:2]
    pts = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1], [w / 2, h / 2]], float)
    assert np.array_equal(tps_warp(img, pts, pts), img)
    moved = tps_warp(img, pts, pts + [5, 0])
    assert np.array_equal(moved[:, 5:], img[:, :-5])


@pytest.mark.parametrize("shape", [(32, 160, 3), (32, 160), (32, 160, 1), (6, 8, 3), (1, 1), (9, 300, 3)])
def test_rec_aug_all_on_changes_image_and_keeps_shape(shape):
    base = text_image(channels=1 if len(shape) == 2 else 3)
    img = cv2.resize(base, (shape[1], shape[0]))
    if len(shape) == 3 and shape[2] == 1:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
    op = RecAug(**{k: 1.0 for k in ALL_OFF})
    for value in range(5):
        seed(value)
        out = op({"image": img.copy()})["image"]
        assert out.shape == img.shape and out.dtype == np.uint8
        assert not np.array_equal(out, img)


def test_rec_aug_all_off_is_identity():
    img = text_image()
    for use_tia in (True, False):
        seed(0)
        assert np.array_equal(RecAug(use_tia=use_tia, **ALL_OFF)({"image": img.copy()})["image"], img)


@pytest.mark.parametrize("step", list(ALL_OFF))
def test_rec_aug_each_step_alone_changes_image(step):
    img = text_image()
    op = RecAug(**{**ALL_OFF, step: 1.0})
    for value in range(3):
        seed(value)
        out = op({"image": img.copy()})["image"]
        assert out.shape == img.shape and not np.array_equal(out, img), f"{step} left the image unchanged"


def test_rec_aug_geometric_steps_skip_tiny_images_and_bda_perspective_runs():
    tiny = text_image(8, 40)
    for value in range(5):
        seed(value)
        geometric_only = RecAug(**{**ALL_OFF, "aug_prob": 1.0, "crop_prob": 1.0})
        assert np.array_equal(geometric_only({"image": tiny.copy()})["image"], tiny)
    img = text_image()
    seed(1)
    tia = RecAug(use_tia=True, **{**ALL_OFF, "aug_prob": 1.0})({"image": img.copy()})["image"]
    seed(1)
    bda = RecAug(use_tia=False, **{**ALL_OFF, "aug_prob": 1.0})({"image": img.copy()})["image"]
    assert not np.array_equal(bda, img) and not np.array_equal(tia, bda)


def test_rec_aug_is_reproducible_and_robust_over_many_seeds():
    op = RecAug()
    rng = np.random.RandomState(123)
    for value in range(150):
        h, w = int(rng.randint(1, 60)), int(rng.randint(1, 400))
        img = rng.randint(0, 256, (h, w, 3) if value % 3 else (h, w)).astype(np.uint8)
        seed(value)
        first = op({"image": img.copy()})["image"]
        seed(value)
        again = op({"image": img.copy()})["image"]
        assert first.shape == img.shape and first.dtype == np.uint8 and np.array_equal(first, again)


def test_tia_distort_keeps_content_inside_image():
    img = np.full((40, 200), 255, np.uint8)
    img[10:30, 20:180] = 0
    seed(3)
    out = tia_distort(img, 4)
    dark = (out < 128).mean()
    assert out.shape == img.shape and 0.2 < dark < 0.5  # text block deformed but neither lost nor blown up


def test_rec_aug_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        RecAug()({"image": np.zeros((32, 32, 3), np.float32)})
    with pytest.raises(ValueError, match="HxWx3"):
        RecAug()({"image": np.zeros((32, 32, 4), np.uint8)})
    with pytest.raises(ValueError, match="crop_prob"):
        RecAug(crop_prob=1.5)


# ---------------------------------------------------------------- create_operators
def test_pipeline_built_from_config_with_global_values():
    global_config = {"character_dict_path": "ppocr/utils/dicts/en_dict.txt", "max_text_length": 25,
                     "use_space_char": True}
    ops = create_operators(
        [
            {"DecodeImage": {"img_mode": "BGR", "channel_first": False}},
            {"RecAug": None},
            {"CTCLabelEncode": None},
            {"RecResizeImg": {"image_shape": [3, 32, 100]}},
            {"KeepKeys": {"keep_keys": ["image", "label", "length"]}},
        ],
        global_config,
    )
    encoder = ops[2]
    assert encoder.max_text_len == 25 and encoder.num_classes == 96
    seed(0)
    image, label, length = transform({"image": cv2_bytes(text_image(), ".jpg"), "label": "Hi there"}, ops)
    assert image.shape == (3, 32, 100) and image.dtype == np.float32
    assert label.shape == (25,) and int(length) == 8 and label[8:].max() == 0
    assert label[2] == encoder.character.index(" ")
    assert transform({"image": cv2_bytes(text_image(), ".png"), "label": "x" * 26}, ops) is None

    own = create_operators([{"CTCLabelEncode": {"max_text_length": 5}}], global_config)[0]
    assert own.max_text_len == 5 and own.num_classes == 96
    with pytest.raises(ConfigError, match="use_tia"):
        create_operators([{"RecAug": {"use_tai": False}}], global_config)
