"""Read the metadata of photos already in the catalog again (`reindex --metadata`): no hashing, thumbnails or ML."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import peewee as pw

from photoshelf.config import Config
from photoshelf.db.changes import mark_changed
from photoshelf.db.rows import chunks
from photoshelf.db.schema import File, IndexIssue, Photo, utcnow
from photoshelf.db.transactions import write_transaction
from photoshelf.filenames import original_path
from photoshelf.indexer import places
from photoshelf.indexer.pipeline import metadata_of, xmp_sidecars
from photoshelf.indexer.store import META_VERSION, apply_descriptive
from photoshelf.media.exiftool import ExifTool
from photoshelf.sidecars.edits import REREAD_REQUESTED

log = logging.getLogger(__name__)

BATCH = 200


@dataclass
class RereadReport:
    photos: int = 0  # photos whose metadata was read again
    changed: int = 0  # of those, photos where a field changed
    unreadable: int = 0  # no present file, or exiftool could not read it: left as they were
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stale_ids(*, everything: bool = False, requested_only: bool = False) -> list[int]:
    """Present photos whose metadata an older photoshelf read (all present photos with `everything`; only those a
    re-read was asked for with `requested_only`)."""
    query: Any = Photo.select(Photo.id).where(Photo.missing_since.is_null())
    if requested_only:
        query = query.where(Photo.meta_version == REREAD_REQUESTED)
    elif not everything:
        query = query.where(Photo.meta_version < META_VERSION)
    return [pid for (pid,) in query.order_by(Photo.id).tuples()]


def reread_metadata(config: Config, db: pw.Database, photo_ids: Iterable[int], *, exiftool: ExifTool | None = None,
                    progress: Callable[[str, int, int], None] | None = None) -> RereadReport:
    """Read these photos' metadata from their files again and store it, keeping every field a person set
    (`photo.locked`); pixels, thumbnails, hashes and ML results are left as they are. The originals are only read."""
    started = time.monotonic()
    report = RereadReport()
    ids = list(photo_ids)
    tool = exiftool or ExifTool(config.exiftool.path)
    try:
        for done, chunk in enumerate(chunks(ids, BATCH)):
            _reread_batch(config, db, chunk, tool, report)
            if progress is not None:
                progress("metadata", min(len(ids), (done + 1) * BATCH), len(ids))
    finally:
        if exiftool is None:
            tool.close()
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _reread_batch(config: Config, db: pw.Database, ids: list[int], tool: ExifTool, report: RereadReport) -> None:
    photos = {p.id: p for p in Photo.select().where(Photo.id.in_(ids))}
    files: dict[int, File] = {}
    for f in File.select().where(File.photo.in_(ids) & (File.role == "media") & File.missing_since.is_null()
                                 & File.error.is_null()).order_by(File.path):
        files.setdefault(f.photo_id, f)
    report.unreadable += len(photos) - len(files)
    paths = {pid: original_path(config, f) for pid, f in files.items()}
    xmp = {pid: xmp_sidecars(path) for pid, path in paths.items()}
    meta = tool.read([str(p) for p in paths.values()] + [str(x) for xs in xmp.values() for x in xs])
    moved: list[Photo] = []
    issues: list[dict[str, Any]] = []
    now = utcnow()
    for pid, f in files.items():
        photo = photos[pid]
        md = metadata_of(config, paths[pid], f.name, f.mtime_ns, meta, xmp[pid])
        if md.error:
            log.warning("reindex --metadata: %s: %s (left as it was)", f.path, md.error)
            report.unreadable += 1
            continue
        report.photos += 1
        before = {name: photo.__data__.get(name) for name in _FIELDS}
        # The decoder's length (a video's, an animation's) wins over the tags', as at index time.
        apply_descriptive(photo, md, duration=photo.duration if photo.kind in ("video", "live") else None)
        if any(photo.__data__.get(name) != value for name, value in before.items()):
            report.changed += 1
            mark_changed(photo, now)  # so the sidecar is rewritten
            if (photo.lat, photo.lon) != (before["lat"], before["lon"]):
                moved.append(photo)
        issues.extend(dict(file=f.id, stage="metadata", severity="warning", reason=w, created_at=now)
                      for w in md.warnings if not w.lower().startswith("[minor]"))
    places.assign(moved)
    with write_transaction(db):
        for photo in photos.values():
            if photo.dirty_fields:
                photo.save(only=photo.dirty_fields)
        IndexIssue.delete().where(IndexIssue.file.in_([f.id for f in files.values()])
                                  & (IndexIssue.stage == "metadata")).execute()
        if issues:
            IndexIssue.insert_many(issues).execute()


# The columns apply_descriptive may change (a change to any of them counts the photo as changed).
_FIELDS = ("taken_at", "taken_at_local", "tz_offset", "timezone", "taken_src", "lat", "lon", "altitude",
           "camera_make", "camera_model", "lens", "iso", "exposure", "fnumber", "focal_length", "duration", "title",
           "description", "keywords", "rating", "content_id")
