"""The capture time of a photo: date tags by a declared priority, impossible dates skipped, the zone from GPS."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import Any

from photoshelf import values
from photoshelf.media.timezones import offset_minutes, zone_at

_DATE_RE = re.compile(
    r"^(\d{4})[:\-](\d{2})[:\-](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:\.(\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?"
)
_OFFSET_RE = re.compile(r"^(Z|[+-]\d{2}:?\d{2})$")
# Date (and time) in a file name: IMG_20190704_123456, VID_20170222_082028, PXL_20210101_123456789,
# Screenshot 2019-05-21 at 10.45.52, IMG-20131126-WA0003, 2015-02-04.
_NAME_RE = re.compile(
    r"(?<!\d)((?:19|20)\d{2})[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])"
    r"(?:(?:[ _T-]|\sat\s)?([01]\d|2[0-3])[-_.:h]?([0-5]\d)[-_.:m]?([0-5]\d))?(?!\d{3})"
)

# The first photograph that survives is from 1826/27 (Niépce): an earlier capture date is a placeholder or a bug.
FIRST_PHOTO_YEAR = 1826
# A clock a day ahead is a time zone mix-up at worst; later than that, the date is wrong (a 2099 default).
FUTURE_SLACK = dt.timedelta(days=1)


@dataclass(frozen=True)
class TimeTag:
    """One capture-time candidate: an exiftool tag ('Group:Tag'), the source name the catalog records, and
    whether the value is a UTC instant (QuickTime CreateDate, GPS time, Takeout) or a wall-clock time."""

    tag: str
    source: str
    utc: bool = False


# Capture-time candidates, most trustworthy first (docs/metadata.md explains the order). Maker-note and
# vendor-group dates (a Canon CRW's CanonRaw block, a Sigma X3F header) are the camera's own clock, as good as
# EXIF's; they come after EXIF so that a file holding both says "exif". Takeout's JSON beats XMP and IPTC, which
# editors rewrite. VENDOR_TIME stands for every other group's DateTimeOriginal/CreateDate (see vendor_values).
VENDOR_TIME = "*vendor*"
TIME_TAGS: tuple[TimeTag, ...] = (
    TimeTag("Composite:SubSecDateTimeOriginal", "exif"),
    TimeTag("EXIF:DateTimeOriginal", "exif"),
    TimeTag("Composite:DateTimeOriginal", "exif"),
    TimeTag("QuickTime:CreationDate", "quicktime"),  # Apple's com.apple.quicktime.creationdate, with its offset
    TimeTag("QuickTime:ContentCreateDate", "quicktime"),
    TimeTag("EXIF:CreateDate", "exif"),
    TimeTag(VENDOR_TIME, "makernotes"),
    TimeTag("takeout", "takeout", utc=True),
    TimeTag("XMP:DateTimeOriginal", "xmp"),
    TimeTag("XMP:CreateDate", "xmp"),
    TimeTag("XMP:DateCreated", "xmp"),
    TimeTag("Composite:DateTimeCreated", "iptc"),  # IPTC DateCreated + TimeCreated
    TimeTag("IPTC:DateCreated", "iptc"),
    TimeTag("QuickTime:CreateDate", "quicktime", utc=True),
    TimeTag("QuickTime:MediaCreateDate", "quicktime", utc=True),
    TimeTag("QuickTime:TrackCreateDate", "quicktime", utc=True),
    TimeTag("Composite:GPSDateTime", "gps", utc=True),
)
OFFSET_TAGS = ("EXIF:OffsetTimeOriginal", "EXIF:OffsetTimeDigitized", "EXIF:OffsetTime")

# exiftool's family-0 groups whose tags TIME_TAGS names one by one; any other group is a vendor's or a container's
# own block (MakerNotes, SigmaRaw, PanasonicRaw, RAF, APP6 (GoPro), RIFF (AVI), H264 (AVCHD), ...). VENDOR_GROUPS
# are tried first, in this order, then the rest by name.
STANDARD_GROUPS = frozenset({"File", "Composite", "ExifTool", "EXIF", "XMP", "IPTC", "QuickTime", "Photoshop",
                             "ICC_Profile", "JFIF", "SourceFile"})
VENDOR_GROUPS = ("MakerNotes", "SigmaRaw", "PanasonicRaw", "MinoltaRaw", "RAF", "CanonRaw", "PhaseOne", "Leaf",
                 "KyoceraRaw", "Red", "RIFF", "H264", "APP6", "APP1")


def vendor_values(tags: dict[str, Any], *names: str) -> list[tuple[str, Any]]:
    """('Group:Tag', value) for each tag called one of `names` in a vendor group: by name in the order given,
    then VENDOR_GROUPS in their order, then other groups by name."""
    found: list[tuple[tuple[int, int, str], str, Any]] = []
    for key, value in tags.items():
        group, _, tag = key.partition(":")
        if tag in names and group not in STANDARD_GROUPS and value not in (None, ""):
            rank = VENDOR_GROUPS.index(group) if group in VENDOR_GROUPS else len(VENDOR_GROUPS)
            found.append(((names.index(tag), rank, group), key, value))
    found.sort(key=lambda f: f[0])
    return [(key, value) for _order, key, value in found]


@dataclass
class Timestamp:
    local: dt.datetime  # wall-clock time where it was taken (naive); the UTC time itself while utc_only
    offset: int | None  # minutes east of UTC, None when unknown
    source: str
    utc_only: bool = False  # only the UTC instant is known (Takeout, QuickTime CreateDate, GPS, mtime)
    zone: str | None = None  # IANA name, when known (from GPS)

    @property
    def utc(self) -> dt.datetime:
        """The UTC instant; with no known offset, the wall time read as UTC (the catalog's sort key)."""
        return self.local - dt.timedelta(minutes=self.offset or 0)


def parse_offset(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not _OFFSET_RE.match(value):
        return None
    if value == "Z":
        return 0
    sign = -1 if value[0] == "-" else 1
    digits = value[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:])
    if minutes > 14 * 60 or int(digits[2:]) > 59:
        return None
    return sign * minutes


def parse_date(value: Any) -> tuple[dt.datetime, int | None] | None:
    """Parse an EXIF/XMP/QuickTime date string; returns (naive wall time, offset minutes or None)."""
    if not isinstance(value, str):
        return None
    m = _DATE_RE.match(value.strip())
    if not m:
        return None
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if not values.YEARS[0] <= year <= values.YEARS[1]:
        return None  # "0000:00:00 00:00:00" and other placeholders
    hour, minute, second = int(m[4] or 0), int(m[5] or 0), int(m[6] or 0)
    micro = int((m[7] or "0")[:6].ljust(6, "0"))
    try:
        when = dt.datetime(year, month, day, hour, minute, min(second, 59), micro)
    except ValueError:
        return None
    return when, parse_offset(m[8]) if m[8] else None


def impossible(when: dt.datetime, now: dt.datetime | None = None) -> bool:
    """A capture time no camera took: before the first photograph or more than a day in the future."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return when.year < FIRST_PHOTO_YEAR or when > now + FUTURE_SLACK


def name_date(name: str, *, with_time: bool = False) -> dt.datetime | None:
    """A capture time written in a file name (IMG_20190704_123456.jpg), or None; `with_time`: only a full time."""
    m = _NAME_RE.search(os.path.splitext(name)[0])
    if not m or (with_time and m[4] is None):
        return None
    try:
        return dt.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0), int(m[5] or 0), int(m[6] or 0))
    except ValueError:
        return None


def offset_between(local: dt.datetime, utc: dt.datetime) -> int | None:
    """The UTC offset implied by a local and a UTC reading of the same moment, if it is a plausible zone."""
    minutes = (local - utc).total_seconds() / 60
    rounded = int(round(minutes / 15) * 15)
    if abs(minutes - rounded) > 3 or abs(rounded) > 14 * 60:
        return None
    return rounded


def _candidates(tags: dict[str, Any], takeout: dict[str, Any] | None) -> list[tuple[str, TimeTag, Any]]:
    out: list[tuple[str, TimeTag, Any]] = []
    for spec in TIME_TAGS:
        if spec.tag == VENDOR_TIME:
            out.extend((key, spec, raw) for key, raw in vendor_values(tags, "DateTimeOriginal", "CreateDate"))
        elif spec.tag == "takeout":
            if takeout and takeout.get("taken_at") is not None:
                out.append(("Takeout photoTakenTime", spec, takeout["taken_at"]))
        elif tags.get(spec.tag) not in (None, ""):
            out.append((spec.tag, spec, tags[spec.tag]))
    return out


def capture_time(tags: dict[str, Any], name: str, mtime: float, takeout: dict[str, Any] | None,
                 warnings: list[str] | None = None, *, now: dt.datetime | None = None) -> Timestamp:
    """Pick the capture time: date tags by TIME_TAGS, then the file name, then the file's mtime (a guess).

    An impossible date (impossible()) is skipped for the next source, with a warning in `warnings`. A UTC instant
    keeps utc_only until settle_zone() finds its zone; a wall time without an offset keeps offset None."""
    notes = warnings if warnings is not None else []
    for key, spec, raw in _candidates(tags, takeout):
        if isinstance(raw, dt.datetime):
            parsed: tuple[dt.datetime, int | None] | None = (raw, 0)
        else:
            parsed = parse_date(raw)
        if parsed is None:
            continue
        when, offset = parsed
        if impossible(when, now):
            notes.append(f"capture date {when:%Y-%m-%d %H:%M:%S} in {key} is impossible "
                         f"(before {FIRST_PHOTO_YEAR} or in the future): ignored")
            continue
        if spec.utc and not offset:
            # A UTC instant: its own offset tags first; GPS and the file name come later (settle_zone).
            own = next((o for o in (parse_offset(tags.get(t)) for t in OFFSET_TAGS) if o is not None), None)
            if own is not None:
                return Timestamp(local=when + dt.timedelta(minutes=own), offset=own, source=spec.source)
            return Timestamp(local=when, offset=None, source=spec.source, utc_only=True)
        if offset is None:
            offset = _find_offset(tags, when)
        return Timestamp(local=when, offset=offset, source=spec.source)
    named = name_date(name)
    if named is not None:
        if not impossible(named, now):
            return Timestamp(local=named, offset=None, source="name")
        notes.append(f"capture date {named:%Y-%m-%d} in the file name is impossible: ignored")
    modified = values.from_timestamp(mtime) or dt.datetime(1970, 1, 1)  # a file dated 1601 or 30828: the epoch
    return Timestamp(local=modified, offset=None, source="mtime", utc_only=True)


def _find_offset(tags: dict[str, Any], when: dt.datetime) -> int | None:
    """An offset for a wall time with none: OffsetTime* tags, another tag with the same wall time, or GPS time."""
    for tag in OFFSET_TAGS:
        offset = parse_offset(tags.get(tag))
        if offset is not None:
            return offset
    for spec in TIME_TAGS:
        if spec.utc:
            continue
        parsed = parse_date(tags.get(spec.tag))
        if parsed and parsed[1] is not None and abs((parsed[0] - when).total_seconds()) < 1:
            return parsed[1]
    gps = parse_date(tags.get("Composite:GPSDateTime"))
    if gps is not None:
        return offset_between(when, gps[0])
    return None


def settle_zone(taken: Timestamp, lat: float | None, lon: float | None, name: str) -> None:
    """The zone rule, for every time without an offset of its own: the zone at the GPS position gives it; else,
    for a UTC instant, the wall time in the file name (IMG_20190704_123456) against it; else it stays unknown.

    An offset the file states wins over the map (travellers keep home time on purpose, or a zone changed);
    the zone name is kept only when it agrees with that offset."""
    zone = zone_at(lat, lon) if lat is not None and lon is not None else None
    if zone is not None:
        if taken.offset is None or taken.utc_only:
            offset = offset_minutes(zone, taken.local, is_utc=taken.utc_only)
            if offset is not None:
                if taken.utc_only:
                    taken.local = taken.local + dt.timedelta(minutes=offset)
                    taken.utc_only = False
                taken.offset, taken.zone = offset, zone
        elif offset_minutes(zone, taken.local, is_utc=False) == taken.offset:
            taken.zone = zone
    if taken.utc_only and taken.source != "mtime":
        named = name_date(name, with_time=True)
        guess = offset_between(named, taken.local) if named else None
        if guess is not None:
            taken.local = taken.local + dt.timedelta(minutes=guess)
            taken.offset, taken.utc_only = guess, False
