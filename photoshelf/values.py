"""One gate for numbers and text read from files (EXIF, XMP, Takeout JSON, videos, sidecars) or typed by people.

Every function here takes whatever a file held (a number, a string, None, a list, garbage) and returns a value the
catalog can store and JSON can carry: a finite number inside its plausible range and its column's range, a date
in 1800..2199, or text without control characters or lone surrogates, cut to its column's length. What cannot be
made so becomes None (or the field's default): these functions never raise on bad input.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from numbers import Real
from typing import Any

# Text caps, in characters: what a column holds (schema.py max_length; MariaDB refuses a longer CharField value)
# and, for the free-text columns, what a person can still read and a search can scan quickly.
TITLE = 200
DESCRIPTION = 4000
KEYWORD = 100
KEYWORDS = 4000  # the whole comma-separated list
CAMERA_MAKE = 64
CAMERA_MODEL = 128
LENS = 128
EXPOSURE = 24
CODEC = 32
CONTENT_ID = 64
ALBUM_TITLE = 200
UID = 24
LOCKED = 255  # photo.locked, the comma-separated names of hand-set fields

# Plausible ranges, inside every backend's column type (IntegerField: 32 bits signed; SmallIntegerField: 16).
LATITUDE = (-90.0, 90.0)
LONGITUDE = (-180.0, 180.0)
ALTITUDE = (-12_000.0, 100_000.0)  # metres: the deepest mine shaft to a stratospheric balloon
ISO = (1, 10_000_000)
PIXELS = (1, 1_000_000)  # width or height
DURATION = (0.0, 10_000_000.0)  # seconds (about 115 days), exclusive of 0
FNUMBER = (0.0, 1_000.0)  # exclusive of 0
FOCAL_LENGTH = (0.0, 100_000.0)  # millimetres, exclusive of 0
EXPOSURE_TIME = (1e-7, 1e6)  # seconds
RATING = (-1, 5)  # -1: rejected, 0: none, 1..5 stars
ORIENTATION = (1, 8)
YEARS = (1800, 2199)

_WRAP = 2**32  # GPSAltitude is an unsigned rational: a signed -12 written into it reads as 4294967284
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")  # keeps \t \n \r for clean()
_LINE_BREAKS = re.compile(r"\r\n?")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]+")


# -- numbers ----------------------------------------------------------------------------------------------------


def number(value: Any) -> float | None:
    """A finite float from a number or a numeric string, or None (NaN, ±Infinity, 1e400, text, bool, None)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, Real):
            f = float(value)
        elif isinstance(value, str | bytes):
            f = float(value.strip())
        else:
            return None
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def bounded(value: Any, low: float, high: float, *, above_low: bool = False) -> float | None:
    """A finite number in [low, high] (or (low, high] with `above_low`), else None."""
    f = number(value)
    if f is None or f > high or f < low or (above_low and f == low):
        return None
    return f


def whole(value: Any, low: int, high: int) -> int | None:
    """A whole number in [low, high] (a fraction is cut toward zero, as EXIF readers do), else None."""
    f = number(value)
    if f is None or not low <= f < high + 1:
        return None
    i = int(f)
    return i if low <= i <= high else None


def position(lat: Any, lon: Any) -> tuple[float, float] | None:
    """A position on Earth, or None. (0, 0) is what cameras and Google Takeout write for "no position", so it is
    none too (the same rule for EXIF, XMP, Takeout and sidecars)."""
    la, lo = bounded(lat, *LATITUDE), bounded(lon, *LONGITUDE)
    if la is None or lo is None or (la == 0.0 and lo == 0.0):
        return None
    return la, lo


def altitude(value: Any) -> float | None:
    """Metres above sea level, or None. A negative altitude some cameras write as a signed value into EXIF's
    unsigned rational reads back as ~4.29e9 (numerator wrapped at 2**32, over a denominator of 1, 10, 100 or 1000):
    that wrap is undone. Then the value must be in ALTITUDE."""
    f = number(value)
    if f is None:
        return None
    magnitude = abs(f)
    if magnitude >= 2**31 / 1000:
        for denominator in (1, 10, 100, 1000):
            numerator = magnitude * denominator
            if 2**31 <= numerator < _WRAP and abs(numerator - round(numerator)) < 0.01:
                unwrapped = (round(numerator) - _WRAP) / denominator
                f = unwrapped if f > 0 else -abs(unwrapped)  # GPSAltitudeRef "below sea level" and a wrap: below
                break
    return bounded(f, *ALTITUDE)


def orientation(value: Any) -> int:
    """EXIF orientation 1..8; anything else (0, 9, garbage) is 1, upright."""
    return whole(value, *ORIENTATION) or 1


def rotation(value: Any) -> int:
    """A display rotation in degrees: a multiple of 90 in -360..360, else 0."""
    r = whole(value, -360, 360)
    return r if r is not None and r % 90 == 0 else 0


def rating(value: Any) -> int | None:
    return whole(value, *RATING)


def iso(value: Any) -> int | None:
    return whole(value, *ISO)


def pixels(value: Any) -> int | None:
    """A width or height in pixels."""
    return whole(value, *PIXELS)


def duration(value: Any) -> float | None:
    """A video's length in seconds (0 means unknown: None)."""
    return bounded(value, *DURATION, above_low=True)


def fnumber(value: Any) -> float | None:
    return bounded(value, *FNUMBER, above_low=True)


def focal_length(value: Any) -> float | None:
    return bounded(value, *FOCAL_LENGTH, above_low=True)


def exposure_time(value: Any) -> float | None:
    return bounded(value, *EXPOSURE_TIME)


def fraction(value: Any, default: float = 0.0) -> float:
    """A confidence or score in [0, 1]; anything else is `default`."""
    f = bounded(value, 0.0, 1.0)
    return default if f is None else f


# -- dates ------------------------------------------------------------------------------------------------------


def moment(value: Any) -> dt.datetime | None:
    """A naive datetime (an aware one is turned into naive UTC) whose year is in YEARS, else None."""
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        except (OverflowError, ValueError):  # year 1 with a positive offset, year 9999 with a negative one
            return None
    if not YEARS[0] <= value.year <= YEARS[1]:
        return None
    # A plain datetime: YAML loaders (ruamel's TimeStamp for an unquoted TakenAt) hand back subclasses that the
    # SQLite driver cannot bind ("Error binding parameter").
    return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


def from_timestamp(value: Any) -> dt.datetime | None:
    """A Unix timestamp (seconds, a number or a numeric string) as naive UTC, if it falls in YEARS."""
    seconds = number(value)
    if seconds is None:
        return None
    try:
        when = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
    except OverflowError:
        return None
    return moment(when)


# -- text -------------------------------------------------------------------------------------------------------


def clean(value: Any, *, one_line: bool = True) -> str | None:
    """Text without NULs, control characters or lone surrogates, trimmed; None when nothing is left. A list is
    joined with ", ". `one_line` folds line breaks, tabs and runs of spaces into one space (names, titles);
    otherwise line breaks are kept, as "\\n" (descriptions)."""
    if value is None or isinstance(value, bool | dict):
        return None
    if isinstance(value, list | tuple):
        parts = [clean(v, one_line=one_line) for v in value]
        return clean(", ".join(p for p in parts if p), one_line=one_line)
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    else:
        try:
            text = value if isinstance(value, str) else str(value)
        except ValueError:  # an int of more than 4300 digits
            return None
    if one_line:
        text = " ".join(_CONTROL.sub("", text).split())
    else:
        text = _CONTROL.sub("", _LINE_BREAKS.sub("\n", text)).strip()
    return text or None


def text(value: Any, cap: int, *, one_line: bool = True) -> str | None:
    """clean() cut to at most `cap` characters."""
    cleaned = clean(value, one_line=one_line)
    if cleaned is None or len(cleaned) <= cap:
        return cleaned
    return cleaned[:cap].rstrip() or None


def keywords(values: Iterable[Any]) -> list[str]:
    """Distinct keywords, each cleaned and cut to KEYWORD, the list cut so that ", ".join() fits KEYWORDS. A
    comma inside one splits it (the catalog keeps them comma-separated)."""
    out: list[str] = []
    length = 0
    for value in values:
        for part in (clean(value) or "").split(","):
            kw = text(part, KEYWORD)
            if kw is None or kw in out:
                continue
            length += len(kw) + (2 if out else 0)
            if length > KEYWORDS:
                return out
            out.append(kw)
    return out


def identifier(value: Any, cap: int) -> str | None:
    """A UID, hash or field name: letters, digits, '-' and '_' only, at most `cap` long; else None (a cut
    identifier would name something else)."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    ident = str(value).strip()
    return ident if len(ident) <= cap and _IDENTIFIER.fullmatch(ident) else None
