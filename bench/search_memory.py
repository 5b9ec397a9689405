"""Memory of search by meaning: RSS of one `photoshelf serve`-like uvicorn process idle, after its first free-text
query, after N new queries, and after models.idle_unload_seconds without one (the text encoder unloaded).

    python bench/search_memory.py                         # 2000 photos, 50 queries, idle_unload_seconds = 5
    python bench/search_memory.py --photos 20000 --queries 50 --idle 10 --quantize gather --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import random
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

# bench/viewer.py: the synthetic catalog, the seeded text index, the server child.
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # bench/viewer.py imports bench/_corpus.py
_spec = importlib.util.spec_from_file_location("bench_viewer", HERE / "viewer.py")
assert _spec and _spec.loader
bench_viewer = importlib.util.module_from_spec(_spec)
sys.modules["bench_viewer"] = bench_viewer
_spec.loader.exec_module(bench_viewer)

log = logging.getLogger("bench.search_memory")

QUERIES = ["dog", "cat on a sofa", "beach at sunset", "snowy mountains", "birthday cake", "kids playing", "old car",
           "food on a table", "wedding", "city at night", "forest walk", "boat on a lake", "grandma", "flowers",
           "christmas tree", "swimming pool", "a bridge", "horse", "concert", "train station", "desert", "skiing",
           "garden", "bicycle", "museum", "fireworks", "rainy street", "church", "picnic", "playground", "tent",
           "harbour", "waterfall", "castle", "market", "football", "puppy", "airport", "sunrise", "lighthouse",
           "river", "baby", "pizza", "autumn leaves", "camping trip", "school", "zoo", "ice cream", "island", "farm"]


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for pid {pid}")


def query(port: int, text: str) -> int:
    """One free-text search through the HTTP API; the number of photos it ranked."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/search?q={quote(text)}&limit=50",
                                     headers={"Cookie": bench_viewer.COOKIE[0].decode(), "Host": "bench"})
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.loads(response.read())
    return len(body.get("photos", body.get("results", [])))


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="photoshelf-bench-memory-"))
    try:
        env, config, db = bench_viewer.open_work_catalog(work, None)
        env["PHOTOSHELF_MODELS_IDLE_UNLOAD_SECONDS"] = str(args.idle)
        env["PHOTOSHELF_MODELS_TEXT_QUANTIZE"] = args.quantize
        if args.threads:
            env["PHOTOSHELF_MODELS_THREADS"] = str(args.threads)
        config.models.text_quantize = args.quantize  # the seeding builds the model file the server then reads
        rng = random.Random(args.seed)
        bench_viewer.seed(db, args.photos, rng)
        bench_viewer.log_in_bench()
        made = bench_viewer.seed_text_index(config, db, rng)
        db.close()
        log.info("catalog: %d photos, %d text vectors", args.photos, made["vectors"])
        out: dict[str, Any] = {"photos": args.photos, "queries": args.queries, "idle_unload_seconds": args.idle,
                               "text_quantize": args.quantize}
        port = bench_viewer.free_port()
        with bench_viewer.child(bench_viewer.SERVER, json.dumps(env), str(port), "h11") as proc:
            bench_viewer.wait_port(port, proc)
            time.sleep(1.0)
            out["idle_mb"] = rss_mb(proc.pid)
            t = time.perf_counter()
            out["first_query_results"] = query(port, QUERIES[0])
            out["first_query_s"] = round(time.perf_counter() - t, 2)
            out["after_first_mb"] = rss_mb(proc.pid)
            peak = out["after_first_mb"]
            times = []
            for i in range(args.queries):
                t = time.perf_counter()
                query(port, f"{QUERIES[i % len(QUERIES)]} {i // len(QUERIES) or ''}".strip())
                times.append(time.perf_counter() - t)
                peak = max(peak, rss_mb(proc.pid))
            times.sort()
            out[f"after_{args.queries}_mb"] = rss_mb(proc.pid)
            out["peak_mb"] = peak
            out["query_p50_ms"] = round(1000 * times[len(times) // 2], 1)
            time.sleep(args.idle + 2.5)
            out["after_idle_unload_mb"] = rss_mb(proc.pid)
            query(port, "a new query after the unload")
            out["after_reload_mb"] = rss_mb(proc.pid)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=2000)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--idle", type=int, default=5, help="models.idle_unload_seconds for the server")
    p.add_argument("--threads", type=int, default=0, help="models.threads for the server (0: its default)")
    p.add_argument("--quantize", default="none", choices=("none", "gather", "all"),
                   help="models.text_quantize for the server")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = run(args)
    for key, value in out.items():
        sys.stdout.write(f"{key:>24}  {value}\n")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
