"""Migration 14: photo_text, the text the OCR stage read in each photo."""

from __future__ import annotations

import peewee as pw

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    db.create_tables(schema.OCR_TABLES, safe=True)
