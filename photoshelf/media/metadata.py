"""Turn exiftool's tags (and a Google Takeout JSON) into catalog metadata, recording which source won."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photoshelf import values
from photoshelf.media.boilerplate import is_boilerplate
from photoshelf.media.capture import (  # noqa: F401 - parse_date, parse_offset, name_date: this module's API
    Timestamp,
    capture_time,
    name_date,
    parse_date,
    parse_offset,
    settle_zone,
    vendor_values,
)
from photoshelf.media.decode import RAW_FILETYPES, kind_for_filetype

# Where a photo can have been taken, in metres: the shore of the Dead Sea (-430 m) to the highest peaks
# (8,849 m) with a margin. A GPS altitude outside is a receiver without a fix or a corrupt value (docs/metadata.md).
PLAUSIBLE_ALTITUDE = (-500.0, 10_000.0)


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
            lat, lon = geo.get("latitude"), geo.get("longitude")
            if values.position(lat, lon) is not None:
                out["lat"], out["lon"], out["altitude"] = lat, lon, geo.get("altitude")  # extract() checks them
                break
            if _present(lat) and _present(lon) and (values.number(lat) != 0.0 or values.number(lon) != 0.0):
                out.setdefault("warnings", []).append(
                    f"GPS position {str(lat)[:40]}, {str(lon)[:40]} (Takeout {key}) is not on Earth: ignored")
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


def _first_text(candidates: list[Any], cap: int, make: str | None, model: str | None, *,
                one_line: bool = True) -> str | None:
    """The first candidate that is text after cleaning and not camera boilerplate."""
    for value in candidates:
        text = values.text(value, cap, one_line=one_line)
        if text and not is_boilerplate(text, make, model):
            return text
    return None


def _present(value: Any) -> bool:
    return value not in (None, "") and not (isinstance(value, list) and not value)


def _position(tags: dict[str, Any], takeout: dict[str, Any] | None,
              warnings: list[str]) -> tuple[float, float, str] | None:
    """(lat, lon, source) from the first source with a usable position: EXIF/QuickTime (exiftool's Composite,
    signed by its Ref tags), XMP (embedded or a sidecar's exif:GPSLatitude, already signed), Takeout's JSON.
    A position out of range is dropped with a warning; (0, 0) means "none" without one."""
    sources: list[tuple[str, Any, Any]] = [
        ("Composite", tags.get("Composite:GPSLatitude"), tags.get("Composite:GPSLongitude")),
        ("XMP", tags.get("XMP:GPSLatitude"), tags.get("XMP:GPSLongitude")),
    ]
    if takeout:
        sources.append(("takeout", takeout.get("lat"), takeout.get("lon")))
    for source, lat, lon in sources:
        if not (_present(lat) and _present(lon)):
            continue
        place = values.position(lat, lon)
        if place is not None:
            return place[0], place[1], source
        if values.number(lat) != 0.0 or values.number(lon) != 0.0:
            warnings.append(f"GPS position {str(lat)[:40]}, {str(lon)[:40]} ({source}) is not on Earth: ignored")
    return None


def _altitude(tags: dict[str, Any], source: str, takeout: dict[str, Any] | None, warnings: list[str]) -> float | None:
    """The altitude that goes with the position's source. Without GPSAltitudeRef exiftool builds no Composite
    tag: the raw GPS altitude is read then (above sea level, as the EXIF standard says of a missing Ref). A
    32-bit wrap is undone (values.altitude); a value outside PLAUSIBLE_ALTITUDE or not finite is dropped."""
    if source == "takeout":
        raw = (takeout or {}).get("altitude")
    elif source == "XMP":
        raw = _first(tags, "Composite:GPSAltitude", "XMP:GPSAltitude")
    else:
        raw = _first(tags, "Composite:GPSAltitude", "EXIF:GPSAltitude", "XMP:GPSAltitude")
    if not _present(raw):
        return None
    metres = values.altitude(raw)
    low, high = PLAUSIBLE_ALTITUDE
    if metres is None or not low <= metres <= high:
        warnings.append(f"GPS altitude {str(raw)[:40]} is not a number of metres in {low:g}..{high:g}: ignored")
        return None
    return metres


# Tags per field, most trustworthy first (docs/metadata.md). A vendor group's tag of the same name (MakerNotes,
# SigmaRaw, ...) comes after these: vendor_values().
MAKE_TAGS = ("EXIF:Make", "QuickTime:Make", "XMP:Make")
MODEL_TAGS = ("EXIF:Model", "QuickTime:Model", "XMP:Model")
TITLE_TAGS = ("XMP:Title", "IPTC:ObjectName", "XMP:Headline", "IPTC:Headline", "QuickTime:Title")
DESCRIPTION_TAGS = ("XMP:Description", "IPTC:Caption-Abstract", "EXIF:ImageDescription", "QuickTime:Description")
DURATION_TAGS = ("QuickTime:Duration", "Composite:Duration", "QuickTime:MediaDuration", "GIF:Duration",
                 "RIFF:Duration")


ANIMATED_FILETYPES = frozenset({"GIF", "WEBP", "EXTENDED WEBP"})  # exiftool: an animated WebP is "Extended WEBP"
LENS_TAGS = ("EXIF:LensModel", "XMP:LensModel", "Composite:LensID", "XMP:Lens", "MakerNotes:Lens",
             "MakerNotes:LensModel")
# exiftool runs with -n, so a LensID it would look up in its lens tables comes as the raw code ("7F 40 2D 5C 2C 34
# 84 06" for a Nikon, "3 44" for a Pentax): a code names no lens (docs/metadata.md, known differences).
_HAS_LETTER = re.compile(r"[^\W\d_]")
_LENS_CODE = re.compile(r"^[0-9A-Fa-f]{1,4}( [0-9A-Fa-f]{1,4})*$")


def _lens_range(value: Any) -> str | None:
    """A maker note's "18 70 3.5 4.5" (focal lengths, apertures) as exiftool prints it: "18-70mm f/3.5-4.5"."""
    parts = [values.number(p) for p in value.split()] if isinstance(value, str) else []
    if len(parts) != 4 or any(p is None or p <= 0 for p in parts):
        return None
    short, long, wide, narrow = (float(p) for p in parts if p is not None)
    focal = f"{short:g}mm" if short == long else f"{short:g}-{long:g}mm"
    return focal + (f" f/{wide:g}" if wide == narrow else f" f/{wide:g}-{narrow:g}")


def _lens(tags: dict[str, Any]) -> str | None:
    for tag in LENS_TAGS:
        value = tags.get(tag)
        if tag == "MakerNotes:Lens" and _lens_range(value):
            return _lens_range(value)
        if isinstance(value, str) and not _LENS_CODE.match(value.strip()):
            text = values.text(value, values.LENS)
            if text:
                return text
    return None


def _camera(tags: dict[str, Any], standard: tuple[str, ...], name: str, cap: int) -> str | None:
    value = _first(tags, *standard)
    if value is None:  # a vendor block's name; under -n some are codes (AVCHD's H264:Make 4113): not a name
        value = next((v for _key, v in vendor_values(tags, name) if isinstance(v, str) and _HAS_LETTER.search(v)),
                     None)
    return values.text(value, cap)


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
        # In RAW files File:ImageWidth and IFD0 describe the embedded preview; the picture is the Exif size, or
        # the size a vendor block states (a Canon CRW, a Sigma X3F).
        wtags: tuple[str, ...] = ("EXIF:ExifImageWidth", "EXIF:ImageWidth", "MakerNotes:ImageWidth",
                                  "SigmaRaw:ImageWidth", "File:ImageWidth")
    else:
        wtags = ("File:ImageWidth", "QuickTime:ImageWidth", "PNG:ImageWidth", "EXIF:ExifImageWidth",
                 "EXIF:ImageWidth", "RIFF:ImageWidth", "GIF:ImageWidth", "H264:ImageWidth")
    md.width = values.pixels(_first(tags, *wtags))
    md.height = values.pixels(_first(tags, *(t.replace("Width", "Height") for t in wtags)))
    md.orientation = values.orientation(_first(tags, "EXIF:Orientation", "XMP:Orientation"))
    md.rotation = values.rotation(_first(tags, "Composite:Rotation", "QuickTime:Rotation"))
    md.warnings.extend(str(w) for w in (takeout or {}).get("warnings", []))
    md.taken = capture_time(tags, name, mtime, takeout, md.warnings)
    place = _position(tags, takeout, md.warnings)
    if place is not None:
        md.lat, md.lon, source = place
        md.altitude = _altitude(tags, source, takeout, md.warnings)
    settle_zone(md.taken, md.lat, md.lon, name)
    md.camera_make = _camera(tags, MAKE_TAGS, "Make", values.CAMERA_MAKE)
    md.camera_model = _camera(tags, MODEL_TAGS, "Model", values.CAMERA_MODEL)
    md.lens = _lens(tags)
    md.iso = values.iso(_first(tags, "EXIF:ISO", "Composite:ISO", "MakerNotes:ISO"))
    md.exposure = format_exposure(values.number(_first(tags, "EXIF:ExposureTime", "MakerNotes:ExposureTime")))
    md.fnumber = values.fnumber(_first(tags, "EXIF:FNumber", "Composite:Aperture", "MakerNotes:FNumber"))
    md.focal_length = values.focal_length(_first(tags, "EXIF:FocalLength", "MakerNotes:FocalLength"))
    if kind_for_filetype(md.filetype) == "video" or md.filetype.upper() in ANIMATED_FILETYPES:
        md.duration = values.duration(_first(tags, *DURATION_TAGS))  # a CR3 or HEIC container states one too
    md.codec = values.text(_first(tags, "QuickTime:CompressorID"), values.CODEC)
    extra = takeout or {}
    make, model = md.camera_make, md.camera_model
    md.title = _first_text([tags.get(t) for t in TITLE_TAGS] + [extra.get("title")], values.TITLE, make, model)
    md.description = _first_text([tags.get(t) for t in DESCRIPTION_TAGS] + [extra.get("description")],
                                 values.DESCRIPTION, make, model, one_line=False)
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
