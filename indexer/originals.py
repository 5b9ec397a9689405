"""Whether the originals can be scanned: a vanished, unlistable or suddenly empty root is an error, never a mass
deletion; folders a scan could not read are kept as issues (doctor lists them) and nothing in them goes missing."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable
from pathlib import Path

from photoshelf.db import settings
from photoshelf.db.schema import File, utcnow
from photoshelf.errors import OriginalsUnavailable
from photoshelf.indexer.walk import OtherFiles, WalkProblem, display_path

log = logging.getLogger(__name__)

NOTHING_MARKED = "nothing was marked missing"


def require_listable(root: Path) -> bool:
    """Raise OriginalsUnavailable unless `root` is a folder this user can list; whether it has any entry.

    Needs no catalog: `index` calls it before it creates storage or catalog."""
    try:
        with os.scandir(root) as entries:
            return next(entries, None) is not None
    except (FileNotFoundError, NotADirectoryError):
        raise OriginalsUnavailable(
            f"originals folder not found: {root} (library.originals / PHOTOSHELF_ORIGINALS); {NOTHING_MARKED}"
        ) from None
    except OSError as exc:
        raise OriginalsUnavailable(
            f"cannot list the originals folder {root}: {exc.strerror} (a share not mounted, or not readable by "
            f"this user?); {NOTHING_MARKED}"
        ) from None


def check_root(root: Path, *, allow_empty: bool = False) -> None:
    """Before a scan: the root can be listed, and is not an empty folder in front of a catalog full of photos.

    An unmounted share leaves an empty mount point; scanning it would mark every photo missing (and purge them
    after index.purge_missing_after_days). So an empty root is an error unless the catalog has nothing there
    either, or the user says the library really is empty now (`photoshelf index --allow-empty`)."""
    if require_listable(root) or allow_empty:
        return
    present = File.select().where(File.missing_since.is_null()).count()
    if present:
        raise OriginalsUnavailable(
            f"the originals folder {root} is empty, but the catalog has {present} files in it: is the share "
            f"mounted? {NOTHING_MARKED} (to empty the library on purpose: photoshelf index --allow-empty)"
        )


def covered(path: str, unreadable: Collection[str]) -> bool:
    """Whether `path` is an unreadable path or lies under one ('' is the whole tree)."""
    if not unreadable:
        return False
    if "" in unreadable or path in unreadable:
        return True
    parts = path.split("/")
    return any("/".join(parts[:i]) in unreadable for i in range(1, len(parts)))


def record_unreadable(problems: Iterable[WalkProblem], scopes: list[str]) -> None:
    """Keep what a scan of `scopes` could not read, for doctor: what it found replaces what was recorded under
    those scopes before; what a scan reads again drops out."""
    before = settings.get_dict(settings.UNREADABLE)
    after = {path: v for path, v in before.items() if not any(covered(path, [scope]) for scope in scopes)}
    now = utcnow().isoformat(timespec="seconds") + "Z"
    for problem in problems:
        path = display_path(problem.rel)
        after[path] = {"reason": problem.reason, "since": before.get(path, {}).get("since", now)}
    if after != before:
        settings.put_dict(settings.UNREADABLE, after)


def record_other(other: dict[str, OtherFiles]) -> None:
    """Keep, for doctor, the files the last full scan passed over as neither media nor sidecar (by extension)."""
    data = {ext: {"count": o.count, "examples": o.examples} for ext, o in sorted(other.items())}
    settings.put_dict(settings.OTHER_FILES, data)

