"""Watcher benchmark: latency from close-write to searchable, and throughput of a big drop of files.

    python bench/watch.py [--files 200] [--modes inotify,poll] [--poll-interval 5] [--drop 5000] [--json FILE|-]

The watcher runs in this process on a thread (as `photoshelf serve` runs it), on a temp originals folder and a
SQLite catalog. "Searchable" means the file's catalog row points at a photo whose thumbnails exist. Files are
real JPEGs with unique bytes (a corpus photo with a COM segment), written one at a time ~0.2 s apart for the
latency runs. Targets (issue 4): p95 < 2 s under inotify; polling within its interval + 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "corpus" / "2016" / "Pets" / "cat_brown.jpg"


def unique_jpeg(data: bytes, tag: str) -> bytes:
    text = tag.encode()
    return data[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + data[2:]


def _connect(db_path: str) -> Any:
    try:
        from pysqlite3 import dbapi2 as sqlite3  # the same SQLite as the catalog's
    except ImportError:
        import sqlite3
    return sqlite3.connect(db_path, timeout=30)


def searchable(db_path: str, rel: str) -> bool:
    con = _connect(db_path)
    try:
        row = con.execute("SELECT p.has_thumbs FROM file f JOIN photo p ON p.id = f.photo_id WHERE f.path = ?",
                          (rel,)).fetchone()
    finally:
        con.close()
    return bool(row and row[0])


def count_searchable(db_path: str) -> int:
    con = _connect(db_path)
    try:
        return int(con.execute("SELECT COUNT(*) FROM file f JOIN photo p ON p.id = f.photo_id "
                               "WHERE p.has_thumbs").fetchone()[0])
    finally:
        con.close()


def start(tmp: Path, mode: str, poll_interval: int) -> tuple[Any, threading.Thread, str]:
    from photoshelf.config import load_config
    from photoshelf.db.catalog import open_catalog
    from photoshelf.indexer.watcher import Watcher

    (tmp / "originals").mkdir(parents=True)
    config = load_config(env={"PHOTOSHELF_ORIGINALS": str(tmp / "originals"), "PHOTOSHELF_STORAGE": str(tmp / "st"),
                              "PHOTOSHELF_WATCH_MODE": mode, "PHOTOSHELF_WATCH_POLL_INTERVAL": str(poll_interval),
                              "PHOTOSHELF_WATCH_SETTLE_SECONDS": "1"})
    db = open_catalog(config)
    watcher = Watcher(config, db)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    watcher.ready.wait(120)
    return watcher, thread, str(tmp / "st" / "catalog.db")


def latency(mode: str, files: int, poll_interval: int, gap: float) -> dict[str, Any]:
    data = CORPUS.read_bytes()
    tmp = Path(tempfile.mkdtemp(prefix="photoshelf-bench-watch-"))
    watcher, thread, db_path = start(tmp, mode, poll_interval)
    waits: list[float] = []
    try:
        (tmp / "originals" / "in").mkdir()
        pending: dict[str, float] = {}
        i = 0
        deadline = time.monotonic() + files * gap + poll_interval * 3 + 60
        while (i < files or pending) and time.monotonic() < deadline:
            if i < files:
                rel = f"in/IMG_{i:05d}.jpg"
                with open(tmp / "originals" / rel, "wb") as fh:
                    fh.write(unique_jpeg(data, f"{mode}-{i}"))
                pending[rel] = time.monotonic()  # right after close()
                i += 1
            t_end = time.monotonic() + gap
            while time.monotonic() < t_end or (i >= files and pending):
                for rel, t0 in list(pending.items()):
                    if searchable(db_path, rel):
                        waits.append(time.monotonic() - t0)
                        del pending[rel]
                time.sleep(0.02)
                if i >= files and not pending:
                    break
                if i >= files and time.monotonic() > deadline:
                    break
    finally:
        watcher.stop()
        thread.join(60)
        shutil.rmtree(tmp, ignore_errors=True)
    waits.sort()
    return {
        "mode": mode, "files": files, "measured": len(waits),
        "p50_s": round(statistics.median(waits), 3) if waits else None,
        "p95_s": round(waits[int(0.95 * (len(waits) - 1))], 3) if waits else None,
        "max_s": round(waits[-1], 3) if waits else None,
    }


def drop(n: int) -> dict[str, Any]:
    import resource

    from PIL import Image

    tmp = Path(tempfile.mkdtemp(prefix="photoshelf-bench-drop-"))
    staging = tmp / "staging"
    staging.mkdir()
    base = Image.open(CORPUS).convert("RGB").resize((640, 480))
    import io

    buf = io.BytesIO()
    base.save(buf, "JPEG", quality=85)
    data = buf.getvalue()
    for i in range(n):
        (staging / f"IMG_{i:05d}.jpg").write_bytes(unique_jpeg(data, f"drop-{i}"))
    watcher, thread, db_path = start(tmp / "lib", "inotify", 60)
    try:
        target = tmp / "lib" / "originals" / "Drop"
        target.mkdir()
        t0 = time.monotonic()
        for name in sorted(os.listdir(staging)):
            shutil.copyfile(staging / name, target / name)
        copied = time.monotonic() - t0
        while count_searchable(db_path) < n and time.monotonic() - t0 < 3600:
            time.sleep(0.5)
        total = time.monotonic() - t0
        runs = watcher.stats.runs
    finally:
        watcher.stop()
        thread.join(120)
        shutil.rmtree(tmp, ignore_errors=True)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"files": n, "copy_s": round(copied, 1), "all_searchable_s": round(total, 1),
            "files_per_s": round(n / total, 1), "index_runs": runs, "max_rss_mb": round(rss_mb)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--modes", default="inotify,poll")
    parser.add_argument("--poll-interval", type=int, default=5)
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between two files in the latency runs")
    parser.add_argument("--poll-files", type=int, default=40, help="files for the (slower) polling run")
    parser.add_argument("--drop", type=int, default=5000, help="files in the drop run (0 skips it)")
    parser.add_argument("--json", help="write the results as JSON to FILE (- for stdout)")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    results: dict[str, Any] = {"latency": []}
    for mode in [m for m in args.modes.split(",") if m]:
        n = args.files if mode == "inotify" else args.poll_files
        r = latency(mode, n, args.poll_interval, args.gap)
        results["latency"].append(r)
        target = 2.0 if mode == "inotify" else args.poll_interval + 2.0
        ok = r["p95_s"] is not None and r["p95_s"] < target and r["measured"] == n
        print(f"latency {mode:8} files {r['measured']}/{n}  p50 {r['p50_s']} s  p95 {r['p95_s']} s  "
              f"max {r['max_s']} s   target p95 < {target:g} s: {'ok' if ok else 'MISSED'}", flush=True)
    if args.drop:
        d = drop(args.drop)
        results["drop"] = d
        print(f"drop     {d['files']} files (640x480 JPEGs): copied in {d['copy_s']} s, all searchable after "
              f"{d['all_searchable_s']} s = {d['files_per_s']} files/s, {d['index_runs']} index runs, "
              f"max RSS {d['max_rss_mb']} MB", flush=True)
    if args.json:
        text = json.dumps(results, indent=2)
        print(text) if args.json == "-" else Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
