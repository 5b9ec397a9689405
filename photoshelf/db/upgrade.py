"""Bring a catalog's schema up to date: back it up first (a catalog that holds data), then run the migrations.

The one place migrations are started from: open_catalog (every command, so `index`, `serve` and `watch` upgrade an
old catalog on start) and `photoshelf migrate`. The copy goes to <storage>/backups/pre-migrate-<from>-<to>-<UTC
date>.sqlite (SQLite) or .sql (MariaDB, when mariadb-dump or mysqldump is installed; without one a warning says no
copy was made and the migrations run anyway, since refusing would leave the catalog unusable). The newest
KEEP_BACKUPS copies are kept.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import peewee as pw

from photoshelf.db import migrations, snapshots
from photoshelf.db.backends import is_sqlite
from photoshelf.errors import ToolMissing

log = logging.getLogger(__name__)

KEEP_BACKUPS = 5  # pre-migrate copies kept in <storage>/backups (the oldest go first)
PREFIX = "pre-migrate-"


@dataclass
class UpgradeReport:
    before: int
    after: int
    applied: list[int] = field(default_factory=list)
    backup: Path | None = None
    backup_skipped: str | None = None  # why no copy was made, when one should have been

    def as_dict(self) -> dict[str, object]:
        return {"before": self.before, "after": self.after, "applied": self.applied,
                "backup": str(self.backup) if self.backup else None, "backup_skipped": self.backup_skipped}


def backups_folder(storage: Path) -> Path:
    return storage / "backups"


def upgrade(db: pw.Database, url: str, storage: Path, *, backup: bool = True,
            on_step: Callable[[int, str], None] | None = None) -> UpgradeReport:
    """Apply the pending migrations of the catalog `db` (at `url`), after a copy of it when it holds data."""
    todo = migrations.pending(db)
    before = migrations.current_version(db)
    report = UpgradeReport(before=before, after=before)
    if not todo:
        return report
    if backup and before > 0:  # a new, empty catalog has nothing to lose
        report.backup, report.backup_skipped = _backup(db, url, storage, before, todo[-1])
    report.applied = migrations.migrate(db, on_step)
    report.after = migrations.current_version(db)
    return report


def _backup(db: pw.Database, url: str, storage: Path, before: int, after: int) -> tuple[Path | None, str | None]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = backups_folder(storage) / f"{PREFIX}{before}-{after}-{stamp}"
    try:
        path = snapshots.snapshot(db, url, stem)
    except ToolMissing as exc:
        reason = f"no copy of the catalog was made before migrating it from schema {before} to {after}: {exc}"
        log.warning("%s", reason)
        return None, reason
    log.info("catalog copied to %s before migrating it from schema %s to %s", path, before, after)
    prune(backups_folder(storage), "sqlite" if is_sqlite(db) else "sql")
    return path, None


def prune(folder: Path, suffix: str, keep: int = KEEP_BACKUPS) -> list[Path]:
    """Remove all but the newest `keep` pre-migrate copies (names sort by date); returns those removed."""
    copies = sorted(folder.glob(f"{PREFIX}*.{suffix}"), key=lambda p: p.name.rsplit("-", 1)[-1])
    gone = copies[:-keep] if keep > 0 else copies
    for path in gone:
        path.unlink(missing_ok=True)
        log.info("removed the old pre-migrate copy %s", path)
    return gone
