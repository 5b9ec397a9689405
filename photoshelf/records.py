"""Photo records: the one JSON shape shared by `show`, `export`, `search --json` and the viewer's API."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import peewee as pw

from photoshelf import filenames, ids, values
from photoshelf.db.rows import chunks
from photoshelf.db.schema import Face, File, IndexIssue, Person, Photo, PhotoLabel, Stack
from photoshelf.errors import NotFound


def _iso_utc(value: dt.datetime | None) -> str | None:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _iso_local(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _round(value: Any, digits: int) -> float | None:
    """A stored float for JSON: an old catalog may hold inf (SQLite keeps it), which JSON cannot carry: null."""
    f = values.number(value)
    return round(f, digits) if f is not None else None


# taken_at_source values that mean "no capture date was found": the time is the file's modification time (for a
# fresh copy, the day of the copy). The catalog keeps it to sort by, but people, the API and export must treat the
# photo's date as unknown (the viewer's "Unknown date" section). "" is what an old catalog row may hold.
GUESSED_DATE_SOURCES = frozenset({"mtime", ""})


def date_guessed(source: str | None) -> bool:
    """Whether a photo's capture time (by its taken_at_source) is only a guess: the one test for "date unknown"."""
    return (source or "") in GUESSED_DATE_SOURCES


def photo_type(photo: Photo) -> str:
    return str(photo.kind)


class RecordBuilder:
    """Builds records for many photos with a fixed number of queries (no query per photo)."""

    def __init__(self, photos: list[Photo]) -> None:
        self.photos = photos
        ids = [p.id for p in photos]
        self.files: dict[int, list[File]] = defaultdict(list)
        self.issues: dict[int, list[IndexIssue]] = defaultdict(list)
        stack_ids = {p.stack_id for p in photos if p.stack_id}
        self.stacks: dict[int, Stack] = {}
        self.stack_members: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
        self.labels: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.faces: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for chunk in chunks(ids, 500):
            self._load_ml(chunk)
            for f in File.select().where(File.photo.in_(chunk)).order_by(File.path):
                self.files[f.photo_id].append(f)
            for issue in (
                IndexIssue.select(IndexIssue, File.photo)
                .join(File)
                .where(File.photo.in_(chunk))
                .order_by(IndexIssue.id)
            ):
                self.issues[issue.file.photo_id].append(issue)
        for chunk in chunks(sorted(stack_ids), 500):
            for s in Stack.select().where(Stack.id.in_(chunk)):
                self.stacks[s.id] = s
            members = (
                Photo.select(Photo.id, Photo.uid, Photo.stack, Photo.kind)
                .where(Photo.stack.in_(chunk))
                .order_by(Photo.id)
            )
            for m in members:
                self.stack_members[m.stack_id].append((m.id, m.uid, m.kind))

    def _load_ml(self, chunk: list[int]) -> None:
        """Labels and faces of a chunk of photos: two queries, whatever the number of photos."""
        labels: Any = (PhotoLabel.select(PhotoLabel.photo, PhotoLabel.name, PhotoLabel.category, PhotoLabel.confidence,
                                    PhotoLabel.source)
                  .where(PhotoLabel.photo.in_(chunk))
                  .order_by(PhotoLabel.photo, PhotoLabel.confidence.desc(), PhotoLabel.name).tuples())
        for photo_id, name, category, confidence, source in labels:
            self.labels[photo_id].append({"name": name, "category": category or None,
                                          "confidence": _round(confidence, 4), "source": source})
        faces: Any = (Face.select(Face.photo, Face.id, Face.x, Face.y, Face.w, Face.h, Face.score, Person.uid, Person.name)
                 .join(Person, pw.JOIN.LEFT_OUTER, on=(Face.person == Person.id))
                 .where(Face.photo.in_(chunk)).order_by(Face.photo, Face.x, Face.id).tuples())
        for photo_id, face_id, x, y, w, h, score, uid, name in faces:
            self.faces[photo_id].append({"id": face_id, "box": [_round(v, 4) for v in (x, y, w, h)],
                                         "cluster": uid, "person": name, "score": _round(score, 3)})

    def record(self, photo: Photo) -> dict[str, Any]:
        files = self.files.get(photo.id, [])
        media = [f for f in files if f.role == "media"]
        present = [f for f in media if f.missing_since is None]
        primary_file: File | None = (present or media)[0] if (present or media) else None
        stack = None
        if photo.stack_id and photo.stack_id in self.stacks:
            s = self.stacks[photo.stack_id]
            stack = {
                "id": s.id,
                "kind": s.kind,
                "primary": s.primary_photo_id == photo.id,
                "members": [
                    {"id": mid, "uid": muid, "type": mkind}
                    for mid, muid, mkind in self.stack_members.get(s.id, [])
                ],
            }
        issues = self.issues.get(photo.id, [])
        return {
            "id": photo.id,
            "uid": photo.uid,
            "path": primary_file.path if primary_file else None,
            "files": [
                {
                    "path": f.path,
                    "role": f.role,
                    "size": f.size,
                    "missing": f.missing_since is not None,
                    # A name that is not UTF-8: `path` shows it decoded from this legacy encoding.
                    **({"name_encoding": filenames.encoding_of(f)} if f.raw_path else {}),
                }
                for f in files
            ],
            "size": photo.size,
            "sha1": photo.sha1,
            "type": photo_type(photo),
            "format": photo.format,
            "mime": photo.mime,
            "width": photo.width,
            "height": photo.height,
            "orientation": photo.orientation,
            "taken_at": _iso_utc(photo.taken_at),
            "taken_at_local": _iso_local(photo.taken_at_local),
            "timezone": photo.timezone,
            "tz_offset_minutes": photo.tz_offset,
            "taken_at_source": photo.taken_src,
            "taken_guessed": date_guessed(photo.taken_src),
            "lat": values.number(photo.lat),
            "lon": values.number(photo.lon),
            "altitude": values.number(photo.altitude),
            "place": {"country_code": photo.country_code, "country": photo.country, "state": photo.state,
                      "city": photo.city} if photo.country_code else None,
            "camera": " ".join(x for x in (photo.camera_make, photo.camera_model) if x) or None,
            "camera_make": photo.camera_make,
            "camera_model": photo.camera_model,
            "lens": photo.lens,
            "iso": photo.iso,
            "exposure": photo.exposure,
            "f_number": values.number(photo.fnumber),
            "focal_length": values.number(photo.focal_length),
            "duration": values.number(photo.duration),
            "codec": photo.codec,
            "title": photo.title,
            "description": photo.description,
            "keywords": [k.strip() for k in (photo.keywords or "").split(",") if k.strip()],
            "rating": photo.rating,
            "favorite": photo.favorite,
            "private": photo.private,
            "archived": photo.archived,
            "stack": stack,
            "duplicates": [f.path for f in media if primary_file is not None and f.path != primary_file.path],
            "phash": photo.phash,
            "has_thumbnails": photo.has_thumbs,
            "missing": photo.missing_since is not None,
            "error": "; ".join(i.reason for i in issues if i.severity == "error") or None,
            "warnings": [f"{i.stage}: {i.reason}" for i in issues if i.severity == "warning"],
            "indexed_at": _iso_utc(photo.updated_at),
            "labels": self.labels.get(photo.id, []),
            "faces": self.faces.get(photo.id, []),
        }


def records(photos: Iterable[Photo]) -> list[dict[str, Any]]:
    photos = list(photos)
    builder = RecordBuilder(photos)
    return [builder.record(p) for p in photos]


def iter_records(batch: int = 500, include_missing: bool = True) -> Iterator[dict[str, Any]]:
    """Every photo, in id order, in batches (constant memory for 500k photos)."""
    last = 0
    while True:
        query = Photo.select().where(Photo.id > last)
        if not include_missing:
            query = query.where(Photo.missing_since.is_null())
        photos = list(query.order_by(Photo.id).limit(batch))
        if not photos:
            return
        yield from records(photos)
        last = photos[-1].id


def find_photo(ref: str, originals: str | None = None) -> Photo:
    """A photo by id, uid, or path (relative to the originals, or absolute inside them)."""
    photo_id = ids.parse_id(ref)
    if photo_id is not None:
        photo = Photo.get_or_none(Photo.id == photo_id)
        if photo is not None:
            return photo
    photo = Photo.get_or_none(Photo.uid == ref)
    if photo is not None:
        return photo
    rel = ref
    if originals and ref.startswith(originals.rstrip("/") + "/"):
        rel = ref[len(originals.rstrip("/")) + 1:]
    f = File.get_or_none(File.path_hash == filenames.path_hash(rel))
    if f is None:  # a name that is not UTF-8, given as shown (decoded)
        f = File.select().where(File.path == rel).order_by(File.id).first()
    if f is None:
        raise NotFound(f"no photo or file {ref!r} in the catalog")
    if f.photo_id is None:
        raise NotFound(f"{rel} is in the catalog but not a photo: {f.error or 'no photo attached'}")
    return Photo.get_by_id(f.photo_id)


def file_record(f: File) -> dict[str, Any]:
    """A file that is not a photo (it failed): what `show` prints for it."""
    issues = list(IndexIssue.select().where(IndexIssue.file == f.id))
    return {
        "path": f.path,
        "size": f.size,
        "sha1": f.sha1,
        "role": f.role,
        "error": f.error,
        "issues": [{"stage": i.stage, "severity": i.severity, "reason": i.reason} for i in issues],
        "missing": f.missing_since is not None,
    }
