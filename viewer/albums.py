"""Manual albums as the viewer shows them: lists with counts and covers, and the edits (create, rename, describe,
cover, add and remove photos, order them, delete) checked for who may make them, then made by photoshelf.albums."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import peewee as pw

from photoshelf import albums as core
from photoshelf import ids, values
from photoshelf.db.rows import tuples
from photoshelf.db.schema import Album, AlbumPhoto, Photo
from photoshelf.errors import NotFound
from photoshelf.viewer import names
from photoshelf.viewer.errors import InvalidInput
from photoshelf.viewer.urls import thumb_url
from photoshelf.visibility import Audience, visible

TITLE_MAX = core.TITLE_MAX


def get_album(ref: int | str, audience: Audience | None = None) -> Album:
    """An album by id or uid; with an `audience`, not one whose photos are all hidden from it (as if there were
    no such album: its title would tell of them)."""
    album_id = ids.parse_id(ref)
    album = Album.get_or_none(Album.id == album_id) if album_id is not None else None
    if album is None and isinstance(ref, str):
        album = Album.get_or_none(Album.uid == ref)
    if album is None or (audience is not None and names.albums(audience, [album.id])):
        raise NotFound(f"no album {ref}")
    return album


def _title(value: Any) -> str:
    title = values.clean(value) if isinstance(value, str) else None
    if not title:
        raise InvalidInput("an album needs a title")
    if len(title) > TITLE_MAX:
        raise InvalidInput(f"an album title is at most {TITLE_MAX} characters")
    return title


def _description(value: Any) -> str:
    text = values.clean(value, one_line=False) or ""
    if len(text) > values.DESCRIPTION:
        raise InvalidInput(f"an album description is at most {values.DESCRIPTION} characters")
    return text


def _ids(photo_ids: Iterable[Any], audience: Audience) -> list[int]:
    """The photo ids asked for, once each, all of them photos `audience` may see (else "no photo N")."""
    out: list[int] = []
    for pid in photo_ids:
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise InvalidInput(f"photo ids must be numbers, got {pid!r}")
        if pid not in out:
            out.append(pid)
    known = {p for (p,) in tuples(visible(Photo.select(Photo.id).where(Photo.id.in_(out)), audience,
                                          archive_view=True))} if out else set()
    unknown = [p for p in out if p not in known]
    if unknown:
        raise NotFound(f"no photo {', '.join(map(str, unknown[:5]))}")
    return out


def summary(album: Album, count: int, cover_sha1: str | None) -> dict[str, Any]:
    return {
        "id": album.id,
        "uid": album.uid,
        "title": album.title,
        "description": album.description,
        "count": count,
        "cover": album.cover_id,
        "cover_tile": thumb_url(cover_sha1, "tile") if cover_sha1 else None,
        "created_at": album.created_at.isoformat(),
        "updated_at": album.updated_at.isoformat(),
    }


def _entries(audience: Audience, *columns: Any) -> Any:
    """Album entries whose photo `audience` may see (counts and covers show only those)."""
    return visible(AlbumPhoto.select(*columns).join(Photo, on=(AlbumPhoto.photo == Photo.id)), audience)


def list_albums(audience: Audience) -> list[dict[str, Any]]:
    """Every album `audience` may know of (an empty one, or one with a photo it may open) with the number of its
    photos `audience` sees and a cover among them (the chosen cover, else its first photo)."""
    counts = dict(_entries(audience, AlbumPhoto.album, pw.fn.COUNT(AlbumPhoto.id)).group_by(AlbumPhoto.album)
                  .tuples())
    every = list(Album.select().order_by(Album.updated_at.desc(), Album.id.desc()))
    hidden = names.albums(audience, [a.id for a in every if not counts.get(a.id)])  # one it sees a photo of is known
    albums = [a for a in every if a.id not in hidden]
    covers = _covers(albums, audience)
    return [summary(a, counts.get(a.id, 0), covers.get(a.id)) for a in albums]


def _covers(albums: list[Album], audience: Audience) -> dict[int, str]:
    out: dict[int, str] = {}
    chosen = {a.cover_id: a.id for a in albums if a.cover_id}
    if chosen:
        for pid, sha1, has in tuples(visible(Photo.select(Photo.id, Photo.sha1, Photo.has_thumbs).where(
                Photo.id.in_(list(chosen))), audience)):
            if has:
                out[chosen[pid]] = sha1
    rest = [a.id for a in albums if a.id not in out]
    if rest:
        # One query for all of them (the photo page lists every album): each album's first entry, if it
        # has thumbnails.
        first = (_entries(audience, AlbumPhoto.album.alias("aid"), pw.fn.MIN(AlbumPhoto.position).alias("pos"))
                 .where(AlbumPhoto.album.in_(rest)).group_by(AlbumPhoto.album)).alias("first")
        rows = (AlbumPhoto.select(AlbumPhoto.album, Photo.sha1)
                .join(Photo, on=(AlbumPhoto.photo == Photo.id))
                .join(first, on=(first.c.aid == AlbumPhoto.album) & (first.c.pos == AlbumPhoto.position))
                .where(Photo.has_thumbs).order_by(AlbumPhoto.id))
        for album_id, sha1 in tuples(rows):
            out.setdefault(album_id, sha1)
    return out


def album_summary(album: Album, audience: Audience) -> dict[str, Any]:
    count = _entries(audience, AlbumPhoto.id).where(AlbumPhoto.album == album.id).count()
    return summary(album, count, _covers([album], audience).get(album.id))


def create_album(title: Any, description: Any, photo_ids: Iterable[Any], audience: Audience) -> dict[str, Any]:
    album = core.create(_title(title), _description(description))
    if photo_ids:
        add_photos(album.id, photo_ids, audience)
    return album_summary(get_album(album.id), audience)


def update_album(ref: int | str, changes: dict[str, Any], audience: Audience) -> dict[str, Any]:
    album = get_album(ref, audience)
    fields: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "title":
            fields["title"] = _title(value)
        elif key == "description":
            fields["description"] = _description(value)
        elif key == "cover":
            fields["cover"] = None if value is None else _ids([value], audience)[0]
        else:
            raise InvalidInput(f"unknown album field {key!r} (editable: title, description, cover)")
    core.update(album.id, **fields)
    return album_summary(get_album(album.id), audience)


def delete_album(ref: int | str, audience: Audience) -> None:
    """Delete the album (its photos stay in the library)."""
    core.delete(get_album(ref, audience).id)


def add_photos(ref: int | str, photo_ids: Iterable[Any], audience: Audience) -> int:
    """Append photos to the album (those already in it stay where they are); returns how many were added."""
    album = get_album(ref, audience)
    return core.add_photos(album.id, _ids(photo_ids, audience))


def remove_photos(ref: int | str, photo_ids: Iterable[Any], audience: Audience) -> int:
    album = get_album(ref, audience)
    ids = [p for p in photo_ids if isinstance(p, int) and not isinstance(p, bool)]
    if ids:  # only photos `audience` sees: the count must not tell whether an unseen id is in the album
        ids = [p for (p,) in tuples(visible(Photo.select(Photo.id).where(Photo.id.in_(ids)), audience,
                                            archive_view=True))]
    return core.remove_photos(album.id, ids)


def reorder(ref: int | str, photo_ids: Iterable[Any], audience: Audience) -> None:
    """Put the given photos first, in this order; the others follow in their current order."""
    album = get_album(ref, audience)
    core.reorder(album.id, _ids(photo_ids, audience))
