"""Scene labels ImageNet has no class for, from what the other stages and the file already say: sunset (warm
sky with the sun near the horizon at the photo's place and time), portrait and group (faces' count and size)."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from photoshelf.db.schema import Face, Photo, PhotoLabel
from photoshelf.models.labels import Label, forget_labels, load_image, store_labels
from photoshelf.models.stages import Item, Stage

SOURCE = "scene"
VERSION = "scenes-1"  # bump when a rule or a threshold below changes
# Calibrated on the corpus (bench/search_quality.py; docs/labels.md "Scene rules" has the measurements).
SUN_LOW, SUN_HIGH = -6.0, 12.0  # the sun's elevation (degrees) that counts as "near the horizon"
WARM_SHARE = 0.25  # share of the upper half's pixels that are orange/red and saturated
PORTRAIT_FACE = 0.02  # a portrait's one face covers at least this share of the picture
PORTRAIT_PEOPLE = 0.3  # ... and the labels stage saw people (clothes: suit, tie, gown ...) this surely
GROUP_FACES = 3  # this many faces or more make a group photo


def sun_elevation(when_utc: dt.datetime, lat: float, lon: float) -> float:
    """The sun's elevation in degrees at a UTC time and a place (the low-precision formulas of the Astronomical
    Almanac, good to about a degree, which is all a "near the horizon" test needs)."""
    d = (when_utc - dt.datetime(2000, 1, 1, 12)).total_seconds() / 86400.0
    g = math.radians((357.529 + 0.98560028 * d) % 360)
    q = (280.459 + 0.98564736 * d) % 360
    ecliptic = math.radians(q + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g))
    tilt = math.radians(23.439 - 0.00000036 * d)
    ra = math.atan2(math.cos(tilt) * math.sin(ecliptic), math.cos(ecliptic))
    dec = math.asin(math.sin(tilt) * math.sin(ecliptic))
    sidereal = math.radians(((18.697374558 + 24.06570982441908 * d) % 24) * 15 + lon)
    hour = sidereal - ra
    phi = math.radians(lat)
    return math.degrees(math.asin(math.sin(phi) * math.sin(dec) + math.cos(phi) * math.cos(dec) * math.cos(hour)))


def utc_time(photo: Any) -> dt.datetime | None:
    """When a photo was taken in UTC: its local time less its offset, or less the offset its longitude implies."""
    local = photo.taken_at_local
    if local is None:
        return None
    if photo.tz_offset is not None:
        return local - dt.timedelta(minutes=int(photo.tz_offset))
    if photo.lon is None:
        return None
    return local - dt.timedelta(hours=round(float(photo.lon) / 15))


def warm_share(image: Any) -> float:
    """The share of the upper half's pixels that are orange to red, saturated and not dark (a sunset sky)."""
    hsv = np.asarray(image.convert("HSV"), dtype=np.float32)
    top = hsv[: max(1, hsv.shape[0] // 2)]
    hue = top[..., 0] * (360.0 / 255.0)
    warm = ((hue <= 45) | (hue >= 330)) & (top[..., 1] >= 90) & (top[..., 2] >= 60)
    return float(warm.mean())


@dataclass(frozen=True)
class Facts:
    """What the scene rules read about one photo."""

    sun: float | None  # the sun's elevation then and there, when the time and place are known
    faces: list[float]  # each face's share of the picture
    people: float  # the labels stage's `people` confidence (0 without)


def scene_labels(facts: Facts, warm: float | None) -> list[Label]:
    out = []
    if facts.sun is not None and SUN_LOW <= facts.sun <= SUN_HIGH and warm is not None and warm >= WARM_SHARE:
        out.append(Label("sunset", ("sky", "landscape"), round(min(1.0, 0.5 + warm), 4), SOURCE))
    if len(facts.faces) == 1 and facts.faces[0] >= PORTRAIT_FACE and facts.people >= PORTRAIT_PEOPLE:
        out.append(Label("portrait", ("people",), round(facts.people, 4), SOURCE))
    if len(facts.faces) >= GROUP_FACES:
        out.append(Label("group", ("people",), 0.9, SOURCE))
    return out


def facts_of(photo_ids: Sequence[int]) -> dict[int, Facts]:
    faces: dict[int, list[float]] = {}
    rows: Any = Face.select(Face.photo, Face.w, Face.h).where(Face.photo.in_(list(photo_ids))).tuples()
    for pid, w, h in rows:
        faces.setdefault(pid, []).append(float(w) * float(h))
    labels: Any = PhotoLabel.select(PhotoLabel.photo, PhotoLabel.confidence).where(
        PhotoLabel.photo.in_(list(photo_ids)) & (PhotoLabel.name == "people")).tuples()
    people = {pid: float(c) for pid, c in labels}
    out = {}
    for photo in Photo.select(Photo.id, Photo.taken_at_local, Photo.tz_offset, Photo.lat, Photo.lon).where(
            Photo.id.in_(list(photo_ids))):
        when = utc_time(photo)
        sun = (sun_elevation(when, float(photo.lat), float(photo.lon))
               if when is not None and photo.lat is not None and photo.lon is not None else None)
        out[photo.id] = Facts(sun=sun, faces=sorted(faces.get(photo.id, []), reverse=True),
                              people=people.get(photo.id, 0.0))
    return out


class ScenesStage(Stage):
    """Scene labels (source `scene`) from the faces and labels stages' results, the time and place, and the
    thumbnail's colours; re-run on a photo when what it reads changes (its digest)."""

    name = "scenes"
    order = 25  # after faces (10) and labels (20), before the text index (90) that embeds the labels

    def unavailable(self) -> str | None:
        models = self.config.models
        if not models.enabled or not models.labels:
            return "turned off (models.enabled / models.labels)"
        return None

    def version(self) -> str:
        return VERSION

    def digest(self, photo_ids: Sequence[int]) -> dict[int, str]:
        return {pid: hashlib.sha1(repr(f).encode()).hexdigest() for pid, f in facts_of(photo_ids).items()}

    def process(self, items: Sequence[Item]) -> dict[int, str | None]:
        facts = facts_of([item.photo_id for item in items])
        found: dict[int, list[Label]] = {}
        results: dict[int, str | None] = {}
        for item in items:
            f = facts.get(item.photo_id)
            if f is None:
                continue
            warm = None
            if f.sun is not None and SUN_LOW <= f.sun <= SUN_HIGH:
                try:
                    warm = warm_share(load_image(item.tile if item.tile.is_file() else item.fit))
                except OSError as exc:
                    results[item.photo_id] = f"cannot read the thumbnail: {exc}"
                    continue
            found[item.photo_id] = scene_labels(f, warm)
            results[item.photo_id] = None
        store_labels(found, SOURCE, VERSION)
        return results

    def forget(self, photo_ids: Sequence[int]) -> None:
        forget_labels(photo_ids, SOURCE)
