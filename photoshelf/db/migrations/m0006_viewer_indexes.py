"""Migration 6: indexes for the viewer at 100k photos (timeline order, pages and counts; map clusters)."""

from __future__ import annotations

import peewee as pw

from photoshelf.db import schema
from photoshelf.db.backends import is_sqlite

TIMELINE_INDEX = "photo_timeline"

# Covering for the timeline: its (taken_at_local, id) order, keyset pages, counts and the visibility filters.
# SQLite (a catalog without statistics) takes any index that starts with an equality for a selective one, so its
# index starts with `missing_since` (every listing asks for IS NULL) and pages walk it in date order. MariaDB 10.x
# reads such an index by its first column only (ref) even where a date range could narrow it, and skips row by
# row to a deep cursor or a year; starting with the date it uses the range.
TIMELINE_COLUMNS = {
    "sqlite": ("missing_since", "taken_at_local", "id", "archived", "private", "stack"),
    "mariadb": ("taken_at_local", "id", "missing_since", "archived", "private", "stack"),
}


def apply(db: pw.Database) -> None:
    # A catalog made by m0001 from the current models has the map's index already: create what is missing.
    have = {index.name for index in db.get_indexes(schema.Photo._meta.table_name)}
    # Indexes on columns a later migration adds (m0007's places) are that migration's to make.
    present = {c.name for c in db.get_columns(schema.Photo._meta.table_name)}
    for index in schema.Photo._meta.fields_to_index():
        if index._name not in have and all(f.column_name in present for f in index._expressions):
            db.execute(index)
    if TIMELINE_INDEX not in have:
        columns = TIMELINE_COLUMNS["sqlite" if is_sqlite(db) else "mariadb"]
        fields = [getattr(schema.Photo, name) for name in columns]
        db.execute(pw.ModelIndex(schema.Photo, fields, name=TIMELINE_INDEX))
