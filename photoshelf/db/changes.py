"""A photo changed: the one stamp (Photo.updated_at) that the sidecar sync, the viewer's caches and its state go by."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import peewee as pw

from photoshelf.db.schema import Photo, utcnow


def change_photos(where: Any, *, at: dt.datetime | None = None, **fields: Any) -> int:
    """Write `fields` on the photos `where` selects and mark them changed (at `at`, default now), in one statement;
    returns how many rows matched. Every write of photo columns outside the index's batch goes through here, so no
    writer forgets the stamp: the next sidecar pass rewrites their sidecars, the viewer's caches start afresh."""
    return int(Photo.update(**fields, updated_at=at or utcnow()).where(where).execute())


def touch_photos(photo_ids: Iterable[int] | pw.SelectQuery, *, at: dt.datetime | None = None) -> int:
    """Mark photos changed without changing them (something they show elsewhere did: an album, a person)."""
    if isinstance(photo_ids, pw.SelectQuery):
        return change_photos(Photo.id.in_(photo_ids), at=at)
    ids = list(photo_ids)
    return change_photos(Photo.id.in_(ids), at=at) if ids else 0


def mark_changed(photo: Photo, at: dt.datetime | None = None) -> None:
    """Stamp a photo object that is saved later (the index's and the metadata re-read's batches)."""
    photo.updated_at = at or utcnow()
