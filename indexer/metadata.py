"""Turn exiftool's tags (and a Google Takeout JSON) into catalog metadata, recording which source won."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photoshelf import values
from photoshelf.indexer.media import RAW_FILETYPES
from photoshelf.indexer.timezones import offset_minutes, zone_at

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


@dataclass
class Timestamp:
    local: dt.datetime  # wall-clock time where it was taken (naive); the UTC time itself when utc_only
    offset: int | None  # minutes east of UTC, None when unknown
    source: str
    utc_only: bool = False  # only the UTC instant is known (QuickTime CreateDate): local time still to find
    zone: str | None = None  # IANA name, when known (from GPS)

    @property
    def utc(self) -> dt.datetime:
        return self.local - dt.timedelta(minutes=self.offset or 0)


@dataclass
class Metadata:
    filetype: str = ""
    mime: str = ""
    width: int | None = None
    height: int | None = None
    orientation: int = 1
    taken: Timestamp | None = None
    lat: float | None = None
    lon: float | None = None
    altitude: float | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    iso: int | None = None
    exposure: str | None = None
    fnumber: float | None = None
    focal_length: float | None = None
    duration: float | None = None
    codec: str | None = None
    rotation: int = 0
    title: str | None = None
    description: str | None = None
    keywords: list[str] = field(default_factory=list)
    rating: int | None = None
    content_id: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


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


def _first(tags: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = tags.get(name)
        if value not in (None, "", "0000:00:00 00:00:00"):
            return value
    return None


def format_exposure(seconds: float | None) -> str | None:
    seconds = values.exposure_time(seconds)
    if seconds is None:
        return None
    if seconds >= 1:
        return f"{seconds:g}s" if seconds != int(seconds) else f"{int(seconds)}s"
    return f"1/{round(1 / seconds)}"


# Capture-time candidates, most trustworthy first. Each: (tag, source name, is the time UTC).
_TIME_TAGS: list[tuple[str, str, bool]] = [
    ("Composite:SubSecDateTimeOriginal", "exif", False),
    ("EXIF:DateTimeOriginal", "exif", False),
    ("Composite:DateTimeOriginal", "exif", False),
    ("QuickTime:CreationDate", "quicktime", False),
    ("EXIF:CreateDate", "exif", False),
    ("takeout", "takeout", True),
    ("XMP:DateTimeOriginal", "xmp", False),
    ("XMP:CreateDate", "xmp", False),
    ("XMP:DateCreated", "xmp", False),
    ("QuickTime:CreateDate", "quicktime", True),
    ("Composite:GPSDateTime", "gps", True),
]
_OFFSET_TAGS = ("EXIF:OffsetTimeOriginal", "EXIF:OffsetTimeDigitized", "EXIF:OffsetTime")


def name_date(name: str, *, with_time: bool = False) -> dt.datetime | None:
    """A capture time written in a file name (IMG_20190704_123456.jpg), or None; `with_time`: only a full time."""
    m = _NAME_RE.search(os.path.splitext(name)[0])
    if not m or (with_time and m[4] is None):
        return None
    try:
        return dt.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0), int(m[5] or 0), int(m[6] or 0))
    except ValueError:
        return None


def _offset_between(local: dt.datetime, utc: dt.datetime) -> int | None:
    """The UTC offset implied by a local and a UTC reading of the same moment, if it is a plausible zone."""
    minutes = (local - utc).total_seconds() / 60
    rounded = int(round(minutes / 15) * 15)
    if abs(minutes - rounded) > 3 or abs(rounded) > 14 * 60:
        return None
    return rounded


def capture_time(tags: dict[str, Any], name: str, mtime: float, takeout: dict[str, Any] | None) -> Timestamp:
    """Pick the capture time: embedded tags by priority, then the file name, then the file's mtime."""
    candidates = dict(tags)
    if takeout and takeout.get("taken_at") is not None:
        candidates["takeout"] = takeout["taken_at"]
    for tag, source, is_utc in _TIME_TAGS:
        raw = candidates.get(tag)
        if isinstance(raw, dt.datetime):
            parsed: tuple[dt.datetime, int | None] | None = (raw, 0)
        else:
            parsed = parse_date(raw)
        if parsed is None:
            continue
        when, offset = parsed
        if is_utc and offset is None:
            offset = 0
        if is_utc and offset == 0:
            # A UTC instant: find the wall-clock offset from the file name or an offset tag, else keep UTC.
            named = name_date(name, with_time=True)
            guess = _offset_between(named, when) if named else None
            if guess is None:
                guess = next((o for o in (parse_offset(tags.get(t)) for t in _OFFSET_TAGS) if o is not None), None)
            if guess is not None:
                return Timestamp(local=when + dt.timedelta(minutes=guess), offset=guess, source=source)
            return Timestamp(local=when, offset=0 if source != "quicktime" else None, source=source,
                             utc_only=source == "quicktime")
        if offset is None:
            offset = _find_offset(tags, when)
        return Timestamp(local=when, offset=offset, source=source)
    named = name_date(name)
    if named is not None:
        return Timestamp(local=named, offset=None, source="name")
    modified = values.from_timestamp(mtime) or dt.datetime(1970, 1, 1)  # a file dated 1601 or 30828: the epoch
    return Timestamp(local=modified, offset=0, source="mtime")


def _find_offset(tags: dict[str, Any], when: dt.datetime) -> int | None:
    """An offset for a wall time with none: OffsetTime* tags, another tag with the same wall time, or GPS time."""
    for tag in _OFFSET_TAGS:
        offset = parse_offset(tags.get(tag))
        if offset is not None:
            return offset
    for tag, _source, is_utc in _TIME_TAGS:
        if is_utc:
            continue
        parsed = parse_date(tags.get(tag))
        if parsed and parsed[1] is not None and abs((parsed[0] - when).total_seconds()) < 1:
            return parsed[1]
    gps = parse_date(tags.get("Composite:GPSDateTime"))
    if gps is not None:
        return _offset_between(when, gps[0])
    return None


def _zone_from_gps(taken: Timestamp, lat: float, lon: float) -> None:
    """Name the time zone from the coordinates; when the metadata gave no offset, it gives the offset.

    An offset the camera wrote wins over the map (travellers keep home time on purpose, or a zone changed);
    the zone name is kept only when it agrees with that offset."""
    zone = zone_at(lat, lon)
    if zone is None:
        return
    if taken.offset is None or taken.utc_only:
        offset = offset_minutes(zone, taken.local, is_utc=taken.utc_only)
        if offset is None:
            return
        if taken.utc_only:
            taken.local = taken.local + dt.timedelta(minutes=offset)
            taken.utc_only = False
        taken.offset, taken.zone = offset, zone
    elif offset_minutes(zone, taken.local, is_utc=False) == taken.offset:
        taken.zone = zone


# What an editor (Lightroom, darktable, digiKam) writes to an XMP sidecar describes the photo better than the
# camera's embedded values: these come from the sidecar when it has them. Everything else only fills gaps.
SIDECAR_WINS = ("XMP:Rating", "XMP:Title", "XMP:Description", "XMP:Subject", "XMP:Label")


def merge_sidecar_tags(embedded: dict[str, Any], sidecar: dict[str, Any]) -> dict[str, Any]:
    """Tags of a media file with those of its XMP sidecar merged in (see SIDECAR_WINS)."""
    if not sidecar or sidecar.get("ExifTool:Error") or embedded.get("ExifTool:Error"):
        return embedded
    merged = dict(embedded)
    for key, value in sidecar.items():
        if key in ("SourceFile",) or key.startswith(("File:", "ExifTool:")) or value in (None, ""):
            continue
        if key in SIDECAR_WINS or key not in merged:
            merged[key] = value
    if "IPTC:Keywords" in merged and "XMP:Subject" in sidecar:
        merged.pop("IPTC:Keywords")  # the sidecar's keyword list replaces the embedded one
    return merged


def read_takeout(path: Path) -> dict[str, Any] | None:
    """Google Takeout's JSON beside a photo (IMG_1.jpg.json, or the truncated names Takeout writes)."""
    candidates = [path.with_name(path.name + ".json"), path.with_name(path.stem + ".json")]
    if len(path.name) > 46:
        candidates.append(path.with_name(path.name[:46] + ".json"))
    for candidate in candidates:
        try:
            with open(candidate, "rb") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or not ("photoTakenTime" in data or "geoData" in data):
            continue
        out: dict[str, Any] = {"path": str(candidate)}
        taken = _mapping(data.get("photoTakenTime"))
        taken_at = values.from_timestamp(taken.get("timestamp"))
        if taken_at is not None:
            out["taken_at"] = taken_at
        for key in ("geoDataExif", "geoData"):
            geo = _mapping(data.get(key))
            place = values.position(geo.get("latitude"), geo.get("longitude"))
            if place is not None:
                out["lat"], out["lon"] = place
                out["altitude"] = values.altitude(geo.get("altitude"))
                break
        description = values.text(data.get("description"), values.DESCRIPTION, one_line=False)
        if description:
            out["description"] = description
        title = values.text(data.get("title"), values.TITLE)
        if title and title != path.name:  # Takeout's title is usually just the file name
            out["title"] = title
        return out
    return None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def extract(tags: dict[str, Any], name: str, mtime: float, takeout: dict[str, Any] | None = None) -> Metadata:
    """Everything the catalog keeps from one file's exiftool tags."""
    md = Metadata()
    if tags.get("ExifTool:Error"):
        md.error = str(tags["ExifTool:Error"])
        return md
    # Every value passes photoshelf.values: finite, in range, text cleaned and cut to its column.
    md.filetype = values.text(tags.get("File:FileType"), 16) or ""
    md.mime = values.text(tags.get("File:MIMEType"), 64) or ""
    if md.filetype.upper() in RAW_FILETYPES:
        # In RAW files File:ImageWidth and IFD0 describe the embedded preview; the picture is the Exif size.
        wtags: tuple[str, ...] = ("EXIF:ExifImageWidth", "EXIF:ImageWidth", "File:ImageWidth")
    else:
        wtags = ("File:ImageWidth", "QuickTime:ImageWidth", "PNG:ImageWidth", "EXIF:ExifImageWidth",
                 "EXIF:ImageWidth", "RIFF:ImageWidth", "GIF:ImageWidth")
    md.width = values.pixels(_first(tags, *wtags))
    md.height = values.pixels(_first(tags, *(t.replace("Width", "Height") for t in wtags)))
    md.orientation = values.orientation(_first(tags, "EXIF:Orientation", "XMP:Orientation"))
    md.rotation = values.rotation(_first(tags, "Composite:Rotation", "QuickTime:Rotation"))
    md.taken = capture_time(tags, name, mtime, takeout)
    place = values.position(tags.get("Composite:GPSLatitude"), tags.get("Composite:GPSLongitude"))
    if place is not None:
        md.lat, md.lon = place
        md.altitude = values.altitude(tags.get("Composite:GPSAltitude"))
    elif takeout and values.position(takeout.get("lat"), takeout.get("lon")) is not None:
        md.lat, md.lon = takeout["lat"], takeout["lon"]
        md.altitude = values.altitude(takeout.get("altitude"))
    if md.taken is not None and md.lat is not None and md.lon is not None:
        _zone_from_gps(md.taken, md.lat, md.lon)
    md.camera_make = values.text(_first(tags, "EXIF:Make", "QuickTime:Make", "XMP:Make"), values.CAMERA_MAKE)
    md.camera_model = values.text(_first(tags, "EXIF:Model", "QuickTime:Model", "XMP:Model"), values.CAMERA_MODEL)
    lens = _first(tags, "EXIF:LensModel", "XMP:LensModel", "Composite:LensID", "XMP:Lens", "MakerNotes:Lens")
    md.lens = values.text(lens, values.LENS) if isinstance(lens, str) else None
    md.iso = values.iso(_first(tags, "EXIF:ISO", "Composite:ISO", "MakerNotes:ISO"))
    md.exposure = format_exposure(values.number(_first(tags, "EXIF:ExposureTime", "MakerNotes:ExposureTime")))
    md.fnumber = values.fnumber(_first(tags, "EXIF:FNumber", "Composite:Aperture", "MakerNotes:FNumber"))
    md.focal_length = values.focal_length(_first(tags, "EXIF:FocalLength", "MakerNotes:FocalLength"))
    md.duration = values.duration(_first(tags, "QuickTime:Duration", "Composite:Duration", "QuickTime:MediaDuration"))
    md.codec = values.text(_first(tags, "QuickTime:CompressorID"), values.CODEC)
    takeout_text = takeout or {}
    md.title = values.text(_first(tags, "XMP:Title", "IPTC:ObjectName"), values.TITLE) or values.text(
        takeout_text.get("title"), values.TITLE)
    desc = values.text(_first(tags, "XMP:Description", "IPTC:Caption-Abstract", "EXIF:ImageDescription"),
                       values.DESCRIPTION, one_line=False)
    if desc and desc.upper() in ("OLYMPUS DIGITAL CAMERA", "SONY DSC", "DIGITAL CAMERA", "DCIM"):
        desc = None  # camera boilerplate, not a description
    md.description = desc or values.text(takeout_text.get("description"), values.DESCRIPTION, one_line=False)
    found: list[Any] = []
    for tag in ("IPTC:Keywords", "XMP:Subject"):
        value = tags.get(tag)
        found.extend(value if isinstance(value, list) else [value])
    md.keywords = values.keywords(found)
    md.rating = values.rating(_first(tags, "XMP:Rating", "EXIF:Rating"))
    md.content_id = values.text(_first(tags, "MakerNotes:ContentIdentifier", "QuickTime:ContentIdentifier",
                                       "Apple:ContentIdentifier"), values.CONTENT_ID)
    if tags.get("ExifTool:Warning"):
        md.warnings.append(str(tags["ExifTool:Warning"]))
    return md
