"""The names an audience is not told of: folders, albums and people whose photos are all hidden from it
(visibility.known), worked out for the whole catalog with one grouped query per kind and kept per (audience,
catalog state), like the listing counts (viewer/listing.py): a second page costs a status probe, and any write to
the catalog (a photo made private, a share, an edit, the indexer, a sidecar sync, in this process or another)
changes the state, so the next page works them out again and never shows a stale name."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from photoshelf.db.schema import AlbumPhoto, Face, File, Folder, Photo
from photoshelf.viewer import listing
from photoshelf.visibility import Audience, hidden_groups, hides_nothing, known_groups

# Sets kept per process, per (kind, audience, catalog state): a few per user who looked at a page since the
# last change. Each is the hidden names only (usually none or a few), never the shown ones.
KEPT = 64
_kept: OrderedDict[tuple[Any, ...], frozenset[Any]] = OrderedDict()


def forget() -> None:
    """Drop every kept set (tests and the bench: the next page works them out afresh)."""
    with listing._rankings_lock:
        _kept.clear()


def folders(audience: Audience) -> frozenset[str]:
    """The paths of the folders whose photos, anywhere below them, are all hidden from `audience`."""
    return _kept_or(("folders", audience), audience, lambda: _folders(audience))


def albums(audience: Audience, among: list[int] | None = None) -> frozenset[int]:
    """The albums (of `among`, or all) that hold photos, none of them one `audience` may open."""
    rows = AlbumPhoto.select().join(Photo, on=(AlbumPhoto.photo == Photo.id))
    return _groups("albums", AlbumPhoto.album, rows, audience, among)


def people(audience: Audience, among: list[int] | None = None) -> frozenset[int]:
    """The people (of `among`, or all) seen on photos, none of them one `audience` may open."""
    rows = Face.select().join(Photo, on=(Face.photo == Photo.id)).where(Face.person.is_null(False))
    return _groups("people", Face.person, rows, audience, among)


def _groups(kind: str, key: Any, rows: Any, audience: Audience, among: list[int] | None) -> frozenset[int]:
    if hides_nothing(audience) or (among is not None and not among):
        return frozenset()
    if Photo._meta.database.in_transaction() and among is not None:
        # A write asking about a few (an album edit): just those, in its own transaction (see _kept_or).
        return frozenset(hidden_groups(key, rows.where(key.in_(among)), audience))
    found = _kept_or((kind, audience), audience, lambda: frozenset(hidden_groups(key, rows, audience)))
    return found if among is None else found & frozenset(among)


def _kept_or(key: tuple[Any, ...], audience: Audience, compute: Any) -> frozenset[Any]:
    """compute()'s set, kept under `key` and the catalog state. Not inside a transaction (a write): it reads its
    own uncommitted rows, which another connection must not be given if they are rolled back."""
    if hides_nothing(audience):
        return frozenset()
    db = Photo._meta.database
    if db.in_transaction():
        return frozenset(compute())
    return frozenset(listing._kept(_kept, (id(db), *key, listing._catalog_state(db)), compute, KEPT))


def _folders(audience: Audience) -> frozenset[str]:
    """One grouped query over every folder's photos (whether each holds one `audience` may open), then each
    folder's answer carried up to the folders above it: a folder is hidden when it has photos below it and none
    of them, in it or below, is one `audience` may open."""
    folders: Any = Folder.select(Folder.id, Folder.path).where(Folder.missing_since.is_null())
    paths: dict[int, str] = dict(folders.tuples())
    rows = (File.select().join(Photo, on=(File.photo == Photo.id))
            .where((File.role == "media") & File.missing_since.is_null()))
    seen: dict[str, bool] = {}  # a folder with photos in or below it: whether one is a photo `audience` may open
    for fid, known in known_groups(File.folder, rows, audience).items():
        path = paths.get(fid)
        while path is not None and not seen.get(path, False):  # up until a folder already known to be seen
            seen[path] = seen.get(path, False) or known
            path = path.rpartition("/")[0] if path else None
    return frozenset(path for path, known in seen.items() if not known)
