"""Storing a batch of read files: a pure plan (what to insert, update and mark) and the bulk writes that apply it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from photoshelf.db.changes import mark_changed
from photoshelf.db.rows import chunks, tuples
from photoshelf.db.schema import File, IndexIssue, Photo, Thumbnail
from photoshelf.db.uids import photo_uid
from photoshelf.filenames import display, escape, path_hash, rel_of
from photoshelf.indexer import places
from photoshelf.media.decode import kind_for_filetype, orientation_for_rotation
from photoshelf.records import date_guessed

if TYPE_CHECKING:
    from photoshelf.indexer.walk import Entry
    from photoshelf.indexer.worker import FileResult
    from photoshelf.media.metadata import Metadata
    from photoshelf.media.thumbs import ThumbCache

IN_BATCH = 200  # keys in one IN (...) of a batch's queries
META_VERSION = 2  # bump when extraction changes, so `reindex --metadata` re-reads what is stale (2: issue 13)


class KnownFile(NamedTuple):
    """The columns of a catalog file row that a scan compares and writes by: plain values, no model object (a
    rescan of 1M files loads 1M of these)."""

    id: int
    path: str
    raw_path: str | None
    name: str
    folder_id: int
    photo_id: int | None
    role: str
    size: int
    mtime_ns: int
    inode: int | None
    missing_since: object | None  # the driver's value, unconverted: only whether it is set matters to a scan


KNOWN_COLUMNS = (File.id, File.path, File.raw_path, File.name, File.folder, File.photo, File.role, File.size,
                 File.mtime_ns, File.inode, File.missing_since)


def known_files(where: Any = None) -> dict[str, KnownFile]:
    """{originals-relative path: KnownFile} of the catalog's files (those matching `where`, when given)."""
    query = File.select(*KNOWN_COLUMNS)
    if where is not None:
        query = query.where(where)
    # The driver's rows as they come: peewee's per-value conversion was a third of a 1M-file rescan's load.
    rows = File._meta.database.execute(query)
    return {rel_of(f): f for f in map(KnownFile._make, rows)}


def file_names(rel: str) -> dict[str, Any]:
    """The path columns of a file row for an originals-relative path (see photoshelf/filenames.py)."""
    shown = display(rel)
    return {"path": shown, "raw_path": escape(rel), "path_hash": path_hash(rel), "name": shown.rsplit("/", 1)[-1]}


@dataclass
class Prepared:
    """One file of a batch, read and parsed, ready to be written."""

    entry: Entry
    known: KnownFile | None  # the catalog row at this path when the scan began
    result: FileResult
    md: Metadata
    fatal: str | None
    rel: str
    name: str
    folder_id: int


@dataclass
class Catalog:
    """What the catalog already holds for a batch: the plan's only input besides the batch itself."""

    files: dict[str, KnownFile] = field(default_factory=dict)  # by path: known at the scan, or committed since
    by_sha: dict[str, Photo] = field(default_factory=dict)  # photos holding the batch's contents
    photos: dict[int, Photo] = field(default_factory=dict)  # the photos the batch's paths pointed at
    media_paths: dict[int, dict[str, bool]] = field(default_factory=dict)  # photo id -> {media path: present}
    owners: dict[str, int | None] = field(default_factory=dict)  # path -> the uploader a new photo belongs to


@dataclass
class FileWrite:
    """One file row to write: the photo it now shows (None when it cannot be in the library) and its issues."""

    item: Prepared
    photo: Photo | None
    row_id: int | None  # the row to update; None: a new row
    issues: list[tuple[str, str, str]] = field(default_factory=list)  # (stage, severity, reason)


@dataclass
class StorePlan:
    files: list[FileWrite] = field(default_factory=list)
    new_photos: dict[str, Photo] = field(default_factory=dict)  # by sha1: inserted
    dirty: dict[int, Photo] = field(default_factory=dict)  # known photos: their changed columns saved
    stale_thumbs: dict[int, str] = field(default_factory=dict)  # photo id -> the old content's sha1 (edited)
    orphans: set[int] = field(default_factory=set)  # photos a path no longer shows: missing if none is left
    returned: set[int] = field(default_factory=set)  # known photos that were missing and are back
    new: int = 0
    changed: int = 0
    errors: int = 0
    duplicates: int = 0
    warnings: int = 0


def plan_batch(items: list[Prepared], catalog: Catalog, now: dt.datetime,
               make_uid: Callable[[], str] = photo_uid) -> StorePlan:
    """Decide, without the database, what storing `items` writes. The photos in `catalog` that the batch changes
    are changed in place (and listed in plan.dirty); new photos are made (plan.new_photos)."""
    plan = StorePlan()
    by_sha = dict(catalog.by_sha)
    media_paths = {pid: dict(paths) for pid, paths in catalog.media_paths.items()}
    for it in items:
        row = catalog.files.get(it.rel)
        if it.known is None:
            plan.new += 1
        else:
            plan.changed += 1
        old_photo_id = row.photo_id if row is not None else None
        write = FileWrite(it, None, row.id if row is not None else None)
        plan.files.append(write)
        if it.fatal:
            plan.errors += 1
            write.issues.append(("read", "error", it.fatal))
            if old_photo_id:
                plan.orphans.add(old_photo_id)
            continue
        sha1 = it.result.sha1
        assert sha1 is not None
        photo = by_sha.get(sha1)
        others = [p for p in media_paths.get(old_photo_id or -1, {}) if p != it.rel]
        if photo is not None:
            present_elsewhere = any(ok for p, ok in media_paths.get(photo.id or -1, {}).items() if p != it.rel)
            if (photo.id is None or photo.id != old_photo_id) and (present_elsewhere or sha1 in plan.new_photos):
                plan.duplicates += 1
            # The same file read again (its sidecar changed, or a forced index) refreshes the metadata; another
            # copy of the same bytes only fills gaps.
            apply_metadata(photo, it.md, it.result, refresh=photo.id is not None and photo.id == old_photo_id)
        elif old_photo_id is not None and not others and old_photo_id in catalog.photos:
            # The file's bytes changed (edited in place): same photo, new content. User data stays attached.
            photo = catalog.photos[old_photo_id]
            plan.stale_thumbs[photo.id] = photo.sha1
            photo.sha1 = sha1
            apply_metadata(photo, it.md, it.result, refresh=True)
        else:
            photo = Photo(uid=make_uid(), sha1=sha1, kind="image", created_at=now, owner=catalog.owners.get(it.rel))
            apply_metadata(photo, it.md, it.result, refresh=True)
            plan.new_photos[sha1] = photo
        by_sha[sha1] = photo
        if photo.missing_since is not None and photo.id is not None:
            plan.returned.add(photo.id)
        photo.missing_since = None
        mark_changed(photo, now)
        if photo.id is not None:
            plan.dirty[photo.id] = photo
            media_paths.setdefault(photo.id, {})[it.rel] = True
        if old_photo_id and old_photo_id != photo.id:
            plan.orphans.add(old_photo_id)
        write.photo = photo
        warnings = it.result.warnings + [("metadata", w) for w in it.md.warnings if not w.lower().startswith("[minor]")]
        write.issues.extend((stage, "warning", reason) for stage, reason in warnings)
        plan.warnings += len(warnings)
    return plan


def load_catalog(items: list[Prepared], owner_of: Callable[[str], int | None]) -> Catalog:
    """What the catalog holds for a batch, in a fixed number of queries (per batch, not per file)."""
    catalog = Catalog()
    sha1s = sorted({it.result.sha1 for it in items if it.result.sha1 and not it.fatal})
    for chunk in chunks(sha1s, IN_BATCH):
        for p in Photo.select().where(Photo.sha1.in_(chunk)):
            catalog.by_sha[p.sha1] = p
    unknown = [path_hash(it.rel) for it in items if it.known is None]
    for chunk in chunks(unknown, IN_BATCH):
        catalog.files.update(known_files(File.path_hash.in_(chunk)))  # committed by an interrupted run
    for it in items:
        if it.known is not None:
            catalog.files[it.rel] = it.known
    old_ids = {f.photo_id for it in items if (f := catalog.files.get(it.rel)) is not None and f.photo_id}
    for id_chunk in chunks(sorted(old_ids | {p.id for p in catalog.by_sha.values()}), IN_BATCH):
        for media in File.select(File.photo, File.path, File.raw_path, File.missing_since).where(
            File.photo.in_(id_chunk) & (File.role == "media")
        ):
            catalog.media_paths.setdefault(media.photo_id, {})[rel_of(media)] = media.missing_since is None
    for id_chunk in chunks(sorted(old_ids), IN_BATCH):
        catalog.photos.update((p.id, p) for p in Photo.select().where(Photo.id.in_(id_chunk)))
    catalog.owners = {it.rel: owner_of(it.rel) for it in items if not it.fatal}
    return catalog


def apply_plan(plan: StorePlan, thumbs: ThumbCache, now: dt.datetime) -> set[int]:
    """Write a plan with a fixed number of queries per batch (the caller holds the write transaction): the writer
    is the bottleneck once decoding runs on the other cores. Returns the photos it marked missing."""
    # Place names from the positions, one geocoder call for the batch (unchanged places are not rewritten).
    places.assign({id(w.photo): w.photo for w in plan.files if w.photo is not None}.values())

    # Photos: new ones in one statement, changed ones by their dirty columns.
    for sha1 in plan.stale_thumbs.values():
        thumbs.remove(sha1)
    if plan.stale_thumbs:
        Thumbnail.delete().where(Thumbnail.photo.in_(list(plan.stale_thumbs))).execute()
    columns = [f.name for f in Photo._meta.sorted_fields if f.name != "id"]
    if plan.new_photos:
        Photo.insert_many([{c: p.__data__.get(c) for c in columns} for p in plan.new_photos.values()]).execute()
        for chunk in chunks(list(plan.new_photos), IN_BATCH):
            for pid, sha1 in tuples(Photo.select(Photo.id, Photo.sha1).where(Photo.sha1.in_(chunk))):
                plan.new_photos[sha1].id = pid
    for photo in plan.dirty.values():
        if photo.dirty_fields:
            photo.save(only=photo.dirty_fields)

    # Files: new rows in one statement, known rows updated.
    inserts = []
    for w in plan.files:
        it, e = w.item, w.item.entry
        fields: dict[str, Any] = dict(
            folder=it.folder_id, role="media", size=e.size, mtime_ns=e.mtime_ns, inode=e.inode,
            sha1=it.result.sha1, missing_since=None, indexed_at=now, error=it.fatal,
            photo=w.photo.id if w.photo is not None else None,
        )
        if w.row_id is not None:
            File.update(**file_names(it.rel), **fields).where(File.id == w.row_id).execute()
        else:
            inserts.append(dict(**file_names(it.rel), **fields))
    if inserts:
        File.insert_many(inserts).execute()
    by_hash = {path_hash(w.item.rel): w.item.rel for w in plan.files}
    file_ids: dict[str, int] = {}
    for chunk in chunks(list(by_hash), IN_BATCH):
        rows_of = tuples(File.select(File.id, File.path_hash).where(File.path_hash.in_(chunk)))
        file_ids.update((by_hash[key], fid) for fid, key in rows_of)

    # Issues and thumbnails of the batch, replaced wholesale.
    for ids in chunks(list(file_ids.values()), IN_BATCH):
        IndexIssue.delete().where(IndexIssue.file.in_(ids)).execute()
    issues = [dict(file=file_ids[w.item.rel], stage=stage, severity=severity, reason=reason, created_at=now)
              for w in plan.files for stage, severity, reason in w.issues]
    if issues:
        IndexIssue.insert_many(issues).execute()
    keyed = {(w.photo.id, r.size): dict(photo=w.photo.id, size=r.size, width=r.width, height=r.height,
                                         format=thumbs.ext, bytes=r.bytes, created_at=now)
             for w in plan.files if w.photo is not None for r in w.item.result.renditions}
    if keyed:
        for chunk in chunks(sorted({pid for pid, _ in keyed}), IN_BATCH):
            Thumbnail.delete().where(Thumbnail.photo.in_(chunk) & Thumbnail.size.in_(["fit", "tile"])).execute()
        Thumbnail.insert_many(list(keyed.values())).execute()
    removed: set[int] = set()
    for photo_id in plan.orphans:
        # A photo whose last file now holds other bytes: kept as missing, so user data survives the grace period.
        if not File.select().where((File.photo == photo_id) & (File.role == "media")).exists():
            if Photo.update(missing_since=now).where((Photo.id == photo_id) & Photo.missing_since.is_null()).execute():
                removed.add(photo_id)
    return removed


def apply_metadata(photo: Photo, md: Metadata, result: FileResult, refresh: bool) -> None:
    """Copy extracted metadata onto the photo. For an existing photo (a duplicate path), only fill gaps."""
    if not refresh and photo.meta_version == META_VERSION and not date_guessed(photo.taken_src):
        if result.phash and not photo.phash:
            photo.phash = result.phash
        if result.signature and not photo.dhash:
            photo.dhash, photo.colors = result.signature
        return
    kind = kind_for_filetype(md.filetype) or ("video" if result.video else "image")
    if photo.kind != "live" or kind != "image":
        photo.kind = kind
    photo.mime = md.mime
    photo.format = md.filetype
    photo.size = result.bytes_read
    width, height = md.width, md.height
    orientation = md.orientation
    if result.video is not None:
        orientation = orientation_for_rotation(result.video.rotation)
        width, height = result.video.width, result.video.height
    elif result.width and result.height:
        width, height = result.width, result.height  # from the decoder: already upright
    elif width and height and orientation in (5, 6, 7, 8):
        width, height = height, width
    photo.width, photo.height, photo.orientation = width, height, orientation
    duration = result.video.duration if result.video and result.video.duration else result.duration
    apply_descriptive(photo, md, duration=duration)
    photo.codec = (result.video.codec if result.video else None) or md.codec
    photo.phash = result.phash or photo.phash
    if result.signature:
        photo.dhash, photo.colors = result.signature
    photo.has_thumbs = bool(result.renditions or result.thumbs_cached)


def apply_descriptive(photo: Photo, md: Metadata, *, duration: float | None = None) -> None:
    """Put what the file's metadata says (date, place, camera, exposure, text, rating) on the photo, leaving alone
    every field a person set (`photo.locked`); `duration` is the decoder's length, which wins over the tags'.
    Pixels, thumbnails and hashes are not touched: `reindex --metadata` calls this alone."""
    locked = set((photo.locked or "").split(","))
    if md.taken is not None and "taken_at" not in locked:
        photo.taken_at = md.taken.utc
        photo.taken_at_local = md.taken.local
        photo.tz_offset = md.taken.offset
        photo.timezone = md.taken.zone or _offset_name(md.taken.offset)
        photo.taken_src = md.taken.source
    if "location" not in locked:
        photo.lat, photo.lon, photo.altitude = md.lat, md.lon, md.altitude
    photo.camera_make, photo.camera_model, photo.lens = md.camera_make, md.camera_model, md.lens
    photo.iso, photo.exposure, photo.fnumber, photo.focal_length = md.iso, md.exposure, md.fnumber, md.focal_length
    photo.duration = duration or md.duration
    if "title" not in locked:
        photo.title = md.title
    if "description" not in locked:
        photo.description = md.description
    if "keywords" not in locked:
        photo.keywords = ", ".join(md.keywords) or None
    if "rating" not in locked:
        photo.rating = md.rating
    photo.content_id = md.content_id
    photo.meta_version = META_VERSION


def _offset_name(offset: int | None) -> str | None:
    if offset is None:
        return None
    sign = "+" if offset >= 0 else "-"
    return f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"

