"""Migration 12: photo.dhash and photo.colors (the near-duplicate second look) and photo.duplicate_of."""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import MySQLMigrator, SqliteMigrator, migrate

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    # m0001 creates tables from the current models, so a new catalog already has the columns.
    have = {c.name for c in db.get_columns("photo")}
    migrator = SqliteMigrator(db) if isinstance(db, pw.SqliteDatabase) else MySQLMigrator(db)
    steps = [migrator.add_column("photo", name, field) for name, field in (
        ("dhash", schema.Photo.dhash), ("colors", schema.Photo.colors), ("duplicate_of", schema.Photo.duplicate_of))
        if name not in have]
    if steps:
        migrate(*steps)  # add_column also makes duplicate_of's index (the field says index=True)
