"""Migration 5: sidecar_state, the digest of each photo's last written sidecar."""

from __future__ import annotations

import peewee as pw

from photoshelf.db import schema


def apply(db: pw.Database) -> None:
    db.create_tables(schema.SIDECAR_TABLES, safe=True)
