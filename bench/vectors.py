"""Vector search benchmark: p50/p95 query latency and recall@10 on sqlite-vec at 100k / 1M synthetic vectors.

    python bench/vectors.py [--sizes 100000,1000000] [--data random,clustered] [--queries 100] [--json FILE|-]
                            [--oversample 20,50] [--workdir DIR --keep]
    python bench/vectors.py --backend mariadb [--mariadb mysql://root@127.0.0.1:3306] [--write-sizes 1000,10000,50000]
                            [--sizes 100000] [--queries 100] [--json FILE|-]

For each data kind and size it loads unit vectors (512-d by default) into a fresh SQLite catalog through
`VectorIndex.add` (batched, the same tables the enrichment writes), then times, per query:

- `exact`: sqlite-vec's float32 vec0 KNN (a full scan; the reference for recall);
- `index`: `VectorIndex.search`, the path semantic search takes (binary-quantised vec0 candidates, rescored
  exactly; with a filter, pre-filtered exact search or widened candidates, see models/vectors.py);
- `numpy`: brute force over an in-memory float32 matrix (what the MariaDB backend does for a small space).

each without a filter and with filters that allow 10% and 1% of the items (a random subset, as a
`year:2019 person:anna` filter would give). Recall@10 is measured against the true top 10 within the allowed set.
`random` vectors (i.i.d. Gaussian, normalised) are the worst case for binary quantisation: all distances are
nearly equal. `clustered` vectors (points around 1,000 random centres, queries near the data) resemble real
image embeddings, where the nearest neighbours are much nearer than the rest.

`--backend mariadb` measures the MariaDB path in a database it creates and drops: (a) the faces pattern, a batch
of 16 new 128-d vectors added then searched one by one (as models/people.py assigns new faces), repeated, at
`--write-sizes` stored vectors; (b) query p50/p95, recall@10 and the memory of the process cache at `--sizes`
clustered 512-d vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from photoshelf.db.backends import connect
from photoshelf.db.migrations import migrate
from photoshelf.models import vectors
from photoshelf.models.vectors import Space, VectorIndex

K = 10
BATCH = 20_000


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_data(kind: str, n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n data vectors, and a generator state for queries (returned as a function of the data kind)."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return np.vstack([unit(rng.standard_normal((min(BATCH, n - s), dim), dtype=np.float32))
                          for s in range(0, n, BATCH)]), np.zeros((0, dim), np.float32)
    centres = unit(rng.standard_normal((1000, dim), dtype=np.float32))
    parts = []
    for s in range(0, n, BATCH):
        m = min(BATCH, n - s)
        which = rng.integers(0, len(centres), m)
        parts.append(unit(centres[which] + 0.8 * rng.standard_normal((m, dim), dtype=np.float32) / np.sqrt(dim)))
    return np.vstack(parts), centres


def make_queries(kind: str, count: int, dim: int, centres: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    if kind == "random":
        return unit(rng.standard_normal((count, dim), dtype=np.float32))
    which = rng.integers(0, len(centres), count)
    return unit(centres[which] + 0.9 * rng.standard_normal((count, dim), dtype=np.float32) / np.sqrt(dim))


def truth(data: np.ndarray, q: np.ndarray, allowed: np.ndarray | None) -> list[int]:
    dist = 1.0 - data @ q
    if allowed is not None:
        masked = np.full_like(dist, np.inf)
        masked[allowed - 1] = dist[allowed - 1]
        dist = masked
    part = np.argpartition(dist, K)[:K]
    return [int(i) + 1 for i in part[np.argsort(dist[part])]]


def timed(fn: Any) -> tuple[float, float, Any]:
    """Wall and CPU milliseconds (CPU: this process's threads, which other work on a shared machine hardly moves)."""
    started, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - started) * 1000.0, (time.process_time() - cpu) * 1000.0, out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def run_size(kind: str, n: int, args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    dim = args.dim
    data, centres = make_data(kind, n, dim, seed=n)
    path = workdir / f"{kind}-{n}-{dim}.db"
    db = connect(f"sqlite:///{path}")
    db.connect()
    migrate(db)
    index = VectorIndex(db, Space("bench", dim))
    if index.count() != n:  # else: kept from an earlier run with --keep (same seed, same vectors)
        index.clear()
        started = time.perf_counter()
        for s in range(0, n, BATCH):
            index.add(((s + i + 1, data[s + i]) for i in range(min(BATCH, n - s))), replace=False)
        load_s = time.perf_counter() - started
        print(f"{kind} {n:,}: loaded in {load_s:.0f} s ({n / load_s:,.0f} vectors/s)", file=sys.stderr)
    started = time.perf_counter()
    index.search(data[0], K)
    print(f"{kind} {n:,}: first query (loads the binary codes) {time.perf_counter() - started:.2f} s",
          file=sys.stderr)
    queries = make_queries(kind, args.queries, dim, centres, seed=n)
    rng = np.random.default_rng(7)
    filters: list[tuple[str, np.ndarray | None]] = [("none", None)]
    for share in args.filters:
        filters.append((f"{share:g}%", np.sort(rng.choice(n, max(K, int(n * share / 100)), replace=False) + 1)))
    rows: list[dict[str, Any]] = []
    exact_count = min(len(queries), args.exact_queries)
    for label, allowed in filters:
        allowed_set = set(allowed.tolist()) if allowed is not None else None
        sub = data if allowed is None else data[allowed - 1]
        sub_ids = np.arange(1, n + 1) if allowed is None else allowed
        methods = ["exact", *(f"index@{o}" for o in args.oversample), "numpy"]
        times: dict[str, list[float]] = {m: [] for m in methods}
        cpus: dict[str, list[float]] = {m: [] for m in methods}
        hits: dict[str, int] = dict.fromkeys(methods, 0)

        def record(method: str, wall: float, cpu: float, got: list[int], true: set[int]) -> None:  # noqa: B023
            times[method].append(wall)  # noqa: B023 - called in this iteration only
            cpus[method].append(cpu)  # noqa: B023
            hits[method] += len(true & set(got))  # noqa: B023

        for qi, q in enumerate(queries):
            true = set(truth(data, q, allowed))
            if qi < exact_count:
                if allowed_set is None:
                    wall, cpu, got = timed(lambda q=q: index.search(q, K, exact=True))
                else:
                    wall, cpu, got = timed(lambda q=q: index._exact_over(q, K, allowed_set))  # noqa: B023
                record("exact", wall, cpu, [i for i, _ in got], true)
            for oversample in args.oversample:
                vectors.OVERSAMPLE = oversample
                vectors.MAX_OVERSAMPLE = max(oversample, 50)
                wall, cpu, got = timed(lambda q=q: index.search(q, K, allowed=allowed_set))  # noqa: B023
                record(f"index@{oversample}", wall, cpu, [i for i, _ in got], true)

            def brute(q: np.ndarray = q) -> list[int]:
                dist = 1.0 - sub @ q  # noqa: B023
                part = np.argpartition(dist, K)[:K]
                return [int(sub_ids[i]) for i in part[np.argsort(dist[part])]]  # noqa: B023

            wall, cpu, got_ids = timed(brute)
            record("numpy", wall, cpu, got_ids, true)
        for method in methods:
            rows.append({
                "data": kind, "size": n, "filter": label, "method": method, "queries": len(times[method]),
                "p50_ms": round(statistics.median(times[method]), 2), "p95_ms": round(pct(times[method], 95), 2),
                "cpu_p50_ms": round(statistics.median(cpus[method]), 2),
                "cpu_p95_ms": round(pct(cpus[method], 95), 2),
                "recall_at_10": round(hits[method] / max(1, K * len(times[method])), 4),
            })
            print("  ".join(f"{k}={v}" for k, v in rows[-1].items()), file=sys.stderr, flush=True)
    db.close()
    if not args.keep:
        for leftover in workdir.glob(path.name + "*"):
            leftover.unlink()
    return rows


def _nbytes(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of the numpy arrays reachable from obj (the process cache of the vector index)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes) if obj.base is None else _nbytes(obj.base, seen)
    if isinstance(obj, dict):
        return sum(_nbytes(v, seen) for v in obj.values())
    if isinstance(obj, (tuple, list)):
        return sum(_nbytes(v, seen) for v in obj)
    if hasattr(obj, "__dict__") or hasattr(obj, "__slots__"):
        fields = getattr(obj, "__dict__", {}) or {n: getattr(obj, n, None) for n in getattr(obj, "__slots__", ())}
        return sum(_nbytes(v, seen) for v in fields.values())
    return 0


def _cache_kind() -> str:
    """What the MariaDB cache holds after the last search: float rows or sign codes (older code: floats)."""
    rows = list(getattr(VectorIndex, "_rows_cache", {}).values())
    return "floats" if not rows else ("codes" if rows[-1].codes else "floats")


def _cache_bytes() -> int:
    return sum(_nbytes(v) for k, v in vars(VectorIndex).items() if k.endswith("_cache") and isinstance(v, dict))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_mariadb(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Both MariaDB measurements in a database of their own, dropped at the end."""
    from urllib.parse import urlparse

    import peewee as pw

    parts = urlparse(args.mariadb)
    admin = pw.MySQLDatabase("mysql", user=parts.username or "root", password=parts.password or "",
                             host=parts.hostname or "127.0.0.1", port=parts.port or 3306)
    name = f"photoshelf_bench_{secrets.token_hex(4)}"
    admin.execute_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    rows: list[dict[str, Any]] = []
    try:
        db = connect(f"{args.mariadb.rstrip('/')}/{name}")
        db.connect()
        migrate(db)
        rows.extend(_mariadb_writes(db, args))
        for n in (int(s) for s in args.sizes.split(",") if s):
            rows.extend(_mariadb_queries(db, n, args))
        db.close()
    finally:
        admin.execute_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
    return rows


def _mariadb_writes(db: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    dim, batch = 128, 16
    for n in (int(s) for s in args.write_sizes.split(",") if s):
        data, _ = make_data("random", n + batch * args.repeats, dim, seed=n)
        index = VectorIndex(db, Space(f"bench:faces{n}", dim))
        for s in range(0, n, BATCH):
            index.add(((s + i + 1, data[s + i]) for i in range(min(BATCH, n - s))), replace=False)
        index.search(data[0], 11)  # warm, as a running indexer is
        add_ms, search_ms, total_ms = [], [], []
        for r in range(args.repeats):
            new = [(n + r * batch + j + 1, data[n + r * batch + j]) for j in range(batch)]
            started = time.perf_counter()
            index.add(new)  # replace=True, as the faces stage adds
            added = time.perf_counter()
            for _, v in new:
                index.search(v, 11)
            done = time.perf_counter()
            add_ms.append((added - started) * 1000)
            search_ms.append((done - added) * 1000)
            total_ms.append((done - started) * 1000)
        rows.append({"backend": "mariadb", "test": "add16+search", "size": n, "dim": dim, "repeats": args.repeats,
                     "cache": _cache_kind(), "add_p50_ms": round(statistics.median(add_ms), 1),
                     "searches_p50_ms": round(statistics.median(search_ms), 1),
                     "batch_p50_ms": round(statistics.median(total_ms), 1),
                     "batch_p95_ms": round(pct(total_ms, 95), 1)})
        print("  ".join(f"{k}={v}" for k, v in rows[-1].items()), file=sys.stderr, flush=True)
        index.clear()
    return rows


def _mariadb_queries(db: Any, n: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    dim = args.dim
    data, centres = make_data("clustered", n, dim, seed=n)
    index = VectorIndex(db, Space("bench:clip", dim))
    started = time.perf_counter()
    for s in range(0, n, 5000):
        index.add(((s + i + 1, data[s + i]) for i in range(min(5000, n - s))), replace=False)
    print(f"mariadb clustered {n:,}: loaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rss_before, cache_before = _rss_mb(), _cache_bytes()
    started = time.perf_counter()
    index.search(data[0], K)
    first_s = time.perf_counter() - started
    cache_mb = (_cache_bytes() - cache_before) / 2**20
    rss_mb = _rss_mb() - rss_before
    queries = make_queries("clustered", args.queries, dim, centres, seed=n)
    rng = np.random.default_rng(7)
    rows: list[dict[str, Any]] = []
    for label, allowed in [("none", None), *((f"{share:g}%", np.sort(rng.choice(n, int(n * share / 100),
                                                                                  replace=False) + 1))
                                             for share in args.filters)]:
        allowed_set = set(allowed.tolist()) if allowed is not None else None
        times, hits = [], 0
        for q in queries:
            wall, _, got = timed(lambda q=q: index.search(q, K, allowed=allowed_set))  # noqa: B023
            times.append(wall)
            hits += len(set(truth(data, q, allowed)) & {i for i, _ in got})
        rows.append({"backend": "mariadb", "test": "query", "data": "clustered", "size": n, "dim": dim,
                     "filter": label, "cache": _cache_kind(), "queries": len(times), "p50_ms": round(statistics.median(times), 2),
                     "p95_ms": round(pct(times, 95), 2), "recall_at_10": round(hits / (K * len(times)), 4),
                     "first_query_s": round(first_s, 2), "cache_mb": round(cache_mb, 1),
                     "rss_growth_mb": round(rss_mb, 1)})
        print("  ".join(f"{k}={v}" for k, v in rows[-1].items()), file=sys.stderr, flush=True)
    index.clear()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="comma-separated vector counts (default 100000)")
    parser.add_argument("--data", default="random,clustered", help="random, clustered or both")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--exact-queries", type=int, default=20, help="queries timed on the slow exact scan")
    parser.add_argument("--filters", default="10,1", help="filter shares in percent (default 10,1)")
    parser.add_argument("--oversample", default=str(vectors.OVERSAMPLE),
                        help=f"rescored candidates per result at 100k items (models/vectors.py scales it by "
                             f"n^0.4 up to {vectors.MAX_OVERSAMPLE}), comma-separated to compare "
                             f"(default {vectors.OVERSAMPLE})")
    parser.add_argument("--workdir", default=None, help="where the catalogs go (default: a temp folder)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the catalogs in --workdir and reuse them next time (1M takes minutes to load)")
    parser.add_argument("--json", default=None, help="write the rows as JSON to FILE, or - for stdout")
    parser.add_argument("--backend", choices=["sqlite", "mariadb"], default="sqlite")
    parser.add_argument("--mariadb", default=os.environ.get("PHOTOSHELF_TEST_MARIADB", "mysql://root@127.0.0.1:3306"),
                        help="MariaDB server URL (a database is created there and dropped afterwards)")
    parser.add_argument("--write-sizes", default="1000,10000,50000,100000",
                        help="stored 128-d vectors for the add-16-then-search measurement (MariaDB)")
    parser.add_argument("--repeats", type=int, default=20, help="add+search batches per write size (MariaDB)")
    args = parser.parse_args()
    args.filters = [float(f) for f in args.filters.split(",") if f]
    rows: list[dict[str, Any]] = []
    if args.backend == "mariadb":
        rows = run_mariadb(args)
        for r in rows:
            print("  ".join(f"{k}={v}" for k, v in r.items()))
        if args.json:
            text = json.dumps({"rows": rows}, indent=1)
            if args.json == "-":
                print(text)
            else:
                Path(args.json).write_text(text)
        return
    args.oversample = [int(o) for o in args.oversample.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for kind in args.data.split(","):
            for n in (int(s) for s in args.sizes.split(",")):
                rows.extend(run_size(kind, n, args, workdir))
    print(f"{'data':<10}{'size':>10}  {'filter':<7}{'method':<11}{'p50 ms':>9}{'p95 ms':>9}{'cpu p50':>9}"
          f"{'cpu p95':>9}{'recall@10':>11}")
    for r in rows:
        print(f"{r['data']:<10}{r['size']:>10,}  {r['filter']:<7}{r['method']:<11}{r['p50_ms']:>9.1f}"
              f"{r['p95_ms']:>9.1f}{r['cpu_p50_ms']:>9.1f}{r['cpu_p95_ms']:>9.1f}{r['recall_at_10']:>11.3f}")
    if args.json:
        text = json.dumps({"rows": rows}, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
