"""Place names for geotagged photos: offline reverse geocoding (GeoNames cities1000 via reverse_geocoder)."""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import peewee as pw

from photoshelf.db.rows import tuples
from photoshelf.db.schema import Photo
from photoshelf.db.transactions import write_transaction

log = logging.getLogger(__name__)

# Backfill and batch size for catalogs indexed before places existed.
BACKFILL_BATCH = 1000
# A district of a city that is also its own state (Berlin's "Steglitz Bezirk", Vienna's, Tokyo's wards) is named
# by that city when the city's centre is this close.
CITY_STATE_KM = 25.0

# tz's iso3166.tab names a few countries its own way ("Britain (UK)"); the names people search for instead.
_COUNTRY_NAMES = {
    "AS": "American Samoa", "CD": "DR Congo", "CG": "Republic of the Congo", "GB": "United Kingdom",
    "KP": "North Korea", "KR": "South Korea", "MF": "Saint Martin", "MM": "Myanmar", "SX": "Sint Maarten",
    "SZ": "Eswatini", "VG": "British Virgin Islands", "VI": "U.S. Virgin Islands", "WS": "Samoa",
    "US": "United States",
}


@dataclass(frozen=True)
class Place:
    country_code: str
    country: str
    state: str | None
    city: str | None


@functools.cache
def country_names() -> dict[str, str]:
    """ISO 3166 alpha-2 code -> English short name, from the tz database's iso3166.tab (tzdata's copy, a main
    dependency already, else the system's)."""
    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "iso3166.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        path = Path("/usr/share/zoneinfo/iso3166.tab")
        text = path.read_text("utf-8") if path.is_file() else ""
    names = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, name = line.split("\t")[:2]
            names[code] = name
    names.update(_COUNTRY_NAMES)
    return names


def country_name(code: str) -> str:
    return country_names().get(code.upper(), code.upper())


class Geocoder:
    """Nearest populated place (>= 1000 inhabitants) for each position. Loading the tree takes about a second,
    so there is one per process, made on first use."""

    def __init__(self) -> None:
        started = time.perf_counter()
        import reverse_geocoder  # ~1 s: reads the bundled csv and builds a k-d tree

        # mode=1: a single-process k-d tree (mode 2 forks a pool, which a daemon with threads must not do).
        self._rg = reverse_geocoder.RGeocoder(mode=1, verbose=False)
        # Cities that give their name to their state (Berlin in Berlin): for the district rule above.
        self._capitals: dict[tuple[str, str], tuple[float, float]] = {}
        for row in self._rg.locations:  # list of dicts: lat, lon, name, admin1, admin2, cc
            if row["name"] and row["name"] == row["admin1"]:
                self._capitals.setdefault((row["cc"], row["admin1"]), (float(row["lat"]), float(row["lon"])))
        self.load_seconds = time.perf_counter() - started
        log.info("reverse geocoder loaded in %.2f s", self.load_seconds)

    def lookup(self, points: Sequence[tuple[float, float]]) -> list[Place]:
        if not points:
            return []
        out = []
        for (lat, lon), row in zip(points, self._rg.query(list(points)), strict=True):
            cc, state, city = row["cc"], row["admin1"] or None, row["name"] or None
            if state is not None and city != state:
                centre = self._capitals.get((cc, state))
                if centre is not None and _km(lat, lon, *centre) <= CITY_STATE_KM:
                    city = state
            out.append(Place(country_code=cc, country=country_name(cc), state=state, city=city))
        return out


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


_lock = threading.Lock()
_geocoder: Geocoder | None = None


def geocoder() -> Geocoder:
    global _geocoder
    with _lock:
        if _geocoder is None:
            _geocoder = Geocoder()
        return _geocoder


def _valid(lat: float | None, lon: float | None) -> bool:
    return lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0, 0)


def assign(photos: Iterable[Photo]) -> int:
    """Set the place columns of photos (not saved) from their lat/lon: one geocoder call for all of them; a photo
    without a position loses its place. Only changed columns are set, so only_save_dirty writes nothing else.
    Returns how many were geocoded."""
    located: list[Photo] = []
    points: list[tuple[float, float]] = []
    for photo in photos:
        lat, lon = photo.lat, photo.lon
        if lat is not None and lon is not None and _valid(lat, lon):
            located.append(photo)
            points.append((float(lat), float(lon)))
        else:
            _set(photo, None)
    if located:
        places = geocoder().lookup(points)
        for photo, place in zip(located, places, strict=True):
            _set(photo, place)
    return len(located)


def _set(photo: Photo, place: Place | None) -> None:
    values: dict[str, Any] = {
        "country_code": place.country_code if place else None,
        "country": place.country if place else None,
        "state": place.state if place else None,
        "city": place.city if place else None,
    }
    for name, value in values.items():
        if getattr(photo, name) != value:
            setattr(photo, name, value)


def backfill(batch: int = BACKFILL_BATCH) -> int:
    """Fill the place of geotagged photos that have none (a catalog indexed before places existed, or a
    geocoder that failed), and clear it where the position has gone. Returns how many photos changed."""
    changed = 0
    stale = Photo.select(Photo.id).where(
        (Photo.lat.is_null(False) & Photo.lon.is_null(False) & Photo.country_code.is_null())
        | ((Photo.lat.is_null() | Photo.lon.is_null()) & Photo.country_code.is_null(False)))
    last = 0
    while True:
        ids = [pid for (pid,) in tuples(stale.where(Photo.id > last).order_by(Photo.id).limit(batch))]
        if not ids:
            return changed
        last = ids[-1]
        photos = list(Photo.select(Photo.id, Photo.lat, Photo.lon, Photo.country_code, Photo.country,
                                   Photo.state, Photo.city).where(Photo.id.in_(ids)))
        assign(photos)
        # One UPDATE per distinct place in the batch, not one per photo.
        groups: dict[tuple[Any, ...], list[int]] = {}
        for photo in photos:
            if photo.dirty_fields:
                groups.setdefault((photo.country_code, photo.country, photo.state, photo.city), []).append(photo.id)
        db: pw.Database = Photo._meta.database
        with write_transaction(db):
            for (code, country, state, city), group in groups.items():
                Photo.update(country_code=code, country=country, state=state, city=city).where(
                    Photo.id.in_(group)).execute()
                changed += len(group)
