"""Calendar parts of a date column computed by the database itself, for GROUP BY on either backend."""

from __future__ import annotations

from typing import Any

import peewee as pw

from photoshelf.db.backends import is_sqlite


def year_month(field: pw.Field) -> Any:
    """An expression giving 'YYYY-MM' of a date/datetime column (NULL for NULL), in native SQL on either
    database. peewee's `field.year` / `field.month` on SQLite call a Python function per row (date_part): a
    calendar of 20k photos spent ~100 ms in those callbacks alone (bench/viewer.py, "calendar cards")."""
    db = field.model._meta.database
    if is_sqlite(getattr(db, "obj", None) or db):  # models are bound to a proxy
        return pw.fn.strftime("%Y-%m", field)
    return pw.fn.DATE_FORMAT(field, "%Y-%m")


def split_year_month(value: str) -> tuple[int, int]:
    """(year, month) of a `year_month` value."""
    year, _, month = str(value).partition("-")
    return int(year), int(month)
