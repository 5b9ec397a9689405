"""What the selection bar does to many photos at once: set a flag (favorite, archived, private) on all of them,
and the plan of a zip download of their originals (the bytes are streamed by viewer/zipstream.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from photoshelf import ids
from photoshelf.db.changes import change_photos
from photoshelf.db.schema import Photo
from photoshelf.errors import NotFound
from photoshelf.viewer.errors import Forbidden, InvalidInput
from photoshelf.viewer.media import MediaFiles, Original
from photoshelf.viewer.photos import FLAGS
from photoshelf.visibility import Audience, visible

# A selection is what a person ticked on screens of tiles: thousands at most. A longer list is refused rather
# than turned into one huge IN (...) query.
MAX_SELECTION = 10_000


def photo_ids(values: Any) -> list[int]:
    """The ids of a request's selection, in order, without repeats: a list of ids (numbers or digit strings);
    anything else is a 400 naming what is wrong."""
    if not isinstance(values, list):
        raise InvalidInput("photos must be a list of photo ids")
    if len(values) > MAX_SELECTION:
        raise InvalidInput(f"at most {MAX_SELECTION:,} photos at once, got {len(values):,}")
    out: dict[int, None] = {}
    for value in values:
        number = None if isinstance(value, bool) else ids.parse_id(value)
        if number is None:
            raise InvalidInput(f"photos must be photo ids, got {str(value)[:40]!r}")
        out[number] = None
    return list(out)


def _flags(changes: Any) -> dict[str, bool]:
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidInput(f"set must be an object with one or more of {', '.join(FLAGS)}")
    clean: dict[str, bool] = {}
    for key, value in changes.items():
        if key not in FLAGS:
            raise InvalidInput(f"unknown flag {key!r} (the selection can set: {', '.join(FLAGS)})")
        if not isinstance(value, bool):
            raise InvalidInput(f"{key} must be true or false, got {value!r}")
        clean[key] = value
    return clean


def _seen(chosen: list[int], audience: Audience) -> list[Photo]:
    """The chosen photos `audience` sees (archived ones included: the archive page selects them too)."""
    if not chosen:
        return []
    return list(visible(Photo.select(Photo.id, Photo.owner).where(Photo.id.in_(chosen)), audience,
                        archive_view=True))


def set_flags(chosen: Iterable[int], changes: Any, audience: Audience) -> int:
    """Set the flags on every chosen photo `audience` sees (run it in the writer); returns how many changed.

    Private means "only its owner (and admins) see it": as on the photo page, nobody but an admin makes someone
    else's photo private or not, and a selection holding one is refused whole (nothing is changed)."""
    flags = _flags(changes)
    photos = _seen(list(chosen), audience)
    if "private" in flags and not audience.is_admin:
        others = [p.id for p in photos if p.owner is None or p.owner != audience.user_id]
        if others:
            raise Forbidden(f"only a photo's owner or an admin can make it private or not ({len(others)} of the "
                            f"{len(photos)} selected photos are not yours)")
    if not photos:
        return 0
    target = [p.id for p in photos]
    differs: Any = None
    for key, value in flags.items():
        cond = getattr(Photo, key) != value
        differs = cond if differs is None else (differs | cond)
    return change_photos(Photo.id.in_(target) & differs, at=None, **flags)


@dataclass(frozen=True)
class ZipPlan:
    """The originals a zip download holds, with the names they get inside it, and the photos left out."""

    entries: list[tuple[Original, str]]
    left_out: list[str]


def zip_plan(chosen: Iterable[int], audience: Audience, files: MediaFiles) -> ZipPlan:
    """Which file of each chosen photo goes into the zip, under a name unique in it (a second "IMG_0001.JPG"
    becomes "IMG_0001 (2).JPG"). A photo `audience` does not see is left out without a word (ids are not
    probed); one whose original is not on disk is named in left_out."""
    entries: list[tuple[Original, str]] = []
    left_out: list[str] = []
    taken: set[str] = set()
    for pid in chosen:
        try:
            found = files.original(pid, audience)
        except NotFound as exc:
            if "not on disk" in str(exc):
                left_out.append(f"photo {pid}: {exc}")
            continue
        entries.append((found, _unique(found.name, taken)))
    return ZipPlan(entries=entries, left_out=left_out)


def _unique(name: str, taken: set[str]) -> str:
    clean = name.replace("/", "_").replace("\\", "_") or "photo"
    stem, dot, ext = clean.rpartition(".")
    if not dot:
        stem, ext = clean, ""
    candidate, n = clean, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem} ({n}){dot}{ext}"
    taken.add(candidate.lower())
    return candidate
