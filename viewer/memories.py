"""Memories for the home page, above the timeline: photos from this day (± a few days) in past years, recent trips
(runs of days away from home, home being the place with the most photo-days), and people's recent photos.
Each is one or two range queries on the indexed capture time, so the home page stays fast on a large library."""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any

import peewee as pw

from photoshelf.db.schema import Face, Person, Photo
from photoshelf.records import GUESSED_DATE_SOURCES
from photoshelf.viewer import covers
from photoshelf.viewer.listing import Scope, base_select
from photoshelf.visibility import Audience

WINDOW_DAYS = 3  # "on this day" takes this many days either side
YEARS_BACK = 60
TRIP_YEARS = 3  # trips are looked for in this many years before the newest photo
TRIP_GAP_DAYS = 1  # a day without photos inside a trip does not end it
TRIPS_SHOWN = 4
PEOPLE_DAYS = 60  # "recent" for people: within this many days of the newest photo
PEOPLE_SHOWN = 6


@dataclass
class Card:
    kind: str  # onthisday | trip | person
    title: str
    subtitle: str
    count: int
    cover: str | None
    href: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "subtitle": self.subtitle, "count": self.count,
                "cover": self.cover, "href": self.href}


def _dated(audience: Audience) -> Any:
    """The timeline's photos (what `audience` sees, one per stack) with a real capture time."""
    return base_select("", Scope(audience=audience)).where(Photo.taken_at_local.is_null(False)
                                                           & Photo.taken_src.not_in(sorted(GUESSED_DATE_SOURCES)))


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _same_day(today: dt.date, year: int) -> dt.date:
    try:
        return today.replace(year=year)
    except ValueError:  # 29 February in a year without one
        return today.replace(year=year, day=28)


def on_this_day(audience: Audience, today: dt.date) -> list[Card]:
    """Past years' photos taken within WINDOW_DAYS of today's day and month: a card per year, newest first."""
    t = Photo.taken_at_local
    oldest = _dated(audience).select(pw.fn.MIN(t)).scalar()
    if oldest is None:
        return []
    # A query per year, each a range of the timeline index (one OR of all the ranges made SQLite scan every row).
    rows: list[tuple[int, int, Any, Any, Any]] = []
    for year in range(today.year - 1, max(_day(oldest).year, today.year - YEARS_BACK) - 1, -1):
        day = _same_day(today, year)
        lo = dt.datetime.combine(day - dt.timedelta(days=WINDOW_DAYS), dt.time())
        hi = dt.datetime.combine(day + dt.timedelta(days=WINDOW_DAYS + 1), dt.time())
        row = (_dated(audience).select(pw.fn.COUNT(Photo.id), covers.cover_score(), pw.fn.MIN(t), pw.fn.MAX(t))
               .where((t >= lo) & (t < hi)).tuples().first())
        if row and row[0]:
            rows.append((year, *row))
    urls = covers.tiles(covers.cover_id(row[2]) for row in rows)
    cards = []
    for year, n, score, lo, hi in rows:
        ago = today.year - year
        first, last = _day(lo), _day(hi)
        cards.append(Card("onthisday", "A year ago" if ago == 1 else f"{ago} years ago",
                          f"{_span(first, last)} · {_plural(int(n), 'photo', 'photos')}", int(n),
                          urls.get(covers.cover_id(score) or 0),
                          f"/search?q=taken:{first:%Y-%m-%d}..{last:%Y-%m-%d}"))
    return cards


def _day(value: Any) -> dt.date:
    """A date from what the database answers for MIN/MAX of a datetime (SQLite: text)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _span(first: dt.date, last: dt.date) -> str:
    """"December 6, 2012", "Jun 5–8, 2019", "May 30 – Jun 2, 2019"."""
    if first == last:
        return f"{first:%B} {first.day}, {first.year}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first:%b} {first.day}–{last.day}, {last.year}"
    return f"{first:%b} {first.day} – {last:%b} {last.day}, {last.year}"


def _newest(audience: Audience) -> dt.datetime | None:
    row = _dated(audience).select(pw.fn.MAX(Photo.taken_at_local)).scalar()
    if isinstance(row, str):  # SQLite answers an aggregate of a datetime column as text
        row = dt.datetime.fromisoformat(row)
    return row


@dataclass
class _Day:
    day: dt.date
    place: str  # the day's most photographed town (or country)
    query: str
    count: int
    score: Any


def plan_trips(days: list[_Day], gap: int = TRIP_GAP_DAYS) -> list[list[_Day]]:
    """Runs of days away from home (pure: no database). Home is the place with the most days; a run is days
    elsewhere with at most `gap` days without photos between them; a trip has at least two days or ten photos."""
    if not days:
        return []
    home = Counter(d.place for d in days).most_common(1)[0][0]
    runs: list[list[_Day]] = []
    for d in sorted(days, key=lambda d: d.day):
        if d.place == home:
            if runs and runs[-1]:
                runs.append([])
            continue
        if runs and runs[-1] and (d.day - runs[-1][-1].day).days <= gap + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return [r for r in runs if r and (len(r) >= 2 or sum(d.count for d in r) >= 10)]


def trips(audience: Audience) -> list[Card]:
    """The latest trips in the TRIP_YEARS before the newest photo, newest first."""
    newest = _newest(audience)
    if newest is None:
        return []
    t = Photo.taken_at_local
    day = pw.fn.DATE(t)
    since = newest - dt.timedelta(days=365 * TRIP_YEARS)
    rows: list[tuple[Any, str, str | None, str | None, int, Any]] = list(
        _dated(audience).select(day, Photo.country_code, Photo.country, Photo.city, pw.fn.COUNT(Photo.id),
                                covers.cover_score())
        .where((t >= since) & Photo.country_code.is_null(False))
        .group_by(day, Photo.country_code, Photo.country, Photo.city).tuples())
    best: dict[dt.date, _Day] = {}
    for when, code, country, city, n, score in rows:
        date = _day(when)
        place = city or country or code
        query = f'city:"{city}" country:{code.lower()}' if city else f"country:{code.lower()}"
        if date not in best or n > best[date].count:
            best[date] = _Day(date, place, query, int(n), score)
        else:
            best[date].score = covers.best(best[date].score, score)
    runs = plan_trips(list(best.values()))[-TRIPS_SHOWN:]
    scores = [functools.reduce(covers.best, (d.score for d in run), None) for run in runs]
    urls = covers.tiles(covers.cover_id(score) for score in scores)
    cards = []
    for run, score in reversed(list(zip(runs, scores, strict=True))):
        places = Counter(d.place for d in run).most_common(2)
        first, last = run[0].day, run[-1].day
        n = sum(d.count for d in run)
        span = _span(first, last)
        cards.append(Card("trip", "Trip to " + " & ".join(p for p, _n in places),
                          f"{span} · {_plural(n, 'photo', 'photos')}", n, urls.get(covers.cover_id(score) or 0),
                          f"/search?q=taken:{first:%Y-%m-%d}..{last:%Y-%m-%d}"))
    return cards


def recent_people(audience: Audience) -> list[Card]:
    """Named people in photos of the PEOPLE_DAYS before the newest photo, most photos first."""
    newest = _newest(audience)
    if newest is None:
        return []
    since = newest - dt.timedelta(days=PEOPLE_DAYS)
    rows: list[tuple[int, int, Any]] = list(
        _dated(audience).select(Face.person, pw.fn.COUNT(pw.fn.DISTINCT(Photo.id)), covers.cover_score())
        .join(Face, on=(Face.photo == Photo.id)).join(Person, on=(Face.person == Person.id))
        .where((Photo.taken_at_local >= since) & Person.name.is_null(False) & (Person.hidden == False))  # noqa: E712
        .group_by(Face.person).order_by(pw.fn.COUNT(pw.fn.DISTINCT(Photo.id)).desc()).limit(PEOPLE_SHOWN).tuples())
    people = {p.id: p for p in Person.select().where(Person.id.in_([r[0] for r in rows]))} if rows else {}
    urls = covers.tiles(covers.cover_id(score) for _p, _n, score in rows)
    return [Card("person", people[pid].name or "", f"Recently · {_plural(int(n), 'photo', 'photos')}", int(n),
                 urls.get(covers.cover_id(score) or 0), f"/people/{people[pid].uid}")
            for pid, n, score in rows if pid in people]


def memories(audience: Audience, today: dt.date | None = None) -> dict[str, list[dict[str, Any]]]:
    """Everything the home page's strip shows (each list may be empty)."""
    today = today or dt.date.today()
    return {"on_this_day": [c.as_dict() for c in on_this_day(audience, today)],
            "trips": [c.as_dict() for c in trips(audience)],
            "people": [c.as_dict() for c in recent_people(audience)]}
