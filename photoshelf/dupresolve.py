"""A person's decision on a duplicate group: archive the others as copies of the keeper, or take it back.

Resolving never touches an original: the others are archived (hidden from the timeline and search by
photoshelf/visibility.py) with `duplicate_of` naming the keeper; both go into their sidecars (the keeper by its
content hash), so a catalog rebuilt from the sidecars keeps the decision. Deleting the files is left to the user.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from photoshelf.db.changes import change_photos
from photoshelf.db.schema import Photo, utcnow
from photoshelf.db.transactions import run_write
from photoshelf.duplicates import Group
from photoshelf.errors import PhotoshelfError

log = logging.getLogger(__name__)

RESOLVABLE = ("near", "burst")  # an exact group is one photo already; an edit is its stack


class ResolveError(PhotoshelfError):
    """A group that cannot be resolved (an exact copy, an edit, a keeper that is not in the group)."""


@dataclass
class Outcome:
    groups: int = 0
    archived: list[int] = field(default_factory=list)  # photo ids now archived as copies
    restored: list[int] = field(default_factory=list)  # photo ids taken back
    skipped: list[str] = field(default_factory=list)  # group ids left alone, with why

    def as_dict(self) -> dict[str, Any]:
        return {"groups": self.groups, "archived": self.archived, "restored": self.restored, "skipped": self.skipped}


def plan(group: Group, keeper_id: int | None = None) -> tuple[int, list[int]]:
    """The keeper's id and the ids to archive as its copies (the suggested keeper unless one is named)."""
    if group.kind not in RESOLVABLE:
        raise ResolveError(f"group {group.id} is {group.kind}: " + (
            "the copies are one photo already; delete the extra files yourself if you want the space"
            if group.kind == "exact" else "an original and its edits are a stack, shown as one"))
    ids = [m.photo.id for m in group.members]
    keeper = group.keeper.photo.id if keeper_id is None else keeper_id
    if keeper not in ids:
        raise ResolveError(f"photo {keeper} is not in group {group.id}")
    return keeper, [i for i in ids if i != keeper]


def resolve(db: Any, groups: Sequence[Group], keeper_id: int | None = None) -> Outcome:
    """Archive the others of each group as copies of its keeper (one transaction). A group that cannot be
    resolved is an error when it is the only one asked for, and skipped (said why) among several."""
    out = Outcome()
    work: list[tuple[int, list[int]]] = []
    for group in groups:
        try:
            work.append(plan(group, keeper_id))
        except ResolveError as exc:
            if len(groups) == 1:
                raise
            out.skipped.append(str(exc))
    if not work:
        return out

    def write() -> None:
        now = utcnow()
        for keeper, others in work:
            # The keeper itself stands on its own (it may have been a copy in an earlier decision).
            change_photos((Photo.id == keeper) & Photo.duplicate_of.is_null(False), at=now, duplicate_of=None,
                          archived=False)
            change_photos(Photo.id.in_(others), at=now, archived=True, duplicate_of=keeper)

    run_write(db, write)
    out.groups = len(work)
    out.archived = [i for _, others in work for i in others]
    log.info("duplicates: archived %s photos as copies in %s groups", len(out.archived), out.groups)
    return out


def unresolve(db: Any, photo_ids: Iterable[int]) -> Outcome:
    """Take back a decision: these photos (or, for a keeper, its copies) are no longer copies, and no longer
    archived."""
    ids = list(photo_ids)
    out = Outcome()

    def write() -> list[int]:
        found: Any = Photo.select(Photo.id).where(
            Photo.duplicate_of.is_null(False) & (Photo.id.in_(ids) | Photo.duplicate_of.in_(ids))).tuples()
        rows = [int(pid) for (pid,) in found]
        if rows:
            change_photos(Photo.id.in_(rows), duplicate_of=None, archived=False)
        return rows

    out.restored = run_write(db, write) if ids else []
    out.groups = 1 if out.restored else 0
    return out
