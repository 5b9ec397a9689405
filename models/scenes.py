"""Scene labels ImageNet has no class for, from what the other stages and the file already say: sunset (warm
sky with the sun near the horizon at the photo's place and time), portrait and group (faces' count and size),
foliage (green covering much of the picture when the network names no thing surely)."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from photoshelf.db.schema import Face, Photo, PhotoLabel
from photoshelf.models.labels import SOURCE as IMAGENET_SOURCE
from photoshelf.models.labels import Computed, Label, LabelStage, load_image
from photoshelf.models.stages import Item
from photoshelf.models.tfmodel import SOURCE as TF_SOURCE

SOURCE = "scene"
NETWORKS = (IMAGENET_SOURCE, TF_SOURCE)  # label sources that are a classifier's output (labels, tflabels)
VERSION = "scenes-2"  # bump when a rule or a threshold below changes
# Calibrated on the corpus (bench/search_quality.py; docs/labels.md "Scene rules" has the measurements).
SUN_LOW, SUN_HIGH = -6.0, 12.0  # the sun's elevation (degrees) that counts as "near the horizon"
WARM_SHARE = 0.25  # share of the upper half's pixels that are orange/red and saturated
PORTRAIT_FACE = 0.02  # a portrait's one face covers at least this share of the picture
PORTRAIT_PEOPLE = 0.3  # ... and the labels stage saw people (clothes: suit, tie, gown ...) this surely
GROUP_FACES = 3  # this many faces or more make a group photo
# Foliage: ImageNet has no tree, leaf or grass class (its plants are a few flowers and fungi), but leaves are green.
FOLIAGE_SHARE = 0.3  # share of the tile's pixels that are yellow-green to green, saturated and not dark
# ... unless the network is this sure of a thing (not a landscape or a plant): then the green is that thing's
# colour or its background (a lime, grass under elephants), and the photo is of the thing.
FOLIAGE_SUBJECT = 0.8
SCENERY = {"landscape", "nature", "plant"}  # categories of labels that are scenery, not a subject


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


def _hsv(image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees, saturation and value (0-255) of an image's pixels."""
    hsv = np.asarray(image.convert("HSV"), dtype=np.float32)
    return hsv[..., 0] * (360.0 / 255.0), hsv[..., 1], hsv[..., 2]


def warm_share(image: Any) -> float:
    """The share of the upper half's pixels that are orange to red, saturated and not dark (a sunset sky)."""
    hue, sat, val = (a[: max(1, a.shape[0] // 2)] for a in _hsv(image))
    warm = ((hue <= 45) | (hue >= 330)) & (sat >= 90) & (val >= 60)
    return float(warm.mean())


def green_share(image: Any) -> float:
    """The share of pixels that are yellow-green to green (45-170 degrees: spring and autumn leaves, grass, a
    fern), somewhat saturated and not dark: grey-green shadows and a dim room's tint do not count."""
    hue, sat, val = _hsv(image)
    return float(((hue >= 45) & (hue <= 170) & (sat >= 51) & (val >= 31)).mean())


@dataclass(frozen=True)
class Facts:
    """What the scene rules read about one photo."""

    sun: float | None  # the sun's elevation then and there, when the time and place are known
    faces: list[float]  # each face's share of the picture
    people: float  # the labels stage's `people` confidence (0 without)
    subject: float = 0.0  # the networks' best confidence in a thing that is not scenery (0 without)


def scene_labels(facts: Facts, warm: float | None, green: float | None = None) -> list[Label]:
    out = []
    if facts.sun is not None and SUN_LOW <= facts.sun <= SUN_HIGH and warm is not None and warm >= WARM_SHARE:
        out.append(Label("sunset", ("sky", "landscape"), round(min(1.0, 0.5 + warm), 4), SOURCE))
    if len(facts.faces) == 1 and facts.faces[0] >= PORTRAIT_FACE and facts.people >= PORTRAIT_PEOPLE:
        out.append(Label("portrait", ("people",), round(facts.people, 4), SOURCE))
    if len(facts.faces) >= GROUP_FACES:
        out.append(Label("group", ("people",), 0.9, SOURCE))
    if green is not None and green >= FOLIAGE_SHARE and facts.subject < FOLIAGE_SUBJECT:
        out.append(Label("foliage", ("plant", "nature"), round(min(1.0, 0.5 + green / 2), 4), SOURCE))
    return out


def facts_of(photo_ids: Sequence[int]) -> dict[int, Facts]:
    faces: dict[int, list[float]] = {}
    rows: Any = Face.select(Face.photo, Face.w, Face.h).where(Face.photo.in_(list(photo_ids))).tuples()
    for pid, w, h in rows:
        faces.setdefault(pid, []).append(float(w) * float(h))
    labels: Any = PhotoLabel.select(PhotoLabel.photo, PhotoLabel.confidence).where(
        PhotoLabel.photo.in_(list(photo_ids)) & (PhotoLabel.name == "people")).tuples()
    people = {pid: float(c) for pid, c in labels}
    subject: dict[int, float] = {}
    network: Any = PhotoLabel.select(PhotoLabel.photo, PhotoLabel.categories, PhotoLabel.confidence).where(
        PhotoLabel.photo.in_(list(photo_ids)) & PhotoLabel.source.in_(NETWORKS)).tuples()
    for pid, categories, confidence in network:
        if not SCENERY & set(str(categories or "").split(",")):
            subject[pid] = max(subject.get(pid, 0.0), float(confidence))
    out = {}
    for photo in Photo.select(Photo.id, Photo.taken_at_local, Photo.tz_offset, Photo.lat, Photo.lon).where(
            Photo.id.in_(list(photo_ids))):
        when = utc_time(photo)
        sun = (sun_elevation(when, float(photo.lat), float(photo.lon))
               if when is not None and photo.lat is not None and photo.lon is not None else None)
        out[photo.id] = Facts(sun=sun, faces=sorted(faces.get(photo.id, []), reverse=True),
                              people=people.get(photo.id, 0.0), subject=subject.get(photo.id, 0.0))
    return out


class ScenesStage(LabelStage):
    """Scene labels (source `scene`) from the faces and labels stages' results, the time and place, and the
    thumbnail's colours; re-run on a photo when what it reads changes (its digest)."""

    name = "scenes"
    order = 25  # after faces (10) and labels (20), before the text index (90) that embeds the labels
    source = SOURCE

    def unavailable(self) -> str | None:
        return self.turned_off()

    def version(self) -> str:
        return VERSION

    def label_model(self) -> str:
        return VERSION

    def digest(self, photo_ids: Sequence[int]) -> dict[int, str]:
        return {pid: hashlib.sha1(repr(f).encode()).hexdigest() for pid, f in facts_of(photo_ids).items()}

    def compute(self, items: Sequence[Item]) -> Computed:
        """The scene labels of a batch: reads the catalog and the thumbnails, writes nothing."""
        facts = facts_of([item.photo_id for item in items])
        found: dict[int, list[Label]] = {}
        results: dict[int, str | None] = {}
        for item in items:
            f = facts.get(item.photo_id)
            if f is None:
                continue
            warm = green = None
            low_sun = f.sun is not None and SUN_LOW <= f.sun <= SUN_HIGH
            if low_sun or f.subject < FOLIAGE_SUBJECT:
                try:
                    image = load_image(item.tile if item.tile.is_file() else item.fit)
                except OSError as exc:
                    results[item.photo_id] = f"cannot read the thumbnail: {exc}"
                    continue
                warm = warm_share(image) if low_sun else None
                green = green_share(image) if f.subject < FOLIAGE_SUBJECT else None
            found[item.photo_id] = scene_labels(f, warm, green)
            results[item.photo_id] = None
        return Computed(found, results)
