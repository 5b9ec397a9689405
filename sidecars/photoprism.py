"""Bring a PhotoPrism library's user data over: from its database (SQLite index.db or MariaDB) and its YAML sidecars.

PhotoPrism keeps what people did in its database (internal/entity: photos, details, files, albums, photos_albums,
labels, photos_labels, subjects, markers); its YAML sidecars (storage/sidecar/<path>.yml) hold the photo fields but
not albums, labels or people, and its album YAML files (storage/albums/album/*.yml) list an album's photo UIDs. So the
database is the fuller source (like Immich's and LibrePhotos' importers, which read the other program's database);
the sidecars are for a PhotoPrism whose database is gone.

Photos are matched by content: PhotoPrism's files.file_hash is the SHA-1 of the file, the same as our photo.sha1, so
moved or renamed originals still match; by path (files.file_name, relative to the originals) otherwise.

The import only adds: a flag PhotoPrism set is set here (one set here is never cleared), a title or description is
taken when a person wrote it in PhotoPrism and nobody has here, albums are created or extended (nothing is removed
from an album), rotations and everything else photoshelf holds stay. Titles PhotoPrism generated (from labels and
places), its machine labels and its face clusters are not carried over: photoshelf makes its own.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import peewee as pw

from photoshelf import albums as albums_core
from photoshelf import people, values
from photoshelf.config import Config
from photoshelf.db.changes import change_photos
from photoshelf.db.rows import chunks
from photoshelf.db.schema import Album, AlbumPhoto, Face, File, Photo, PhotoLabel, lock_fields
from photoshelf.db.transactions import write_transaction
from photoshelf.errors import ConfigError, DatabaseError, PhotoshelfError
from photoshelf.sidecars import format as fmt
from photoshelf.sidecars.io import SidecarError, load

log = logging.getLogger(__name__)

# PhotoPrism's *_src values that mean a person (or the file's own metadata) wrote the value, not its generator.
PERSON_SOURCES = {"manual", "admin", "meta", "xmp", "yaml", "batch"}
FACE_MATCH_IOU = 0.3  # a PhotoPrism face marker and a face photoshelf found are the same face above this overlap


class PhotoPrismError(PhotoshelfError):
    """A PhotoPrism library cannot be read."""


@dataclass
class PrismPhoto:
    """One PhotoPrism photo: what a person set, and how to find it here."""

    uid: str
    sha1s: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    title: str | None = None
    description: str | None = None
    keywords: list[str] = field(default_factory=list)
    favorite: bool = False
    private: bool = False
    archived: bool = False
    taken_at: dt.datetime | None = None  # only when set by hand (taken_src manual)
    taken_at_local: dt.datetime | None = None
    lat: float | None = None  # only when set by hand (place_src manual)
    lon: float | None = None
    albums: list[tuple[str, int]] = field(default_factory=list)  # (album uid, order)
    labels: list[str] = field(default_factory=list)  # labels a person added
    people: list[tuple[str, tuple[float, float, float, float]]] = field(default_factory=list)  # (name, x y w h)


@dataclass
class PrismAlbum:
    uid: str
    title: str
    description: str = ""


@dataclass
class ImportReport:
    photos: int = 0  # PhotoPrism photos read
    applied: int = 0  # matched a photo here and imported
    unmatched: int = 0  # no photo here with the same bytes or path (index first?)
    errors: int = 0
    albums_created: int = 0
    album_entries: int = 0
    labels: int = 0
    people_named: int = 0  # faces found here given the PhotoPrism person's name
    people_unmatched: int = 0  # PhotoPrism faces with a name but no face found here at that place
    unmatched_paths: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- reading PhotoPrism's database ---


class _Bytes(pw.Field):
    """PhotoPrism declares most text as VARBINARY: PyMySQL hands back bytes; SQLite text."""

    field_type = "TEXT"

    def python_value(self, value: Any) -> Any:
        return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value


def open_database(url: str) -> pw.Database:
    """PhotoPrism's database (sqlite:///…/index.db, opened read-only, or mysql://user:pass@host/photoprism)."""
    from photoshelf.db.backends import make_database

    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):]).absolute()
        if not path.is_file():
            raise ConfigError("--database", f"no PhotoPrism database at {path}")
        db: pw.Database = pw.SqliteDatabase(f"file:{path}?mode=ro", uri=True)
    else:
        db = make_database(url)
    try:
        db.connect()
    except pw.OperationalError as exc:
        raise DatabaseError(f"cannot open PhotoPrism's database {url}: {exc}") from None
    missing = {"photos", "files"} - set(db.get_tables())
    if missing:
        db.close()
        raise PhotoPrismError(f"{url} is not a PhotoPrism database (no {', '.join(sorted(missing))} table)")
    return db


def _rows(db: pw.Database, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    cursor = db.execute_sql(sql, tuple(params))
    names = [d[0] for d in cursor.description]
    dec = _Bytes().python_value
    return [{n: dec(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


def _time(value: Any) -> dt.datetime | None:
    if value in (None, "", b""):
        return None
    if isinstance(value, dt.datetime):  # a plain datetime: YAML loaders hand back subclasses drivers cannot bind
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                           value.microsecond)
    text = str(value).replace("T", " ").removesuffix("Z")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def read_database(db: pw.Database) -> tuple[list[PrismPhoto], dict[str, PrismAlbum]]:
    """Every PhotoPrism photo with what a person set on it, and its manual albums."""
    tables = set(db.get_tables())
    photos: dict[int, PrismPhoto] = {}
    for r in _rows(db, "SELECT * FROM photos"):
        p = PrismPhoto(uid=str(r["photo_uid"]))
        if (r.get("title_src") or "") in PERSON_SOURCES:
            p.title = values.text(r.get("photo_title"), values.TITLE)
        if (r.get("description_src") or "") in PERSON_SOURCES:
            p.description = values.text(r.get("photo_description"), values.DESCRIPTION, one_line=False)
        p.favorite, p.private = bool(r.get("photo_favorite")), bool(r.get("photo_private"))
        p.archived = r.get("deleted_at") is not None  # PhotoPrism's archive is a soft delete
        if r.get("taken_src") == "manual":
            p.taken_at, p.taken_at_local = _time(r.get("taken_at")), _time(r.get("taken_at_local"))
        if r.get("place_src") == "manual":
            p.lat, p.lon = values.position(r.get("photo_lat"), r.get("photo_lng")) or (None, None)
        photos[int(r["id"])] = p
    if "details" in tables:
        for r in _rows(db, "SELECT photo_id, keywords, keywords_src FROM details"):
            if int(r["photo_id"]) in photos and (r.get("keywords_src") or "") in PERSON_SOURCES:
                photos[int(r["photo_id"])].keywords = values.keywords(str(r.get("keywords") or "").split(","))
    by_uid = {p.uid: p for p in photos.values()}
    file_photo: dict[str, PrismPhoto] = {}
    for r in _rows(db, "SELECT photo_id, file_uid, file_name, file_root, file_hash, file_sidecar, file_missing "
                       "FROM files WHERE deleted_at IS NULL"):
        owner = photos.get(int(r["photo_id"] or 0))
        if owner is None or r.get("file_sidecar") or r.get("file_missing"):
            continue
        file_photo[str(r["file_uid"])] = owner
        if (r.get("file_root") or "/") != "/":  # sidecar/ and import/ roots are not originals
            continue
        if r.get("file_hash"):
            owner.sha1s.append(str(r["file_hash"]).lower())
        if r.get("file_name"):
            owner.paths.append(str(r["file_name"]))
    albums: dict[str, PrismAlbum] = {}
    if {"albums", "photos_albums"} <= tables:
        for r in _rows(db, "SELECT album_uid, album_title, album_description, album_type FROM albums "
                           "WHERE deleted_at IS NULL"):
            # Only albums people made: folder, moment, month and state albums are PhotoPrism's own views.
            if (r.get("album_type") or "album") == "album" and r.get("album_title"):
                albums[str(r["album_uid"])] = PrismAlbum(
                    str(r["album_uid"]), values.text(r["album_title"], values.ALBUM_TITLE) or str(r["album_uid"]),
                    values.text(r.get("album_description"), values.DESCRIPTION, one_line=False) or "")
        for r in _rows(db, "SELECT * FROM photos_albums"):
            member = by_uid.get(str(r["photo_uid"]))
            if member is not None and str(r["album_uid"]) in albums and not r.get("hidden") and not r.get("missing"):
                member.albums.append((str(r["album_uid"]), int(r.get("order") or 0)))
    if {"labels", "photos_labels"} <= tables:
        names = {int(r["id"]): str(r["label_name"]) for r in _rows(
            db, "SELECT id, label_name FROM labels WHERE deleted_at IS NULL")}
        for r in _rows(db, "SELECT photo_id, label_id, label_src, uncertainty FROM photos_labels"):
            labelled = photos.get(int(r["photo_id"]))
            if labelled is not None and r.get("label_src") == "manual" and int(r["label_id"]) in names and int(
                    r.get("uncertainty") or 0) < 100:  # PhotoPrism "removes" a label by setting it to 100
                labelled.labels.append(names[int(r["label_id"])])
    if {"markers", "subjects"} <= tables:
        subjects = {str(r["subj_uid"]): str(r["subj_name"]) for r in _rows(
            db, "SELECT subj_uid, subj_name FROM subjects WHERE deleted_at IS NULL AND subj_name <> ''")}
        for r in _rows(db, "SELECT file_uid, marker_type, marker_invalid, subj_uid, x, y, w, h FROM markers"):
            pictured = file_photo.get(str(r["file_uid"]))
            name = subjects.get(str(r.get("subj_uid") or ""))
            if pictured is not None and name and r.get("marker_type") == "face" and not r.get("marker_invalid"):
                pictured.people.append((name, (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]))))
    return list(photos.values()), albums


# --- reading PhotoPrism's YAML sidecars (when its database is gone) ---


def read_sidecars(sidecar_dir: Path, albums_dir: Path | None, report: ImportReport
                  ) -> tuple[list[PrismPhoto], dict[str, PrismAlbum]]:
    """Photos from storage/sidecar/**.yml (<folder>/<base>.yml mirrors the originals) and albums from
    storage/albums/album/*.yml."""
    from photoshelf.sidecars.sync import iter_sidecar_files

    photos: list[PrismPhoto] = []
    by_uid: dict[str, PrismPhoto] = {}
    for path in iter_sidecar_files(sidecar_dir):
        rel = path.relative_to(sidecar_dir)
        try:
            data: dict[str, Any] = load(path) or {}
            ud = fmt.parse(data)
        except (SidecarError, ValueError) as exc:
            log.warning("import: %s", exc)
            report.errors += 1
            continue
        stem = rel.as_posix().rsplit(".", 1)[0]
        p = PrismPhoto(uid=ud.uid or stem, paths=[f"{stem}.*"], favorite=ud.favorite, private=ud.private,
                       archived=ud.archived)
        if data.get("TitleSrc") in PERSON_SOURCES:
            p.title = ud.title
        if data.get("DescriptionSrc", "manual") in PERSON_SOURCES:
            p.description = ud.description
        details = data.get("Details") if isinstance(data.get("Details"), dict) else {}
        if (details or {}).get("KeywordsSrc", "manual") in PERSON_SOURCES:
            p.keywords = [k for k in (ud.keywords or "").split(", ") if k]
        if "taken_at" in ud.locked:
            p.taken_at, p.taken_at_local = _time(ud.taken_at), _time(ud.taken_at_local)
        if data.get("PlaceSrc") == "manual":
            p.lat, p.lon = ud.lat, ud.lon
        photos.append(p)
        by_uid[p.uid] = p
    albums: dict[str, PrismAlbum] = {}
    if albums_dir is not None and albums_dir.is_dir():
        for path in iter_sidecar_files(albums_dir):
            try:
                data = load(path) or {}
            except SidecarError as exc:
                log.warning("import: %s", exc)
                report.errors += 1
                continue
            title = values.text(data.get("Title"), values.ALBUM_TITLE)
            entries = data.get("Photos") or []
            if not title or data.get("Type", "album") not in ("album", "") or not isinstance(entries, list):
                continue
            uid = str(data.get("UID") or path.stem)
            albums[uid] = PrismAlbum(uid, title, values.text(data.get("Description"), values.DESCRIPTION,
                                                             one_line=False) or "")
            for order, entry in enumerate(entries, 1):
                member = by_uid.get(str(entry.get("UID", ""))) if isinstance(entry, dict) else None
                if member is not None and not entry.get("Hidden") and not entry.get("Missing"):
                    member.albums.append((uid, int(entry.get("Order") or order)))
    return photos, albums


# --- applying to the catalog ---


def _find(p: PrismPhoto) -> Photo | None:
    for sha1 in p.sha1s:
        photo = Photo.get_or_none(Photo.sha1 == sha1)
        if photo is not None:
            return photo
    for path in p.paths:
        if path.endswith(".*"):  # a sidecar's name: the original's path without its extension
            stem = path[:-2]
            query = File.select().where((File.role == "media") & File.photo.is_null(False) & File.path.startswith(
                stem + "."))
            found = next((f for f in query if f.path.rsplit(".", 1)[0] == stem), None)
        else:
            found = File.get_or_none((File.path == path) & File.photo.is_null(False))
        if found is not None:
            return Photo.get_by_id(found.photo_id)
    return None


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _apply(photo: Photo, p: PrismPhoto, albums: dict[str, Album], positions: dict[int, int],
           report: ImportReport) -> None:
    changes: dict[str, Any] = {}
    for flag in ("favorite", "private", "archived"):
        if getattr(p, flag) and not getattr(photo, flag):
            changes[flag] = True
    locked = [n for n in (photo.locked or "").split(",") if n]
    hand = []
    for name, value in (("title", p.title), ("description", p.description),
                        ("keywords", ", ".join(p.keywords) or None)):
        if value and name not in locked and value != getattr(photo, name):
            changes[name] = value
            hand.append(name)
    if p.taken_at is not None and "taken_at" not in locked:
        changes.update(taken_at=p.taken_at, taken_at_local=p.taken_at_local or p.taken_at, taken_src="manual")
        hand.append("taken_at")
    if p.lat is not None and p.lon is not None and "location" not in locked:
        changes.update(lat=p.lat, lon=p.lon, country_code=None, country=None, state=None, city=None)
        hand.append("location")
    if hand:
        changes["locked"] = lock_fields(photo, *hand)  # what a person set survives re-indexing
    if changes:
        change_photos(Photo.id == photo.id, **changes)
    for uid, _ in sorted(p.albums, key=lambda a: a[1]):
        album = albums[uid]
        if not AlbumPhoto.select().where((AlbumPhoto.album == album.id) & (AlbumPhoto.photo == photo.id)).exists():
            albums_core.append(album.id, [photo.id], positions.get(album.id, 0))
            positions[album.id] = positions.get(album.id, 0) + 1
            report.album_entries += 1
    for name in p.labels:
        label = values.text(name, 64)
        if label and PhotoLabel.insert(photo=photo.id, name=label.lower(), source="user", confidence=1.0,
                                       model="photoprism").on_conflict_ignore().execute():
            report.labels += 1
    if p.people:
        faces = list(Face.select().where(Face.photo == photo.id))
        for name, box in p.people:
            best = max(faces, key=lambda f: _iou(box, (f.x, f.y, f.w, f.h)), default=None)
            if best is None or _iou(box, (best.x, best.y, best.w, best.h)) < FACE_MATCH_IOU or (
                    best.assigned_by == "user" and best.person_id is not None):
                report.people_unmatched += 1
                continue
            Face.update(person=people.person_named(name).id, assigned_by="user").where(Face.id == best.id).execute()
            report.people_named += 1


def apply(db: pw.Database, photos: list[PrismPhoto], albums: dict[str, PrismAlbum], report: ImportReport) -> None:
    """Put what people did in PhotoPrism on the matching photos here (only adding, see the module docstring)."""
    report.photos += len(photos)
    made: dict[str, Album] = {}
    positions: dict[int, int] = {}
    wanted = {uid for p in photos for uid, _ in p.albums}
    with write_transaction(db):
        for uid in sorted(wanted):
            a = albums[uid]
            album, created = albums_core.find_or_create(uid, a.title, a.description)
            report.albums_created += created
            made[uid] = album
            positions[album.id] = albums_core.last_position(album.id) or 0
    for chunk in chunks(photos, 200):  # one transaction per 200 photos
        _apply_chunk(db, chunk, made, positions, report)


def _apply_chunk(db: pw.Database, chunk: list[PrismPhoto], albums: dict[str, Album], positions: dict[int, int],
                 report: ImportReport) -> None:
    with write_transaction(db):
        for p in chunk:
            photo = _find(p)
            if photo is None:
                report.unmatched += 1
                if len(report.unmatched_paths) < 20:
                    report.unmatched_paths.append((p.paths or [p.uid])[0])
                continue
            _apply(photo, p, albums, positions, report)
            report.applied += 1


def import_library(config: Config, db: pw.Database, *, database_url: str | None = None,
                   sidecar_dir: Path | None = None, albums_dir: Path | None = None) -> ImportReport:
    """Import from PhotoPrism's database (preferred: it holds albums, labels and people) and/or its sidecars."""
    if database_url is None and sidecar_dir is None:
        raise ConfigError("import-photoprism", "give PhotoPrism's database (--database) or its sidecar folder")
    report = ImportReport()
    if database_url is not None:
        prism = open_database(database_url)
        try:
            photos, albums = read_database(prism)
        finally:
            prism.close()
        apply(db, photos, albums, report)
    if sidecar_dir is not None:
        photos, albums = read_sidecars(sidecar_dir, albums_dir, report)
        apply(db, photos, albums, report)
    log.info("PhotoPrism import: %s", report.as_dict())
    return report
