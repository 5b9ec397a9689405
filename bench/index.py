"""Indexer benchmark: cold index, no-change rescan, the bare tools on the same files, rescan at scale, and the
per-photo cost as the catalog grows. Prints a table; `--json FILE` (or `-`) writes the numbers as JSON.

    python bench/index.py                       # the default run (a few minutes on 2 cores)
    python bench/index.py --only cold,bare --photos 500 --large
    python bench/index.py --only raw --raw-files 200       # RAW files/s (the corpus RAW files, copied)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import peewee as pw
from _corpus import Source, TinyFile, find_sources, make_large, make_tiny_tree, replicate, seed_catalog
from PIL import Image, ImageOps

from photoshelf.config import Config, load_config
from photoshelf.db import settings
from photoshelf.db.backends import describe
from photoshelf.db.catalog import open_catalog
from photoshelf.db.schema import File, Photo
from photoshelf.indexer.pipeline import IndexReport
from photoshelf.indexer.walk import Walker
from photoshelf.indexer.worker import process_file
from photoshelf.library import index_library
from photoshelf.media.exiftool import TAGS
from photoshelf.media.thumbs import ThumbCache
from photoshelf.sidecars.sync import apply_changed_files, write_sidecars

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
SECTIONS = ("cold", "rescan", "bare", "scale", "flat", "raw")
# The arguments photoshelf's ExifTool gives every call (photoshelf/media/exiftool.py, ExifTool._start), then its tags.
EXIFTOOL_ARGS = ["-G", "-n", "-fast", "-charset", "filename=utf8", "-api", "LargeFileSupport=1"]
VIDEO_EXTENSIONS = {".mov", ".mp4", ".m4v"}
RAW_EXTENSIONS = {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".raf", ".arw", ".orf", ".rw2", ".pef", ".srw"}
HEIF_EXTENSIONS = {".heic", ".heif"}
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
TARGET_RATIO = 0.7
TARGET_SCALE_SECONDS_PER_100K = 10.0

_started = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _started:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0  # this process (all its threads) plus the child processes that ended meanwhile

    def as_dict(self) -> dict[str, float]:
        return {"seconds": round(self.wall, 3), "cpu_seconds": round(self.cpu, 3)}


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@contextmanager
def measure() -> Iterator[Timing]:
    """`with measure() as t:` … then t.wall and t.cpu hold the elapsed wall and CPU seconds.

    CPU time is reported beside wall time because wall time on a shared machine varies with what else runs;
    the CPU seconds a piece of work costs hardly do."""
    t = Timing()
    wall, cpu = time.perf_counter(), _cpu_seconds()
    try:
        yield t
    finally:
        t.wall, t.cpu = time.perf_counter() - wall, _cpu_seconds() - cpu


def best(timings: list[Timing]) -> Timing:
    """The least wall and the least CPU time of repeated runs: the least disturbed by other work."""
    return Timing(min(t.wall for t in timings), min(t.cpu for t in timings))


# -- libraries: an originals folder, a storage folder and a catalog ---------------------------------------


@dataclass
class Library:
    name: str
    originals: Path
    storage: Path
    config: Config
    db: pw.Database | None = None
    tiny: list[TinyFile] = field(default_factory=list)

    def open(self) -> pw.Database:
        """(Re)open this library's catalog; it becomes the one the peewee tables are bound to."""
        if self.db is not None and not self.db.is_closed():
            self.db.close()
        self.db = open_catalog(self.config)
        return self.db

    def index(self, paths: list[str] | None = None) -> tuple[IndexReport, Timing]:
        db = self.open()
        with measure() as t:
            report = index_library(self.config, db, paths)
        return report, t

    def close(self) -> None:
        if self.db is not None and not self.db.is_closed():
            self.db.close()


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.libraries: dict[str, Library] = {}
        self.mysql_databases: list[str] = []
        self.results: dict[str, Any] = {}
        self._sources: list[Source] | None = None

    @property
    def sources(self) -> list[Source]:
        if self._sources is None:
            self._sources = find_sources(self.args.corpus, self.args.mix)
        return self._sources

    def library(self, name: str, originals: Path | None = None, **env_values: str) -> Library:
        """A new library with its own storage and catalog; `originals` shares another library's photos."""
        root = self.work / name
        storage = root / "storage"
        if originals is None:
            originals = root / "originals"
            originals.mkdir(parents=True)
        env = {"PHOTOSHELF_ORIGINALS": str(originals), "PHOTOSHELF_STORAGE": str(storage), **env_values}
        if self.args.database:
            env["PHOTOSHELF_DATABASE"] = self._mysql_database(name)
        if self.args.workers:
            env["PHOTOSHELF_INDEX_WORKERS"] = str(self.args.workers)
        lib = Library(name, originals, storage, load_config(env=env))
        self.libraries[name] = lib
        return lib

    def _mysql_database(self, name: str) -> str:
        db_name = f"photoshelf_bench_{name}_{secrets.token_hex(3)}"
        with _mysql_admin(self.args.database) as admin:
            admin.execute_sql(f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        self.mysql_databases.append(db_name)
        return f"{self.args.database.rstrip('/')}/{db_name}"

    def cleanup(self) -> None:
        for lib in self.libraries.values():
            lib.close()
        if self.args.keep:
            say(f"kept {self.work}" + (f" and MariaDB databases {', '.join(self.mysql_databases)}"
                                        if self.mysql_databases else ""))
            return
        shutil.rmtree(self.work, ignore_errors=True)
        if self.mysql_databases:
            with _mysql_admin(self.args.database) as admin:
                for db_name in self.mysql_databases:
                    admin.execute_sql(f"DROP DATABASE IF EXISTS `{db_name}`")


@contextmanager
def _mysql_admin(url: str) -> Iterator[pw.MySQLDatabase]:
    parts = urlparse(url)
    admin = pw.MySQLDatabase("information_schema", user=parts.username or "root", password=parts.password or "",
                             host=parts.hostname or "127.0.0.1", port=parts.port or 3306, charset="utf8mb4")
    admin.connect()
    try:
        yield admin
    finally:
        admin.close()


def seeded_library(bench: Bench, name: str, count: int) -> tuple[Library, dict[str, Any]]:
    lib = bench.library(name)
    with measure() as t_files:
        lib.tiny = make_tiny_tree(lib.originals, "seed", count)
    with measure() as t_seed:
        seed_catalog(lib.open(), lib.originals, lib.tiny)
    say(f"{name}: {count} tiny files written in {t_files.wall:.1f}s, catalog seeded in {t_seed.wall:.1f}s")
    return lib, {"create_files_seconds": round(t_files.wall, 2), "seed_catalog_seconds": round(t_seed.wall, 2)}


# -- the bare tools -----------------------------------------------------------------------------------


def bare_thumbnail(job: tuple[int, Path], out: Path, fit: int, tile: int, quality: int) -> int:
    """The thumbnail work alone: read, decode (JPEG in draft mode), upright, fit + tile, encode. No hash, no DB."""
    i, path = job
    image = _video_frame(path) if path.suffix.lower() in VIDEO_EXTENSIONS else _decode(path, fit)
    if max(image.size) > fit:
        image = image.copy()
        image.thumbnail((fit, fit), Image.Resampling.LANCZOS, reducing_gap=2.0)
    small = ImageOps.fit(image, (tile, tile), Image.Resampling.LANCZOS)
    image.save(out / f"{i}_fit.jpg", "JPEG", quality=quality, progressive=True)
    small.save(out / f"{i}_tile.jpg", "JPEG", quality=quality)
    return 2


def _decode(path: Path, fit: int) -> Image.Image:
    heif = path.suffix.lower() in HEIF_EXTENSIONS
    if heif:
        import pillow_heif

        pillow_heif.register_heif_opener()
    im = Image.open(io.BytesIO(path.read_bytes()))
    if im.format == "JPEG":
        im.draft("RGB", (fit, fit))
    # libheif applies the container's rotation itself; other formats carry it in EXIF Orientation.
    orientation = 1 if heif else int(im.getexif().get(0x0112, 1) or 1)
    im.load()
    image = im if im.mode == "RGB" else im.convert("RGB")
    return image.transpose(TRANSPOSE[orientation]) if orientation in TRANSPOSE else image


def _video_frame(path: Path) -> Image.Image:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            return frame.to_image()
    raise RuntimeError(f"no frame in {path}")


class BareTools:
    """exiftool (one process, `-@ argfile -j`), sha1sum (through xargs) and Python thumbnail threads."""

    def __init__(self, files: list[Path], work: Path, config: Config) -> None:
        self.files = files
        self.work = work
        self.config = config
        work.mkdir(parents=True)
        self.argfile = work / "exiftool.args"
        self.argfile.write_text("\n".join([*EXIFTOOL_ARGS, *(f"-{t}" for t in TAGS), "-j", *map(str, files)]) + "\n")
        self.listfile = work / "files.lst"
        self.listfile.write_bytes(b"\0".join(os.fsencode(f) for f in files))
        self.exiftool = shutil.which(config.exiftool.path) or config.exiftool.path
        self._runs = 0

    def _out(self, name: str) -> Path:
        self._runs += 1
        return self.work / f"{self._runs}-{name}"

    def start_exiftool(self) -> Callable[[], None]:
        out = self._out("exiftool.json")
        with open(out, "wb") as fh:
            proc = subprocess.Popen([self.exiftool, "-@", str(self.argfile)], stdout=fh, stderr=subprocess.DEVNULL)

        def wait() -> None:
            proc.wait()
            found = len(json.loads(out.read_bytes() or b"[]"))
            if found != len(self.files):
                raise SystemExit(f"bare exiftool returned {found} records for {len(self.files)} files")
        return wait

    def start_sha1sum(self) -> Callable[[], None]:
        out = self._out("sha1sum.txt")
        with open(self.listfile, "rb") as stdin, open(out, "wb") as fh:
            proc = subprocess.Popen(["xargs", "-0", "sha1sum"], stdin=stdin, stdout=fh)

        def wait() -> None:
            if proc.wait() != 0 or len(out.read_bytes().splitlines()) != len(self.files):
                raise SystemExit("bare sha1sum failed")
        return wait

    def thumbnails(self, workers: int) -> None:
        out = self._out("thumbs")
        out.mkdir()
        t = self.config.thumbnails
        job = partial(bare_thumbnail, out=out, fit=t.fit_size, tile=t.tile_size, quality=t.quality)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            written = sum(pool.map(job, enumerate(self.files)))
        if written != 2 * len(self.files):
            raise SystemExit("bare thumbnails: some files were not rendered")

    def timed(self, what: str, workers: int) -> Timing:
        with measure() as t:
            waits = []
            if what in ("exiftool", "parallel"):
                waits.append(self.start_exiftool())
            if what in ("sha1sum", "parallel"):
                waits.append(self.start_sha1sum())
            if what in ("thumbnails", "parallel"):
                self.thumbnails(workers)
            for wait in waits:
                wait()
        return t


# -- sections --------------------------------------------------------------------------------------------


def section_photos(bench: Bench, rescan: bool, bare: bool) -> None:
    """Cold index, no-change rescan and the bare tools on the same files, repeated and interleaved so that
    load from other processes falls on all of them alike; each keeps its best run."""
    sources = bench.sources
    if bench.args.large:
        say(f"making {bench.args.large} 12 MP JPEGs from the corpus")
        sources = make_large(sources, bench.args.large)
    n = bench.args.photos
    files = replicate(sources, bench.work / "photos", n, "cold")
    total_mb = sum(f.stat().st_size for f in files) / 1e6
    say(f"cold: {n} files ({total_mb:.1f} MB) from {len(sources)} sources")
    colds: list[Timing] = []
    rescans: list[Timing] = []
    bares: dict[str, list[Timing]] = {"exiftool": [], "thumbnails": [], "sha1sum": [], "parallel": []}
    hashed_on_rescan = 0
    tools: BareTools | None = None
    for rep in range(bench.args.repeat):
        lib = bench.library(f"cold{rep}", bench.work / "photos")  # fresh storage and catalog each time
        report, t = lib.index()
        colds.append(t)
        if report.new != n or report.errors:
            say(f"WARNING: the cold index stored {report.new} new files of {n}, {report.errors} errors")
        say(f"cold #{rep + 1}: {t.wall:.2f}s ({t.cpu:.1f} CPU s), {n / t.wall:.1f} files/s")
        if rescan:
            again, t = lib.index()
            rescans.append(t)
            hashed_on_rescan = max(hashed_on_rescan, again.hashed)
            say(f"rescan #{rep + 1}: {t.wall:.3f}s, hashed {again.hashed}")
        lib.close()
        if bare:
            if tools is None:
                tools = BareTools(files, bench.work / "bare", lib.config)
            for what, runs in bares.items():
                runs.append(tools.timed(what, lib.config.worker_count))
            say("bare #{}: {}".format(rep + 1, ", ".join(f"{w} {r[-1].wall:.2f}s" for w, r in bares.items())))
    cold = best(colds)
    bench.results["cold"] = {
        "files": n, "sources": len(sources), "megabytes": round(total_mb, 1),
        "mean_megapixels": _mean_megapixels(sources), "workers": lib.config.worker_count, **cold.as_dict(),
        "files_per_second": round(n / cold.wall, 2), "megabytes_per_second": round(total_mb / cold.wall, 2),
        "runs": [t.as_dict() for t in colds], "last_report": report.as_dict(),
    }
    if rescan:
        bench.results["rescan"] = {"files": n, **best(rescans).as_dict(), "hashed": hashed_on_rescan,
                                   "runs": [t.as_dict() for t in rescans]}
    if bare:
        par = best(bares["parallel"])
        bench.results["bare"] = {
            "files": n, "thumbnail_threads": lib.config.worker_count,
            **{what: {**best(runs).as_dict(), "runs": [t.as_dict() for t in runs]} for what, runs in bares.items()},
            "ratio": round(par.wall / cold.wall, 3), "cpu_ratio": round(par.cpu / cold.cpu, 3),
            "cores_photoshelf": round(cold.cpu / cold.wall, 2), "cores_bare": round(par.cpu / par.wall, 2),
            "target_ratio": TARGET_RATIO,
        }


def _mean_megapixels(sources: list[Source]) -> float:
    sizes = []
    for s in sources:
        if Path(s.name).suffix.lower() in VIDEO_EXTENSIONS:
            continue
        try:
            with Image.open(io.BytesIO(s.data)) as im:
                sizes.append(im.width * im.height / 1e6)
        except OSError:
            continue
    return round(sum(sizes) / len(sizes), 2) if sizes else 0.0


def section_scale(bench: Bench) -> None:
    m = bench.args.rescan_files
    lib, setup = seeded_library(bench, "scale", m)
    runs = []
    hashed = 0
    for rep in range(bench.args.repeat):
        report, t = lib.index()
        runs.append(t)
        hashed = max(hashed, report.hashed)
        say(f"scale #{rep + 1}: no-change rescan of {m} files {t.wall:.2f}s, hashed {report.hashed}")
    # Where the time goes: the stat walk alone, and loading the catalog's File rows alone.
    with measure() as t_walk:
        walked = sum(1 for _ in Walker(lib.originals, skip=[lib.storage]).walk())
    lib.open()
    with measure() as t_load:
        loaded = len({f.path: f for f in File.select().iterator()})
    sidecars = _sidecar_writing(lib, bench.args.sidecar_photos)
    lib.close()
    bench.results["scale"] = {
        "files": m, "folders": -(-m // 200), **setup, **best(runs).as_dict(), "hashed": hashed,
        "unchanged": report.unchanged, "sidecars_written": report.sidecars_written,
        "walk_seconds": round(t_walk.wall, 3), "walked": walked,
        "load_rows_seconds": round(t_load.wall, 3), "loaded": loaded, "sidecars": sidecars,
        "target_seconds": TARGET_SCALE_SECONDS_PER_100K * m / 100_000, "runs": [t.as_dict() for t in runs],
    }


def _sidecar_writing(lib: Library, count: int) -> dict[str, Any]:
    """Sidecar writing on its own, for the first `count` photos of a seeded library (after its rescans): the
    first write, a pass where nothing changed (SidecarState digests: nothing is read or written), and the walk
    over the sidecar folder that looks for hand edits (what every index does, sidecars/sync.py)."""
    if count <= 0:
        return {}
    photos = list(Photo.select().order_by(Photo.id).limit(count))
    with measure() as t_write:
        first = write_sidecars(lib.config, photos)
    # What sync_changed does after its writes: sidecars older than this mark are ours, not hand edits.
    settings.put_time(settings.SIDECAR_FILES_SYNCED)
    with measure() as t_again:
        again = write_sidecars(lib.config, photos)
    with measure() as t_walk:
        apply_changed_files(lib.config)
    say(f"sidecars: {first.written} written in {t_write.wall:.2f}s ({first.written / t_write.wall:.0f}/s), "
        f"no-change pass {t_again.wall:.2f}s ({again.written} written), hand-edit walk {t_walk.wall:.2f}s")
    return {"photos": len(photos), "written": first.written, "write": t_write.as_dict(),
            "per_second": round(first.written / t_write.wall, 1), "rewritten": again.written,
            "no_change": t_again.as_dict(), "walk": t_walk.as_dict()}


def section_raw(bench: Bench) -> None:
    """Cold index of RAW files alone, at each --raw-fit size: up to the embedded preview's size the decode is
    LibRaw unpacking the preview, above it a LibRaw demosaic. Copies of the corpus RAW files (its bad/ folder
    left out), each made unique by bytes after its end, where LibRaw, which reads by offsets, never looks."""
    sources = [Source(p.name, p.read_bytes()) for p in sorted(bench.args.corpus.rglob("*"))
               if p.suffix.lower() in RAW_EXTENSIONS and "bad" not in p.relative_to(bench.args.corpus).parts[:1]]
    if not sources:
        say(f"raw: no RAW files in {bench.args.corpus}: skipped")
        return
    n = bench.args.raw_files
    folder = bench.work / "raw"
    for i in range(n):
        src = sources[i % len(sources)]
        path = folder / f"{i // 100:04d}" / f"{Path(src.name).stem}_{i:06d}{Path(src.name).suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(src.data + f"photoshelf-bench raw {i}".encode())
    say(f"raw: {n} files from {len(sources)} corpus RAW files ({', '.join(s.name for s in sources)})")
    out: dict[str, Any] = {"files": n, "sources": [s.name for s in sources], "fit": {}}
    for fit in bench.args.raw_fit:
        runs = []
        for rep in range(bench.args.repeat):
            lib = bench.library(f"raw{fit}-{rep}", folder, PHOTOSHELF_THUMBNAILS_FIT_SIZE=str(fit))
            report, t = lib.index()
            lib.close()
            runs.append(t)
            say(f"raw fit {fit} #{rep + 1}: {t.wall:.2f}s ({t.cpu:.1f} CPU s), {n / t.wall:.1f} RAW files/s, "
                f"{report.errors} errors")
        b = best(runs)
        workers = lib.config.worker_count
        out["workers"] = workers
        # The per-file work alone (read, hash, decode, thumbnails: worker.process_file), on one thread and on
        # the indexer's, without exiftool and the catalog: what decoding one RAW file at a time costs shows here.
        files = sorted(folder.rglob("*"))
        alone: dict[int, list[Timing]] = {1: [], workers: []}
        for rep in range(bench.args.repeat):
            for threads, timings in alone.items():
                thumbs = ThumbCache(bench.work / f"rawthumbs{fit}-{threads}-{rep}", lib.config.thumbnails)
                job = partial(_process_raw, thumbs=thumbs, max_megapixels=lib.config.index.max_megapixels)
                with measure() as t, ThreadPoolExecutor(threads) as pool:
                    list(pool.map(job, files))
                timings.append(t)
        out["fit"][str(fit)] = {**b.as_dict(), "files_per_second": round(n / b.wall, 2),
                                "cpu_ms_per_file": round(1000 * b.cpu / n, 1), "runs": [t.as_dict() for t in runs],
                                "process_file": {str(k): {**best(v).as_dict(), "files_per_second":
                                                          round(n / best(v).wall, 2)} for k, v in alone.items()}}
        say(f"raw fit {fit}: process_file alone " + ", ".join(
            f"{k} thread(s) {n / best(v).wall:.1f} files/s ({best(v).cpu:.1f} CPU s)" for k, v in alone.items()))
    bench.results["raw"] = out


def _process_raw(path: Path, thumbs: ThumbCache, max_megapixels: int) -> None:
    process_file(path, path.stat().st_size, thumbs, max_megapixels)


def section_flat(bench: Bench) -> None:
    """Index the same number of new photos into catalogs of different sizes: the per-photo cost should not grow.

    "full" is a whole-library index (the scan of the seeded files, measured just before, is subtracted);
    "scoped" indexes only the new folder, so the scan of the rest is not in it at all."""
    f = bench.args.flat_photos
    runs = []
    for size in bench.args.flat_catalog:
        scale = bench.libraries.get("scale")
        if scale is not None and len(scale.tiny) == size:
            lib, setup = scale, {"reused": "scale"}  # scale only rescanned it: still as seeded
        else:
            lib, setup = seeded_library(bench, f"flat{size}", size)
        full: list[Timing] = []
        scoped: list[Timing] = []
        for rep in range(bench.args.repeat):
            _, base = lib.index()
            replicate(bench.sources, lib.originals / f"new{rep}", f, f"flat{size}-{rep}")
            report, t = lib.index()
            full.append(Timing(t.wall - base.wall, t.cpu - base.cpu))
            if report.new != f:
                say(f"WARNING: flat full index stored {report.new} new files of {f}")
            folder = lib.originals / f"scoped{rep}"
            replicate(bench.sources, folder, f, f"flat{size}-scoped-{rep}")
            report, t = lib.index([str(folder)])
            scoped.append(t)
            if report.new != f:
                say(f"WARNING: flat scoped index stored {report.new} new files of {f}")
            say(f"flat {size} #{rep + 1}: full {full[-1].wall:.2f}s (scan {base.wall:.2f}s subtracted), "
                f"scoped {t.wall:.2f}s for {f} photos")
        lib.close()
        run: dict[str, Any] = {"catalog_photos": size, **setup, "new_photos": f}
        for name, timings in (("full", full), ("scoped", scoped)):
            b = best(timings)
            run[name] = {**b.as_dict(), "photos_per_second": round(f / b.wall, 2),
                         "cpu_ms_per_photo": round(1000 * b.cpu / f, 1), "runs": [t.as_dict() for t in timings]}
        runs.append(run)
    out: dict[str, Any] = {"runs": runs}
    if len(runs) >= 2:
        first, last = runs[0], runs[-1]
        for name in ("full", "scoped"):
            out[f"{name}_ratio"] = round(last[name]["photos_per_second"] / first[name]["photos_per_second"], 3)
            out[f"{name}_cpu_ratio"] = round(first[name]["cpu_ms_per_photo"] / last[name]["cpu_ms_per_photo"], 3)
    bench.results["flat"] = out


# -- output -------------------------------------------------------------------------------------------------


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(section, measure, value, target) rows; a target the run misses is marked MISS."""
    rows: list[tuple[str, str, str, str]] = []

    def check(ok: bool, text: str) -> str:
        return f"{text} ok" if ok else f"{text} MISS"

    def secs(t: dict[str, Any]) -> str:
        return f"{t['seconds']:.2f} ({t['cpu_seconds']:.1f} CPU)"

    if c := results.get("cold"):
        rows += [
            ("cold", "files (MB, mean MP of the sources)", f"{c['files']} ({c['megabytes']} MB, {c['mean_megapixels']} MP)", ""),
            ("cold", f"index s ({c['workers']} workers)", secs(c), ""),
            ("cold", "files/s (MB/s)", f"{c['files_per_second']:.1f} ({c['megabytes_per_second']:.1f})", ""),
        ]
    if r := results.get("rescan"):
        rows += [("rescan", "no-change rescan s", secs(r), ""),
                 ("rescan", "files hashed", str(r["hashed"]), check(r["hashed"] == 0, "0"))]
    if b := results.get("bare"):
        rows += [
            ("bare", "exiftool alone (1 process) s", secs(b["exiftool"]), ""),
            ("bare", f"thumbnails alone ({b['thumbnail_threads']} threads) s", secs(b["thumbnails"]), ""),
            ("bare", "sha1sum alone s", secs(b["sha1sum"]), ""),
            ("bare", "all three in parallel s", secs(b["parallel"]), ""),
            ("bare", "ratio bare parallel / photoshelf cold", f"{b['ratio']:.2f}",
             check(b["ratio"] >= TARGET_RATIO, f">= {TARGET_RATIO}")),
            ("bare", "  same ratio in CPU seconds", f"{b['cpu_ratio']:.2f}", ""),
            ("bare", "  cores busy (CPU s / s): photoshelf, bare", f"{b['cores_photoshelf']:.2f}, {b['cores_bare']:.2f}",
             "" if abs(b["cores_photoshelf"] - b["cores_bare"]) < 0.3 else "differ: machine busy, trust CPU ratio"),
        ]
    if s := results.get("scale"):
        rows += [
            ("scale", "files (folders)", f"{s['files']:,} ({s['folders']:,})", ""),
            ("scale", "no-change rescan s", secs(s),
             check(s["seconds"] < s["target_seconds"], f"< {s['target_seconds']:g} s")),
            ("scale", "  stat walk alone s", f"{s['walk_seconds']:.2f}", ""),
            ("scale", "  loading the File rows alone s", f"{s['load_rows_seconds']:.2f}", ""),
            ("scale", "files hashed", str(s["hashed"]), check(s["hashed"] == 0, "0")),
            ("scale", "sidecars written by the rescan", str(s["sidecars_written"]),
             check(s["sidecars_written"] == 0, "0")),
        ]
        if sc := s.get("sidecars"):
            rows += [
                ("sidecars", f"write {sc['photos']:,} sidecars s (per s)",
                 f"{secs(sc['write'])} ({sc['per_second']:.0f}/s)", ""),
                ("sidecars", "  no-change pass over them s", secs(sc["no_change"]),
                 check(sc["rewritten"] == 0, "0 written")),
                ("sidecars", "  hand-edit walk over them s", secs(sc["walk"]), ""),
            ]
    if fl := results.get("flat"):
        for run in fl["runs"]:
            for name in ("full", "scoped"):
                r = run[name]
                rows.append(("flat", f"catalog {run['catalog_photos']:,}: {name} index photos/s",
                             f"{r['photos_per_second']:.1f} ({r['cpu_ms_per_photo']:.0f} CPU ms/photo)", ""))
        for name in ("full", "scoped"):
            if f"{name}_ratio" in fl:
                ratio = fl[f"{name}_ratio"]
                rows += [
                    ("flat", f"rate ratio largest/smallest, {name}", f"{ratio:.2f}",
                     check(ratio >= 0.9, "~1.0 (>= 0.9)")),
                    ("flat", "  same ratio in CPU per photo", f"{fl[f'{name}_cpu_ratio']:.2f}", ""),
                ]
    if raw := results.get("raw"):
        for fit, r in raw["fit"].items():
            rows.append(("raw", f"cold index of {raw['files']} RAW files, fit {fit} px: files/s",
                         f"{r['files_per_second']:.1f} ({r['cpu_ms_per_file']:.0f} CPU ms/file)", ""))
            for threads, p in r["process_file"].items():
                rows.append(("raw", f"  process_file alone, {threads} thread(s): files/s",
                             f"{p['files_per_second']:.1f} ({1000 * p['cpu_seconds'] / raw['files']:.0f} CPU ms/file)",
                             ""))
    return rows


def print_table(rows: list[tuple[str, str, str, str]], title: str, plain: bool, stream: Any) -> None:
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            plain = True
    if plain:
        widths = [max(len(r[i]) for r in rows) for i in range(4)] if rows else [0] * 4
        print(title, file=stream)
        for r in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip(), file=stream)
        return
    table = Table(title=title)
    for name, justify in (("section", "left"), ("measure", "left"), ("value", "right"), ("target", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(*r, style="red" if r[3].endswith("MISS") else None)
    Console(file=stream, width=120).print(table)


def machine(bench: Bench) -> dict[str, Any]:
    import PIL

    exiftool = shutil.which("exiftool") or "exiftool"
    try:
        exiftool_version = subprocess.run([exiftool, "-ver"], capture_output=True, text=True).stdout.strip()
    except OSError:
        exiftool_version = "missing"
    database = ""
    for lib in bench.libraries.values():
        database = describe(lib.open())
        break
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "pillow": PIL.__version__, "exiftool": exiftool_version, "database": database}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=300, help="files in the cold index / bare tools run (default 300)")
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=f"photos to replicate (default {DEFAULT_CORPUS})")
    p.add_argument("--mix", choices=("jpeg", "all"), default="jpeg",
                   help="corpus formats to replicate: jpeg (default) or all (also PNG, HEIC, MOV/MP4)")
    p.add_argument("--large", type=int, nargs="?", const=4, default=0, metavar="N",
                   help="cold/rescan/bare use N (default 4) generated 12 MP JPEGs instead of the corpus")
    p.add_argument("--rescan-files", type=int, default=100_000, help="tiny files in the scale rescan (default 100000)")
    p.add_argument("--sidecar-photos", type=int, default=10_000,
                   help="photos of the scale library whose sidecars are then written, timed alone (default 10000)")
    p.add_argument("--flat-photos", type=int, default=200, help="new photos per flat run (default 200)")
    p.add_argument("--flat-catalog", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 100_000],
                   help="catalog sizes for the flat runs, comma separated (default 1000,100000)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"sections to run, comma separated: {','.join(SECTIONS)} (rescan and bare run cold too)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of each measurement; the table shows the best (default 3)")
    p.add_argument("--raw-files", type=int, default=200, help="RAW files in the raw section (default 200)")
    p.add_argument("--raw-fit", type=lambda s: [int(x) for x in s.split(",")], default=[720, 1600],
                   help="fit sizes for the raw section, comma separated (default 720,1600: preview, demosaic)")
    p.add_argument("--workers", type=int, default=0, help="index.workers (default 0: one per CPU core)")
    p.add_argument("--database", default="", metavar="mysql://user@host:port",
                   help="use MariaDB: a fresh database per catalog on this server (default SQLite)")
    p.add_argument("--workdir", type=Path, default=None, help="where the temp folder goes (default: system temp)")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (and MariaDB databases)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE ('-': stdout, table to stderr)")
    p.add_argument("--plain", action="store_true", help="plain-text table instead of rich")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.photos < 1 or args.flat_photos < 1:
        p.error("--repeat, --photos and --flat-photos must be at least 1")
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if unknown := only - set(SECTIONS):
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    if only & {"rescan", "bare"}:
        only.add("cold")
    args.sections = [s for s in SECTIONS if s in only]
    if args.corpus.resolve() == DEFAULT_CORPUS.resolve() and not args.corpus.is_dir():
        p.error(f"corpus not found at {args.corpus}: pass --corpus DIR")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="photoshelf-bench-", dir=args.workdir))
    bench = Bench(args, work)
    try:
        if "cold" in args.sections:
            section_photos(bench, rescan="rescan" in args.sections, bare="bare" in args.sections)
        if "scale" in args.sections:
            section_scale(bench)
        if "flat" in args.sections:
            section_flat(bench)
        if "raw" in args.sections:
            section_raw(bench)
        info = machine(bench)
    finally:
        say("removing the temp folder" if not args.keep else "done")
        bench.cleanup()
    results = {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in bench.results.items()}
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("json", "plain")}
    payload = {"machine": info, "params": params, **results}
    table_stream = sys.stderr if args.json == "-" else sys.stdout
    backend = info["database"].split(" at ")[0].split(", database ")[0] or "no catalog"
    title = f"photoshelf index benchmark ({info['cpus']} CPUs, {backend})"
    print_table(table_rows(results), title, args.plain, table_stream)
    if args.json == "-":
        json.dump(payload, sys.stdout, indent=2)
        print()
    elif args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
