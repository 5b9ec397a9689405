"""Schema migrations: numbered steps applied in order, recorded in schema_version."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import peewee as pw

from photoshelf.db.backends import table_rebuilds_allowed
from photoshelf.db.migrations import (
    m0001_initial,
    m0002_viewer,
    m0003_ml,
    m0004_photo_locked,
    m0005_sidecar_state,
    m0006_viewer_indexes,
    m0007_places,
    m0008_lookalike,
    m0009_accounts,
    m0010_clean_numbers,
    m0011_raw_paths,
    m0012_duplicates,
    m0013_fulltext,
    m0014_photo_text,
    m0015_mariadb_fulltext,
)
from photoshelf.db.schema import SchemaVersion
from photoshelf.db.transactions import write_transaction

log = logging.getLogger(__name__)

MIGRATIONS: list[tuple[int, Callable[[pw.Database], None]]] = [
    (1, m0001_initial.apply),
    (2, m0002_viewer.apply),
    (3, m0003_ml.apply),
    (4, m0004_photo_locked.apply),
    (5, m0005_sidecar_state.apply),
    (6, m0006_viewer_indexes.apply),
    (7, m0007_places.apply),
    (8, m0008_lookalike.apply),
    (9, m0009_accounts.apply),
    (10, m0010_clean_numbers.apply),
    (11, m0011_raw_paths.apply),
    (12, m0012_duplicates.apply),
    (13, m0013_fulltext.apply),
    (14, m0014_photo_text.apply),
    (15, m0015_mariadb_fulltext.apply),
]

LATEST = MIGRATIONS[-1][0]


def current_version(db: pw.Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar()
    return int(row or 0)


def describe(version: int) -> str:
    """What a migration does: the first line of its module's docstring."""
    step = dict(MIGRATIONS)[version]
    doc = sys.modules[step.__module__].__doc__ or ""
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    return line.removeprefix(f"Migration {version}:").strip() or f"migration {version}"


def pending(db: pw.Database) -> list[int]:
    """The migrations this catalog has not had yet (all of them for an empty database), in order."""
    have = current_version(db)
    if have > LATEST:
        from photoshelf.errors import DatabaseError

        raise DatabaseError(f"the catalog has schema version {have}, newer than this photoshelf ({LATEST}): upgrade photoshelf")
    if not db.table_exists(SchemaVersion._meta.table_name):
        return [version for version, _ in MIGRATIONS]
    # A step numbered below the newest recorded one (added on a parallel branch) still runs once.
    rows: Any = SchemaVersion.select(SchemaVersion.version).tuples()  # peewee's stubs type rows as models
    done = {int(v) for (v,) in rows}
    return [version for version, _ in MIGRATIONS if version not in done]


def migrate(db: pw.Database, on_step: Callable[[int, str], None] | None = None) -> list[int]:
    """Apply every pending migration (telling `on_step` each one as it starts); returns the versions applied.
    (photoshelf.db.upgrade backs the catalog up first: call that, not this, on a catalog that may hold data.)"""
    todo = pending(db)
    db.create_tables([SchemaVersion], safe=True)
    applied: list[int] = []
    with table_rebuilds_allowed(db):
        for version, step in MIGRATIONS:
            if version not in todo:
                continue
            log.info("applying catalog migration %s: %s", version, describe(version))
            if on_step is not None:
                on_step(version, describe(version))
            with write_transaction(db):
                step(db)
                SchemaVersion.create(version=version)
            applied.append(version)
    return applied
