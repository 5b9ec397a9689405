"""Cover photos for the browse pages' cards (places, folders, calendar, things): per group, in the same GROUP BY
that counts it, the best photo with thumbnails — a favorite first, then the highest rating, then the newest
indexed — as one MAX() over a packed number, so a page of cards costs one query on either database."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import peewee as pw

from photoshelf.db.rows import chunks
from photoshelf.db.schema import Photo
from photoshelf.viewer.urls import thumb_url

_ID = 10**12  # photo ids stay below this; the rating and the favorite flag sit above it
_RATING = 10**13  # ratings are 0..5 (-1 "rejected" counts as 0)


def cover_score() -> Any:
    """An aggregate column: MAX over the group's photos with thumbnails of favorite·10¹⁴ + rating·10¹³ + id
    (NULL when none has thumbnails). `cover_id()` takes the photo id back out."""
    rating = pw.Case(None, ((Photo.rating > 0, Photo.rating),), 0)
    favorite = pw.Case(None, ((Photo.favorite == True, 10 * _RATING),), 0)  # noqa: E712 - a peewee expression
    score = favorite + rating * _RATING + Photo.id
    return pw.fn.MAX(pw.Case(None, ((Photo.has_thumbs == True, score),), None))  # noqa: E712


def cover_id(score: Any) -> int | None:
    return None if score is None else int(score) % _ID


def best(a: Any, b: Any) -> Any:
    """The better of two cover scores (either may be None): for a group made of groups (a country's cities)."""
    if a is None:
        return b
    if b is None:
        return a
    return max(int(a), int(b))


def tiles(photo_ids: Iterable[int | None]) -> dict[int, str]:
    """The tile URL of each photo id (one query)."""
    wanted = sorted({i for i in photo_ids if i is not None})
    out: dict[int, str] = {}
    for chunk in chunks(wanted):
        query: Any = Photo.select(Photo.id, Photo.sha1).where(Photo.id.in_(chunk))
        for pid, sha1 in query.tuples():
            out[pid] = thumb_url(sha1, "tile")
    return out
