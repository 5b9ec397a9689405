"""Library statistics for `photoshelf stats` and the viewer's status page."""

from __future__ import annotations

from typing import Any

import peewee as pw

from photoshelf.db.rows import tuples
from photoshelf.db.schema import File, Folder, IndexIssue, Photo, Stack, Thumbnail


def library_stats() -> dict[str, Any]:
    present = Photo.missing_since.is_null()
    by_type = dict(tuples(Photo.select(Photo.kind, pw.fn.COUNT(Photo.id)).where(present).group_by(Photo.kind)))
    first, last = Photo.select(pw.fn.MIN(Photo.taken_at_local), pw.fn.MAX(Photo.taken_at_local)).where(
        present).scalar(as_tuple=True)
    dup_photos = (
        File.select(File.photo)
        .where((File.role == "media") & File.missing_since.is_null() & File.photo.is_null(False))
        .group_by(File.photo)
        .having(pw.fn.COUNT(File.id) > 1)
        .count()
    )
    return {
        "photos": sum(by_type.values()),
        "by_type": by_type,
        "files": File.select().where((File.role == "media") & File.missing_since.is_null()).count(),
        "sidecar_files": File.select().where((File.role == "sidecar") & File.missing_since.is_null()).count(),
        "folders": Folder.select().count(),
        "failed_files": File.select().where(File.error.is_null(False) & File.missing_since.is_null()).count(),
        "warnings": IndexIssue.select().where(IndexIssue.severity == "warning").count(),
        "missing_photos": Photo.select().where(Photo.missing_since.is_null(False)).count(),
        "photos_with_duplicates": dup_photos,
        "stacks": Stack.select().count(),
        "geotagged": Photo.select().where(present & Photo.lat.is_null(False)).count(),
        "favorites": Photo.select().where(present & (Photo.favorite == True)).count(),  # noqa: E712
        "thumbnail_bytes": int(Thumbnail.select(pw.fn.SUM(Thumbnail.bytes)).scalar() or 0),
        "first_taken": str(first) if first else None,
        "last_taken": str(last) if last else None,
    }
