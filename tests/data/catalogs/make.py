"""Make the upgrade fixtures: v1.sqlite (the first released catalog schema) and current.sqlite (this version's).

    .venv/bin/python tests/data/catalogs/make.py          # rewrites both files beside this script

v1.sqlite: the tables exactly as migration 1 of the first release (commit 539ee64, photoshelf 0.1.0) created them,
from a frozen copy of that release's models below (migration 1 built the tables from the models of its day, so the
current m0001 cannot rebuild them), holding the rows the v1 indexer wrote for a few files of tests/data/corpus
(folders, photos with their metadata, an exact duplicate, a RAW+JPEG stack, a failed file and its issue, thumbnails,
jobs, settings) plus a favorite and a title a person set. Its schema_version table says 1.

current.sqlite: tests/data/corpus indexed by this version (`photoshelf index --no-ml`), then vacuumed. Make it again
when a release changes the schema, and keep the old one under its schema number if it is worth keeping.

tests/test_upgrade.py opens copies of both with the newest code, and loads the same v1 tables and rows into a new
MariaDB database (create_v1 / insert_v1_rows) to migrate that too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import peewee as pw

from photoshelf.db.transactions import write_transaction
from photoshelf.filenames import path_hash  # 0.1.0 hashed the UTF-8 text: the same for these names

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
CORPUS = REPO / "tests" / "data" / "corpus"

v1_proxy = pw.DatabaseProxy()


def _utcnow() -> dt.datetime:
    return dt.datetime(2026, 11, 24, 8, 0, 0)


class _Precise(pw.DateTimeField):
    field_type = "DATETIME6"  # backends.make_database maps it: DATETIME (SQLite), DATETIME(6) (MariaDB)


class _Base(pw.Model):
    id: Any  # peewee adds it at run time

    class Meta:
        database = v1_proxy
        legacy_table_names = False


# --- photoshelf 0.1.0's models (photoshelf/db/schema.py at 539ee64), without their docstrings ---


class SchemaVersion(_Base):
    version = pw.IntegerField()
    applied_at = pw.DateTimeField(default=_utcnow)


class Folder(_Base):
    path = pw.TextField()
    path_hash = pw.CharField(max_length=40, unique=True)
    parent = pw.ForeignKeyField("self", null=True, backref="children", on_delete="SET NULL")
    name = pw.TextField(default="")
    missing_since = pw.DateTimeField(null=True)
    scanned_at = pw.DateTimeField(null=True)


class Stack(_Base):
    kind = pw.CharField(max_length=16)
    key = pw.CharField(max_length=80, unique=True)
    primary_photo_id = pw.IntegerField(null=True)


class Photo(_Base):
    uid = pw.CharField(max_length=24, unique=True)
    sha1 = pw.CharField(max_length=40, unique=True)
    kind = pw.CharField(max_length=8, index=True)
    mime = pw.CharField(max_length=64, default="")
    format = pw.CharField(max_length=16, default="")
    size = pw.BigIntegerField(default=0)
    width = pw.IntegerField(null=True)
    height = pw.IntegerField(null=True)
    orientation = pw.SmallIntegerField(default=1)
    taken_at = _Precise(null=True, index=True)
    taken_at_local = _Precise(null=True, index=True)
    tz_offset = pw.SmallIntegerField(null=True)
    timezone = pw.CharField(max_length=64, null=True)
    taken_src = pw.CharField(max_length=24, default="")
    lat = pw.DoubleField(null=True)
    lon = pw.DoubleField(null=True)
    altitude = pw.DoubleField(null=True)
    camera_make = pw.CharField(max_length=64, null=True)
    camera_model = pw.CharField(max_length=128, null=True, index=True)
    lens = pw.CharField(max_length=128, null=True)
    iso = pw.IntegerField(null=True)
    exposure = pw.CharField(max_length=24, null=True)
    fnumber = pw.FloatField(null=True)
    focal_length = pw.FloatField(null=True)
    duration = pw.FloatField(null=True)
    codec = pw.CharField(max_length=32, null=True)
    title = pw.TextField(null=True)
    description = pw.TextField(null=True)
    keywords = pw.TextField(null=True)
    rating = pw.SmallIntegerField(null=True)
    content_id = pw.CharField(max_length=64, null=True, index=True)
    phash = pw.CharField(max_length=16, null=True, index=True)
    stack = pw.ForeignKeyField(Stack, null=True, backref="photos", on_delete="SET NULL")
    has_thumbs = pw.BooleanField(default=False)
    favorite = pw.BooleanField(default=False)
    private = pw.BooleanField(default=False)
    archived = pw.BooleanField(default=False)
    missing_since = pw.DateTimeField(null=True, index=True)
    meta_version = pw.SmallIntegerField(default=0)
    created_at = pw.DateTimeField(default=_utcnow)
    updated_at = pw.DateTimeField(default=_utcnow)


class File(_Base):
    path = pw.TextField()
    path_hash = pw.CharField(max_length=40, unique=True)
    folder = pw.ForeignKeyField(Folder, backref="files", on_delete="CASCADE")
    name = pw.TextField()
    role = pw.CharField(max_length=8, default="media")
    photo = pw.ForeignKeyField(Photo, null=True, backref="files", on_delete="SET NULL")
    size = pw.BigIntegerField()
    mtime_ns = pw.BigIntegerField()
    inode = pw.BigIntegerField(default=0)
    sha1 = pw.CharField(max_length=40, null=True, index=True)
    error = pw.TextField(null=True)
    missing_since = pw.DateTimeField(null=True, index=True)
    indexed_at = pw.DateTimeField(default=_utcnow)

    class Meta:
        indexes = ((("size", "mtime_ns"), False),)


class IndexIssue(_Base):
    file = pw.ForeignKeyField(File, backref="issues", on_delete="CASCADE")
    stage = pw.CharField(max_length=16)
    severity = pw.CharField(max_length=8)
    reason = pw.TextField()
    created_at = pw.DateTimeField(default=_utcnow)


class Thumbnail(_Base):
    photo = pw.ForeignKeyField(Photo, backref="thumbnails", on_delete="CASCADE")
    size = pw.CharField(max_length=8)
    width = pw.IntegerField()
    height = pw.IntegerField()
    format = pw.CharField(max_length=8)
    bytes = pw.IntegerField()
    created_at = pw.DateTimeField(default=_utcnow)

    class Meta:
        indexes = ((("photo", "size"), True),)


class Job(_Base):
    kind = pw.CharField(max_length=24, index=True)
    key = pw.CharField(max_length=191, null=True)
    payload = pw.TextField(default="{}")
    state = pw.CharField(max_length=8, default="queued", index=True)
    priority = pw.SmallIntegerField(default=0)
    attempts = pw.SmallIntegerField(default=0)
    error = pw.TextField(null=True)
    progress = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=_utcnow)
    updated_at = pw.DateTimeField(default=_utcnow)
    run_after = pw.DateTimeField(default=_utcnow)

    class Meta:
        indexes = ((("kind", "key"), False),)


class Setting(_Base):
    key = pw.CharField(max_length=64, primary_key=True)
    value = pw.TextField()


V1_TABLES: list[type[_Base]] = [SchemaVersion, Folder, Stack, Photo, File, IndexIssue, Thumbnail, Job, Setting]

# What the v1 indexer wrote (its metadata as read from these corpus files then), and what a person changed.
V1_PHOTOS: list[tuple[Any, ...]] = [
    # rel path, uid, kind, mime, format, w, h, taken_at (UTC), local, offset min, src, lat, lon, make, model, extra
    ("2016/Pets/cat_brown.jpg", "p1a2b3c4d5e6f7081", "image", "image/jpeg", "jpeg", 441, 331,
     dt.datetime(2016, 8, 27, 8, 6, 19), dt.datetime(2016, 8, 27, 10, 6, 19), 120, "exif", 48.5387083333333,
     9.01216111111111, "Canon", "Canon EOS 5D", {"favorite": True, "title": "Our cat"}),
    ("Raw/2019-06-06 Canon 6D/IMG_6D_0001.DNG", "p1a2b3c4d5e6f7082", "raw", "image/x-adobe-dng", "dng", 1224, 816,
     None, dt.datetime(2019, 6, 6, 7, 29, 51), None, "exif", None, None, "Canon", "Canon EOS 6D", {}),
    ("Raw/2019-06-06 Canon 6D/IMG_6D_0001.JPG", "p1a2b3c4d5e6f7083", "image", "image/jpeg", "jpeg", 1024, 683,
     None, dt.datetime(2019, 6, 6, 7, 29, 51), None, "exif", None, None, "Canon", "Canon EOS 6D", {}),
    ("2022/Utah Roadtrip/thompson-springs.jpg", "p1a2b3c4d5e6f7084", "image", "image/jpeg", "jpeg", 150, 103,
     dt.datetime(2022, 1, 10, 19, 15, 44), dt.datetime(2022, 1, 10, 15, 15, 44), -240, "exif", 39.115,
     -108.400968333333, None, None, {"description": "Gas station at dusk", "keywords": "utah,roadtrip"}),
]
V1_DUPLICATE = ("Backup/Old Phone/cat_brown copy.jpg", "2016/Pets/cat_brown.jpg")
V1_FAILED = ("bad/empty.jpg", "read", "empty file (0 bytes)")


def _sha1_file(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def create_v1(db: pw.Database) -> None:
    """The tables of photoshelf 0.1.0's migration 1, and its schema_version row, on `db`."""
    v1_proxy.initialize(db)
    db.create_tables(V1_TABLES)
    SchemaVersion.create(version=1)


def insert_v1_rows(db: pw.Database) -> None:
    """The rows photoshelf 0.1.0 wrote for V1_PHOTOS, the duplicate and the failed file (after create_v1)."""
    v1_proxy.initialize(db)
    folders: dict[str, int] = {}

    def folder(path: str) -> int:
        if path not in folders:
            parent = folder(path.rpartition("/")[0]) if path else None
            folders[path] = Folder.create(path=path, path_hash=path_hash(path), parent=parent,
                                          name=path.rpartition("/")[2], scanned_at=_utcnow()).id
        return folders[path]

    photos: dict[str, int] = {}
    with write_transaction(db):
        for (rel, uid, kind, mime, fmt, w, h, taken, local, offset, src, lat, lon, make, model, extra) in V1_PHOTOS:
            source = CORPUS / rel
            sha1 = _sha1_file(source)
            photo = Photo.create(uid=uid, sha1=sha1, kind=kind, mime=mime, format=fmt, size=source.stat().st_size,
                                 width=w, height=h, taken_at=taken, taken_at_local=local, tz_offset=offset,
                                 taken_src=src, lat=lat, lon=lon, camera_make=make, camera_model=model,
                                 has_thumbs=True, meta_version=1, **extra)
            photos[rel] = photo.id
            File.create(path=rel, path_hash=path_hash(rel), folder=folder(rel.rpartition("/")[0]),
                        name=rel.rpartition("/")[2], photo=photo, size=source.stat().st_size,
                        mtime_ns=1_700_000_000_000_000_000, inode=0, sha1=sha1)
            for size, tw, th, nbytes in (("tile", 224, 224, 9000), ("fit", 720, 540, 52000)):
                Thumbnail.create(photo=photo, size=size, width=tw, height=th, format="jpeg", bytes=nbytes)
        dup, of = V1_DUPLICATE
        File.create(path=dup, path_hash=path_hash(dup), folder=folder(dup.rpartition("/")[0]), name=dup.rpartition("/")[2],
                    photo=photos[of], size=(CORPUS / dup).stat().st_size, mtime_ns=1_700_000_000_000_000_000,
                    sha1=_sha1_file(CORPUS / dup))
        raw, jpg = "Raw/2019-06-06 Canon 6D/IMG_6D_0001.DNG", "Raw/2019-06-06 Canon 6D/IMG_6D_0001.JPG"
        stack = Stack.create(kind="raw", key=f"{folders['Raw/2019-06-06 Canon 6D']}:IMG_6D_0001",
                             primary_photo_id=photos[jpg])
        Photo.update(stack=stack).where(Photo.id.in_([photos[raw], photos[jpg]])).execute()
        rel, stage, reason = V1_FAILED
        failed = File.create(path=rel, path_hash=path_hash(rel), folder=folder("bad"), name="empty.jpg", size=0,
                             mtime_ns=1_700_000_000_000_000_000, sha1=_sha1_file(CORPUS / rel), error=reason)
        IndexIssue.create(file=failed, stage=stage, severity="error", reason=reason)
        Job.create(kind="index", key=None, state="done", payload='{"paths": null}')
        Setting.create(key="index.last_scan", value=_utcnow().isoformat())


def make_v1(target: Path) -> None:
    from photoshelf.db.backends import make_database

    target.unlink(missing_ok=True)
    db = make_database(f"sqlite:///{target}")
    db.connect()
    create_v1(db)
    insert_v1_rows(db)
    db.execute_sql("PRAGMA journal_mode=DELETE")
    db.execute_sql("VACUUM")
    db.close()


def make_current(target: Path) -> None:
    """Index tests/data/corpus with this version (metadata only) and keep the catalog."""
    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp) / "storage"
        originals = Path(tmp) / "originals"
        shutil.copytree(CORPUS, originals)
        env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(originals), PHOTOSHELF_STORAGE=str(storage),
                   PHOTOSHELF_MODELS_ENABLED="false", PHOTOSHELF_SIDECARS_ENABLED="false")
        env.pop("PHOTOSHELF_DATABASE", None)
        env.pop("PHOTOSHELF_CONFIG", None)
        subprocess.run([sys.executable, "-m", "photoshelf.cli", "index", "--no-ml", "-q"], env=env, check=True)
        import peewee

        conn = peewee.sqlite3.connect(str(storage / "catalog.db"))  # type: ignore[attr-defined]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
        conn.close()
        target.unlink(missing_ok=True)
        shutil.copyfile(storage / "catalog.db", target)


def main() -> None:
    make_v1(HERE / "v1.sqlite")
    make_current(HERE / "current.sqlite")
    for name in ("v1.sqlite", "current.sqlite"):
        print(f"{HERE / name}: {(HERE / name).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
