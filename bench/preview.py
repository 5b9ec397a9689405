"""Preview benchmark: the first view of the large preview (/thumb/preview/…) of huge originals, each case in a
fresh viewer process: seconds, the process's RSS before the request and its peak (VmHWM) after, and what size
was served. Prints a table; `--json FILE` (or `-`) writes the numbers as JSON.

    python bench/preview.py                              # every case (a minute or two on 2 cores)
    python bench/preview.py --only png-huge --json -

Cases: a 16000×15000 PNG (240 MP, under index.max_megapixels; a few hundred KB: mostly flat colour), a
16000×12000 JPEG, an 8000×5000 PNG, and four different 8000×5000 PNGs asked for at once (the cap on
concurrent preview renders). The originals are indexed first (that full decode is the indexer's, not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from PIL import Image, ImageDraw

from photoshelf.config import load_config
from photoshelf.db.catalog import open_catalog
from photoshelf.db.schema import File, Photo
from photoshelf.library import index_library

REPO = Path(__file__).resolve().parent.parent
_started = time.perf_counter()


@dataclass(frozen=True)
class Case:
    name: str
    files: tuple[str, ...]  # originals asked for at the same time
    what: str


CASES = (
    Case("png-huge", ("huge.png",), "16000×15000 PNG (240 MP)"),
    Case("jpeg-huge", ("huge.jpg",), "16000×12000 JPEG (192 MP)"),
    Case("png-40mp", ("big-0.png",), "8000×5000 PNG (40 MP)"),
    Case("png-40mp-x4", tuple(f"big-{i}.png" for i in range(1, 5)), "four 8000×5000 PNGs at once"),
)
SIZES = {"huge.png": (16000, 15000), "huge.jpg": (16000, 12000)}

# Runs in a fresh process per case, so that the peak RSS is the request's and not the indexer's.
CHILD = r"""
import json, sys, threading, time
from starlette.testclient import TestClient
from photoshelf.config import load_config
from photoshelf.viewer.app import create_app

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
env, sha1s = json.loads(sys.argv[1]), sys.argv[2].split(",")
config = load_config(env=env)
config.auth.mode = "public"  # reads without a login
config.server.allowed_hosts.append("testserver")  # TestClient's Host
with TestClient(create_app(config)) as client:
    client.get("/api/v1/health")
    before, hwm = status("VmRSS"), status("VmHWM")
    answers = [None] * len(sha1s)
    def get(i):
        answers[i] = client.get(f"/thumb/preview/{sha1s[i]}.jpg")
    t = time.perf_counter()
    threads = [threading.Thread(target=get, args=(i,)) for i in range(len(sha1s))]
    for th in threads: th.start()
    for th in threads: th.join()
    seconds = time.perf_counter() - t
    from io import BytesIO
    from PIL import Image
    served = [list(Image.open(BytesIO(a.content)).size) if a.status_code == 200 else None for a in answers]
    print(json.dumps({"seconds": round(seconds, 2), "rss_before_mb": round(before), "hwm_before_mb": round(hwm),
                      "peak_mb": round(status("VmHWM")), "status": [a.status_code for a in answers],
                      "served": served}))
"""


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _started:7.1f}s] {message}", file=sys.stderr, flush=True)


def make_original(path: Path, size: tuple[int, int], seed: int) -> None:
    """Mostly flat colour with a few shapes: huge in pixels, small on disk (like a scanned map or a diagram)."""
    image = Image.new("RGB", size, (200 + seed % 50, 220, 235))
    draw = ImageDraw.Draw(image)
    w, h = size
    for k in range(12):
        x, y = (w * (k * 7 + seed) // 97) % w, (h * (k * 11 + seed) // 89) % h
        draw.ellipse((x, y, x + w // 8, y + h // 8), fill=(40 + 15 * k, 90, 160 - 10 * k))
        draw.line((0, y, w, (y + h // 3) % h), fill=(10, 10, 10), width=25)
    if path.suffix == ".png":
        image.save(path, "PNG", compress_level=9)
    else:
        image.save(path, "JPEG", quality=85)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(c.name for c in CASES), help="cases, comma separated")
    p.add_argument("--json", help="write the numbers as JSON to this file ('-': stdout)")
    p.add_argument("--keep", action="store_true", help="keep the temp folder")
    p.add_argument("--workdir", help="where the temp folder goes")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = [c for c in CASES if c.name in args.only.split(",")]
    work = Path(tempfile.mkdtemp(prefix="photoshelf-bench-preview-", dir=args.workdir))
    results: dict[str, Any] = {"machine": {"cores": os.cpu_count(), "python": platform.python_version()},
                               "cases": {}}
    try:
        env = {"PHOTOSHELF_ORIGINALS": str(work / "originals"), "PHOTOSHELF_STORAGE": str(work / "storage"),
               "PHOTOSHELF_VIEWER_TILE_URL": ""}
        (work / "originals").mkdir()
        names = sorted({name for c in cases for name in c.files})
        for seed, name in enumerate(names):
            make_original(work / "originals" / name, SIZES.get(name, (8000, 5000)), seed)
        say(f"{len(names)} originals written; indexing them (full decodes, not timed)")
        config = load_config(env=env)
        db = open_catalog(config)
        index_library(config, db)
        sha1: dict[str, str] = {path: digest for path, digest in cast(Any, File.select(File.path, Photo.sha1).join(Photo).tuples())}
        db.close()
        for case in cases:
            out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(env),
                                  ",".join(sha1[name] for name in case.files)],
                                 cwd=REPO, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise SystemExit(f"{case.name}: the viewer process failed:\n{out.stderr}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["file_kb"] = [round((work / "originals" / n).stat().st_size / 1024) for n in case.files]
            results["cases"][case.name] = {"what": case.what, **result}
            say(f"{case.name}: {result['seconds']} s, peak {result['peak_mb']} MB")
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    stream = sys.stderr if args.json == "-" else sys.stdout
    print(f"{'case':<13} {'what':<30} {'file KB':>9} {'seconds':>8} {'RSS before':>11} {'peak RSS':>9}  served",
          file=stream)
    for name, r in results["cases"].items():
        print(f"{name:<13} {r['what']:<30} {max(r['file_kb']):>9} {r['seconds']:>8} {r['rss_before_mb']:>8} MB "
              f"{r['peak_mb']:>6} MB  {r['status']} {r['served']}", file=stream)
    if args.json == "-":
        json.dump(results, sys.stdout, indent=2)
        print()
    elif args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
