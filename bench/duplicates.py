"""Near-duplicate grouping benchmark: time, memory, recall and false pairs at 100k photos.

    python bench/duplicates.py [--photos 100000] [--planted 0.05] [--seed 1] [--catalog] [--json FILE|-]

Makes `--photos` synthetic photos (random 64-bit pHash and dHash, a random 3×3 colour layout, random shapes),
of which a fraction `--planted` are copies of another photo as a re-encode, resize or small crop leaves them:
pHash and dHash each a few bits off (0–3 bits for most, 4–11 for a fifth: the crops, a few beyond NEAR_PHASH), the colours within a few
levels, the same shape. Then runs the plan the library runs (photoshelf/duplicates.py: candidate pairs by
multi-index hashing, confirmed by the second look) and reports:

- seconds and peak RSS of the grouping (targets: < 30 s, < 500 MB at 100k);
- recall: planted pairs found / planted (target ≥ 0.95; copies more than NEAR_PHASH bits off are counted as
  missed, so recall < 1 measures the thresholds, not the search, which is exact);
- false pairs: confirmed pairs that were not planted, per 10k photos (target ≤ 1).

`--catalog` also seeds a SQLite catalog with the same photos in a temp folder and times `duplicates.find()`,
the path `photoshelf duplicates` and the viewer's page take (read the rows, group, read the paths), and again
(the second visit: the pair search is remembered while the hashes are unchanged).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from photoshelf import duplicates as dup

COLOUR_BYTES = 27


def _flip(rng: np.random.Generator, value: int, bits: int) -> int:
    for b in rng.choice(64, bits, replace=False):
        value ^= 1 << int(b)
    return value


def make(n: int, planted: float, seed: int) -> tuple[list[dup.Candidate], set[tuple[int, int]]]:
    """Candidates (index = id - 1) and the planted (source, copy) index pairs."""
    rng = np.random.default_rng(seed)
    copies = int(n * planted)
    originals = n - copies
    ph = rng.integers(0, 2**63, originals, dtype=np.int64) * 2 + rng.integers(0, 2, originals)
    dh = rng.integers(0, 2**63, originals, dtype=np.int64) * 2 + rng.integers(0, 2, originals)
    cols = rng.integers(0, 256, (originals, 27), dtype=np.int64)
    sizes = rng.choice([(4032, 3024), (3024, 4032), (1920, 1080), (1600, 1200), (1080, 1080)], originals)
    cands = []
    for i in range(originals):
        w, h = (int(x) for x in sizes[i])
        cands.append(_cand(i, int(ph[i]) & (2**64 - 1), int(dh[i]) & (2**64 - 1), bytes(cols[i].astype(np.uint8)), w, h))
    pairs = set()
    sources = rng.choice(originals, copies, replace=False)
    for k, src in enumerate(sources):
        s = cands[int(src)]
        crop = rng.random() < 0.2
        bits = int(rng.integers(4, 12)) if crop else int(rng.integers(0, 4))
        jitter = rng.integers(-6, 7, COLOUR_BYTES)
        base = np.frombuffer(bytes.fromhex(s.colors or ""), dtype=np.uint8).astype(np.int64)
        colours = bytes(np.clip(base + jitter, 0, 255).astype(np.uint8))
        scale = 0.5 if rng.random() < 0.5 else 1.0
        cands.append(_cand(originals + k, _flip(rng, int(s.phash or "0", 16), bits),
                           _flip(rng, int(s.dhash or "0", 16), min(bits + int(rng.integers(0, 3)), 12)), colours,
                           int((s.width or 0) * scale), int((s.height or 0) * scale)))
        pairs.add((int(src), originals + k))
    return cands, pairs


def _cand(i: int, phash: int, dhash: int, colours: bytes, w: int, h: int) -> dup.Candidate:
    return dup.Candidate(id=i + 1, uid=f"p{i}", sha1=f"{i:040x}", kind="image", format="JPEG", size=2_000_000,
                         width=w, height=h, taken_at=None, camera=None, favorite=False, archived=False,
                         duplicate_of=None, stack_id=None, phash=f"{phash:016x}", dhash=f"{dhash:016x}",
                         colors=colours.hex(), metadata=0)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_plan(cands: list[dup.Candidate], planted: set[tuple[int, int]]) -> dict[str, Any]:
    start = time.perf_counter()
    raw = dup.candidate_pairs(cands)
    t_search = time.perf_counter() - start
    pairs = dup.plan_pairs(cands, None, raw)
    groups = dup.components(len(cands), ((p.a, p.b) for p in pairs))
    seconds = time.perf_counter() - start
    found = {(min(p.a, p.b), max(p.a, p.b)) for p in pairs}
    hit = len(found & planted)
    false = len(found - planted)
    n = len(cands)
    return {"photos": n, "planted": len(planted), "candidate_pairs": len(raw), "confirmed_pairs": len(found),
            "groups": len(groups), "search_s": round(t_search, 2), "seconds": round(seconds, 2),
            "peak_rss_mb": round(rss_mb(), 1), "recall": round(hit / max(1, len(planted)), 4),
            "false_pairs": false, "false_per_10k": round(false * 10_000 / n, 3)}


def run_catalog(cands: list[dup.Candidate]) -> dict[str, Any]:
    """Seed a SQLite catalog with these photos (one file each) and time duplicates.find()."""
    from photoshelf.config import load_config
    from photoshelf.db.catalog import open_catalog
    from photoshelf.db.schema import File, Folder, Photo
    from photoshelf.db.transactions import write_transaction

    with tempfile.TemporaryDirectory(prefix="photoshelf-bench-dup-") as tmp:
        root = Path(tmp)
        (root / "originals").mkdir()
        config = load_config(env={"PHOTOSHELF_ORIGINALS": str(root / "originals"),
                                  "PHOTOSHELF_STORAGE": str(root / "storage"),
                                  "PHOTOSHELF_DATABASE": f"sqlite:///{root / 'catalog.db'}"})
        db = open_catalog(config)
        folder = Folder.create(path="", path_hash="0" * 40, name="")
        now = dt.datetime(2024, 1, 1)
        with write_transaction(db):
            for s in range(0, len(cands), 2000):
                chunk = cands[s : s + 2000]
                Photo.insert_many([{"id": c.id, "uid": c.uid, "sha1": c.sha1, "kind": "image", "format": "JPEG",
                                    "size": c.size, "width": c.width, "height": c.height, "phash": c.phash,
                                    "dhash": c.dhash, "colors": c.colors, "has_thumbs": True, "created_at": now,
                                    "updated_at": now} for c in chunk]).execute()
                File.insert_many([{"path": f"p/{c.id}.jpg", "path_hash": f"{c.id:040x}", "folder": folder.id,
                                   "name": f"{c.id}.jpg", "photo": c.id, "size": c.size, "mtime_ns": 0,
                                   "sha1": c.sha1} for c in chunk]).execute()
        dup._PAIR_CACHE.clear()  # the plan above ran on the same hashes
        start = time.perf_counter()
        groups = dup.find(kinds=("exact", "near", "burst"))
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        dup.find(kinds=("exact", "near", "burst"))  # the page visited again: the pair search is remembered
        again = time.perf_counter() - start
        db.close()
    return {"catalog_find_s": round(seconds, 2), "catalog_find_again_s": round(again, 2),
            "catalog_groups": len(groups), "peak_rss_mb": round(rss_mb(), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--planted", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--catalog", action="store_true", help="also time duplicates.find() on a seeded SQLite catalog")
    ap.add_argument("--json", help="write the results as JSON to FILE (- for stdout)")
    args = ap.parse_args(argv)
    cands, planted = make(args.photos, args.planted, args.seed)
    result = run_plan(cands, planted)
    if args.catalog:
        result.update(run_catalog(cands))
    checks = {"seconds < 30": result["seconds"] < 30, "peak RSS < 500 MB": result["peak_rss_mb"] < 500,
              "recall >= 0.95": result["recall"] >= 0.95, "false pairs <= 1 per 10k": result["false_per_10k"] <= 1}
    out = sys.stderr if args.json == "-" else sys.stdout
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}", file=out)
    for check, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {check}", file=out)
    if args.json:
        text = json.dumps({**result, "checks": checks}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
