"""Albums: the one owner of making and changing manual albums, for the viewer's edits, a restore from sidecars
and a PhotoPrism import alike, and of marking the photos whose sidecars list an album as changed.

Who may do what (audiences, input checks) is the caller's: these functions take ids the caller has checked."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from photoshelf import values
from photoshelf.db.changes import touch_photos
from photoshelf.db.rows import tuples
from photoshelf.db.schema import Album, AlbumPhoto, utcnow
from photoshelf.db.uids import album_uid

TITLE_MAX = values.ALBUM_TITLE


def create(title: str, description: str = "", uid: str | None = None) -> Album:
    """A new, empty album (a new uid unless a restore brings its own)."""
    return Album.create(uid=(uid or album_uid())[:24], title=title[:TITLE_MAX], description=description)


def find(uid: str, title: str) -> Album | None:
    """The album a sidecar or another library names: by uid, else by title."""
    album = Album.get_or_none(Album.uid == uid) if uid else None
    if album is None and title:
        album = Album.get_or_none(Album.title == title)
    return album


def find_or_create(uid: str, title: str, description: str = "") -> tuple[Album, bool]:
    """The album named by uid or title, made (keeping that uid) when the catalog has none; and whether it was."""
    album = find(uid, title)
    if album is not None:
        return album, False
    return create(title or uid, description, uid or None), True


def last_position(album_id: int) -> int | None:
    """The position of the album's last photo (None when it is empty)."""
    top = AlbumPhoto.select(pw.fn.MAX(AlbumPhoto.position)).where(AlbumPhoto.album == album_id).scalar()
    return None if top is None else int(top)


def append(album_id: int, photo_ids: Sequence[int], after: int | None) -> None:
    """Put photos known not to be in the album yet after position `after` (None: at the start), in this order."""
    start = (after if after is not None else -1) + 1
    if photo_ids:
        AlbumPhoto.insert_many(
            [{"album": album_id, "photo": pid, "position": start + i} for i, pid in enumerate(photo_ids)]).execute()


def add_photos(album_id: int, photo_ids: Iterable[int], *, edited: bool = True) -> int:
    """Append photos to the album (those already in it stay where they are); returns how many were added.
    `edited`: a person's edit, which makes the album newer (a restore puts back what was, and does not)."""
    ids = list(dict.fromkeys(photo_ids))
    have = {p for (p,) in tuples(AlbumPhoto.select(AlbumPhoto.photo).where(
        (AlbumPhoto.album == album_id) & AlbumPhoto.photo.in_(ids)))} if ids else set()
    new = [p for p in ids if p not in have]
    append(album_id, new, last_position(album_id))
    if edited:
        touch(album_id)
    return len(new)


def remove_photos(album_id: int, photo_ids: Sequence[int]) -> int:
    """Take photos out of the album (a cover among them stops being the cover); returns how many were in it."""
    n = AlbumPhoto.delete().where((AlbumPhoto.album == album_id) & AlbumPhoto.photo.in_(photo_ids)).execute() \
        if photo_ids else 0
    Album.update(cover=None).where((Album.id == album_id) & Album.cover.in_(photo_ids or [0])).execute()
    touch(album_id)
    if photo_ids:
        # Their sidecars list the album: marking them changed gets the sidecars rewritten without it.
        touch_photos(photo_ids)
    return int(n)


def update(album_id: int, **fields: Any) -> None:
    """Change the album's title, description or cover."""
    Album.update(**fields, updated_at=utcnow()).where(Album.id == album_id).execute()


def touch(album_id: int) -> None:
    """Mark the album changed: the sidecar sync rewrites the sidecars of its photos (they list its title)."""
    Album.update(updated_at=utcnow()).where(Album.id == album_id).execute()


def delete(album_id: int) -> None:
    """Delete the album (its photos stay in the library)."""
    members = AlbumPhoto.select(AlbumPhoto.photo).where(AlbumPhoto.album == album_id)
    touch_photos(members)  # their sidecars drop the album
    AlbumPhoto.delete().where(AlbumPhoto.album == album_id).execute()
    Album.delete().where(Album.id == album_id).execute()


def reorder(album_id: int, photo_ids: Sequence[int]) -> None:
    """Put the given photos first, in this order; the others follow in their current order."""
    current = [p for (p,) in tuples(AlbumPhoto.select(AlbumPhoto.photo).where(AlbumPhoto.album == album_id)
                                     .order_by(AlbumPhoto.position, AlbumPhoto.id))]
    order = [p for p in photo_ids if p in current] + [p for p in current if p not in photo_ids]
    for pos, pid in enumerate(order):
        AlbumPhoto.update(position=pos).where((AlbumPhoto.album == album_id) & (AlbumPhoto.photo == pid)).execute()


# --- a restore: each photo back in the albums its sidecar lists ---


@dataclass
class Placer:
    """Puts photos back in the albums their sidecars list, making the albums that are missing. With `cached`
    (a restore of many sidecars), what it needs is looked up once instead of per photo: the albums by uid and
    title, each album's last position, and which photos are in an album already."""

    cached: bool = False
    created: int = 0
    albums: dict[str, Album] = field(default_factory=dict)  # by uid and by "title:" + title
    positions: dict[int, int | None] = field(default_factory=dict)  # album id -> last position
    in_albums: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.cached:
            return
        self.in_albums = {pid for (pid,) in tuples(AlbumPhoto.select(AlbumPhoto.photo).distinct())}
        for album in Album.select():
            self.albums.setdefault(album.uid, album)
            self.albums.setdefault("title:" + album.title, album)
        for album_id, last in tuples(AlbumPhoto.select(AlbumPhoto.album, pw.fn.MAX(AlbumPhoto.position))
                                      .group_by(AlbumPhoto.album)):
            self.positions[album_id] = last

    def _album(self, uid: str, title: str) -> Album:
        if self.cached:
            album = self.albums.get(uid) or self.albums.get("title:" + title)
            if album is not None:
                return album
            album, made = create(title or uid, "", uid or None), True
            self.albums[album.uid] = self.albums["title:" + album.title] = album
        else:
            album, made = find_or_create(uid, title)
        self.created += made
        return album

    def place(self, photo_id: int, entries: Sequence[dict[str, str]]) -> None:
        """The photo is in exactly these albums ({"UID", "Title"} each) afterwards, new ones at their ends."""
        fresh = self.cached and photo_id not in self.in_albums  # no entries yet: nothing to check or remove
        if fresh and not entries:
            return
        wanted = []
        for entry in entries:
            album = self._album(entry["UID"], entry["Title"])
            wanted.append(album.id)
            if fresh or not AlbumPhoto.select().where(
                    (AlbumPhoto.album == album.id) & (AlbumPhoto.photo == photo_id)).exists():
                last = self.positions[album.id] if album.id in self.positions else last_position(album.id)
                append(album.id, [photo_id], last)
                if self.cached:
                    self.positions[album.id] = (last if last is not None else -1) + 1
        if not fresh:
            AlbumPhoto.delete().where((AlbumPhoto.photo == photo_id) & AlbumPhoto.album.not_in(wanted or [0])).execute()
