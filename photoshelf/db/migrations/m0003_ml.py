"""Migration 3: the machine-learning tables (people, faces, rejections, labels, vectors, stage versions)."""

from __future__ import annotations

import peewee as pw

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    db.create_tables(schema.ML_TABLES, safe=True)
