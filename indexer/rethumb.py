"""Make the thumbnails of some photos again (`photoshelf reindex --stage thumbs`): after a change in how a kind of
file is rendered (RAW: a LibRaw demosaic instead of a small embedded preview), the cached ones are stale, and
the index pass never redoes them, since they are named by content."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peewee as pw

from photoshelf.config import Config
from photoshelf.db.changes import change_photos
from photoshelf.db.schema import File, Photo, Thumbnail, utcnow
from photoshelf.db.transactions import write_transaction
from photoshelf.filenames import rel_of
from photoshelf.indexer.worker import FileResult, process_file
from photoshelf.media.thumbs import ThumbCache

log = logging.getLogger(__name__)

KINDS = ("raw",)  # what `reindex --stage thumbs` redoes by default: the kinds whose rendering changed


@dataclass
class RethumbReport:
    done: int = 0
    failed: int = 0
    skipped: int = 0  # no file on disk to render from
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"done": self.done, "failed": self.failed, "skipped": self.skipped, "errors": self.errors[:20]}


def _source(config: Config, photo_id: int) -> Path | None:
    """The photo's first present media file, inside the originals."""
    query: Any = File.select(File.path, File.raw_path).where((File.photo == photo_id) & (File.role == "media")
                                                           & File.missing_since.is_null()).order_by(File.path)
    for f in query:
        rel = rel_of(f)  # a name that is not UTF-8 opens by its raw bytes
        path = config.originals_path / rel
        if ".." not in Path(rel).parts and path.is_file():
            return path
    return None


def _record(db: pw.Database, photo_id: int, result: FileResult, ext: str) -> None:
    with write_transaction(db):
        Thumbnail.delete().where(Thumbnail.photo == photo_id).execute()  # the preview is made again on view
        now = utcnow()
        if result.renditions:
            Thumbnail.insert_many([dict(photo=photo_id, size=r.size, width=r.width, height=r.height, format=ext,
                                        bytes=r.bytes, created_at=now) for r in result.renditions]).execute()
        fields: dict[str, object] = {"has_thumbs": bool(result.renditions)}
        if result.phash:
            fields["phash"] = result.phash
        change_photos(Photo.id == photo_id, at=now, **fields)


def redo_thumbnails(config: Config, db: pw.Database, kinds: Iterable[str] = KINDS,
                    progress: Callable[[int, int], None] | None = None) -> RethumbReport:
    """Render the fit and tile of every present photo of these kinds again from its original (read only), drop
    their cached preview, and record the new renditions. Resumable: each photo is one short transaction."""
    cache = ThumbCache(config.thumbs_path, config.thumbnails)
    query: Any = Photo.select(Photo.id, Photo.sha1).where(Photo.kind.in_(list(kinds)) & Photo.missing_since.is_null())
    rows: list[tuple[int, str]] = list(query.order_by(Photo.id).tuples())
    report = RethumbReport()
    for n, (photo_id, sha1) in enumerate(rows, 1):
        path = _source(config, photo_id)
        if path is None:
            report.skipped += 1
            continue
        cache.remove(sha1)  # fit, tile and preview: process_file would otherwise reuse them
        result = process_file(path, path.stat().st_size, cache, config.index.max_megapixels)
        if result.fatal or not result.renditions or result.sha1 != sha1:
            report.failed += 1
            reason = result.fatal or "; ".join(r for _s, r in result.warnings) or "the file changed since indexing"
            report.errors.append(f"photo {photo_id}: {reason}")
            log.warning("rethumb: photo %s (%s): %s", photo_id, path.name, reason)
        else:
            report.done += 1
        _record(db, photo_id, result if result.sha1 == sha1 else FileResult(), cache.ext)
        if progress is not None:
            progress(n, len(rows))
    return report
