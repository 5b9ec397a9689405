"""Migration 6: indexes for the viewer at 100k photos (timeline counts, map clusters)."""

from __future__ import annotations

import peewee as pw

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    # A catalog made by m0001 from the current models has them already: create only those that are missing.
    for model in (schema.Photo,):
        have = {index.name for index in db.get_indexes(model._meta.table_name)}
        for index in model._meta.fields_to_index():
            if index._name not in have:
                db.execute(index)
