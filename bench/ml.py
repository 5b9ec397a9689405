"""ML enrichment benchmark: photos/s of each stage and of the whole enrichment, and memory with the models loaded.

    python bench/ml.py [--photos 200] [--corpus DIR] [--vectors 100000|0] [--clustering 20000|0] [--only clustering]
                        [--json FILE|-]

Replicates the corpus JPEGs into --photos unique photos in a temp folder, indexes them (not timed here: see
bench/index.py), then runs every installed enrichment stage alone on all of them (in run order, so the text index
reads the labels and people the image stages wrote), and then the whole enrichment again from scratch in one
runner, as `photoshelf enrich` does. Memory: the process's resident set (VmRSS) after the full run with every model
still loaded, and its peak (VmHWM). Targets (issue 6): full enrichment >= 5 photos/s on 2 cores, RSS < 1 GB.
With --vectors, also runs bench/vectors.py (vector search p50/p95 and recall) at those sizes.

Face clustering (--clustering N, default 20000; 0 to skip): people.dbscan, the clustering of the unassigned faces,
timed on the faces the run found and on N synthetic 128-d embeddings (identities of 1 to 40 faces and lone faces, at
the distances dlib's embeddings have), with the clusters and noise it makes. `--only clustering` indexes, runs the
faces stage alone and times only that (the corpus once: --photos 0 takes each corpus JPEG once).
"""

from __future__ import annotations

import argparse
import hashlib
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

import numpy as np

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
    from photoshelf.library import index_library
    from photoshelf.models.enrich import Enricher, load_stages

    originals = workdir / "originals"
    sources = find_sources(args.corpus, "jpeg")
    args.photos = args.photos or len(sources)
    replicate(sources, originals, args.photos, "ml")
    config = load_config(env={"PHOTOSHELF_ORIGINALS": str(originals), "PHOTOSHELF_STORAGE": str(workdir / "storage"),
                              "PHOTOSHELF_SIDECARS_ENABLED": "false"})
    db = open_catalog(config)
    say(f"indexing {args.photos} photos made from {len(sources)} corpus JPEGs ...")
    started = time.monotonic()
    index_library(config, db)
    photos = Photo.select().where(Photo.has_thumbs == True).count()  # noqa: E712 - peewee expression
    say(f"indexed {photos} photos with thumbnails in {time.monotonic() - started:.1f}s")
    base = proc_status()

    result: dict[str, Any] = {"photos": photos, "cores": os.cpu_count(), "python": platform.python_version(),
                              "corpus": str(args.corpus), "stages": {}, "skipped": {}}
    stages = load_stages(config, db, ["faces"] if args.only == "clustering" else None)
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

    result["clustering"] = clustering(config, db, args.clustering) if args.clustering else None
    if args.only == "clustering":
        db.close()
        return result
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


def synthetic_faces(n: int, dim: int = 128, seed: int = 1) -> np.ndarray:
    """`n` embeddings shaped like dlib's: identities whose faces lie ~0.35 apart (under face_distance 0.5), ~1.4
    from other identities, with 1 to 40 faces each (few have many), and a sixth of the faces alone."""
    rng = np.random.default_rng(seed)
    alone = n // 6
    sizes: list[int] = []
    while sum(sizes) < n - alone:
        sizes.append(min(int(rng.zipf(1.6)), 40))
    sizes[-1] -= sum(sizes) - (n - alone)
    centres = rng.normal(size=(len(sizes) + alone, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    owner = np.concatenate([np.repeat(np.arange(len(sizes)), sizes), len(sizes) + np.arange(alone)])
    points = centres[owner] + rng.normal(scale=0.35 / np.sqrt(2 * dim), size=(n, dim))
    return points[rng.permutation(n)].astype(np.float32)


def clustering(config: Any, db: Any, synthetic: int) -> dict[str, Any]:
    """people.dbscan on the faces the run found and on `synthetic` generated embeddings: seconds (best of 3 on the
    corpus, 1 on the synthetic set), clusters and faces left as noise, with the settings the faces stage uses."""
    from photoshelf.db.schema import Face
    from photoshelf.models import people

    eps, min_samples = config.models.face_distance, max(1, config.models.face_cluster_min)
    out: dict[str, Any] = {"eps": eps, "min_samples": min_samples}
    rows: Any = Face.select(Face.id).order_by(Face.id).tuples()
    ids = [i for (i,) in rows]
    vectors = people.face_index(db).get(ids)
    sets = {"corpus": np.vstack([vectors[i] for i in ids if i in vectors]) if vectors else np.zeros((0, 128))}
    if synthetic:
        sets["synthetic"] = synthetic_faces(synthetic)
    for name, matrix in sets.items():
        runs = 3 if len(matrix) < 5000 else 1
        best, labels = float("inf"), np.zeros(0)
        for _ in range(runs):
            started = time.perf_counter()
            labels = people.dbscan(matrix, eps, min_samples)
            best = min(best, time.perf_counter() - started)
        out[name] = {"faces": len(matrix), "seconds": round(best, 4), "clusters": len(set(labels[labels >= 0])),
                     "noise": int((labels < 0).sum()),
                     "labels_sha1": hashlib.sha1(np.asarray(labels, dtype=np.int64).tobytes()).hexdigest()[:12]}
        say(f"clustering {name}: {len(matrix)} faces in {best:.3f}s, {out[name]['clusters']} clusters, "
            f"{out[name]['noise']} noise")
    return out


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
    c = result.get("clustering")
    for name in ("corpus", "synthetic"):
        if c and name in c:
            r = c[name]
            lines.append(f"face clustering ({name}): {r['faces']} faces in {1000 * r['seconds']:.0f} ms: "
                         f"{r['clusters']} clusters, {r['noise']} noise (eps {c['eps']:g}, min {c['min_samples']}, "
                         f"labels {r['labels_sha1']})")
    full = result.get("full")
    if full is None:
        return "\n".join(lines)
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
    parser.add_argument("--photos", type=int, default=200,
                        help="photos to enrich (default 200; 0: each corpus JPEG once)")
    parser.add_argument("--corpus", type=Path, default=default_corpus(), help="corpus folder (only read)")
    parser.add_argument("--vectors", default="100000",
                        help="vector counts for bench/vectors.py, comma-separated (default 100000; 0 to skip)")
    parser.add_argument("--clustering", type=int, default=20000,
                        help="synthetic embeddings for the face clustering (default 20000; 0 skips the section)")
    parser.add_argument("--only", choices=["clustering"], default=None,
                        help="clustering: index and run the faces stage only, then time the clustering")
    parser.add_argument("--workdir", default=None, help="where the temp folder goes")
    parser.add_argument("--json", default=None, help="write the results as JSON to FILE, or - for stdout")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="photoshelf-ml-bench-", dir=args.workdir))
    try:
        result = run(args, tmp)
        result["vectors"] = run_vectors(args.vectors, tmp) if args.only is None else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    emit(table(result), result, args.json)


if __name__ == "__main__":
    main()
