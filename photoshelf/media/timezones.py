"""Time zones from coordinates (timezonefinder, offline): the offset of a photo whose metadata states none."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

_finder: Any = None
_lock = threading.Lock()


def zone_at(lat: float, lon: float) -> str | None:
    """The IANA time zone name at a point (e.g. 'Europe/Rome'), or None at sea or when unknown."""
    global _finder
    with _lock:
        if _finder is None:
            try:
                from timezonefinder import TimezoneFinder
            except ImportError:  # pragma: no cover - a declared dependency
                log.warning("timezonefinder is not installed: time zones are not derived from GPS")
                _finder = False
            else:
                _finder = TimezoneFinder(in_memory=True)
        if _finder is False:
            return None
        try:
            name = _finder.timezone_at(lat=lat, lng=lon)
        except ValueError:
            return None
    return str(name) if name else None


def offset_minutes(zone: str, when: dt.datetime, *, is_utc: bool) -> int | None:
    """The UTC offset of `zone` at `when` (a wall-clock time there, or a UTC instant when `is_utc`)."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    if is_utc:
        aware = when.replace(tzinfo=dt.UTC).astimezone(tz)
    else:
        aware = when.replace(tzinfo=tz)
    offset = aware.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else None
