"""Soak: `photoshelf serve` (with its watcher) for N minutes on 127.0.0.1 under a steady trickle of new photos and
bounded concurrent browsing; prints the server's RSS, open files and threads over time, p95 latency and errors,
and a verdict (0 errors, no RSS growth trend over the second half, every new photo indexed, originals untouched).

    python bench/soak.py                        # 30 minutes
    python bench/soak.py --minutes 3 --json bench/out/soak.json
    nohup python bench/soak.py > bench/out/soak-30min.txt 2>&1 &

The corpus (../shared/corpus, else tests/data/corpus; --corpus DIR) is copied into a temp folder: the copy is the
originals. The clients log in (a user made with `photoshelf users add`) where this photoshelf has accounts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from audit import OriginalsAudit  # noqa: E402 - tests/audit.py: the originals before and after
from support import unique_jpeg  # noqa: E402 - tests/support.py: a JPEG with unique bytes

TRICKLE_FOLDER = "Soak"
PAGES = ["/", "/search?q=cat", "/search?q=year%3A2019", "/places", "/folders", "/calendar", "/map", "/albums",
         "/api/v1/search?q=&limit=50", "/api/v1/search?q=type%3Aimage&limit=20", "/api/v1/map", "/api/v1/status"]


@dataclass
class Sample:
    t: float
    rss_mb: float
    children_rss_mb: float
    fds: int
    threads: int
    requests: int
    errors: int
    p95_ms: float
    trickled: int
    indexed: int


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, since the last sample
    requests: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.requests += 1
            self.latencies.append(seconds)
            if error is not None:
                self.errors += 1
                if len(self.error_examples) < 20:
                    self.error_examples.append(error)

    def window(self) -> list[float]:
        with self.lock:
            out, self.latencies = self.latencies, []
        return out


def _proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


def _children(pid: int) -> list[int]:
    """The process's children (exiftool), whichever of its threads started them."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                out.extend(int(p) for p in fh.read().split())
    except OSError:
        pass
    return out


def _rss_mb(pid: int) -> float:
    try:
        return int(_proc_status(pid).get("VmRSS", "0 kB").split()[0]) / 1024
    except OSError:
        return 0.0


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def _slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per hour."""
    if len(points) < 3:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 3600


class Client(threading.Thread):
    """One browser: pages, searches, photo pages, thumbnails and API calls on a kept-alive connection."""

    def __init__(self, soak: Soak, seed: int) -> None:
        super().__init__(daemon=True)
        self.soak, self.rng = soak, random.Random(seed)
        self.conn: http.client.HTTPConnection | None = None
        self.photos: list[dict[str, Any]] = []
        self.cookie = ""

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                record: bool = True) -> tuple[int, bytes, http.client.HTTPResponse | None]:
        started = time.monotonic()
        error = None
        status, data, response = 0, b"", None
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.soak.port, timeout=30)
            hdrs = {"Cookie": self.cookie} if self.cookie else {}
            hdrs.update(headers or {})
            self.conn.request(method, path, body=body, headers=hdrs)
            response = self.conn.getresponse()
            data = response.read()
            status = response.status
            if status >= 400 and not (path.startswith("/thumb/") and status == 404):
                error = f"{method} {path}: HTTP {status}: {data[:200]!r}"
        except (OSError, http.client.HTTPException) as exc:
            error = f"{method} {path}: {type(exc).__name__}: {exc}"
            if self.conn is not None:
                self.conn.close()
            self.conn = None
        if record:
            self.soak.stats.record(time.monotonic() - started, error)
        return status, data, response

    def login(self) -> None:
        if self.soak.password is None:
            return
        body = json.dumps({"username": "admin", "password": self.soak.password}).encode()
        status, data, response = self.request("POST", "/api/v1/session", body, {
            "Content-Type": "application/json", "Origin": f"http://127.0.0.1:{self.soak.port}"}, record=False)
        if status != 200 or response is None:
            raise SystemExit(f"login failed: HTTP {status}: {data[:300]!r}")
        jar: SimpleCookie = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar.load(header)
        self.cookie = "; ".join(f"{k}={m.value}" for k, m in jar.items())

    def refresh(self) -> None:
        status, data, _ = self.request("GET", "/api/v1/search?q=&limit=200")
        if status == 200:
            self.photos = json.loads(data).get("photos", []) or self.photos

    def run(self) -> None:
        self.login()
        self.refresh()
        while not self.soak.done.is_set():
            roll = self.rng.random()
            if roll < 0.05:
                self.refresh()
            elif roll < 0.45 and self.photos:
                photo = self.rng.choice(self.photos)
                self.request("GET", photo.get("tile") or photo.get("fit") or f"/photos/{photo['id']}")
            elif roll < 0.65 and self.photos:
                self.request("GET", f"/photos/{self.rng.choice(self.photos)['id']}")
            elif roll < 0.70 and self.photos:
                photo = self.rng.choice(self.photos)
                if photo.get("preview"):
                    self.request("GET", photo["preview"])
            else:
                self.request("GET", self.rng.choice(PAGES))
            self.soak.done.wait(self.rng.uniform(0.02, self.soak.think))


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.minutes: float = args.minutes
        self.think: float = args.think
        self.root = Path(tempfile.mkdtemp(prefix="photoshelf-soak-", dir=args.workdir))
        self.originals, self.storage = self.root / "originals", self.root / "storage"
        self.port = _free_port()
        self.password: str | None = None
        self.stats = Stats()
        self.done = threading.Event()
        self.trickled = 0
        self.samples: list[Sample] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOSHELF_")}
        self.env.update({"PHOTOSHELF_ORIGINALS": str(self.originals), "PHOTOSHELF_STORAGE": str(self.storage),
                         "PHOTOSHELF_WATCH_MODE": "inotify", "PHOTOSHELF_WATCH_SETTLE_SECONDS": "1",
                         "PHOTOSHELF_VIEWER_TILE_URL": "", "PHOTOSHELF_LOG_LEVEL": "warning",
                         "PHOTOSHELF_MODELS_ENABLED": "true" if args.ml else "false"})

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "photoshelf.cli", *args], env=self.env, capture_output=True,
                              text=True, timeout=600)

    def prepare(self) -> None:
        shutil.copytree(self.args.corpus, self.originals, ignore=shutil.ignore_patterns("bad"))
        self.audit = OriginalsAudit(self.originals)
        done = self.cli("index", "--no-ml", "--quiet")
        if done.returncode != 0:
            raise SystemExit(f"index failed: {done.stderr}")
        if self.cli("users", "--help").returncode == 0:
            self.password = secrets.token_urlsafe(12)
            made = self.cli("users", "add", "admin", "--role", "admin", "--password", self.password)
            if made.returncode != 0:
                raise SystemExit(f"users add failed: {made.stderr}")
        self.sources = sorted(p for p in self.originals.rglob("*.jpg") if p.stat().st_size > 10_000)[:8]

    def start_server(self) -> None:
        log = open(self.root / "serve.log", "wb")  # noqa: SIM115 - held by the server while it runs
        self.server = subprocess.Popen(
            [sys.executable, "-m", "photoshelf.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.server.poll() is not None:
                raise SystemExit(f"serve exited: {(self.root / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.3)
        raise SystemExit("serve did not answer /api/v1/health within 120 s")

    def trickle(self) -> None:
        """A new photo every --trickle seconds, written under a temp name and renamed, as an upload arrives."""
        rng = random.Random(7)
        while not self.done.wait(self.args.trickle):
            folder = self.originals / TRICKLE_FOLDER / f"{1 + self.trickled // 100:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            data = unique_jpeg(rng.choice(self.sources).read_bytes(), f"soak-{self.trickled}")
            tmp = folder / f".IMG_{self.trickled:05d}.jpg.part"
            tmp.write_bytes(data)
            tmp.rename(folder / f"IMG_{self.trickled:05d}.jpg")
            self.trickled += 1

    def indexed(self) -> int:
        try:
            with sqlite3.connect(f"file:{self.storage / 'catalog.db'}?mode=ro", uri=True, timeout=5) as db:
                return int(db.execute("SELECT COUNT(*) FROM file WHERE path LIKE ? AND photo_id IS NOT NULL",
                                      (f"{TRICKLE_FOLDER}/%",)).fetchone()[0])
        except sqlite3.Error:
            return -1

    def sample(self, started: float) -> Sample:
        assert self.server is not None
        pid = self.server.pid
        status = _proc_status(pid)
        window = self.stats.window()
        return Sample(t=round(time.monotonic() - started, 1), rss_mb=round(_rss_mb(pid), 1),
                      children_rss_mb=round(sum(_rss_mb(c) for c in _children(pid)), 1),
                      fds=len(os.listdir(f"/proc/{pid}/fd")), threads=int(status.get("Threads", "0")),
                      requests=len(window), errors=self.stats.errors, p95_ms=round(_p95(window), 1),
                      trickled=self.trickled, indexed=self.indexed())

    def run(self) -> dict[str, Any]:
        self.prepare()
        self.start_server()
        print(f"soak: {self.minutes:g} min, {self.args.clients} clients, a new photo every {self.args.trickle:g} s, "
              f"port {self.port}, {'login as admin' if self.password else 'no accounts: no login'}, "
              f"ML {'on' if self.args.ml else 'off'}; work folder {self.root}", flush=True)
        print(f"{'t (s)':>7} {'RSS MB':>7} {'child MB':>8} {'fds':>5} {'thr':>4} {'req/s':>6} {'p95 ms':>7} "
              f"{'errors':>6} {'indexed/new':>12}", flush=True)
        clients = [Client(self, seed) for seed in range(self.args.clients)]
        threads = [threading.Thread(target=self.trickle, daemon=True), *clients]
        for t in threads:
            t.start()
        started = time.monotonic()
        end = started + self.minutes * 60
        while time.monotonic() < end:
            time.sleep(min(self.args.sample, max(0.0, end - time.monotonic())))
            s = self.sample(started)
            self.samples.append(s)
            print(f"{s.t:7.0f} {s.rss_mb:7.1f} {s.children_rss_mb:8.1f} {s.fds:5d} {s.threads:4d} "
                  f"{s.requests / self.args.sample:6.1f} {s.p95_ms:7.1f} {s.errors:6d} "
                  f"{s.indexed:>5}/{s.trickled:<6}", flush=True)
        self.done.set()
        for t in threads:
            t.join(30)
        return self.finish()

    def finish(self) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while self.indexed() < self.trickled and time.monotonic() < deadline:
            time.sleep(0.5)
        caught_up = self.indexed()
        assert self.server is not None
        os.killpg(self.server.pid, signal.SIGTERM)
        try:
            rc = self.server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.server.pid, signal.SIGKILL)
            rc = self.server.wait()
        try:
            self.audit.verify(may_grow=(TRICKLE_FOLDER,))
            untouched = None
        except AssertionError as exc:
            untouched = str(exc)
        half = self.samples[len(self.samples) // 2:]
        rss_slope = _slope_per_hour([(s.t, s.rss_mb) for s in half])
        fds_slope = _slope_per_hour([(s.t, s.fds) for s in half])
        mean_rss = statistics.fmean(s.rss_mb for s in half) if half else 0.0
        # Growth over an hour below 5% of the RSS (or 10 MB) is noise of caches filling, not a leak.
        rss_ok = rss_slope < max(10.0, 0.05 * mean_rss)
        p95_all = max((s.p95_ms for s in self.samples), default=0.0)
        result = {
            "minutes": self.minutes, "clients": self.args.clients, "requests": self.stats.requests,
            "errors": self.stats.errors, "error_examples": self.stats.error_examples,
            "worst_window_p95_ms": p95_all, "median_window_p95_ms": statistics.median(
                [s.p95_ms for s in self.samples]) if self.samples else 0.0,
            "rss_mb_first": self.samples[0].rss_mb if self.samples else 0.0,
            "rss_mb_last": self.samples[-1].rss_mb if self.samples else 0.0,
            "rss_slope_mb_per_hour_second_half": round(rss_slope, 2),
            "fds_slope_per_hour_second_half": round(fds_slope, 2),
            "trickled": self.trickled, "indexed": caught_up, "serve_exit": rc,
            "originals_untouched": untouched is None, "originals_diff": untouched,
            "samples": [asdict(s) for s in self.samples],
        }
        verdict = (self.stats.errors == 0 and rss_ok and fds_slope < 60 and caught_up == self.trickled
                   and untouched is None and rc == 0)
        result["verdict"] = "PASS" if verdict else "FAIL"
        print(f"requests {self.stats.requests} in {self.minutes:g} min, errors {self.stats.errors}, p95 per window: "
              f"median {result['median_window_p95_ms']:.1f} ms, worst {p95_all:.1f} ms")
        print(f"RSS {result['rss_mb_first']:.1f} -> {result['rss_mb_last']:.1f} MB, second-half trend "
              f"{rss_slope:+.1f} MB/h; open files trend {fds_slope:+.1f}/h; {caught_up}/{self.trickled} new photos "
              f"indexed; serve exit {rc}; originals {'untouched' if untouched is None else 'CHANGED'}")
        for example in self.stats.error_examples[:5]:
            print(f"  error: {example}")
        if untouched:
            print(untouched)
        print(f"verdict: {result['verdict']} (target: 0 errors, no RSS growth trend, every new photo indexed, "
              "originals untouched, clean stop)", flush=True)
        return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    shared = REPO.parent / "shared" / "corpus"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run (default 30)")
    parser.add_argument("--clients", type=int, default=3, help="browsing threads (default 3)")
    parser.add_argument("--think", type=float, default=0.3, help="most seconds a client waits between requests")
    parser.add_argument("--trickle", type=float, default=2.0, help="seconds between new photos (default 2)")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--corpus", type=Path, default=shared if shared.is_dir() else REPO / "tests/data/corpus")
    parser.add_argument("--ml", action="store_true", help="let the watcher run the ML stages too")
    parser.add_argument("--workdir", help="where the temp folder goes")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (originals, storage, serve.log)")
    parser.add_argument("--json", help="write the numbers as JSON to this file ('-': stdout)")
    args = parser.parse_args()
    soak = Soak(args)
    try:
        result = soak.run()
    finally:
        soak.done.set()
        if soak.server is not None and soak.server.poll() is None:
            os.killpg(soak.server.pid, signal.SIGKILL)
        if not args.keep:
            shutil.rmtree(soak.root, ignore_errors=True)
    if args.json:
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(text + "\n")
    sys.exit(0 if result["verdict"] == "PASS" else 1)


if __name__ == "__main__":
    main()
