"""Migration 8: lookalike, near-duplicate pairs of photos found by their CLIP image embeddings."""

from __future__ import annotations

import peewee as pw

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    # A new catalog has the table already (m0003 creates every ML table from the current models).
    db.create_tables([schema.Lookalike], safe=True)
