"""Benchmark libraries: corpus photos replicated with unique bytes, large JPEGs, trees of tiny files and the
catalog rows an index of those would have stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee as pw
from PIL import Image

from photoshelf.db import settings
from photoshelf.db.schema import File, Folder, Photo, Thumbnail, utcnow
from photoshelf.dupsig import COLORS_LEN
from photoshelf.filenames import path_hash
from photoshelf.indexer.store import META_VERSION

JPEG_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif"}
PNG_EXTENSIONS = {".png"}
# ISO base media files: a top-level `free` box appended at the end is valid and ignored by every reader.
BMFF_EXTENSIONS = {".heic", ".heif", ".mov", ".mp4", ".m4v"}
MIXES = {
    "jpeg": JPEG_EXTENSIONS,
    "all": JPEG_EXTENSIONS | PNG_EXTENSIONS | BMFF_EXTENSIONS,
}


@dataclass(frozen=True)
class Source:
    """One corpus file, read once, that replicas are made from."""

    name: str  # file name, kept (with a number) by each replica so extension-based dispatch still works
    data: bytes


def find_sources(corpus: Path, mix: str) -> list[Source]:
    """The corpus files of the mix's formats that can be made unique, skipping `bad/` and hidden files."""
    wanted = MIXES[mix]
    sources = []
    for root, dirs, files in os.walk(corpus):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(root) == corpus and d == "bad"))
        for name in sorted(files):
            if name.startswith(".") or Path(name).suffix.lower() not in wanted:
                continue
            data = (Path(root) / name).read_bytes()
            if unique_copy(name, data, b"probe") is not None:
                sources.append(Source(name=name, data=data))
    if not sources:
        raise SystemExit(f"no usable {mix} files in {corpus}")
    return sources


def unique_copy(name: str, data: bytes, tag: bytes) -> bytes | None:
    """The same media with `tag` embedded where decoders ignore it, or None when the format gives no safe place."""
    ext = Path(name).suffix.lower()
    if ext in JPEG_EXTENSIONS:
        return _jpeg_with_comment(data, tag)
    if ext in PNG_EXTENSIONS:
        return _png_with_text(data, tag)
    if ext in BMFF_EXTENSIONS:
        return _bmff_with_free(data, tag)
    return None


def _jpeg_with_comment(data: bytes, tag: bytes) -> bytes | None:
    """Insert a COM segment after the leading APPn segments, so EXIF (APP1) keeps its usual place."""
    if data[:2] != b"\xff\xd8" or len(tag) > 65533:
        return None
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and 0xE0 <= data[pos + 1] <= 0xEF:
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    if pos + 2 > len(data) or data[pos] != 0xFF:
        return None
    return data[:pos] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag + data[pos:]


def _png_with_text(data: bytes, tag: bytes) -> bytes | None:
    """Insert a tEXt chunk (with its CRC) right after IHDR, before the image data as readers expect."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    after_ihdr = 8 + 12 + struct.unpack(">I", data[8:12])[0]
    body = b"Comment\x00" + tag
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return data[:after_ihdr] + chunk + data[after_ihdr:]


def _bmff_with_free(data: bytes, tag: bytes) -> bytes | None:
    """Append a `free` box, unless a top-level box runs "to the end of the file" (size 0)."""
    pos = 0
    while pos + 8 <= len(data):
        size = struct.unpack(">I", data[pos : pos + 4])[0]
        if size == 1:
            if pos + 16 > len(data):
                return None
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        if size < 8:
            return None  # 0 = "to end of file": appended bytes would belong to that box
        pos += size
    if pos != len(data):
        return None
    return data + struct.pack(">I", len(tag) + 8) + b"free" + tag


def replicate(sources: list[Source], dest: Path, count: int, label: str, per_folder: int = 100) -> list[Path]:
    """Write `count` files under `dest` (folders of `per_folder`), cycling through `sources`, all bytes unique."""
    paths = []
    for i in range(count):
        src = sources[i % len(sources)]
        stem, ext = os.path.splitext(src.name)
        data = unique_copy(src.name, src.data, f"photoshelf-bench {label} {i}".encode())
        assert data is not None  # find_sources kept only formats that take a tag
        folder = dest / f"{i // per_folder:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}_{i:06d}{ext}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def make_large(sources: Iterable[Source], count: int, megapixels: float = 12.0, seed: int = 1) -> list[Source]:
    """Camera-sized JPEGs made from the largest corpus JPEGs: upscaled, with sensor-like noise, EXIF kept.

    The noise matters: a plainly upscaled picture compresses to a fraction of a real photo's size, which
    would flatter the read and hash costs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    jpegs = [s for s in sources if Path(s.name).suffix.lower() in JPEG_EXTENSIONS]
    jpegs.sort(key=lambda s: len(s.data), reverse=True)
    out = []
    for src in jpegs[:count]:
        with Image.open(io.BytesIO(src.data)) as im:
            exif = im.info.get("exif")
            rgb = im.convert("RGB")
        scale = (megapixels * 1e6 / (rgb.width * rgb.height)) ** 0.5
        big = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.BICUBIC)
        pixels = np.asarray(big, dtype=np.int16)
        pixels = pixels + rng.integers(-6, 7, size=pixels.shape, dtype=np.int16)
        big = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        buf = io.BytesIO()
        big.save(buf, "JPEG", quality=92, **({"exif": exif} if exif else {}))
        out.append(Source(name=f"large_{Path(src.name).stem}.jpg", data=buf.getvalue()))
    return out


@dataclass(frozen=True)
class TinyFile:
    rel: str  # relative to the originals root
    sha1: str
    size: int


def make_tiny_tree(root: Path, prefix: str, count: int, per_folder: int = 200) -> list[TinyFile]:
    """`count` valid ~1 KB JPEGs with unique bytes under root/prefix, `per_folder` to a folder."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(buf, "JPEG", quality=80)
    template = buf.getvalue()
    pad = b"." * max(0, 1024 - len(template) - 40)
    files = []
    for i in range(count):
        folder = f"{prefix}/d{i // per_folder:04d}"
        if i % per_folder == 0:
            (root / folder).mkdir(parents=True, exist_ok=True)
        rel = f"{folder}/t{i:06d}.jpg"
        data = _jpeg_with_comment(template, f"photoshelf-bench tiny {prefix} {i} ".encode() + pad)
        assert data is not None
        with open(root / rel, "wb") as fh:
            fh.write(data)
        files.append(TinyFile(rel=rel, sha1=hashlib.sha1(data).hexdigest(), size=len(data)))
    return files


def seed_catalog(db: pw.Database, originals: Path, files: list[TinyFile]) -> None:
    """Store what an index of `files` would have stored (Folder, Photo, File and two Thumbnail rows each, and
    the sidecar pass's high-water marks): a bench shortcut, so that a 100k catalog needs no 100k decodes.

    The sidecar files themselves are not written (1M would take ~25 minutes): sidecars/sync.py writes a photo's
    sidecar when the photo changed after `sidecars.synced_at`, so a catalog synced after its last change is what
    an index leaves, and a no-change rescan writes none. bench/index.py times sidecar writing on its own."""
    folders: dict[str, int] = {}
    indexed_at = utcnow() - dt.timedelta(minutes=1)  # sync_changed looks one second before synced_at

    def folder_id(path: str) -> int:
        if path not in folders:
            parent = folder_id(path.rsplit("/", 1)[0] if "/" in path else "") if path else None
            folders[path] = int(Folder.insert(path=path, path_hash=path_hash(path), parent=parent,
                                              name=path.rsplit("/", 1)[-1]).execute())
        return folders[path]

    with db.atomic():
        for f in files:
            folder_id(f.rel.rsplit("/", 1)[0])
    base = dt.datetime(2015, 1, 1)
    insert_rows(db, Photo, [
        dict(uid="b" + f.sha1[:16], sha1=f.sha1, kind="image", mime="image/jpeg", format="JPEG", size=f.size,
             width=16, height=16, taken_at=base + dt.timedelta(minutes=i), taken_src="exif", phash=f.sha1[16:32],
             dhash=f.sha1[24:40], colors=f.sha1[:COLORS_LEN].ljust(COLORS_LEN, "0"),
             has_thumbs=True, meta_version=META_VERSION, created_at=indexed_at, updated_at=indexed_at)
        for i, f in enumerate(files)
    ])
    photo_ids = dict(Photo.select(Photo.sha1, Photo._meta.primary_key).tuples().iterator())
    rows, thumbs = [], []
    for f in files:
        st = os.stat(originals / f.rel)
        folder, _, name = f.rel.rpartition("/")
        photo = photo_ids[f.sha1]
        rows.append(dict(path=f.rel, path_hash=path_hash(f.rel), folder=folders[folder], name=name, role="media",
                         photo=photo, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino, sha1=f.sha1))
        thumbs += [dict(photo=photo, size="fit", width=16, height=16, format="jpg", bytes=600),
                   dict(photo=photo, size="tile", width=16, height=16, format="jpg", bytes=500)]
    insert_rows(db, File, rows)
    insert_rows(db, Thumbnail, thumbs)
    with db.atomic():
        for key in (settings.SIDECARS_SYNCED, settings.SIDECAR_FILES_SYNCED):
            settings.put_time(key)


def insert_rows(db: pw.Database, model: type[pw.Model], rows: list[dict[str, Any]]) -> None:
    """Bulk INSERT through the driver's executemany, peewee's defaults and conversions applied.

    peewee's insert_many builds its SQL in Python at about 0.2 ms a row: 400k rows would take over a minute."""
    fields = [f for f in model._meta.sorted_fields if not isinstance(f, pw.AutoField)]
    open_quote, close_quote = db.quote[0], db.quote[1]
    columns = ", ".join(f"{open_quote}{f.column_name}{close_quote}" for f in fields)
    sql = (f"INSERT INTO {open_quote}{model._meta.table_name}{close_quote} ({columns}) "
           f"VALUES ({', '.join([db.param] * len(fields))})")
    defaults = {f.name: f.default() if callable(f.default) else f.default for f in fields}
    values = [tuple(f.db_value(row.get(f.name, defaults[f.name])) for f in fields) for row in rows]
    with db.atomic():
        db.cursor().executemany(sql, values)
