"""Catalog dates: calendar parts of a date column computed by the database itself (for GROUP BY on either
backend), and an instant written out as text."""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

from photoshelf.db.backends import is_sqlite


def year_month(field: pw.Field) -> Any:
    """An expression giving year·100 + month of a date/datetime column (201906; NULL for NULL), in native SQL on
    either database. peewee's `field.year` / `field.month` on SQLite call a Python function per row (date_part):
    a calendar of 20k photos spent ~100 ms in those callbacks alone (bench/viewer.py, "calendar cards"). On
    MariaDB EXTRACT(YEAR_MONTH) is one integer to group by (DATE_FORMAT took twice as long)."""
    db = field.model._meta.database
    if is_sqlite(getattr(db, "obj", None) or db):  # models are bound to a proxy
        return pw.Cast(pw.fn.strftime("%Y%m", field), "INTEGER")
    return pw.fn.EXTRACT(pw.NodeList((pw.SQL("YEAR_MONTH FROM"), field)))


def split_year_month(value: Any) -> tuple[int, int]:
    """(year, month) of a `year_month` value."""
    year, month = divmod(int(value), 100)
    return year, month


def utc_text(value: dt.datetime | None) -> str | None:
    """A catalog instant (naive UTC) as ISO text to the second with a Z ("2024-05-06T07:08:09Z"); None for None."""
    return value.isoformat(timespec="seconds") + "Z" if value else None
