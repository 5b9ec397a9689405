"""What the search page offers before anything is typed: the library's most common things (labels), named
people and places, each as a ready search with how many photos it finds for the person asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import peewee as pw

from photoshelf.db.schema import Face, Person, Photo, PhotoLabel
from photoshelf.visibility import Audience, visible

PER_KIND = 12


@dataclass(frozen=True)
class Suggestion:
    text: str  # what the chip says
    query: str  # the search it runs
    count: int


def _quoted(value: str) -> str:
    return f'"{value}"' if any(c.isspace() for c in value) or ":" in value else value


def _shown() -> Any:
    return Photo.missing_since.is_null()


def suggestions(audience: Audience) -> dict[str, list[Suggestion]]:
    """Up to PER_KIND of each, most photos first: "things" (labels), "people" (named, not hidden), "places"
    (towns, else countries). Counts are of photos `audience` sees; kinds with nothing are empty lists."""
    n = pw.fn.COUNT(pw.fn.DISTINCT(Photo.id))
    labels = (visible(PhotoLabel.select(PhotoLabel.name, n.alias("n")).join(Photo), audience)
              .where(_shown()).group_by(PhotoLabel.name).order_by(n.desc(), PhotoLabel.name).limit(PER_KIND))
    people = (visible(Person.select(Person.name, n.alias("n")).join(Face).join(Photo), audience)
              .where(Person.name.is_null(False) & (Person.name != "") & (Person.hidden == False)  # noqa: E712
                     & _shown())
              .group_by(Person.name).order_by(n.desc(), Person.name).limit(PER_KIND))
    cities = (visible(Photo.select(Photo.city, n.alias("n")), audience)
              .where(Photo.city.is_null(False) & (Photo.city != "") & _shown())
              .group_by(Photo.city).order_by(n.desc(), Photo.city).limit(PER_KIND))
    places = [Suggestion(c, f"city:{_quoted(c)}", int(k)) for c, k in cast(Any, cities.tuples())]
    if not places:
        countries = (visible(Photo.select(Photo.country, n.alias("n")), audience)
                     .where(Photo.country.is_null(False) & (Photo.country != "") & _shown())
                     .group_by(Photo.country).order_by(n.desc(), Photo.country).limit(PER_KIND))
        places = [Suggestion(c, f"country:{_quoted(c)}", int(k)) for c, k in cast(Any, countries.tuples())]
    return {
        "things": [Suggestion(name, f"label:{_quoted(name)}", int(k)) for name, k in cast(Any, labels.tuples())],
        "people": [Suggestion(name, f"person:{_quoted(name)}", int(k)) for name, k in cast(Any, people.tuples())],
        "places": places,
    }
