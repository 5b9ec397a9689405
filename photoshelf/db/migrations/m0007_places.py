"""Migration 7: photo place names (country code and name, state, city) from offline reverse geocoding."""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import MySQLMigrator, SqliteMigrator, migrate

from photoshelf.db import schema

COLUMNS = ("country_code", "country", "state", "city")


def apply(db: pw.Database) -> None:
    # m0001 creates tables from the current models, so a new catalog already has the columns and indexes.
    table = schema.Photo._meta.table_name
    have = {c.name for c in db.get_columns(table)}
    missing = [name for name in COLUMNS if name not in have]
    if missing:
        migrator = SqliteMigrator(db) if isinstance(db, pw.SqliteDatabase) else MySQLMigrator(db)
        migrate(*(migrator.add_column(table, name, getattr(schema.Photo, name)) for name in missing))
    indexes = {index.name for index in db.get_indexes(table)}
    for index in schema.Photo._meta.fields_to_index():
        names = {f.column_name for f in index._expressions}
        if index._name not in indexes and names & set(COLUMNS):
            db.execute(index)
    # Existing geotagged photos get their places on the next `photoshelf index` (indexer/places.py backfill).
