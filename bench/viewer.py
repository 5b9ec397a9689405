"""Viewer benchmark: server time of the timeline, a filter search, the map and a photo page over a catalog of 100k
synthetic photos, and cached-thumbnail throughput of one uvicorn process. Prints a table; `--json FILE` (or `-`)
writes the numbers as JSON.

    python bench/viewer.py                                   # 100k photos, SQLite (a few minutes on 2 cores)
    python bench/viewer.py --photos 20000 --repeat 20 --json out.json
    python bench/viewer.py --only semantic                  # free text ranked by meaning (a seeded text index)
    python bench/viewer.py --database mysql://root@127.0.0.1:3306   # MariaDB, in a database made and dropped here
    python bench/viewer.py --photos 20000 --only requests --as admin,viewer   # the pages as an admin and a viewer
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import platform
import random
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import peewee as pw
from _corpus import insert_rows
from PIL import Image

from photoshelf.config import Config, load_config
from photoshelf.db.catalog import open_catalog
from photoshelf.db.rows import tuples
from photoshelf.db.schema import (
    Album,
    AlbumPhoto,
    Face,
    File,
    Folder,
    Person,
    Photo,
    PhotoEdit,
    PhotoStage,
    Stack,
    Thumbnail,
)
from photoshelf.filenames import path_hash
from photoshelf.indexer.store import META_VERSION
from photoshelf.media.thumbs import ThumbCache

REPO = Path(__file__).resolve().parent.parent
FILTER_QUERY = "year:2019 camera:canon"
SEMANTIC_QUERY = "dog"
SEMANTIC_FILTERED = "dog year:2019"
TARGET_SEARCH_MS = 50.0
TARGET_TIMELINE_MS = 50.0
TARGET_MAP_MS = 200.0
TARGET_THUMBS_PER_S = 1500.0

# (make, model, lens, weight): a family archive is mostly phones, with a few cameras over the years.
CAMERAS = [
    ("Apple", "iPhone 6", "iPhone 6 back camera 4.15mm f/2.2", 6), ("Apple", "iPhone 8", None, 8),
    ("Apple", "iPhone 12 Pro", "iPhone 12 Pro back triple camera 4.2mm f/1.6", 12),
    ("Apple", "iPhone 14 Pro", None, 8), ("Canon", "Canon EOS 5D Mark III", "EF24-105mm f/4L IS USM", 7),
    ("Canon", "Canon EOS 80D", "EF-S18-135mm f/3.5-5.6 IS USM", 6), ("Canon", "Canon PowerShot G7 X", None, 4),
    ("NIKON CORPORATION", "NIKON D750", "24.0-120.0 mm f/4.0", 5), ("SONY", "ILCE-7M3", "FE 24-70mm F2.8 GM", 5),
    ("FUJIFILM", "X100V", None, 4), ("samsung", "SM-G991B", None, 6), ("Google", "Pixel 7", None, 6),
    ("Panasonic", "DMC-GX80", "LUMIX G VARIO 12-32/F3.5-5.6", 3), (None, None, None, 3),
]
PLACES = [  # (lat, lon, spread in degrees): home towns get most of the photos, holidays the rest
    (48.137, 11.575, 0.08), (52.52, 13.405, 0.1), (51.507, -0.128, 0.1), (40.713, -74.006, 0.1),
    (37.775, -122.419, 0.1), (35.676, 139.65, 0.1), (41.902, 12.496, 0.05), (43.771, 11.254, 0.05),
    (-33.869, 151.209, 0.1), (45.44, 12.316, 0.03), (39.57, 2.65, 0.3), (36.4, 25.43, 0.1), (64.146, -21.94, 0.5),
    (-22.907, -43.173, 0.1), (19.433, -99.133, 0.1), (47.37, 8.54, 0.05), (46.5, 10.0, 0.8), (43.3, 5.4, 0.2),
]
WORDS = ["beach", "birthday", "hike", "snow", "garden", "wedding", "cake", "dog", "sunset", "museum", "bike", "lake"]


def rss_mb() -> float:
    """This process's resident memory now, in MB (/proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _started:7.1f}s] {message}", file=sys.stderr, flush=True)


_started = time.perf_counter()


# -- the synthetic catalog ------------------------------------------------------------------------------


@dataclass
class Seeded:
    photos: int
    geotagged: int
    albums: int
    stacks: int
    sample_sha1: list[str]  # photos whose thumbnails are on disk (the throughput test asks for these)
    seconds: float = 0.0
    thumb_bytes: dict[str, int] = field(default_factory=dict)


def _weighted(rng: random.Random, items: list[Any], weights: list[int]) -> Any:
    return rng.choices(items, weights)[0]


def seed(db: pw.Database, n: int, rng: random.Random) -> tuple[int, int, int]:
    """Catalog rows an index of `n` photos would have made: events (a folder each) spread over 20 years, several
    cameras, about 60% geotagged, RAW+JPEG stacks, duplicates, favorites, private/archived, albums and rotations."""
    now = dt.datetime(2026, 1, 1)
    events = max(1, n // 50)
    start = dt.datetime(2006, 1, 1)
    span_days = 20 * 365
    cams = [c[:3] for c in CAMERAS]
    cam_w = [c[3] for c in CAMERAS]
    folders: dict[str, int] = {}

    def folder_id(path: str) -> int:
        if path not in folders:
            parent = folder_id(path.rsplit("/", 1)[0] if "/" in path else "") if path else None
            folders[path] = int(Folder.insert(path=path, path_hash=path_hash(path), parent=parent,
                                              name=path.rsplit("/", 1)[-1]).execute())
        return folders[path]

    event_info = []
    with db.atomic():
        for e in range(events):
            day = start + dt.timedelta(days=rng.randrange(span_days), hours=rng.randrange(7, 20))
            path = f"{day.year}/{day:%Y-%m-%d} {rng.choice(WORDS).title()} {e}"
            place = rng.choice(PLACES) if rng.random() < 0.64 else None
            event_info.append((day, folder_id(path), path, _weighted(rng, cams, cam_w), place))
    photos, files, thumbs = [], [], []
    raw_pairs: list[tuple[str, str]] = []
    geotagged = 0
    for i in range(n):
        day, fid, fpath, cam, place = event_info[i * events // n]
        if rng.random() < 0.15:  # a second camera (a phone) at the same event
            cam = _weighted(rng, cams, cam_w)
        sha1 = hashlib.sha1(f"photoshelf-bench-viewer {i}".encode()).hexdigest()
        kind = _weighted(rng, ["image", "raw", "video", "live"], [89, 4, 5, 2])
        taken = None if rng.random() < 0.01 else day + dt.timedelta(seconds=rng.randrange(6 * 3600))
        lat = lon = None
        if place is not None and rng.random() < 0.94:
            lat = place[0] + rng.gauss(0, place[2])
            lon = place[1] + rng.gauss(0, place[2])
            geotagged += 1
        landscape = rng.random() < 0.7
        ext = {"image": "JPG", "raw": "CR2", "video": "MOV", "live": "HEIC"}[kind]
        name = f"IMG_{i % 10000:04d}.{ext}"
        photos.append(dict(
            uid=f"p{i:015x}", sha1=sha1, kind=kind, mime={"video": "video/quicktime"}.get(kind, "image/jpeg"),
            format=ext.lower(), size=rng.randrange(1_000_000, 12_000_000), width=4032 if landscape else 3024,
            height=3024 if landscape else 4032, taken_at=taken, taken_at_local=taken, tz_offset=60 if taken else None,
            taken_src="exif" if taken else "mtime", lat=lat, lon=lon, camera_make=cam[0], camera_model=cam[1],
            lens=cam[2], iso=rng.choice([50, 100, 200, 400, 800, 1600]), exposure="1/125", fnumber=2.8,
            focal_length=35.0, duration=12.5 if kind == "video" else None,
            title=f"{rng.choice(WORDS).title()} day" if rng.random() < 0.02 else None,
            keywords=",".join(rng.sample(WORDS, 2)) if rng.random() < 0.05 else None,
            has_thumbs=True, favorite=rng.random() < 0.04, private=rng.random() < 0.005,
            archived=rng.random() < 0.005, meta_version=META_VERSION, created_at=now, updated_at=now,
        ))
        files.append((sha1, f"{fpath}/{name}", fid, name))
        if rng.random() < 0.01:  # the same bytes at a second path: an exact duplicate
            files.append((sha1, f"{fpath}/copy of {name}", fid, f"copy of {name}"))
        if kind == "raw" and i > 0 and photos[-2]["kind"] == "image":
            raw_pairs.append((photos[-2]["sha1"], sha1))
    insert_rows(db, Photo, photos)
    ids = dict(Photo.select(Photo.sha1, Photo.id).tuples().iterator())
    insert_rows(db, File, [
        dict(path=p, path_hash=path_hash(p), folder=fid, name=name, role="media", photo=ids[sha1], size=1000,
             mtime_ns=1, inode=k, sha1=sha1, indexed_at=now)
        for k, (sha1, p, fid, name) in enumerate(files)
    ])
    for sha1 in ids:
        thumbs += [dict(photo=ids[sha1], size="fit", width=720, height=540, format="jpg", bytes=40000),
                   dict(photo=ids[sha1], size="tile", width=224, height=224, format="jpg", bytes=9000)]
    insert_rows(db, Thumbnail, thumbs)
    # RAW+JPEG stacks: the JPEG is the primary, the timeline shows only it.
    insert_rows(db, Stack, [dict(kind="raw", key=f"bench:{jpg[:12]}", primary_photo_id=ids[jpg])
                            for jpg, _raw in raw_pairs])
    stack_of = dict(tuples(Stack.select(Stack.key, Stack.id)))
    with db.atomic():
        db.cursor().executemany(
            f"UPDATE photo SET stack_id = {db.param} WHERE id IN ({db.param}, {db.param})",
            [(stack_of[f"bench:{jpg[:12]}"], ids[jpg], ids[raw]) for jpg, raw in raw_pairs])
    all_ids = list(ids.values())
    n_albums = max(1, min(40, n // 2500))
    with db.atomic():
        for a in range(n_albums):
            album = Album.create(uid="a" + secrets.token_hex(8), title=f"{rng.choice(WORDS).title()} album {a}")
            members = rng.sample(all_ids, min(len(all_ids), rng.randrange(20, 2000)))
            insert_rows(db, AlbumPhoto, [dict(album=album.id, photo=pid, position=k)
                                         for k, pid in enumerate(members)])
        insert_rows(db, PhotoEdit, [dict(photo=pid, rotation=90) for pid in rng.sample(all_ids, n // 500)])
    seed_private(db, n, random.Random(rng.random()))
    return geotagged, n_albums, len(raw_pairs)


def seed_private(db: pw.Database, n: int, rng: random.Random) -> None:
    """What the viewer must hide from a viewer-role user by name: 1 event in 50 made private (its folder), an album
    of one private event's photos, and people (faces on 1 photo in 10), some seen only on private photos."""
    events = list(tuples(Folder.select(Folder.id).where(Folder.path.contains("/"))))
    hidden = [fid for (fid,) in rng.sample(events, max(1, len(events) // 50))]
    private = sorted({pid for (pid,) in tuples(File.select(File.photo).where(File.folder.in_(hidden)))})
    with db.atomic():
        Photo.update(private=True).where(Photo.id.in_(private)).execute()
        album = Album.create(uid="a" + secrets.token_hex(8), title="Private event")
        insert_rows(db, AlbumPhoto, [dict(album=album.id, photo=pid, position=k) for k, pid in enumerate(private)])
        people = [Person.create(uid=f"r{k:015x}", name=f"Person {k}" if k % 3 else None).id
                  for k in range(max(2, n // 400))]
        ids = [pid for (pid,) in tuples(Photo.select(Photo.id).where(Photo.private == False))]  # noqa: E712
        faces = [dict(photo=pid, x=0.4, y=0.3, w=0.2, h=0.25, score=0.9, person=rng.choice(people[1:]),
                      assigned_by="auto", model="bench") for pid in rng.sample(ids, len(ids) // 10)]
        faces += [dict(photo=pid, x=0.1, y=0.1, w=0.2, h=0.25, score=0.9, person=people[0], assigned_by="user",
                       model="bench") for pid in private]  # someone seen only at the private events
        insert_rows(db, Face, faces)


def tiny_jpeg(size: tuple[int, int], rng: random.Random) -> bytes:
    """A small real JPEG with some texture, so it weighs about what a thumbnail of a photo does."""
    im = Image.effect_noise(size, 40).convert("RGB")
    im = Image.blend(im, Image.linear_gradient("L").resize(size).convert("RGB"), 0.6)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def write_thumbs(config: Config, sha1s: list[str], rng: random.Random) -> dict[str, int]:
    """One real tile and fit JPEG, hard-linked into the cache layout for every sampled photo."""
    cache = ThumbCache(config.thumbs_path, config.thumbnails)
    src = config.storage_path / "bench-src"
    src.mkdir(parents=True, exist_ok=True)
    sizes = {"tile": (224, 224), "fit": (720, 540)}
    made = {}
    for size, px in sizes.items():
        data = tiny_jpeg(px, rng)
        (src / f"{size}.jpg").write_bytes(data)
        made[size] = len(data)
    for sha1 in sha1s:
        for size in sizes:
            target = cache.path(sha1, size)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src / f"{size}.jpg", target)
            except OSError:
                shutil.copyfile(src / f"{size}.jpg", target)
    return made


def seed_text_index(config: Config, db: pw.Database, rng: random.Random) -> dict[str, Any]:
    """A text index over every photo without running MiniLM 100k times: vectors clustered around the real MiniLM
    vectors of the event words (a photo of a "Dog" event lies near "dog" in the space) and around random centres,
    written straight into the real VectorIndex of the text space, with the PhotoStage rows the text stage leaves.
    Queries are still encoded by the real model."""
    import numpy as np

    from photoshelf.models import semantic, textsearch

    t = time.perf_counter()
    dim = textsearch.SPACE.dim
    nrng = np.random.default_rng(rng.randrange(2**32))
    words = {w: textsearch.query_vector(config, w) for w in WORDS}
    others = nrng.normal(size=(200, dim)).astype(np.float32)
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    word_of: dict[int, str] = {}
    for pid, path in File.select(File.photo, File.path).where(File.role == "media").tuples().iterator():
        folder = path.rsplit("/", 2)[-2].lower()
        word_of.setdefault(pid, next((w for w in WORDS if w in folder), ""))
    ids = sorted(word_of)
    vindex = textsearch.index(db)
    version = textsearch.TextStage(config, db).version()
    now = dt.datetime(2026, 1, 1)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        # About half of an event's photos say what the event was (folder, labels); the rest are about anything.
        centres = np.stack([words[word_of[pid]] if word_of[pid] and rng.random() < 0.5
                            else others[rng.randrange(len(others))] for pid in chunk])
        vectors = centres + nrng.normal(scale=0.05, size=centres.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        vindex.add(zip(chunk, vectors, strict=True), replace=False)
        insert_rows(db, PhotoStage, [dict(photo=pid, stage="text", version=version, done_at=now) for pid in chunk])
    assert semantic.backend(config, db) == "text", "the seeded text index is not what free text searches"
    seeded = round(time.perf_counter() - t, 1)
    # The process's caches of the space (sign codes, the 16-bit copy): a server loads them in the background
    # on its first query; here before the clock runs, so no measured request races the load.
    t = time.perf_counter()
    vindex.preload()
    return {"vectors": len(ids), "seconds": seeded, "cache_load_seconds": round(time.perf_counter() - t, 1)}


def encoder_cost(config: Config, repeat: int) -> dict[str, Any]:
    """The query encoder's own call (MiniLM, one query, nothing kept): the floor under a new free-text query."""
    from photoshelf.models import textsearch

    textsearch.query_vector(config, "warm up")
    wall: list[float] = []
    for i in range(repeat):
        textsearch.forget_queries()
        t = time.perf_counter()
        textsearch.query_vector(config, f"{WORDS[i % len(WORDS)]} {i}")
        wall.append((time.perf_counter() - t) * 1000)
    wall.sort()
    return {"n": repeat, "p50_ms": round(pct(wall, 50), 2), "p95_ms": round(pct(wall, 95), 2)}


# -- server time, in process ---------------------------------------------------------------------------


class QueryCounter:
    """Counts the SQL statements a request runs (peewee sends every one through execute_sql)."""

    def __init__(self, db: pw.Database) -> None:
        self.count = 0
        original = db.execute_sql

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        db.execute_sql = counted  # type: ignore[method-assign]


# The bench users' session cookies by role (set once the catalog exists): the viewer answers nothing without a
# login. The admin sees every photo; the viewer not the private ones, nor the names of folders, albums and people
# seen only on them.
COOKIES: dict[str, bytes] = {}
ROLES = ("admin", "viewer")


def log_in_bench() -> None:
    """A user of each role and a session for the requests (pages, API and thumbnails all need one)."""
    from photoshelf import accounts
    from photoshelf.viewer.auth import SESSION_COOKIE, sign

    for role in ROLES:
        user = accounts.add_user(f"bench-{role}", role, secrets.token_urlsafe(16))
        COOKIES[role] = f"{SESSION_COOKIE}={sign(accounts.secret_key(), accounts.start_session(user))}".encode()


async def asgi_get(app: Any, target: str, role: str = "admin") -> tuple[int, int]:
    """One GET straight through the ASGI app (no HTTP, no client): the status and the body's length."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"bench.local"), (b"accept", b"*/*"), (b"cookie", COOKIES[role])],
        "client": ("127.0.0.1", 50000),
        "server": ("bench.local", 80), "state": {},
    }
    done = asyncio.Event()
    sent = False
    status = 0
    size = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                done.set()

    await app(scope, receive, send)
    done.set()
    return status, size


@dataclass
class Case:
    name: str
    target: str  # the URL asked for
    limit_ms: float | None = None  # the target for p95, when it sets one
    what: str = ""
    before: Callable[[], None] | None = None  # run untimed before each request (e.g. set kept rankings aside)
    after: Callable[[], None] | None = None  # and after it
    role: str = "admin"  # whose session asks
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    queries: int = 0
    status: int = 0
    bytes: int = 0

    def summary(self) -> dict[str, Any]:
        w = sorted(self.wall_ms)
        return {
            "url": self.target, "what": self.what, "role": self.role, "status": self.status, "bytes": self.bytes,
            "queries": self.queries, "n": len(w), "p50_ms": round(pct(w, 50), 2), "p95_ms": round(pct(w, 95), 2),
            "min_ms": round(w[0], 2), "max_ms": round(w[-1], 2), "cpu_p50_ms": round(pct(sorted(self.cpu_ms), 50), 2),
            "cpu_p95_ms": round(pct(sorted(self.cpu_ms), 95), 2),
            "target_p95_ms": self.limit_ms,
            "ratio": round(pct(w, 95) / self.limit_ms, 3) if self.limit_ms else None,
            "ok": (pct(w, 95) < self.limit_ms) if self.limit_ms else None,
            "cpu_ok": (pct(sorted(self.cpu_ms), 95) < self.limit_ms) if self.limit_ms else None,
        }


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of sorted values."""
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def timeline_cursor(depth: int) -> str:
    """The cursor the timeline would carry after scrolling to about `depth` photos deep."""
    from photoshelf.viewer.listing import Cursor, Scope, base_select, timeline_order
    from photoshelf.visibility import EVERYONE

    row = timeline_order(base_select("", Scope(audience=EVERYONE)).select(Photo.id, Photo.taken_at_local)).offset(depth).limit(1).first()
    assert row is not None, "the catalog is smaller than the requested depth"
    return Cursor(taken=row.taken_at_local, photo_id=row.id).encode()


def make_cases(n: int, sample_sha1: str, page_size: int) -> list[Case]:
    q = quote(FILTER_QUERY)
    deep = timeline_cursor(int(n * 0.8))
    # A photo in the middle of the timeline, with neighbours on both sides (what the grid links to).
    mid = timeline_cursor(n // 2)
    from photoshelf.viewer.listing import Cursor
    from photoshelf.viewer.scrubber import start_of

    mid_id = Cursor.decode(mid).photo_id
    # Munich at zoom 11: the home town, where most of its photos are.
    box = "48.05,11.4,48.23,11.75"
    return [
        Case("timeline first page", "/", TARGET_TIMELINE_MS, f"HTML, {page_size} photos + count"),
        Case("timeline deep page", f"/?cursor={deep}&partial=1", TARGET_TIMELINE_MS,
             f"infinite-scroll HTML, {int(n * 0.8)} photos deep"),
        Case("timeline API page", "/api/v1/search?limit=100", TARGET_TIMELINE_MS, "JSON, 100 records + count"),
        Case("timeline year jump", f"/?cursor={start_of(2016, 6)}", TARGET_TIMELINE_MS,
             "the scrubber's jump to June 2016, HTML"),
        Case("timeline unknown date", "/?part=unknown&partial=1", TARGET_TIMELINE_MS,
             "photos dated by file mtime, infinite-scroll HTML"),
        Case("live-update probe", "/api/v1/state", None, "newest photo id (polled every 15 s)"),
        Case("filter search API", f"/api/v1/search?q={q}&limit=100", TARGET_SEARCH_MS, FILTER_QUERY),
        Case("filter search page", f"/search?q={q}", TARGET_SEARCH_MS, FILTER_QUERY + ", HTML"),
        Case("text search API", "/api/v1/search?q=beach&limit=100", None, "free text (title, keywords, path...)"),
        Case("map GeoJSON, world", "/api/v1/map?zoom=2", TARGET_MAP_MS, "every geotagged photo, zoom 2"),
        Case("map GeoJSON, city", f"/api/v1/map?zoom=11&bbox={box}", TARGET_MAP_MS, "zoom 11 bbox (Munich)"),
        Case("map GeoJSON, street", f"/api/v1/map?zoom=16&bbox={box}", TARGET_MAP_MS, "zoom 16, same bbox"),
        Case("map page", "/map", None, "HTML + bounds"),
        Case("memories strip", "/memories", None, "on this day, trips, people: the home page's fragment"),
        Case("places cards", "/places", None, "countries and towns with cover photos"),
        Case("calendar cards", "/calendar", None, "years and months with cover photos"),
        Case("folders cards", "/folders", None, "the root's subfolders with cover photos"),
        Case("things cards", "/things", None, "labels with cover photos"),
        Case("photo page", f"/photos/{mid_id}", None, "HTML, neighbours, albums"),
        Case("photo API", f"/api/v1/photos/{mid_id}", None, "JSON"),
        Case("thumbnail (in process)", f"/thumb/tile/{sample_sha1}.jpg", None, "cached tile"),
    ]


_kept_rankings: list[Any] = []


def forget_rankings() -> None:
    """Set the viewer's kept rankings aside, so the next ranked request ranks afresh (a new query)."""
    from photoshelf.viewer import listing

    kept = getattr(listing, "_rankings", None)
    if kept is not None:
        _kept_rankings[:] = [dict(kept)]
        listing.forget_rankings()


def restore_rankings() -> None:
    """Put back what forget_rankings set aside, so the other cases find what they would have found."""
    from photoshelf.viewer import listing

    if _kept_rankings:
        listing.forget_rankings()
        listing._rankings.update(_kept_rankings.pop())


def semantic_cases(config: Config) -> list[Case]:
    """Free text ranked by meaning over the seeded text index: pages, a filter, the page, a photo inside it."""
    from photoshelf.viewer import listing
    from photoshelf.visibility import EVERYONE

    ranked = listing.ranking(SEMANTIC_QUERY, listing.Scope(rank=config, audience=EVERYONE))
    assert ranked is not None and len(ranked.ids) > 200, "the seeded text index did not rank the query"
    second = listing.Cursor(offset=100, digest=ranked.digest).encode()
    inside = ranked.ids[50]
    q, qf = quote(SEMANTIC_QUERY), quote(SEMANTIC_FILTERED)
    return [
        Case("semantic API first page", f"/api/v1/search?q={q}&limit=100", TARGET_SEARCH_MS,
             f"'{SEMANTIC_QUERY}' ranked by the text index, 100 records + count"),
        Case("semantic API second page", f"/api/v1/search?q={q}&limit=100&cursor={second}", TARGET_SEARCH_MS,
             "the next 100 (ranked cursor)"),
        Case("semantic + filter API", f"/api/v1/search?q={qf}&limit=100", TARGET_SEARCH_MS, SEMANTIC_FILTERED),
        Case("semantic search page", f"/search?q={q}", TARGET_SEARCH_MS, f"'{SEMANTIC_QUERY}', HTML"),
        Case("photo page in ranked search", f"/photos/{inside}?q={q}", None, "HTML, prev/next in the ranking"),
        Case("semantic API, new query", f"/api/v1/search?q={q}&limit=100", TARGET_SEARCH_MS,
             "first page, no kept ranking", before=forget_rankings, after=restore_rankings),
        Case("semantic + filter, new query", f"/api/v1/search?q={qf}&limit=100", TARGET_SEARCH_MS,
             f"{SEMANTIC_FILTERED}, no kept ranking", before=forget_rankings, after=restore_rankings),
    ]


_kept_names: list[Any] = []


def forget_names() -> None:
    """Set the viewer's kept hidden-name sets (viewer/names.py) aside, so the next page works them out afresh."""
    try:
        from photoshelf.viewer import names
    except ImportError:  # a viewer from before they were kept: every page works them out
        return
    _kept_names[:] = [dict(names._kept)]
    names.forget()


def restore_names() -> None:
    """Put back what forget_names set aside, so the other cases find what a second look would find."""
    if _kept_names:
        from photoshelf.viewer import names

        names.forget()
        names._kept.update(_kept_names.pop())


def name_cases() -> list[Case]:
    """The pages that leave out names whose photos are all hidden from the user: as a second look finds them
    (make_cases has the folders cards), and first (the kept sets dropped: the first look after any catalog
    change)."""
    year = Folder.select(Folder.id).where(Folder.path == "2016").scalar()
    album = Album.select(Album.uid).order_by(Album.id).scalar()
    person = Person.select(Person.uid).where(Person.name.is_null(False)).order_by(Person.id.desc()).scalar()
    pages = [("folders cards", "/folders"), ("year folder", f"/folders/{year}"), ("albums cards", "/albums"),
             ("album page", f"/albums/{album}"), ("people cards", "/people"), ("person page", f"/people/{person}")]
    kept = [Case(name, target, None, "names kept from an earlier page") for name, target in pages[1:]]
    return kept + [Case(f"{name}, first", target, None, "hidden-name sets worked out afresh",
                        before=forget_names, after=restore_names)
                   for name, target in pages]


def for_roles(cases: list[Case], roles: list[str]) -> list[Case]:
    """Each case for each role (the admin's under its own name, the others' named after their role)."""
    out = []
    for role in roles:
        out += [dataclasses.replace(c, role=role, name=c.name if role == "admin" else f"{c.name} [{role}]",
                                    wall_ms=[], cpu_ms=[])
                for c in cases]
    return out


async def run_cases(app: Any, db: pw.Database, cases: list[Case], repeat: int, warmup: int) -> None:
    counter = QueryCounter(db)
    for case in cases:
        for _ in range(warmup):
            if case.before:
                case.before()
            case.status, case.bytes = await asgi_get(app, case.target, case.role)
            if case.after:
                case.after()
        if case.status != 200:
            raise SystemExit(f"{case.name}: {case.target} answered {case.status}")
        if case.before:
            case.before()
        before = counter.count
        await asgi_get(app, case.target, case.role)
        case.queries = counter.count - before
        if case.after:
            case.after()
    # Interleaved, so that whatever else runs on the machine falls on every case alike.
    for _ in range(repeat):
        for case in cases:
            if case.before:
                case.before()
            cpu, wall = time.process_time(), time.perf_counter()
            await asgi_get(app, case.target, case.role)
            case.wall_ms.append((time.perf_counter() - wall) * 1000)
            case.cpu_ms.append((time.process_time() - cpu) * 1000)
            if case.after:
                case.after()


# -- thumbnail throughput: one uvicorn process, a local load generator --------------------------------------

SERVER = """
import sys, uvicorn
from photoshelf.config import load_config
from photoshelf.viewer.app import create_app
import json
env = json.loads(sys.argv[1])
app = create_app(load_config(env=env))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False,
            server_header=False, proxy_headers=False, http=sys.argv[3])
"""

# A fixed answer as fast as asyncio serves it: what the load generator can drive at most.
NULL_SERVER = """
import asyncio, sys
size = int(sys.argv[2])
body = b"x" * size
head = b"HTTP/1.1 200 OK\\r\\ncontent-type: image/jpeg\\r\\ncontent-length: %d\\r\\n\\r\\n" % size
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, data):
        self.buf += data
        while b"\\r\\n\\r\\n" in self.buf:
            _, self.buf = self.buf.split(b"\\r\\n\\r\\n", 1)
            self.t.write(head + body)
async def main():
    server = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def child(code: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before it listened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listened on port {port} within {seconds:.0f}s")


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(port: int, paths: list[bytes], connections: int, seconds: float) -> dict[str, Any]:
    """Keep-alive GETs on `connections` sockets for `seconds`: one request in flight per socket."""
    stop = time.perf_counter() + seconds
    counts: dict[str, float] = {"ok": 0, "other": 0, "bytes": 0}

    async def one(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < stop:
            writer.write(b"GET " + paths[i % len(paths)] + b" HTTP/1.1\r\nHost: bench\r\nCookie: " + COOKIES["admin"]
                         + b"\r\n\r\n")
            i += connections
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            counts["ok" if head.startswith(b"HTTP/1.1 200") else "other"] += 1
            counts["bytes"] += length
        writer.close()

    t = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(connections)))
    counts["seconds"] = time.perf_counter() - t
    return counts


def load(port: int, paths: list[str], connections: int, seconds: float, server_pid: int) -> dict[str, Any]:
    raw = [p.encode() for p in paths]
    asyncio.run(_load(port, raw, connections, min(1.0, seconds)))  # warm up: connections, page cache, thread pool
    server_cpu, own_cpu = cpu_of(server_pid), time.process_time()
    counts = asyncio.run(_load(port, raw, connections, seconds))
    server_cpu, own_cpu = cpu_of(server_pid) - server_cpu, time.process_time() - own_cpu
    s = counts["seconds"]
    return {
        "requests": counts["ok"], "non_200": counts["other"], "seconds": round(s, 2),
        "requests_per_s": round(counts["ok"] / s), "mean_bytes": round(counts["bytes"] / max(1, counts["ok"])),
        "server_cpu_s": round(server_cpu, 2), "generator_cpu_s": round(own_cpu, 2),
        "server_requests_per_cpu_s": round(counts["ok"] / server_cpu) if server_cpu > 0 else None,
    }


def throughput(env: dict[str, str], sha1s: list[str], connections: int, seconds: float, tile_bytes: int,
               http: list[str]) -> dict[str, Any]:
    """Requests/s of cached tiles from one uvicorn process, per HTTP parser asked for (h11: pure Python, what
    `pip install photoshelf[viewer]` brings; httptools: what uvicorn picks when it is installed), and of the
    same load generator against a server that only answers (its ceiling)."""
    import importlib.util

    out: dict[str, Any] = {"connections": connections, "tiles": len(sha1s)}
    paths = [f"/thumb/tile/{s}.jpg" for s in sha1s]
    for impl in http:
        if impl == "httptools" and importlib.util.find_spec("httptools") is None:
            out[impl] = None
            say("thumbnails: httptools is not installed (pip install httptools), skipped")
            continue
        port = free_port()
        with child(SERVER, json.dumps(env), str(port), impl) as proc:
            wait_port(port, proc)
            say(f"thumbnails: {len(paths)} distinct tiles from one uvicorn process ({impl}), "
                f"{connections} keep-alive connections")
            out[impl] = load(port, paths, connections, seconds, proc.pid)
    port = free_port()
    with child(NULL_SERVER, str(port), str(tile_bytes)) as proc:
        wait_port(port, proc)
        say("thumbnails: the same load generator against a fixed-answer asyncio server (its ceiling)")
        out["generator_ceiling"] = load(port, paths, connections, seconds, proc.pid)
    return out


# -- the run ----------------------------------------------------------------------------------------------


def open_work_catalog(work: Path, url: str | None) -> tuple[dict[str, str], Config, pw.Database]:
    """The bench's settings (as environment variables, for a server process too), config and open catalog in
    `work` (an empty originals folder; `url`: MariaDB, else SQLite in the storage folder)."""
    env = {"PHOTOSHELF_ORIGINALS": str(work / "originals"), "PHOTOSHELF_STORAGE": str(work / "storage"),
           "PHOTOSHELF_VIEWER_TILE_URL": "", "PHOTOSHELF_SERVER_ALLOWED_HOSTS": "bench,bench.local"}
    if url:
        env["PHOTOSHELF_DATABASE"] = url
    (work / "originals").mkdir()
    config = load_config(env=env)
    return env, config, open_catalog(config)


@contextmanager
def mariadb(url: str | None, keep: bool = False) -> Iterator[str | None]:
    """A fresh MariaDB database for the run (dropped at the end unless `keep`), or None for SQLite."""
    if not url:
        yield None
        return
    parts = urlparse(url)
    name = "photoshelf_bench_viewer_" + secrets.token_hex(3)
    admin = pw.MySQLDatabase("mysql", host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                             user=parts.username or "root", password=parts.password or "")
    admin.connect()
    admin.execute_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"{parts.scheme}://{parts.netloc}/{name}"
    finally:
        if keep:
            say(f"kept the MariaDB database {name}")
        else:
            admin.execute_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=100_000, help="synthetic photos in the catalog (100000)")
    p.add_argument("--repeat", type=int, default=30, help="timed requests per case (30), interleaved")
    p.add_argument("--warmup", type=int, default=3, help="untimed requests per case first (3)")
    p.add_argument("--thumb-files", type=int, default=20_000,
                   help="photos whose tile and fit are put in the thumbnail cache (20000; hard links of one file)")
    p.add_argument("--connections", type=int, default=16, help="keep-alive connections of the load generator (16)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run (5)")
    p.add_argument("--http", default="h11,httptools",
                   help="uvicorn HTTP parsers to measure thumbnails with (h11,httptools; one not installed is skipped)")
    p.add_argument("--only", default="requests,semantic,thumbs",
                   help="sections: requests,semantic,thumbs (all by default; semantic seeds a text index)")
    p.add_argument("--as", dest="roles", default="admin,viewer",
                   help="whose sessions ask for the pages (admin,viewer): the viewer's cases are named [viewer]")
    p.add_argument("--database", metavar="URL", help="mysql://user@host:port: run on MariaDB in a fresh database")
    p.add_argument("--seed", type=int, default=7, help="random seed of the synthetic catalog")
    p.add_argument("--workdir", type=Path, help="where the temp folder goes")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (catalog and thumbnails)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE ('-': stdout, table to stderr)")
    return p.parse_args(argv)


def table(results: dict[str, Any], stream: Any) -> None:
    cat = results["catalog"]
    print(f"photoshelf viewer benchmark: {cat['photos']} photos ({cat['geotagged']} geotagged, {cat['stacks']} "
          f"stacks, {cat['albums']} albums), {results['backend']}, {results['machine']['cores']} cores", file=stream)
    rows: list[tuple[str, ...]] = [("case", "p50 ms", "p95 ms", "cpu p50", "cpu p95", "queries", "bytes", "target",
                                    "ratio")]
    for name, c in results.get("requests", {}).items():
        target = ""
        if c["target_p95_ms"] is not None:
            target = f"p95 < {c['target_p95_ms']:g} " + ("ok" if c["ok"] else "MISS")
            if not c["ok"] and results["backend"] == "SQLite":  # on MariaDB the CPU column misses the database's
                target += " (cpu ok)" if c["cpu_ok"] else " (cpu MISS)"
        rows.append((name, f"{c['p50_ms']:.1f}", f"{c['p95_ms']:.1f}", f"{c['cpu_p50_ms']:.1f}",
                     f"{c['cpu_p95_ms']:.1f}", str(c["queries"]),
                     str(c["bytes"]), target, "" if c["ratio"] is None else f"{c['ratio']:.2f}"))
    th = results.get("thumbs")
    if th:
        g = th["generator_ceiling"]
        for impl in ("h11", "httptools"):
            u = th.get(impl)
            if not u:
                continue
            ok = u["requests_per_s"] >= TARGET_THUMBS_PER_S
            rows.append((f"thumbnails/s, uvicorn {impl}", str(u["requests_per_s"]), "", "", "", "",
                         str(u["mean_bytes"]),
                         f">= {TARGET_THUMBS_PER_S:g} " + ("ok" if ok else "MISS"),
                         f"{u['requests_per_s'] / TARGET_THUMBS_PER_S:.2f}"))
            rows.append(("  per server CPU-second", str(u["server_requests_per_cpu_s"]), *[""] * 7))
        rows.append(("  generator ceiling req/s", str(g["requests_per_s"]), *[""] * 7))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  " + "  ".join(v.ljust(widths[i]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(r)),
              file=stream)
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths), file=stream)
    if th:
        g = th["generator_ceiling"]
        for impl in ("h11", "httptools"):
            u = th.get(impl)
            if not u:
                continue
            share = u["server_cpu_s"] / u["seconds"]
            if u["requests_per_s"] >= 0.8 * g["requests_per_s"]:
                limit = "the load generator"
            elif share < 0.8:
                limit = f"the machine (the server process got {share:.2f} of a core: other processes had the rest)"
            else:
                limit = "the server"
            print(f"  thumbnails ({impl}): {th['connections']} connections, {th['tiles']} tiles; the server used "
                  f"{u['server_cpu_s']} CPU-s and the generator {u['generator_cpu_s']} CPU-s in {u['seconds']} s; "
                  f"limit: {limit}", file=stream)
    enc = results.get("encoder")
    if enc:
        print(f"  query encoder alone (MiniLM, one new query; inside every new free-text query): p50 "
              f"{enc['p50_ms']:.1f} ms, p95 {enc['p95_ms']:.1f} ms", file=stream)
    text_index = results["catalog"].get("text_index")
    if text_index:
        print(f"  text index: {text_index['vectors']} vectors; the process's vector caches loaded in "
              f"{text_index['cache_load_seconds']} s (once per process and catalog change)", file=stream)
    rss = results.get("rss_mb")
    if rss:
        print(f"  RSS of this process (catalog seeding included, so above what `photoshelf serve` holds): "
              f"{rss['before_requests']} MB before the requests, {rss['after_requests']} MB after, peak "
              f"{rss['peak']} MB", file=stream)
    print("  server time = from the ASGI call to the last body byte, in this process (no HTTP); cpu = CPU time "
          "the process spent on the request (all threads): on a busy machine wall time grows, CPU time hardly does",
          file=stream)
    if results["backend"] == "MariaDB":
        print("  on MariaDB, cpu leaves out the database server's own work (it runs in mariadbd)", file=stream)
    print(f"  load average before/after: {results['machine']['loadavg_before']} / "
          f"{results['machine']['loadavg_after']}", file=stream)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections = set(args.only.split(","))
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="photoshelf-bench-viewer-", dir=args.workdir))
    results: dict[str, Any] = {
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"},
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_before": [round(x, 2) for x in os.getloadavg()]},
    }
    try:
        with mariadb(args.database, args.keep) as url:
            env, config, db = open_work_catalog(work, url)
            results["backend"] = "MariaDB" if url else "SQLite"
            t = time.perf_counter()
            geotagged, albums, stacks = seed(db, args.photos, rng)
            sha1s = [s for (s,) in tuples(Photo.select(Photo.sha1).order_by(Photo.id))]
            sample = rng.sample(sha1s, min(len(sha1s), args.thumb_files))
            thumb_bytes = write_thumbs(config, sample, rng)
            log_in_bench()
            seconds = time.perf_counter() - t
            results["catalog"] = {"photos": args.photos, "geotagged": geotagged, "albums": albums, "stacks": stacks,
                                  "thumb_files": len(sample), "thumb_bytes": thumb_bytes,
                                  "seed_seconds": round(seconds, 1)}
            say(f"catalog: {args.photos} photos seeded, {len(sample)} thumbnails linked in {seconds:.1f}s")
            if sections & {"requests", "semantic"}:
                from photoshelf.viewer.app import create_app

                app = create_app(config, db)
                cases = []
                if "requests" in sections:
                    cases = make_cases(args.photos, sample[0], config.viewer.page_size) + name_cases()
                    cases = for_roles(cases, [r for r in args.roles.split(",") if r])
                if "semantic" in sections:
                    made = seed_text_index(config, db, rng)
                    results["catalog"]["text_index"] = made
                    say(f"text index: {made['vectors']} vectors seeded in {made['seconds']}s")
                    cases += semantic_cases(config)
                say(f"requests: {len(cases)} cases x {args.repeat}, in process (ASGI calls, no HTTP)")
                before = rss_mb()
                asyncio.run(run_cases(app, db, cases, args.repeat, args.warmup))
                results["rss_mb"] = {"before_requests": before, "after_requests": rss_mb(),
                                     "peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
                results["requests"] = {c.name: c.summary() for c in cases}
                if "semantic" in sections:
                    results["encoder"] = encoder_cost(config, args.repeat)
            db.close()
            if "thumbs" in sections:
                results["thumbs"] = throughput(env, sample[:5000], args.connections, args.seconds,
                                               thumb_bytes["tile"], args.http.split(","))
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    stream = sys.stderr if args.json == "-" else sys.stdout
    table(results, stream)
    if args.json == "-":
        json.dump(results, sys.stdout, indent=2)
        print()
    elif args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
