"""Migration 1: the initial catalog tables."""

from __future__ import annotations

import peewee as pw

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    tables = [t for t in schema.ALL_TABLES if t is not schema.SchemaVersion]
    db.create_tables(tables, safe=True)
