"""Load on the OCR service: a bounded run of concurrent hubserving clients on 127.0.0.1, with hostile requests mixed in.

``ppocr serve`` is started in a subprocess; ``--clients`` threads post ``/predict/ocr_system`` requests (one
ICDAR 2015 image each, as PaddleOCR's tools/test_hubserving.py does) for ``--seconds``, one in ten of them
hostile (bad base64, random bytes, a truncated JPEG, an empty image, a PDF, a decompression-bomb header). Printed:
requests/s, good images/s, p50/p95/p99 latency of good requests, errors by kind from the service's own
/metrics (good requests must get none), the server's RSS at start and end. The peer is the same images
through predict_system's loop in this process (the runner, single process, before the server starts), which
gives the service overhead per image at the measured throughput.

    python benchmarks/serve_load.py [--seconds 60] [--clients 4] [--workers 2] [--images 200]
"""
from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO, Figure, add_repo_to_path, base_parser, dev_photos, format_table, load_average  # noqa: E402

add_repo_to_path()

START_TIMEOUT = 180
MAX_REQUESTS = 100_000  # a hard bound on the loop, whatever --seconds says


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def hostile_payloads(sample_jpeg: bytes) -> List[Tuple[str, dict]]:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    return [("bad_base64", {"images": ["###not base64###"]}),
            ("random_bytes", {"images": [b64(os.urandom(4096))]}),
            ("truncated_jpeg", {"images": [b64(sample_jpeg[: len(sample_jpeg) // 3])]}),
            ("empty", {"images": [""]}),
            ("pdf", {"images": [b64(b"%PDF-1.4\n%%EOF\n")]}),
            ("bomb_header", {"images": [b64(bomb)]})]


def predict_system_rate(image_paths: List[str], work: str) -> float:
    """Images per second through predict_system's runner (single process, packaged models, no pictures)."""
    from ppocr.infer.options import InferOptions
    from ppocr.infer.runner import run

    list_file = os.path.join(work, "images.txt")
    with open(list_file, "w", encoding="utf-8") as f:
        f.write("\n".join(image_paths) + "\n")
    summary = run("system", InferOptions(image_dir=list_file, draw_img_save_dir=os.path.join(work, "peer"),
                                         is_visualize=False, show_log=False))
    return summary.total / summary.wall_seconds


def start_server(args, port: int, log_path: str) -> subprocess.Popen:
    import requests

    cmd = [sys.executable, "-m", "ppocr.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(args.workers), "--max_queue", str(4 * args.clients), "--show_log", "False"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ppocr serve exited with {proc.returncode}; see {log_path}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok:
                return proc
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"ppocr serve did not start in {START_TIMEOUT} s; see {log_path}")


def load(url: str, good: List[dict], hostile: List[Tuple[str, dict]], clients: int, seconds: float,
         hostile_every: int) -> Dict[str, list]:
    """Run the clients; per request: (kind, HTTP status, seconds)."""
    import requests

    outcomes: List[Tuple[str, int, float]] = []
    lock = threading.Lock()
    counter = [0]
    deadline = time.monotonic() + seconds

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                number = counter[0]
                counter[0] += 1
            if number >= MAX_REQUESTS:
                return
            if hostile_every and number % hostile_every == hostile_every - 1:
                kind, body = hostile[(number // hostile_every) % len(hostile)]
            else:
                kind, body = "good", good[number % len(good)]
            start = time.perf_counter()
            try:
                reply = session.post(url, data=json.dumps(body), headers={"Content-type": "application/json"},
                                     timeout=120)
                status = reply.status_code
            except requests.RequestException:
                status = 0
            with lock:
                outcomes.append((kind, status, time.perf_counter() - start))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 180)
    return {"outcomes": outcomes, "wall": [time.perf_counter() - started]}


def scrape_errors(url: str) -> Dict[str, float]:
    import requests

    errors = {}
    for line in requests.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("ppocr_errors_total{"):
            name, value = line.rsplit(" ", 1)
            errors[name.split('kind="', 1)[1].rstrip('"}')] = float(value)
    return errors


def percentile(values: List[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="predictors in the service")
    parser.add_argument("--images", type=int, default=200, help="ICDAR 2015 images cycled through")
    parser.add_argument("--hostile_every", type=int, default=10, help="every Nth request is hostile (0 = none)")
    args = parser.parse_args()
    work = args.work_dir or tempfile.mkdtemp(prefix="serve_load_")
    image_dir, paths = dev_photos(args.eval_root, args.images)
    print(f"{len(paths)} images from {image_dir}; {args.clients} clients for {args.seconds:g} s, "
          f"{args.workers} predictors; start: {load_average()}", flush=True)

    peer_rate = predict_system_rate(paths, work)
    print(f"predict_system (single process, same images): {peer_rate:.2f} images/s", flush=True)

    raw = [open(path, "rb").read() for path in paths]
    good = [{"images": [base64.b64encode(data).decode("ascii")]} for data in raw]
    hostile = hostile_payloads(raw[0])
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(args, port, os.path.join(work, "server.log"))
    try:
        rss_start = rss_mb(server.pid)
        result = load(url + "/predict/ocr_system", good, hostile, args.clients, args.seconds, args.hostile_every)
        rss_end = rss_mb(server.pid)
        errors = scrape_errors(url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    outcomes, wall = result["outcomes"], result["wall"][0]
    good_latency = [seconds for kind, status, seconds in outcomes if kind == "good" and status == 200]
    good_failed = sum(1 for kind, status, _ in outcomes if kind == "good" and status != 200)
    hostile_statuses: Dict[str, set] = {}
    for kind, status, _ in outcomes:
        if kind != "good":
            hostile_statuses.setdefault(kind, set()).add(status)
    service_rate = len(good_latency) / wall
    overhead_ms = (1.0 / service_rate - 1.0 / peer_rate) * 1000 if service_rate > 0 else float("nan")
    print(f"end: {load_average()}")
    figures = [
        Figure("requests/s (all)", f"{len(outcomes) / wall:.2f}"),
        Figure("good images/s (service)", f"{service_rate:.2f}"),
        Figure("images/s predict_system (peer)", f"{peer_rate:.2f}"),
        Figure("service overhead per image", f"{overhead_ms:+.0f} ms", "small"),
        Figure("latency p50 / p95 / p99 (good)",
               f"{percentile(good_latency, 0.5):.2f} / {percentile(good_latency, 0.95):.2f} / "
               f"{percentile(good_latency, 0.99):.2f} s"),
        Figure("good requests not answered 200", str(good_failed), "0", good_failed == 0),
        Figure("hostile requests: status by kind",
               ", ".join(f"{kind} {sorted(codes)}" for kind, codes in sorted(hostile_statuses.items())) or "none",
               "4xx", all(400 <= code < 500 for codes in hostile_statuses.values() for code in codes)),
        Figure("errors by kind (service /metrics)", ", ".join(f"{k} {v:.0f}" for k, v in sorted(errors.items()))
               or "none"),
        Figure("server RSS start / end", f"{rss_start:.0f} / {rss_end:.0f} MB"),
    ]
    print(format_table(f"ppocr serve under load: {len(outcomes)} requests in {wall:.1f} s", figures))
    if not good_latency:
        print("no good request succeeded; see", os.path.join(work, "server.log"))


if __name__ == "__main__":
    main()
