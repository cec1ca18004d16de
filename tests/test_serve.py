"""The OCR service (`ppocr serve`) over real HTTP on 127.0.0.1: hubserving format, hostile inputs, threads, page."""
import asyncio
import base64
import concurrent.futures
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest
import requests

from test_infer_inputs import PDF_PAGE, WORD, render_text
from test_system import SENTENCE, render_page

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "tests", "data", "hubserving_ocr.json")
MAX_UPLOAD_MB = 2
START_TIMEOUT = 120  # seconds for the server to load its models on a busy machine
HUB_HEADERS = {"Content-type": "application/json"}  # what PaddleOCR's tools/test_hubserving.py sends


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _png_bytes(image):
    return cv2.imencode(".png", image)[1].tobytes()


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _huge_png_header(width, height):
    """A valid PNG signature and IHDR declaring width×height, then one tiny IDAT: a decompression bomb's header."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def _two_page_pdf():
    import io

    from PIL import Image

    pages = [Image.new("RGB", PDF_PAGE, "white"), Image.new("RGB", PDF_PAGE, (255, 255, 255))]
    pages[0].paste(Image.fromarray(render_text(WORD)[:, :, ::-1]), (20, 20))
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:], resolution=200)
    return buffer.getvalue()


def _normal(text):
    return " ".join(text.split()).lower()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`ppocr serve` in a subprocess with small limits; stopped (and killed if need be) after the module."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    cmd = [sys.executable, "-m", "ppocr.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
           "--max_upload_mb", str(MAX_UPLOAD_MB), "--max_images", "4", "--max_pages", "3",
           "--max_pixels", "20000000", "--request_timeout", "60"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"ppocr serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"ppocr serve did not start in {START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _shape(value):
    """The JSON structure of a value: key names and types all the way down (lists by their first item)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def test_hubserving_request_and_response_match_the_recorded_example(server):
    with open(EXAMPLE, encoding="utf-8") as f:
        example = json.load(f)
    word = _png_bytes(render_text(WORD))
    # exactly how PaddleOCR's tools/test_hubserving.py calls a hubserving module
    for module, images in (("ocr_system", [word]), ("ocr_det", [word]), ("ocr_rec", [word, word])):
        reply = requests.post(f"{server}/predict/{module}", headers=HUB_HEADERS,
                              data=json.dumps({"images": [_b64(image) for image in images]}), timeout=60)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert _shape(body) == _shape(example[module]["response"]), module
        assert body["status"] == "000" and body["msg"] == ""
    system = requests.post(f"{server}/predict/ocr_system", json={"images": [_b64(word)]}, timeout=60).json()
    (line,) = system["results"][0]
    assert _normal(line["text"]) == _normal(WORD) and 0.5 < line["confidence"] <= 1.0
    assert len(line["text_region"]) == 4 and all(isinstance(v, int) for point in line["text_region"] for v in point)
    rec = requests.post(f"{server}/predict/ocr_rec", json={"images": [_b64(word)] * 2}, timeout=60).json()
    assert [_normal(item["text"]) for item in rec["results"][0]] == [_normal(WORD)] * 2
    bad = requests.post(f"{server}/predict/ocr_system", json={"images": ["%%%"]}, timeout=60)
    assert bad.status_code == 400 and _shape(bad.json()) == _shape(example["error"]["response"])
    assert bad.json()["status"] == "101"


def _chunked(data, size=256 * 1024):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _hostile_requests():
    """(name, method kwargs for requests.post, path, expected status, words the one-line reason must hold)."""
    jpeg = cv2.imencode(".jpg", (np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8))[1].tobytes()
    oversized = b"\x00" * (MAX_UPLOAD_MB * 1024 * 1024 + 1)
    word = _b64(_png_bytes(render_text(WORD)))
    return [
        ("bad base64", "/predict/ocr_system", {"json": {"images": ["not*base64!"]}}, 400, ["images[0]", "base64"]),
        ("base64 of text", "/predict/ocr_system", {"json": {"images": [_b64(b"just some text, no image")]}}, 400,
         ["images[0]", "cannot decode image"]),
        ("no images key", "/predict/ocr_system", {"json": {"image": [word]}}, 422, ["images"]),
        ("images not a list", "/predict/ocr_det", {"json": {"images": word}}, 422, ["images"]),
        ("image not a string", "/predict/ocr_rec", {"json": {"images": [42]}}, 422, ["images[0]", "base64 string"]),
        ("body not JSON", "/predict/ocr_system", {"data": b"{images: ", "headers": HUB_HEADERS}, 400, ["JSON"]),
        ("too many images", "/predict/ocr_system", {"json": {"images": [word] * 5}}, 413, ["at most 4"]),
        ("PDF to hubserving", "/predict/ocr_system", {"json": {"images": [_b64(_two_page_pdf())]}}, 415, ["/v1/ocr"]),
        ("unknown module", "/predict/ocr_table", {"json": {"images": [word]}}, 404, ["ocr_table"]),
        ("empty file", "/v1/ocr", {"files": {"file": ("empty.png", b"")}}, 400, ["empty.png", "empty"]),
        ("non-image", "/v1/ocr", {"files": {"file": ("notes.jpg", b"hello\n" * 50)}}, 400, ["notes.jpg"]),
        ("truncated JPEG", "/v1/ocr", {"files": {"file": ("cut.jpg", jpeg[:len(jpeg) // 2])}}, 400, ["cut.jpg"]),
        ("PDF that will not open", "/v1/ocr", {"files": {"file": ("fake.pdf", b"%PDF-1.4\nnot a pdf\n")}}, 400,
         ["fake.pdf", "PDF"]),
        ("declared 900 Mpx", "/v1/ocr", {"files": {"file": ("bomb.png", _huge_png_header(30000, 30000))}}, 413,
         ["bomb.png", "Mpx"]),
        ("oversized upload", "/v1/ocr", {"files": {"file": ("big.png", oversized)}}, 413, [f"{MAX_UPLOAD_MB} MB"]),
        ("oversized chunked body", "/predict/ocr_system", {"data": _chunked(oversized), "headers": HUB_HEADERS},
         413, [f"{MAX_UPLOAD_MB} MB"]),
        ("no file field", "/v1/ocr", {"data": {"other": "x"}}, 422, ["file"]),
        ("bad query value", "/v1/ocr?drop_score=2", {"files": {"file": ("a.png", b"x")}}, 422, ["drop_score"]),
    ]


def test_every_hostile_request_gets_a_one_line_4xx_and_the_next_good_request_succeeds(server):
    good = {"files": {"file": ("word.png", _png_bytes(render_text(WORD)))}}
    for name, path, kwargs, status, words in _hostile_requests():
        reply = requests.post(server + path, timeout=60, **kwargs)
        assert reply.status_code == status, (name, reply.status_code, reply.text[:300])
        body = reply.json()
        reason = body["msg"] if path.startswith("/predict/") else body["detail"]
        assert isinstance(reason, str) and "\n" not in reason and reason, (name, body)
        for word in words:
            assert word in reason, (name, reason)
        after = requests.post(server + "/v1/ocr", timeout=60, **good)
        assert after.status_code == 200, (name, after.text[:300])
        assert _normal(after.json()["pages"][0]["results"][0]["transcription"]) == _normal(WORD), name


def test_a_pdf_upload_reads_every_page_within_the_cap(server):
    pdf = _two_page_pdf()
    reply = requests.post(server + "/v1/ocr?return_image=true", files={"file": ("doc.pdf", pdf)}, timeout=60)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [page["key"] for page in body["pages"]] == ["doc.pdf#page1", "doc.pdf#page2"]
    assert body["counts"] == {"ok": 1, "empty": 1, "failed": 0}
    first = body["pages"][0]
    read = "".join(item["transcription"] for item in first["results"])
    assert read.replace(" ", "") == WORD.replace(" ", "")  # spaces are the model's least certain output
    assert (first["width"], first["height"]) == PDF_PAGE
    assert first["image"].startswith("data:image/jpeg;base64,")
    one = requests.post(server + "/v1/ocr?page_num=1", files={"file": ("doc.pdf", pdf)}, timeout=60).json()
    assert len(one["pages"]) == 1 and "image" not in one["pages"][0]
    strict = requests.post(server + "/v1/ocr?drop_score=1", files={"file": ("doc.pdf", pdf)}, timeout=60).json()
    assert strict["pages"][0]["results"] == []
    assert "words" not in first["results"][0]
    worded = requests.post(server + "/v1/ocr?return_word_box=true", files={"file": ("doc.pdf", pdf)},
                           timeout=60).json()["pages"][0]["results"]
    assert [word["text"] for item in worded for word in item["words"]] == \
        [word for item in worded for word in item["transcription"].split()]


def test_eight_client_threads_get_the_sequential_results(server):
    images = [render_text(WORD), render_page(SENTENCE), render_text("hello world 42"), render_text("OCR"),
              np.full((90, 200, 3), 255, np.uint8), render_text("Invoice No 7731", height=36)]
    bodies = [_png_bytes(image) for image in images] * 2  # 12 requests of each kind

    def ask(data):
        system = requests.post(server + "/predict/ocr_system", json={"images": [_b64(data)]}, timeout=120)
        upload = requests.post(server + "/v1/ocr", files={"file": ("x.png", data)}, timeout=120)
        assert system.status_code == 200 and upload.status_code == 200, (system.text[:200], upload.text[:200])
        return system.json()["results"], upload.json()["pages"]

    sequential = [ask(data) for data in bodies]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(ask, bodies))
    assert threaded == sequential
    texts = [_normal(" ".join(item["text"] for item in results[0])) for results, _ in sequential[:len(images)]]
    assert texts[0] == _normal(WORD) and texts[1] == _normal(" ".join(SENTENCE)) and texts[4] == ""


def test_health_and_prometheus_metrics(server):
    health = requests.get(server + "/health", timeout=10).json()
    assert health["status"] == "ok" and health["workers"] == 2 and health["capacity"] == 2 + 16
    requests.post(server + "/predict/ocr_system", json={"images": ["***"]}, timeout=60)
    requests.post(server + "/predict/ocr_system", json={"images": [_b64(_png_bytes(render_text("ab")))]}, timeout=60)
    text = requests.get(server + "/metrics", timeout=10).text
    metrics = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            metrics[name] = float(value)
    assert metrics['ppocr_errors_total{kind="bad_base64"}'] >= 1
    assert metrics['ppocr_requests_total{code="200",endpoint="/predict/ocr_system"}'] >= 1
    assert metrics['ppocr_requests_total{code="400",endpoint="/predict/ocr_system"}'] >= 1
    assert metrics["ppocr_images_total"] >= 1
    assert metrics['ppocr_request_seconds_count{endpoint="/predict/ocr_system"}'] >= 2
    assert re.search(r'ppocr_request_seconds_bucket\{endpoint="/v1/ocr",le="\+Inf"\}', text) or \
        'endpoint="/predict/ocr_system",le="+Inf"' in text
    assert metrics["ppocr_workers"] == 2


def test_pool_refuses_past_its_capacity_and_times_out():
    from ppocr.serving.payloads import RequestError
    from ppocr.serving.pool import PredictorPool

    pool = PredictorPool(["predictor"], max_queue=1, timeout=0.5)

    def slow(predictor):
        time.sleep(1.0)
        return predictor

    async def scenario():
        first = asyncio.ensure_future(pool.run(slow))
        second = asyncio.ensure_future(pool.run(slow))
        await asyncio.sleep(0.05)
        with pytest.raises(RequestError) as busy:
            await pool.run(slow)
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
        return busy.value, outcomes

    try:
        busy, outcomes = asyncio.run(scenario())
        assert busy.status == 503 and busy.kind == "busy"
        assert all(isinstance(err, RequestError) and err.status == 504 for err in outcomes)
        deadline = time.monotonic() + 5
        while pool.admitted and time.monotonic() < deadline:  # the running job still finishes
            time.sleep(0.05)
        assert pool.admitted == 0
        assert asyncio.run(pool.run(lambda predictor: predictor.upper())) == "PREDICTOR"
    finally:
        pool.close()


def test_serve_settings_errors_are_one_line(capsys):
    from ppocr.cli import main, run_cli

    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, ["serve", "--workers", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--workers must be at least 1" in err
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, ["serve", "--port", "0", "--det_model_dir", "/nonexistent/det"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/nonexistent/det" in err


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_web_page_in_headless_chromium(server, tmp_path):
    browser, driver_path = _chromium(), shutil.which("chromedriver")
    if not (browser and driver_path):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have chromium and chromium-driver (bash tools/install.sh test installs them)")
        pytest.skip("needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image_path = tmp_path / "sentence.png"
    cv2.imwrite(str(image_path), render_page(SENTENCE))
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(server + "/")
        assert driver.title == "ppocr"
        driver.find_element(By.ID, "file").send_keys(str(image_path))
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".lines li[data-index]")
                   or "error" in d.find_element(By.ID, "status").get_attribute("class"))
        lines = driver.find_elements(By.CSS_SELECTOR, ".lines li[data-index]")
        texts = [_normal(line.find_element(By.CSS_SELECTOR, ".text").text) for line in lines]
        assert texts == [_normal(line) for line in SENTENCE], driver.find_element(By.ID, "status").text
        polygons = driver.find_elements(By.CSS_SELECTOR, "svg.boxes polygon")
        assert len(polygons) == len(lines)
        image = driver.find_element(By.CSS_SELECTOR, ".view img")
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
        box = polygons[0].rect
        assert box["width"] > 50 and box["height"] > 10, box  # drawn at the text's place, not collapsed
        lines[1].click()
        classes = [polygon.get_dom_attribute("class") or "" for polygon in polygons]
        assert "active" in classes[1] and "active" not in classes[0], classes
        assert "active" in (lines[1].get_dom_attribute("class") or "")
        summary = driver.find_element(By.ID, "summary").text
        assert "sentence.png" in summary and "2 line(s)" in summary
        driver.save_screenshot(str(tmp_path / "page.png"))
    finally:
        driver.quit()
