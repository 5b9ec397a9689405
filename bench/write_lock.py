"""A viewer edit while enrichment runs: the latency of a favorite toggle while `photoshelf enrich` works in another
process on the same SQLite catalog.

    python bench/write_lock.py [--photos 120] [--corpus DIR] [--stages faces,labels,...] [--interval 0.1]
                               [--batch-size N] [--video-codecs h264,hevc] [--json FILE|-]

Replicates the corpus (JPEG, PNG, HEIC and the videos, every file's bytes unique) into --photos files in a temp
folder and indexes them (not timed). Then, stage by stage in run order, runs `photoshelf enrich --stage NAME` as a
subprocess while this process toggles one photo's favorite through the real viewer app (PATCH /api/v1/photos/{id},
logged in, through Starlette's TestClient) every --interval seconds, and prints the toggle's p50/p95/max latency
and its failures per stage. A stage that holds the catalog's write transaction while its model computes makes the
toggle wait for the rest of that batch (SQLite has one writer; busy_timeout is 30 s): max and p95 show it.
"idle" is the same toggle with no enrichment running. The corpus videos are H.264 and HEVC, which browsers play:
--video-codecs (video.codecs) makes the transcode stage convert them, as it would an old camera's MPEG-2 or AVI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from _corpus import find_sources, replicate  # noqa: E402
from _report import emit  # noqa: E402

USER, PASSWORD = "bench", "bench write-lock password"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def default_corpus() -> Path:
    shared = REPO.parent / "shared" / "corpus"
    return shared if shared.is_dir() else REPO / "tests" / "data" / "corpus"


def summary(latencies: list[float], failures: int) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in latencies)
    if not ms:
        return {"requests": 0, "failures": failures}
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {"requests": len(ms), "failures": failures, "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(p95, 1), "max_ms": round(ms[-1], 1)}


class Toggler:
    """The viewer, logged in, flipping one photo's favorite flag."""

    def __init__(self, config: Any, db: Any, photo_id: int) -> None:
        from starlette.testclient import TestClient

        from photoshelf import accounts
        from photoshelf.viewer.app import create_app

        accounts.add_user(USER, "admin", PASSWORD)
        config.server.allowed_hosts.append("testserver")
        self.client = TestClient(create_app(config, db))
        self.client.__enter__()
        r = self.client.post("/api/v1/session", json={"username": USER, "password": PASSWORD})
        r.raise_for_status()
        self.client.headers["X-CSRF-Token"] = str(r.json()["csrf_token"])
        self.photo_id = photo_id
        self.value = False

    def toggle(self) -> tuple[float, str | None]:
        """One PATCH: its seconds, and None or why it failed."""
        self.value = not self.value
        started = time.perf_counter()
        r = self.client.patch(f"/api/v1/photos/{self.photo_id}", json={"favorite": self.value})
        seconds = time.perf_counter() - started
        return seconds, None if r.status_code == 200 else f"HTTP {r.status_code}: {r.text[:300]}"

    def close(self) -> None:
        self.client.__exit__(None, None, None)


def measure(toggler: Toggler, interval: float, until: Any) -> tuple[list[float], int, list[str]]:
    """Toggle every `interval` seconds (a slow toggle delays the next one) until `until()` is true."""
    latencies: list[float] = []
    failures = 0
    errors: list[str] = []
    next_at = time.monotonic()
    while not until():
        try:
            seconds, error = toggler.toggle()
        except Exception as exc:  # noqa: BLE001 - a failed edit is what this bench counts
            seconds, error = 0.0, f"{type(exc).__name__}: {exc}"
        if error is None:
            latencies.append(seconds)
        else:
            failures += 1
            errors.append(error)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    return latencies, failures, errors[:3]


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from photoshelf.config import load_config
    from photoshelf.db.catalog import open_catalog
    from photoshelf.db.schema import Photo
    from photoshelf.library import index_library
    from photoshelf.models.enrich import load_stages

    originals = workdir / "originals"
    sources = find_sources(args.corpus, "all")
    replicate(sources, originals, args.photos, "write-lock")
    env = {"PHOTOSHELF_ORIGINALS": str(originals), "PHOTOSHELF_STORAGE": str(workdir / "storage"),
           "PHOTOSHELF_SIDECARS_ENABLED": "false", "PHOTOSHELF_VIDEO_CODECS": args.video_codecs}
    if args.batch_size:
        env["PHOTOSHELF_MODELS_BATCH_SIZE"] = str(args.batch_size)
    config = load_config(env=env)
    db = open_catalog(config)
    say(f"indexing {args.photos} files made from {len(sources)} corpus files ...")
    index_library(config, db)
    photo_id = int(Photo.select(Photo.id).order_by(Photo.id).limit(1).scalar())
    stages = [s for s in load_stages(config, db, args.stages.split(",") if args.stages else None)]
    skipped = {s.name: s.unavailable() for s in stages if s.unavailable()}
    names = [s.name for s in stages if s.name not in skipped]
    for name, reason in skipped.items():
        say(f"{name}: skipped ({reason})")
    toggler = Toggler(config, db, photo_id)
    result: dict[str, Any] = {"photos": int(Photo.select().count()), "interval_s": args.interval,
                              "batch_size": config.models.batch_size,
                              "cores": os.cpu_count(), "skipped": skipped, "stages": {}}
    try:
        stop = time.monotonic() + 3.0
        lat, failures, errors = measure(toggler, args.interval, lambda: time.monotonic() >= stop)
        result["stages"]["idle"] = summary(lat, failures)
        for name in names:
            cmd = [sys.executable, "-c", "from photoshelf.cli import main; main()", "enrich", "--stage", name,
                   "--json"]
            started = time.monotonic()
            # Started in the temp folder: `-c` puts the working directory first on sys.path, and a checkout there
            # would shadow the photoshelf this benchmark imports.
            proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=workdir, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            lat, failures, errors = measure(toggler, args.interval, lambda p=proc: p.poll() is not None)
            out, err = proc.communicate()
            seconds = time.monotonic() - started
            if proc.returncode:
                raise SystemExit(f"enrich --stage {name} failed ({proc.returncode}): {err[-2000:]}")
            report = json.loads(out).get("stages", {}).get(name, {})
            row = summary(lat, failures)
            row.update(enrich_seconds=round(seconds, 1), photos=report.get("done", 0) + report.get("errors", 0))
            if errors:
                row["errors"] = errors
            result["stages"][name] = row
            say(f"{name}: {row}")
    finally:
        toggler.close()
        db.close()
    return result


def table(result: dict[str, Any]) -> str:
    lines = [f"favorite toggle every {result['interval_s'] * 1000:.0f} ms while `enrich --stage X` runs "
             f"({result['photos']} photos, batches of {result['batch_size']}, {result['cores']} cores)",
             f"{'stage':<10} {'photos':>6} {'enrich s':>8} {'toggles':>7} {'failed':>6} {'p50 ms':>8} {'p95 ms':>8} "
             f"{'max ms':>8}"]
    for name, r in result["stages"].items():
        lines.append(f"{name:<10} {r.get('photos', ''):>6} {r.get('enrich_seconds', ''):>8} {r['requests']:>7} "
                     f"{r['failures']:>6} {r.get('p50_ms', ''):>8} {r.get('p95_ms', ''):>8} {r.get('max_ms', ''):>8}")
    for name, reason in result["skipped"].items():
        lines.append(f"{name}: skipped ({reason})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=120, help="files to index and enrich (default 120)")
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="corpus folder (only read)")
    parser.add_argument("--stages", default="", help="comma-separated stages (default: every installed one)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between toggles (default 0.1)")
    parser.add_argument("--batch-size", type=int, default=0, help="models.batch_size (default: the config's)")
    parser.add_argument("--video-codecs", default="h264,hevc",
                        help="video.codecs: the codecs transcoded (default h264,hevc: every corpus video)")
    parser.add_argument("--workdir", default=None, help="where the temp folder goes")
    parser.add_argument("--json", default=None, help="write the results as JSON to FILE, or - for stdout")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="photoshelf-write-lock-", dir=args.workdir))
    try:
        result = run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    emit(table(result), result, args.json)


if __name__ == "__main__":
    main()
