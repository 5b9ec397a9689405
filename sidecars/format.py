"""The sidecar YAML: PhotoPrism's photo fields plus a Photoshelf section, built from and applied to the catalog."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from photoshelf import values

SCHEMA_VERSION = 1
SECTION = "Photoshelf"
# Keys of our section that photoshelf writes (a key we own but no longer have is removed from the file).
OWNED_KEYS = ("Version", "Sha1", "Archived", "Rating", "Locked", "Rotation", "Albums", "Stack", "Labels", "Faces",
              "Stages", "DuplicateOf", "Text")

# PhotoPrism's TakenSrc values for our taken_at_source values.
_SRC_TO_PP = {"exif": "meta", "makernotes": "meta", "iptc": "meta", "xmp": "xmp", "quicktime": "meta", "gps": "meta",
              "takeout": "meta", "name": "name", "mtime": "auto", "manual": "manual"}


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(microsecond=0).isoformat() + "Z"


def _parse_time(value: Any) -> dt.datetime | None:
    if isinstance(value, str) and value:
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return values.moment(value)


@dataclass
class UserData:
    """What a person (or the ML) added to a photo: the part of a sidecar a restore must bring back."""

    uid: str | None = None
    sha1: str | None = None
    title: str | None = None
    description: str | None = None
    keywords: str | None = None
    rating: int | None = None
    favorite: bool = False
    private: bool = False
    archived: bool = False
    locked: list[str] = field(default_factory=list)
    taken_at: dt.datetime | None = None
    taken_at_local: dt.datetime | None = None
    lat: float | None = None
    lon: float | None = None
    rotation: int = 0
    albums: list[dict[str, str]] = field(default_factory=list)  # [{"UID": ..., "Title": ...}]
    stack_members: list[dict[str, str]] = field(default_factory=list)  # [{"Sha1": ..., "UID": ...}]
    # What the enrichment found, so a rebuilt catalog has labels and people without running the models again:
    # labels [{Name, Category, Categories, Confidence, Source, Model}], faces [{Box, Score, Person, Cluster, By,
    # Model, Embedding (base64 float32)}] and the stage versions that made them ({"faces": version, ...}).
    labels: list[dict[str, Any]] = field(default_factory=list)
    faces: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)
    text: list[tuple[str, float]] = field(default_factory=list)  # the OCR stage's lines [[line, confidence], ...]
    duplicate_of: str | None = None  # the SHA-1 of the photo this one was resolved as a copy of (photoshelf/dupresolve.py)
    extra: dict[str, Any] = field(default_factory=dict)  # keys of our section this version does not know


def build(photo: Any, *, albums: list[dict[str, str]], rotation: int = 0, stack: dict[str, Any] | None = None,
          extra: dict[str, Any] | None = None, ml: dict[str, Any] | None = None,
          duplicate_of: str | None = None) -> dict[str, Any]:
    """The sidecar's content for a catalog photo, in PhotoPrism's field names, plus our own section."""
    local = photo.taken_at_local
    keywords = photo.keywords or ""
    data: dict[str, Any] = {
        "TakenAt": _iso(photo.taken_at),
        "TakenAtLocal": _iso(local),
        "TakenSrc": _SRC_TO_PP.get(photo.taken_src or "", photo.taken_src or ""),
        "UID": photo.uid,
        "Type": "live" if photo.kind == "live" else ("video" if photo.kind == "video" else (
            "raw" if photo.kind == "raw" else "image")),
        "Title": photo.title or "",
        "Description": photo.description or "",
        "Favorite": bool(photo.favorite),
        "Private": bool(photo.private),
        "TimeZone": photo.timezone or "",
        # An old catalog may hold a non-finite number (SQLite keeps inf): it is left out, never written or raised.
        "Lat": values.number(photo.lat),
        "Lng": values.number(photo.lon),
        "Altitude": _whole(photo.altitude),
        "Year": local.year if local else None,
        "Month": local.month if local else None,
        "Day": local.day if local else None,
        "ISO": photo.iso,
        "Exposure": photo.exposure or "",
        "FNumber": values.number(photo.fnumber),
        "FocalLength": _whole(photo.focal_length) or None,
        "Details": {"Keywords": keywords} if keywords else None,
    }
    section: dict[str, Any] = {
        "Version": SCHEMA_VERSION,
        "Sha1": photo.sha1,
        "Archived": bool(photo.archived),
        "Rating": photo.rating,
        "Locked": [n for n in (photo.locked or "").split(",") if n],
        "Rotation": rotation,
        "Albums": albums,
    }
    if stack:
        section["Stack"] = stack
    if duplicate_of:
        section["DuplicateOf"] = duplicate_of
    for key in ("Labels", "Faces", "Stages", "Text"):
        if ml and ml.get(key):
            section[key] = ml[key]
    section.update(extra or {})
    data[SECTION] = section
    # Leave out what is empty, as PhotoPrism does (omitempty), so files stay short and diffs readable.
    return {k: v for k, v in data.items() if v not in (None, "")}


def _whole(value: Any) -> int | None:
    f = values.number(value)
    return int(f) if f is not None else None


def parse(data: Any) -> UserData:
    """The user data in a sidecar (ours or PhotoPrism's); unknown keys are ignored here and kept in the file."""
    if not isinstance(data, dict):
        raise ValueError("a photo sidecar must be a YAML mapping")
    ours = data.get(SECTION) or {}
    if not isinstance(ours, dict):
        ours = {}
    details = data.get("Details") or {}
    keywords = values.keywords([details.get("Keywords")]) if isinstance(details, dict) else []
    # A hand-edited file can hold anything: every value passes photoshelf.values, as the indexer's do.
    out = UserData(
        uid=values.identifier(data.get("UID"), values.UID),
        sha1=values.identifier(ours.get("Sha1"), 40),
        title=values.text(data.get("Title"), values.TITLE),
        description=values.text(data.get("Description"), values.DESCRIPTION, one_line=False),
        keywords=", ".join(keywords) or None,
        favorite=bool(data.get("Favorite", False)),
        private=bool(data.get("Private", False)),
        archived=bool(ours.get("Archived", False)) or bool(data.get("DeletedAt")),
        taken_at=_parse_time(data.get("TakenAt")),
        taken_at_local=_parse_time(data.get("TakenAtLocal")),
    )
    rating = ours.get("Rating")
    out.rating = values.rating(rating) if isinstance(rating, int) else None
    locked = ours.get("Locked") or []
    for name in locked if isinstance(locked, list) else []:  # field names; photo.locked must still fit them
        name = values.identifier(name, 32)
        if name and name not in out.locked and len(",".join([*out.locked, name])) <= values.LOCKED - 16:
            out.locked.append(name)
    if data.get("TakenSrc") == "manual" and "taken_at" not in out.locked:
        out.locked.append("taken_at")  # PhotoPrism: the date was set by hand
    out.lat, out.lon = values.position(data.get("Lat"), data.get("Lng")) or (None, None)
    rotation = ours.get("Rotation", 0)
    out.rotation = int(rotation) if isinstance(rotation, int) and rotation in (0, 90, 180, 270) else 0
    albums = ours.get("Albums") or []
    if isinstance(albums, list):
        entries = [{"UID": values.identifier(a.get("UID"), values.UID) or "",
                    "Title": values.text(a.get("Title"), values.ALBUM_TITLE) or ""}
                   for a in albums if isinstance(a, dict)]
        out.albums = [a for a in entries if a["UID"] or a["Title"]]
    stack = ours.get("Stack") or {}
    if isinstance(stack, dict) and isinstance(stack.get("Members"), list):
        out.stack_members = [{"Sha1": values.identifier(m.get("Sha1"), 40) or "",
                              "UID": values.identifier(m.get("UID"), values.UID) or ""}
                             for m in stack["Members"] if isinstance(m, dict)]
    labels = ours.get("Labels") or []
    if isinstance(labels, list):
        out.labels = [dict(x) for x in labels if isinstance(x, dict) and x.get("Name")]
    faces = ours.get("Faces") or []
    if isinstance(faces, list):
        out.faces = [dict(x) for x in faces if isinstance(x, dict) and _box(x.get("Box")) is not None]
    stages = ours.get("Stages") or {}
    if isinstance(stages, dict):
        out.stages = {str(k): str(v) for k, v in stages.items() if v}
    text = ours.get("Text") or []
    if isinstance(text, list):
        out.text = [(t[0], values.fraction(t[1]) if len(t) > 1 else 0.0) for t in text
                    if isinstance(t, list) and t and isinstance(t[0], str) and t[0].strip()]
    out.duplicate_of = values.identifier(ours.get("DuplicateOf"), 40)
    out.extra = {k: v for k, v in ours.items() if k not in OWNED_KEYS}
    return out


def _box(value: Any) -> list[float] | None:
    """A face box [x, y, w, h] in fractions of the image, or None when it is not one."""
    if not isinstance(value, list) or len(value) != 4:
        return None
    try:
        box = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return box if all(0.0 <= v <= 1.0 for v in box) else None
