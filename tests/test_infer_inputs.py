"""Input loading for inference: every kind of file a user may point the tools at, good or bad."""
import logging
import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from ppocr.infer import inputs
from ppocr.infer.results import ERROR_PREFIX, error_payload, merge_parts, write_part_line

MAX_PIXELS = 50_000_000
PDF_PAGE = (600, 160)  # pixels, saved at the DPI the loader renders at, so pages come back 1:1


def _png(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)


WORD = "Receipt 2024"


def render_text(text, height=48, pad=16):
    """Dark text on a light background, drawn with a real font: what the default models should read."""
    from ppocr.data.synth.fonts import list_fonts, load_font

    font_path = [path for path in list_fonts() if path.endswith("DejaVuSans.ttf")][0]
    font = load_font(font_path, height)
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 245)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, fill=20, font=font)
    return cv2.cvtColor(np.asarray(canvas), cv2.COLOR_GRAY2BGR)


def make_bad_input_corpus(root):
    """Every troublesome input the tools must survive, with what loading each one should give.

    Returns {relative name: expected}: "error", "image", "text" (an image showing WORD), "downscaled"
    or, for a PDF, the list of per-page expectations.
    """
    os.makedirs(os.path.join(root, "nested", "deeper"), exist_ok=True)
    rng = np.random.default_rng(0)
    photo = render_text(WORD)
    noise = (rng.random((60, 80, 3)) * 255).astype(np.uint8)
    jpeg = cv2.imencode(".jpg", noise)[1].tobytes()
    png = cv2.imencode(".png", noise)[1].tobytes()
    expected = {}

    def write(name, data, outcome):
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
        expected[name] = outcome

    write("corrupt.jpg", rng.bytes(700), "error")
    write("empty.png", b"", "error")
    write("truncated.jpg", jpeg[: len(jpeg) // 2], "error")
    write("truncated.png", png[: len(png) // 2], "error")
    write("notes_renamed.jpg", b"this is a text file, not a picture\n" * 20, "error")
    write("fake.pdf", b"%PDF-1.4\nnot really a pdf\n", "error")

    _png(os.path.join(root, "one_pixel.png"), np.zeros((1, 1, 3), np.uint8))
    expected["one_pixel.png"] = "image"
    # 51.2 Mpx of one gray level: compresses to a few tens of kB, decodes above the 50 Mpx limit.
    cv2.imwrite(os.path.join(root, "enormous.png"), np.full((6400, 8000), 255, np.uint8))
    expected["enormous.png"] = "downscaled"
    cv2.imwrite(os.path.join(root, "blank.png"), np.full((120, 200, 3), 255, np.uint8))
    expected["blank.png"] = "image"
    _png(os.path.join(root, "gray.png"), photo[:, :, 0])
    expected["gray.png"] = "text"
    rgba = np.zeros(photo.shape[:2] + (4,), np.uint8)
    rgba[:, :, 3] = 255 - photo[:, :, 0]  # black text, opaque where the ink is, on a transparent canvas
    _png(os.path.join(root, "nested", "rgba.png"), rgba, "RGBA")
    expected["nested/rgba.png"] = "text"
    cv2.imwrite(os.path.join(root, "nested", "deep16.png"), (photo.astype(np.uint16) * 257))
    expected["nested/deep16.png"] = "text"
    Image.fromarray(np.dstack([photo[:, :, 0], np.full(photo.shape[:2], 255, np.uint8)]), "LA").save(
        os.path.join(root, "nested", "two_channel.png"))
    expected["nested/two_channel.png"] = "text"
    Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE).save(
        os.path.join(root, "nested", "deeper", "palette.png"))
    expected["nested/deeper/palette.png"] = "text"
    frames = [Image.fromarray(photo), Image.fromarray(255 - photo)]
    frames[0].save(os.path.join(root, "animated.gif"), save_all=True, append_images=frames[1:])
    expected["animated.gif"] = "text"
    cv2.imwrite(os.path.join(root, "photo.webp"), photo)
    expected["photo.webp"] = "text"
    cv2.imwrite(os.path.join(root, "photo.tif"), photo)
    expected["photo.tif"] = "text"
    cv2.imwrite(os.path.join(root, "photo.bmp"), photo)
    expected["photo.bmp"] = "text"
    pages = [Image.new("RGB", PDF_PAGE, "white"), Image.new("RGB", PDF_PAGE, (255, 0, 0))]
    pages[0].paste(Image.fromarray(photo[:, :, ::-1]), (20, 20))
    pages[0].save(os.path.join(root, "two_pages.pdf"), save_all=True, append_images=pages[1:],
                  resolution=inputs.PDF_DPI)
    expected["two_pages.pdf"] = ["text", "image"]
    return expected


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("bad_inputs"))
    return root, make_bad_input_corpus(root)


def _load(root, name, **kwargs):
    return list(inputs.iter_images(os.path.join(root, name), name, kwargs.get("max_pixels", MAX_PIXELS),
                                   kwargs.get("page_num", 0)))


def test_listing_is_recursive_sorted_and_keyed_relative_to_the_folder(corpus):
    root, expected = corpus
    files = inputs.list_input_files(root)
    keys = [key for _, key in files]
    depth = lambda key: key.count("/")  # noqa: E731 - a folder's files come before its subfolders'
    assert keys == sorted(expected, key=lambda key: (depth(key), key))
    assert all(os.path.join(root, *key.split("/")) == path for path, key in files)


def test_every_corpus_file_loads_or_fails_with_a_one_line_error(corpus, caplog):
    root, expected = corpus
    for name, outcome in expected.items():
        with caplog.at_level(logging.WARNING, logger="ppocr.infer.inputs"):
            caplog.clear()
            loaded = _load(root, name)
        if outcome == "error":
            assert len(loaded) == 1 and loaded[0].image is None, name
            assert loaded[0].error and "\n" not in loaded[0].error, name
            continue
        if isinstance(outcome, list):
            assert [item.key for item in loaded] == [f"{name}#page{i}" for i in range(1, len(outcome) + 1)]
        else:
            assert len(loaded) == 1 and loaded[0].key == name
        for item in loaded:
            assert item.error is None, (name, item.error)
            assert item.image.dtype == np.uint8 and item.image.ndim == 3 and item.image.shape[2] == 3, name
            assert item.image.shape[0] * item.image.shape[1] <= MAX_PIXELS
        if outcome == "downscaled":
            assert "downscaled" in caplog.text and "8000x6400" in caplog.text


def test_pixel_content_survives_the_odd_formats(corpus):
    root, _ = corpus
    rgba = _load(root, "nested/rgba.png")[0].image
    photo = _load(root, "photo.bmp")[0].image
    # black ink whose opacity is the darkness of the original: on white it gives the original back
    assert np.abs(rgba.astype(int) - photo).max() <= 1
    assert np.abs(_load(root, "nested/deep16.png")[0].image.astype(int) - photo).max() <= 1
    red_page = _load(root, "two_pages.pdf")[1].image
    expected_hw = np.array(PDF_PAGE[::-1])
    assert np.abs(np.array(red_page.shape[:2]) - expected_hw).max() <= 1
    assert np.abs(red_page[50, 50].astype(int) - [0, 0, 255]).max() <= 2


def test_pdf_page_num_limits_pages(corpus):
    root, _ = corpus
    assert [item.key for item in _load(root, "two_pages.pdf", page_num=1)] == ["two_pages.pdf#page1"]


def test_pdf_pages_respect_the_pixel_limit(corpus):
    root, _ = corpus
    pages = _load(root, "two_pages.pdf", max_pixels=20_000)
    assert all(page.image.shape[0] * page.image.shape[1] <= 20_000 for page in pages)


def test_large_jpeg_is_decoded_reduced_then_fitted(tmp_path, caplog):
    big = np.full((1500, 2000, 3), 180, np.uint8)
    data = cv2.imencode(".jpg", big)[1].tobytes()
    with caplog.at_level(logging.WARNING, logger="ppocr.infer.inputs"):
        img = inputs.decode_image(data, max_pixels=500_000, name="big.jpg")
    assert img.shape[0] * img.shape[1] <= 500_000
    assert abs(img.shape[1] / img.shape[0] - 2000 / 1500) < 0.01
    assert "big.jpg: 2000x1500 is more than 500000 pixels" in caplog.text


def test_read_image_accepts_paths_bytes_and_arrays(corpus):
    root, _ = corpus
    from_path = inputs.read_image(os.path.join(root, "photo.bmp"))
    with open(os.path.join(root, "photo.bmp"), "rb") as f:
        from_bytes = inputs.read_image(f.read())
    assert np.array_equal(from_path, from_bytes)
    gray = inputs.read_image(from_path[:, :, 0])
    assert gray.shape == from_path.shape and np.array_equal(gray[:, :, 1], from_path[:, :, 0])
    bgra = np.zeros((4, 4, 4), np.uint8)
    assert inputs.read_image(bgra)[0, 0].tolist() == [255, 255, 255]
    assert inputs.read_image(np.zeros((20, 10, 3), np.uint16)).dtype == np.uint8


def test_read_image_errors_are_clear(corpus, tmp_path):
    root, _ = corpus
    with pytest.raises(FileNotFoundError, match="missing.png"):
        inputs.read_image(str(tmp_path / "missing.png"))
    with pytest.raises(inputs.InputError, match="notes_renamed.jpg: cannot decode image"):
        inputs.read_image(os.path.join(root, "notes_renamed.jpg"))
    with pytest.raises(inputs.InputError, match="several pages"):
        inputs.read_image(os.path.join(root, "two_pages.pdf"))
    with pytest.raises(inputs.InputError, match="expected an HxW or HxWxC"):
        inputs.read_image(np.zeros((2, 2, 2, 2), np.uint8))
    with pytest.raises(TypeError, match="path, encoded bytes or a numpy array"):
        inputs.read_image(3.5)


def test_list_file_inputs_and_keys(tmp_path):
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "list.txt").write_text("imgs/a.png\nimgs/missing.png\n", encoding="utf-8")
    files = inputs.list_input_files(str(tmp_path / "list.txt"))
    assert [key for _, key in files] == ["imgs/a.png", "imgs/missing.png"]
    missing = list(inputs.iter_images(files[1][0], files[1][1]))
    assert missing[0].image is None and "No such file" in missing[0].error
    assert inputs.list_input_files(str(tmp_path / "imgs" / "a.png")) == [(str(tmp_path / "imgs" / "a.png"), "a.png")]


def test_missing_or_empty_input_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        inputs.list_input_files(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="holds no inputs"):
        inputs.list_input_files(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no input given"):
        inputs.list_input_files(None)


def test_merge_parts_restores_input_order_and_fills_gaps(tmp_path):
    keys = ["a", "b", "c", "d", "e"]
    parts = [str(tmp_path / "p0.txt"), str(tmp_path / "p1.txt")]
    with open(parts[0], "w", encoding="utf-8") as p0, open(parts[1], "w", encoding="utf-8") as p1:
        write_part_line(p0, 0, "a", "[]")
        write_part_line(p0, 2, "c#page1", "[1]")
        write_part_line(p0, 2, "c#page2", "[2]")
        write_part_line(p1, 1, "b", error_payload("broken\nfile"))
        write_part_line(p1, 3, "d", "[3]")  # worker 0 died before "e"
    merged = list(merge_parts(parts, keys))
    assert [key for key, _ in merged] == ["a", "b", "c#page1", "c#page2", "d", "e"]
    assert merged[1][1] == "ERROR: broken file"
    assert merged[-1][1].startswith(ERROR_PREFIX)
