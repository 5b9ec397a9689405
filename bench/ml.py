"""ML enrichment benchmark: photos/s of each stage and of the whole enrichment, and memory with the models loaded.

    python bench/ml.py [--photos 200] [--corpus DIR] [--vectors 100000|0] [--json FILE|-]

Replicates the corpus JPEGs into --photos unique photos in a temp folder, indexes them (not timed here: see
bench/index.py), then runs every installed enrichment stage alone on all of them (in run order, so the text index
reads the labels and people the image stages wrote), and then the whole enrichment again from scratch in one
runner, as `photoshelf enrich` does. Memory: the process's resident set (VmRSS) after the full run with every model
still loaded, and its peak (VmHWM). Targets (issue 6): full enrichment >= 5 photos/s on 2 cores, RSS < 1 GB.
With --vectors, also runs bench/vectors.py (vector search p50/p95 and recall) at those sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
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

TARGET_RATE = 5.0  # photos/s, full enrichment
TARGET_RSS_MB = 1024


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def proc_status() -> dict[str, float]:
    """VmRSS and VmHWM of this process in MB (Linux)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        out["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def default_corpus() -> Path:
    shared = REPO.parent / "shared" / "corpus"
    return shared if shared.is_dir() else REPO / "tests" / "data" / "corpus"


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from photoshelf.config import load_config
    from photoshelf.db.catalog import open_catalog
    from photoshelf.db.schema import Photo
    from photoshelf.indexer.pipeline import Indexer
    from photoshelf.models.enrich import Enricher, load_stages

    originals = workdir / "originals"
    sources = find_sources(args.corpus, "jpeg")
    replicate(sources, originals, args.photos, "ml")
    config = load_config(env={"PHOTOSHELF_ORIGINALS": str(originals), "PHOTOSHELF_STORAGE": str(workdir / "storage"),
                              "PHOTOSHELF_SIDECARS_ENABLED": "false"})
    db = open_catalog(config)
    say(f"indexing {args.photos} photos made from {len(sources)} corpus JPEGs ...")
    started = time.monotonic()
    indexer = Indexer(config, db)
    try:
        indexer.run()
    finally:
        indexer.close()
    photos = Photo.select().where(Photo.has_thumbs == True).count()  # noqa: E712 - peewee expression
    say(f"indexed {photos} photos with thumbnails in {time.monotonic() - started:.1f}s")
    base = proc_status()

    result: dict[str, Any] = {"photos": photos, "cores": os.cpu_count(), "python": platform.python_version(),
                              "corpus": str(args.corpus), "stages": {}, "skipped": {}}
    stages = load_stages(config, db)
    for stage in stages:
        reason = stage.unavailable()
        if reason:
            result["skipped"][stage.name] = reason
            say(f"{stage.name}: skipped ({reason})")
            continue
        enricher = Enricher(config, db, stages=[stage])
        cpu, wall = cpu_seconds(), time.monotonic()
        report = enricher.run(record=False)
        wall, cpu = time.monotonic() - wall, cpu_seconds() - cpu
        sr = report.stages[0]
        result["stages"][stage.name] = {"photos": sr.done + sr.errors, "errors": sr.errors, "seconds": round(wall, 2),
                                        "photos_per_s": round((sr.done + sr.errors) / wall, 2) if wall else None,
                                        "cpu_seconds": round(cpu, 2), "version": sr.version}
        say(f"{stage.name}: {sr.done + sr.errors} photos in {wall:.1f}s ({(sr.done + sr.errors) / wall:.1f}/s), "
            f"cpu {cpu:.1f}s")
        enricher.close()

    result["ocr"] = ocr_costs(config, db, photos)

    # The whole enrichment from scratch, in one runner (every model loaded, as `photoshelf enrich` has them).
    available = [s for s in load_stages(config, db) if not s.unavailable()]
    enricher = Enricher(config, db, stages=available)
    for stage in available:
        enricher.forget(stage)
    load_before = os.getloadavg()[0]
    cpu, wall = cpu_seconds(), time.monotonic()
    report = enricher.run(record=False)
    wall, cpu = time.monotonic() - wall, cpu_seconds() - cpu
    loaded = proc_status()
    load_after = os.getloadavg()[0]
    enricher.close()
    result["full"] = {"stages": [s.name for s in available], "seconds": round(wall, 2),
                      "photos_per_s": round(photos / wall, 2) if wall else None, "cpu_seconds": round(cpu, 2),
                      "errors": report.errors, "load_average": [round(load_before, 2), round(load_after, 2)]}
    result["memory_mb"] = {"rss_after_index": round(base.get("VmRSS", 0), 1),
                           "rss_models_loaded": round(loaded.get("VmRSS", 0), 1),
                           "peak": round(loaded.get("VmHWM", 0), 1)}
    result["targets"] = {
        "full_photos_per_s": {"target": TARGET_RATE, "ok": bool(wall and photos / wall >= TARGET_RATE)},
        "rss_mb": {"target": TARGET_RSS_MB, "ok": loaded.get("VmRSS", 0) < TARGET_RSS_MB},
    }
    db.close()
    return result


def ocr_costs(config: Any, db: Any, photos: int) -> dict[str, Any] | None:
    """The OCR stage's two costs per photo, on the same thumbnails: the text-detection gate alone, and the whole
    OCR (detection, then recognition of every box found, as if every photo passed the gate); and how many photos
    passed the gate with the configured models.ocr_min_text_area."""
    from photoshelf.db.schema import Photo
    from photoshelf.media.thumbs import ThumbCache
    from photoshelf.models import ocr

    if not ocr.available() or not config.models.ocr:
        return None
    m = config.models
    reader = ocr.Reader(m.threads, m.ocr_rec_model, max_side=m.ocr_max_side)
    thumbs = ThumbCache(config.thumbs_path, config.thumbnails)
    rows: Any = Photo.select(Photo.sha1).where(Photo.has_thumbs == True).order_by(Photo.id)  # noqa: E712
    fits = [thumbs.path(str(p.sha1), "fit") for p in rows]
    fits = [f for f in fits if f.is_file()]
    if not fits:
        return None
    reader.read(ocr.load_bgr(fits[0], m.ocr_max_side), 0.0, m.ocr_min_confidence)  # load the three models
    gate = full = 0.0
    passed = lines = 0
    for fit in fits:
        image = ocr.load_bgr(fit, m.ocr_max_side)
        t = time.perf_counter()
        boxes, area = reader.gate(image)
        gate += time.perf_counter() - t
        passed += bool(boxes) and area >= m.ocr_min_text_area
        t = time.perf_counter()
        lines += len(reader.read(image, 0.0, m.ocr_min_confidence).lines)
        full += time.perf_counter() - t
    reader.unload()
    n = len(fits)
    return {"photos": n, "gate_ms": round(1000 * gate / n, 1), "full_ms": round(1000 * full / n, 1),
            "passed_gate": passed, "lines": lines, "min_text_area": m.ocr_min_text_area}


def run_vectors(sizes: str, workdir: Path) -> list[dict[str, Any]] | None:
    """bench/vectors.py (the vector index benchmark), when it is there, at these sizes."""
    script = HERE / "vectors.py"
    if not script.is_file() or sizes in ("", "0"):
        return None
    say(f"vector search at {sizes} vectors (bench/vectors.py) ...")
    proc = subprocess.run([sys.executable, str(script), "--sizes", sizes, "--workdir", str(workdir), "--json", "-"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        say(f"bench/vectors.py failed:\n{proc.stderr[-2000:]}")
        return None
    start = proc.stdout.find("{")
    return list(json.loads(proc.stdout[start:])["rows"]) if start >= 0 else None


def table(result: dict[str, Any]) -> str:
    lines = [f"ML enrichment on {result['photos']} photos ({result['cores']} cores, Python {result['python']})",
             f"{'stage':<12}{'photos':>8}{'seconds':>9}{'photos/s':>10}{'cpu s':>8}{'ms/photo cpu':>14}"
             f"{'errors':>8}"]
    for name, s in result["stages"].items():
        lines.append(f"{name:<12}{s['photos']:>8}{s['seconds']:>9.1f}{s['photos_per_s'] or 0:>10.1f}"
                     f"{s['cpu_seconds']:>8.1f}{1000 * s['cpu_seconds'] / max(1, s['photos']):>14.0f}{s['errors']:>8}")
    for name, reason in result["skipped"].items():
        lines.append(f"{name:<12} skipped: {reason[:90]}")
    full = result["full"]
    lines.append(f"{'full':<12}{result['photos']:>8}{full['seconds']:>9.1f}{full['photos_per_s'] or 0:>10.1f}"
                 f"{full['cpu_seconds']:>8.1f}{1000 * full['cpu_seconds'] / max(1, result['photos']):>14.0f}"
                 f"{full['errors']:>8}   ({' + '.join(full['stages'])})")
    lines.append(f"cores busy in the full run: {full['cpu_seconds'] / max(full['seconds'], 1e-9):.2f} "
                 "(CPU seconds / wall seconds; well under the core count means other work shared the machine); "
                 f"load average {full['load_average'][0]:.1f} before it, {full['load_average'][1]:.1f} after")
    mem = result["memory_mb"]
    lines.append(f"memory: RSS {mem['rss_models_loaded']:.0f} MB with the models loaded "
                 f"({mem['rss_after_index']:.0f} MB before), peak {mem['peak']:.0f} MB")
    t = result["targets"]
    lines.append(f"targets: full >= {TARGET_RATE:g} photos/s: {'ok' if t['full_photos_per_s']['ok'] else 'MISSED'}; "
                 f"RSS < {TARGET_RSS_MB} MB: {'ok' if t['rss_mb']['ok'] else 'MISSED'}")
    o = result.get("ocr")
    if o:
        lines.append(f"ocr: text-detection gate {o['gate_ms']:.0f} ms/photo, whole OCR {o['full_ms']:.0f} ms/photo "
                     f"(wall, {o['photos']} photos); {o['passed_gate']} passed the gate (text area >= "
                     f"{o['min_text_area']:g}), {o['lines']} lines read when every photo is recognised")
    for r in result.get("vectors") or []:
        lines.append("vectors: " + "  ".join(f"{k}={v}" for k, v in r.items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=200, help="photos to enrich (default 200)")
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="corpus folder (only read)")
    parser.add_argument("--vectors", default="100000",
                        help="vector counts for bench/vectors.py, comma-separated (default 100000; 0 to skip)")
    parser.add_argument("--workdir", default=None, help="where the temp folder goes")
    parser.add_argument("--json", default=None, help="write the results as JSON to FILE, or - for stdout")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="photoshelf-ml-bench-", dir=args.workdir))
    try:
        result = run(args, tmp)
        result["vectors"] = run_vectors(args.vectors, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    emit(table(result), result, args.json)


if __name__ == "__main__":
    main()
