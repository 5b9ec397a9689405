"""The timeline's date scrubber: the years and months that hold dated photos, each with the page cursor that
starts the timeline there (a jump is an ordinary page of the same listing, continued by infinite scroll)."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from photoshelf import ids
from photoshelf.db.dates import split_year_month, year_month
from photoshelf.db.rows import tuples
from photoshelf.db.schema import Photo
from photoshelf.viewer import listing
from photoshelf.viewer.listing import Cursor, Scope
from photoshelf.visibility import Audience

KEPT = 16  # scrubbers kept per process, per (audience, catalog state): a grouped count over every photo
_kept: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


@dataclass
class Month:
    year: int
    month: int
    count: int
    cursor: str

    @property
    def name(self) -> str:
        return dt.date(self.year, self.month, 1).strftime("%B")

    @property
    def short(self) -> str:
        return dt.date(self.year, self.month, 1).strftime("%b")

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass
class Year:
    year: int
    cursor: str
    months: list[Month] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(m.count for m in self.months)


def start_of(year: int, month: int) -> str:
    """The cursor of a timeline page that starts with the newest photo of `month` (and goes on to older ones):
    "after" the first instant of the next month, in timeline order."""
    nxt = dt.datetime(year + (month == 12), month % 12 + 1, 1)
    return Cursor(taken=nxt, photo_id=ids.INT64_MAX).encode()


def years(audience: Audience) -> list[Year]:
    """Newest first: the years and months of the timeline's dated photos that `audience` sees."""
    db = Photo._meta.database
    key = (id(db), audience, listing._catalog_state(db))  # kept like the listing counts (viewer/listing.py)
    return listing._kept(_kept, key, lambda: _years(audience), KEPT)


def _years(audience: Audience) -> list[Year]:
    month = year_month(Photo.taken_at_local)
    q = (listing.base_select("", Scope(audience=audience, dates="known"))
         .select(month, pw.fn.COUNT(Photo.id)).group_by(month).order_by())
    out: dict[int, Year] = {}
    for y, m, n in sorted(((*split_year_month(key), int(n)) for key, n in tuples(q)), reverse=True):
        year = out.setdefault(y, Year(year=y, cursor=start_of(y, 12)))
        year.months.append(Month(year=y, month=m, count=n, cursor=start_of(y, m)))
    return list(out.values())
