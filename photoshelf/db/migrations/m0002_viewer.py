"""Migration 2: the viewer's tables (albums, album entries, the user's non-destructive photo edits)."""

from __future__ import annotations

import peewee as pw

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    db.create_tables(schema.VIEWER_TABLES, safe=True)
