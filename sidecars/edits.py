"""What a person changed by hand in a sidecar, against the catalog: those fields lock, cleared ones unlock.

The rule (docs/indexing.md, "Hand edits win"): a field a person sets, in the viewer or in a sidecar, is locked
(`photo.locked`, the sidecar's `Photoshelf: Locked:` list) and no index, restore or `reindex --metadata` puts the
file's embedded value back. A sidecar edit locks the fields whose value differs from the catalog's: Title,
Description, Details: Keywords, TakenAt/TakenAtLocal (`taken_at`), Lat/Lng (`location`) and Photoshelf: Rating.
A person unlocks a field by emptying it in the sidecar (or deleting its line), or by taking its name out of
`Locked:`; the file's own value then comes back (the photo's metadata is read again). A name added to `Locked:` in
the same edit as an empty value locks the field empty on purpose ("no position").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from photoshelf import values
from photoshelf.sidecars.format import UserData

TEXTS = (("title", values.TITLE, True), ("description", values.DESCRIPTION, False))
# photo.meta_version that asks for the file's metadata to be read again (by the next index run, or reindex --metadata)
REREAD_REQUESTED = -1
POSITION_EPSILON = 1e-7  # degrees (about a centimetre): a sidecar keeps full floats, this is only for rounding


@dataclass
class HandEdits:
    """The fields a sidecar edit sets (to lock) and the ones it clears (to unlock and read from the file again)."""

    locked: set[str] = field(default_factory=set)
    unlocked: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.locked or self.unlocked)


def _second(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(microsecond=0, tzinfo=None) if value is not None else None


def _keywords(text: str | None) -> str | None:
    return ", ".join(values.keywords([text])) or None if text else None


def hand_edits(photo: Any, ud: UserData) -> HandEdits:
    """Compare a sidecar a person edited with the catalog's photo; adjusts `ud` (its `locked` list, and the other
    half of a date given in UTC or local time only) so that apply_user_data() applies exactly those edits."""
    edits = HandEdits()
    had = {n for n in (photo.locked or "").split(",") if n}
    # Names the person added to `Locked:` in this edit: an empty value there is a deliberate "none", not a clear.
    edits.locked |= set(ud.locked) - had
    for name, cap, one_line in TEXTS:
        have = values.text(getattr(photo, name), cap, one_line=one_line)
        _compare(edits, name, have, getattr(ud, name))
    _compare(edits, "keywords", _keywords(photo.keywords), _keywords(ud.keywords))
    if ud.rating is not None and ud.rating != photo.rating:
        edits.locked.add("rating")
    _dates(edits, photo, ud)
    _position(edits, photo, ud)
    # A field taken out of `Locked:` by hand (and not edited at the same time) is unlocked too.
    edits.unlocked |= {n for n in had - set(ud.locked) if n not in edits.locked}
    for name in sorted(edits.locked):
        if name not in ud.locked:
            ud.locked.append(name)
    ud.locked = [n for n in ud.locked if n not in edits.unlocked]
    return edits


def _compare(edits: HandEdits, name: str, have: str | None, given: str | None) -> None:
    if (have or None) == (given or None):
        return
    if given:
        edits.locked.add(name)
    elif name not in edits.locked:
        edits.unlocked.add(name)  # emptied by a person: the file's value comes back


def _plain(value: dt.datetime | None) -> dt.datetime | None:
    """A plain datetime: a date typed without quotes in YAML comes as ruamel's TimeStamp, which drivers refuse."""
    if value is None:
        return None
    return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


def _dates(edits: HandEdits, photo: Any, ud: UserData) -> None:
    ud.taken_at, ud.taken_at_local = _plain(ud.taken_at), _plain(ud.taken_at_local)
    utc_changed = ud.taken_at is not None and _second(ud.taken_at) != _second(photo.taken_at)
    local_changed = ud.taken_at_local is not None and _second(ud.taken_at_local) != _second(photo.taken_at_local)
    if not (utc_changed or local_changed):
        return
    offset = dt.timedelta(minutes=photo.tz_offset) if photo.tz_offset is not None else None
    if utc_changed and not local_changed and ud.taken_at is not None:
        ud.taken_at_local = ud.taken_at + offset if offset is not None else ud.taken_at
    elif local_changed and not utc_changed and ud.taken_at_local is not None:
        ud.taken_at = ud.taken_at_local - offset if offset is not None else ud.taken_at_local
    edits.locked.add("taken_at")


def _position(edits: HandEdits, photo: Any, ud: UserData) -> None:
    have = (photo.lat, photo.lon) if photo.lat is not None and photo.lon is not None else None
    given = (ud.lat, ud.lon) if ud.lat is not None and ud.lon is not None else None
    if have == given:
        return
    if given is None:
        if "location" not in edits.locked:
            edits.unlocked.add("location")
        return
    if have is None or abs(have[0] - given[0]) > POSITION_EPSILON or abs(have[1] - given[1]) > POSITION_EPSILON:
        edits.locked.add("location")
