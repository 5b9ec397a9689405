"""Migration 10: numbers and text already in the catalog pass photoshelf.values, as new ones do (issue #12).

Before it, a Google Takeout JSON could store longitude inf or altitude 1e308 (SQLite keeps inf; MariaDB any
finite value), and EXIF text of any length: the sidecar writer, the JSON outputs and free-text search failed or
crawled on such rows. A query finds the few rows that may be wrong (a superset: out of range, ±inf, or longer
than a cap in bytes); photoshelf.values decides each value, so the rule is the indexer's. `updated_at` is left
alone: a hand-edited sidecar not yet applied must still count as newer than the catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import peewee as pw

from photoshelf import values
from photoshelf.db import schema

log = logging.getLogger(__name__)

P = schema.Photo
_PLACE = ("country_code", "country", "state", "city")
# Column, the values function that decides its value, and the range a stored value must be in to be left alone.
_NUMBERS: list[tuple[pw.Field, Callable[[Any], Any], tuple[float, float]]] = [
    (P.altitude, values.altitude, values.ALTITUDE),
    (P.width, values.pixels, values.PIXELS),
    (P.height, values.pixels, values.PIXELS),
    (P.orientation, values.orientation, values.ORIENTATION),
    (P.iso, values.iso, values.ISO),
    (P.fnumber, values.fnumber, values.FNUMBER),
    (P.focal_length, values.focal_length, values.FOCAL_LENGTH),
    (P.duration, values.duration, values.DURATION),
    (P.rating, values.rating, values.RATING),
]
_TEXTS: list[tuple[pw.Field, int, bool]] = [  # column, cap, one line
    (P.title, values.TITLE, True),
    (P.description, values.DESCRIPTION, False),
    (P.keywords, values.KEYWORDS, True),
    (P.camera_make, values.CAMERA_MAKE, True),
    (P.camera_model, values.CAMERA_MODEL, True),
    (P.lens, values.LENS, True),
    (P.exposure, values.EXPOSURE, True),
    (P.codec, values.CODEC, True),
    (P.content_id, values.CONTENT_ID, True),
]
_HUGE = 1e300  # a finite bound a driver can send: beyond it lies only ±inf (SQLite stores NaN as NULL)


def _outside(field: pw.Field, low: float, high: float) -> pw.Expression:
    return field.is_null(False) & ~field.between(low, high)


def _cleaned(row: dict[str, Any]) -> dict[str, Any]:
    """The changes (by column name) a photo row needs: photoshelf.values applied to every checked column."""
    changes: dict[str, Any] = {}
    if row["lat"] is not None or row["lon"] is not None:
        place = values.position(row["lat"], row["lon"])
        if place is None:  # no position: no altitude, and no place name found from it
            changes.update(dict.fromkeys(("lat", "lon", "altitude", *_PLACE)))
        elif place != (row["lat"], row["lon"]):
            changes.update(lat=place[0], lon=place[1])
    for field, decide, _ in _NUMBERS:
        if field.name in changes or row[field.name] is None:
            continue
        value = decide(row[field.name])
        if value != row[field.name]:
            changes[field.name] = value
    for field, cap, one_line in _TEXTS:
        if row[field.name] is None:
            continue
        if field.name == "keywords":
            text = ", ".join(values.keywords(row[field.name].split(","))) or None
        else:
            text = values.text(row[field.name], cap, one_line=one_line)
        if text != row[field.name]:
            changes[field.name] = text
    return changes


def apply(db: pw.Database) -> None:
    suspect = (_outside(P.lat, *values.LATITUDE) | _outside(P.lon, *values.LONGITUDE)
               | ((P.lat == 0) & (P.lon == 0)))
    for field, _, (low, high) in _NUMBERS:
        suspect |= _outside(field, low, high)
    for field, cap, _ in _TEXTS:
        suspect |= pw.fn.LENGTH(field) > cap  # bytes on MariaDB, characters on SQLite: a superset either way
    columns = [P.id, P.lat, P.lon] + [f for f, _, _ in _NUMBERS] + [f for f, _, _ in _TEXTS]
    fixed = 0
    rows: Any = list(P.select(*columns).where(suspect).dicts())  # peewee's stubs type .dicts() rows as models
    for row in rows:
        changes = _cleaned(row)
        if changes:
            P.update(**changes).where(P.id == row["id"]).execute()
            fixed += 1
    # Scores the models wrote are finite; a restored sidecar could have carried inf into SQLite.
    for model, field in ((schema.PhotoLabel, schema.PhotoLabel.confidence), (schema.Face, schema.Face.score)):
        fixed += model.update({field: 0.0}).where(~field.between(-_HUGE, _HUGE)).execute()
    if fixed:
        log.info("migration 10: cleaned numbers or text of %s catalog rows", fixed)
