"""Migration 9: accounts (users, sessions, failed logins), share links, and photo ownership."""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import MySQLMigrator, SqliteMigrator, migrate

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    db.create_tables(schema.ACCOUNT_TABLES, safe=True)
    # m0001 creates the photo table from the current model, so a new catalog has the owner column already.
    table = schema.Photo._meta.table_name
    if "owner_id" not in {c.name for c in db.get_columns(table)}:
        migrator = SqliteMigrator(db) if isinstance(db, pw.SqliteDatabase) else MySQLMigrator(db)
        # add_column makes the column's index too (the field has index=True): a second add_index failed every
        # catalog older than migration 9 with "index photo_owner_id already exists" (found by tests/test_upgrade.py).
        migrate(migrator.add_column(table, "owner_id", schema.Photo.owner))
