"""Migration 4: photo.locked, the fields a person set by hand, which re-indexing must never overwrite."""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import MySQLMigrator, SqliteMigrator, migrate

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    # m0001 creates tables from the current models, so a new catalog already has the column.
    if "locked" in {c.name for c in db.get_columns("photo")}:
        return
    migrator = SqliteMigrator(db) if isinstance(db, pw.SqliteDatabase) else MySQLMigrator(db)
    migrate(migrator.add_column("photo", "locked", schema.Photo.locked))
