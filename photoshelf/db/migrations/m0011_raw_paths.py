"""Migration 11: file.raw_path, the bytes of a path that is not UTF-8 (percent-escaped), so such files are indexed.

Before it, a file whose name was not valid UTF-8 (CP1252/CP437 from an old Windows share) was recorded as an error
under a `\\xNN` display path and a hash of that display path. From now on `file.path` holds the name decoded for
display, `file.raw_path` the escaped bytes that open the file, and `path_hash` hashes the bytes (photoshelf/filenames.py).
The old error rows are not rewritten: the next scan finds their files under the new keys, indexes them, and the
old rows, no longer seen, are marked missing and purged like any vanished path.
"""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import MySQLMigrator, SqliteMigrator, migrate

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    # m0001 creates tables from the current models, so a new catalog already has the column.
    if "raw_path" in {c.name for c in db.get_columns("file")}:
        return
    migrator = SqliteMigrator(db) if isinstance(db, pw.SqliteDatabase) else MySQLMigrator(db)
    migrate(migrator.add_column("file", "raw_path", schema.File.raw_path))
