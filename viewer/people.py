"""People as the viewer shows them: people and clusters with cover faces (photoshelf.people lists them and picks
the covers), a person's photos, face crops, the edits (photoshelf.people's, behind the viewer's checks of who may
do what), and the ML extras of the photo page (faces, labels,
similar photos). Each ML piece is optional: without it the pages explain how to turn it on."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import peewee as pw
from PIL import Image

from photoshelf import people as core
from photoshelf.config import Config
from photoshelf.db.rows import chunks, dicts
from photoshelf.db.schema import Face, Person, Photo, PhotoLabel
from photoshelf.errors import NotFound, PhotoshelfError
from photoshelf.media.thumbs import ThumbCache
from photoshelf.viewer import listing, names
from photoshelf.viewer.errors import InvalidInput
from photoshelf.viewer.photos import get_photo
from photoshelf.viewer.urls import thumb_url, url
from photoshelf.visibility import Audience, condition, visible

log = logging.getLogger(__name__)

HOW_TO_ENABLE = ("Faces, labels and similar photos come from the machine-learning pass: install the ml extra "
                 "(pip install 'photoshelf[ml]'), then run `photoshelf enrich` (or `photoshelf index`, which runs "
                 "it after indexing unless --no-ml).")
CROP_SIZE = 192  # pixels, square: covers on /people and face lists
CROP_MARGIN = 1.6  # the crop is this many times the face box, so hair and chin show
FACES_SHOWN = 120  # faces listed on a person's page (the photos grid shows them all)
MERGE_CHOICES = 500  # people offered in the merge/move lists
NAME_MAX = 255


def _optional(name: str) -> ModuleType | None:
    """An ML module of photoshelf.models, or None when it (or what it needs) is not installed here."""
    import importlib

    try:
        return importlib.import_module(f"photoshelf.models.{name}")
    except ImportError as exc:
        log.debug("photoshelf.models.%s is not available: %s", name, exc)
        return None


def _ops() -> ModuleType:
    """The clustering (photoshelf.models.people): people are edited only where faces can be found and grouped,
    and "not this person" hands the face back to it."""
    ops = _optional("people")
    if ops is None:
        raise InvalidInput("editing people needs photoshelf.models.people, which cannot be imported here: "
                           + HOW_TO_ENABLE)
    return ops


def available() -> bool:
    return _optional("people") is not None


# --- reading ---


def find(ref: str | int, audience: Audience | None = None) -> Person:
    """A person by uid, id or name (404 when there is none); with an `audience`, not someone seen only on photos
    hidden from it (as if there were no such person: the name would tell of them)."""
    person = core.find_person(ref)
    if audience is not None and names.people(audience, [person.id]):
        raise NotFound(f"no person or cluster {str(ref).strip()!r}")
    return person


def crop_digest(sha1: str, box: tuple[float, float, float, float], rotation: int) -> str:
    """Names a face crop by everything it is made from, so a URL's bytes never change."""
    x, y, w, h = box
    key = f"{sha1}:{x:.4f}:{y:.4f}:{w:.4f}:{h:.4f}:{rotation}:{CROP_SIZE}:{CROP_MARGIN}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def crop_url(face_id: int, sha1: str, box: tuple[float, float, float, float], rotation: int) -> str:
    return url(f"/faces/{face_id}.jpg?v={crop_digest(sha1, box, rotation)}")




def _face_rows(where: Any, order: Any, audience: Audience, limit: int | None = None,
               archive_view: bool = False) -> list[dict[str, Any]]:
    """Faces on photos `audience` sees (a face of an unseen photo is no face at all)."""
    query = visible(Face.select(*core.FACE_COLUMNS).join(Photo, on=(Face.photo == Photo.id)), audience,
                    archive_view=archive_view).where(where).order_by(*order)
    return dicts(query.limit(limit) if limit else query)


def _face_dict(row: dict[str, Any], rotation: int, person: Person | None) -> dict[str, Any]:
    box = (row["x"], row["y"], row["w"], row["h"])
    return {
        "id": row["id"],
        "photo": row["photo"],
        "box": [round(v, 4) for v in box],
        "score": round(row["score"], 3),
        "assigned_by": row["assigned_by"],
        "person": {"uid": person.uid, "name": person.name} if person is not None else None,
        "crop": crop_url(row["id"], row["sha1"], box, rotation) if row["has_thumbs"] else None,
    }


def summary(row: dict[str, Any], cover: dict[str, Any] | None) -> dict[str, Any]:
    """A person as the viewer shows them: core.list_people's row (id, uid, name, hidden, faces, photos) with its
    cover face's crop and the person's page."""
    return {
        "id": row["id"],
        "uid": row["uid"],
        "name": row["name"],
        "hidden": bool(row["hidden"]),
        "faces": row["faces"],
        "photos": row["photos"],
        "cover": cover,
        "url": url(f"/people/{row['uid']}"),
    }


def _covers(faces: Iterable[dict[str, Any] | None]) -> dict[int, dict[str, Any]]:
    """The cover faces core.cover_faces chose, with their crops (one query for the photos' rotations)."""
    rows = [f for f in faces if f is not None]
    rots = listing.rotations(r["photo"] for r in rows)
    return {r["person"]: _face_dict(r, rots.get(r["photo"], 0), None) for r in rows}


def _seen_faces(audience: Audience) -> Any:
    return visible(Face.select().join(Photo, on=(Face.photo == Photo.id)), audience)


def list_people(audience: Audience, include_hidden: bool = False) -> dict[str, Any]:
    """People and unnamed clusters in the one order and with the one cover face (core.list_people), and how many
    faces are unassigned. Counts and covers are of the photos `audience` sees; someone seen only on other photos
    is left out."""
    people = core.list_people(audience, include_hidden)
    covers = _covers(p["cover"] for p in people)
    rows = [summary(p, covers.get(p["id"])) for p in people]
    faces = _seen_faces(audience).count()
    unassigned = _seen_faces(audience).where(Face.person.is_null()).count()
    hidden = Person.select().where((Person.hidden == True)  # noqa: E712 - peewee expression
                                   & Person.id.not_in(sorted(names.people(audience)) or [0])).count()
    return {"people": rows, "faces": faces, "unassigned": unassigned, "hidden": hidden,
            "available": available()}


def person_summary(person: Person, audience: Audience) -> dict[str, Any]:
    faces = _seen_faces(audience).where(Face.person == person.id).count()
    photos = _seen_faces(audience).select(Face.photo).where(Face.person == person.id).distinct().count()
    row = {"id": person.id, "uid": person.uid, "name": person.name, "hidden": person.hidden, "faces": faces,
           "photos": photos}
    return summary(row, _covers(core.cover_faces([person.id], audience).values()).get(person.id))


def person_faces(person: Person, audience: Audience, limit: int = FACES_SHOWN) -> list[dict[str, Any]]:
    """The person's faces (best first) with their crops, for "not this person" and moving."""
    rows = _face_rows(Face.person == person.id, (Face.score.desc(), Face.id), audience, limit)
    rots = listing.rotations(r["photo"] for r in rows)
    return [_face_dict(r, rots.get(r["photo"], 0), person) for r in rows]


def choices(audience: Audience, exclude: int | None = None) -> list[dict[str, Any]]:
    """People to merge into or move a face to: named first (by name), then the largest clusters; only those
    `audience` may know of, with their faces on the photos it sees."""
    counts = (Person.select(Person.id, Person.uid, Person.name, pw.fn.COUNT(Photo.id).alias("n"))
              .join(Face, pw.JOIN.LEFT_OUTER, on=(Face.person == Person.id))
              .join(Photo, pw.JOIN.LEFT_OUTER, on=((Face.photo == Photo.id) & condition(audience)))
              .group_by(Person.id, Person.uid, Person.name))
    hidden = names.people(audience)
    rows = [{"uid": r["uid"], "name": r["name"], "faces": r["n"]} for r in dicts(counts)
            if r["id"] != exclude and r["id"] not in hidden]
    rows.sort(key=lambda r: (r["name"] is None, (r["name"] or "").lower(), -r["faces"]))
    return rows[:MERGE_CHOICES]


def person_photos(person: Person, audience: Audience, text: str = "", cursor: str | None = None, limit: int = 100,
                  with_count: bool = True) -> listing.Page:
    """A page of the photos showing the person, in timeline order (the timeline's rules: no private photos
    unless asked, a stack as its primary, only what `audience` sees), narrowed by `text` in the search syntax."""
    limit = max(1, min(limit, listing.MAX_LIMIT))
    select = listing.base_select(text, listing.Scope(audience=audience)).where(Photo.id.in_(Face.select(Face.photo).where(Face.person == person.id)))
    count = select.count() if with_count else None
    if cursor:
        at = listing.Cursor.decode(cursor)
        if at.offset is not None:
            raise InvalidInput("the page cursor is not valid (start again from the first page)")
        select = select.where(listing._after(at))
    rows = cast("list[Photo]", list(listing.timeline_order(select).limit(limit + 1)))  # the stubs say Model
    photos = rows[:limit]
    nxt = (listing.Cursor(taken=photos[-1].taken_at_local, photo_id=photos[-1].id).encode()
           if len(rows) > limit else None)
    return listing.Page(photos=photos, next=nxt, count=count, rotations=listing.rotations(p.id for p in photos))


def person_query(person: Person) -> str:
    """The search that finds this person's photos, when the search syntax has `person:` (else "")."""
    from photoshelf import search

    return f"person:{person.uid}" if "person" in getattr(search, "FILTERS", ()) else ""


# --- face crops ---


@dataclass(frozen=True)
class Crop:
    path: Path
    digest: str


def face_crop(config: Config, cache: ThumbCache, face_id: int, audience: Audience) -> Crop:
    """The face cut from its photo's fit thumbnail (upright, in the user's rotation), made once and cached."""
    found = _face_rows(Face.id == face_id, (Face.id,), audience, archive_view=True)
    if not found:
        raise NotFound(f"no face {face_id}")
    row = found[0]
    rotation = listing.rotations([row["photo"]]).get(row["photo"], 0)
    box = (row["x"], row["y"], row["w"], row["h"])
    digest = crop_digest(row["sha1"], box, rotation)
    target = config.thumbs_path / "faces" / digest[:2] / f"{digest}.jpg"
    if target.is_file():
        return Crop(target, digest)
    source = cache.path(row["sha1"], "fit")
    if not row["has_thumbs"] or not source.is_file():
        raise NotFound(f"face {face_id}: its photo has no thumbnail")
    with Image.open(source) as im:
        im.load()
        crop = _cut(im, box)
    if rotation:
        crop = crop.rotate(-rotation, expand=True)  # PIL turns counter-clockwise; the user's rotation is clockwise
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    crop.save(tmp, "JPEG", quality=85)
    os.replace(tmp, target)  # atomic: a request at the same time reads a whole file or makes its own
    return Crop(target, digest)


def _cut(im: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    width, height = im.size
    x, y, w, h = box
    cx, cy = (x + w / 2) * width, (y + h / 2) * height
    side = max(w * width, h * height, 1.0) * CROP_MARGIN
    side = min(side, float(min(width, height)))
    left = min(max(cx - side / 2, 0.0), width - side)
    top = min(max(cy - side / 2, 0.0), height - side)
    crop = im.crop((round(left), round(top), round(left + side), round(top + side))).convert("RGB")
    if crop.width > CROP_SIZE:
        crop = crop.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.LANCZOS)
    return crop


# --- the edits (run in the catalog's writer) ---


def _clean_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("a name cannot be empty")
    if len(value.strip()) > NAME_MAX:
        raise InvalidInput(f"a name is at most {NAME_MAX} characters")
    return value.strip()


def _people_error(exc: PhotoshelfError) -> PhotoshelfError:
    """photoshelf.people's own errors are the user's mistakes (merge into itself…): a 400, not a 500."""
    if isinstance(exc, NotFound):
        return exc
    return InvalidInput(str(exc))


def update_person(db: pw.Database, ref: str, changes: dict[str, Any], audience: Audience) -> dict[str, Any]:
    """Rename (naming like an existing person merges into them) and hide/show; returns the person after."""
    _ops()
    for key in changes:
        if key not in ("name", "hidden"):
            raise InvalidInput(f"unknown person field {key!r} (editable: name, hidden)")
    if "hidden" in changes and not isinstance(changes["hidden"], bool):
        raise InvalidInput(f"hidden must be true or false, got {changes['hidden']!r}")
    person = find(ref, audience)
    try:
        if "name" in changes:
            person = core.name_person(db, person.id, _clean_name(changes["name"]))
        if "hidden" in changes:
            person = core.set_hidden(person.id, changes["hidden"])
    except PhotoshelfError as exc:
        raise _people_error(exc) from exc
    return person_summary(find(person.uid), audience)


def merge(db: pw.Database, ref: str, into: Any, audience: Audience) -> dict[str, Any]:
    """Merge the person `ref` into `into` (their faces, names and "not this person" marks); returns `into`."""
    _ops()
    if not isinstance(into, (str, int)) or isinstance(into, bool) or not str(into).strip():
        raise InvalidInput("choose the person to merge into")
    source, target = find(ref, audience), find(into, audience)
    try:
        person = core.merge_people(db, target.id, source.id)
    except PhotoshelfError as exc:
        raise _people_error(exc) from exc
    return person_summary(find(person.uid), audience)


def _face(face_id: int, audience: Audience) -> Face:
    """A face on a photo `audience` sees (else "no face", like one that does not exist)."""
    face = visible(Face.select(Face).join(Photo, on=(Face.photo == Photo.id)), audience, archive_view=True) \
        .where(Face.id == face_id).first()
    if face is None:
        raise NotFound(f"no face {face_id}")
    return face


def move_face(db: pw.Database, face_id: int, audience: Audience, to: Any = None, name: Any = None) -> dict[str, Any]:
    """Move a face to a person (`to`: uid, id or name), to a new cluster (`to` None or "new"), or to the person
    called `name` (made when nobody has that name yet). The move is the user's: clustering keeps it."""
    _ops()
    _face(face_id, audience)
    try:
        if name is not None:
            person = core.move_face_to_name(db, face_id, _clean_name(name))
        elif to is None or to == "new":
            person = core.move_faces(db, [face_id], None)
        elif isinstance(to, (str, int)) and not isinstance(to, bool):
            person = core.move_faces(db, [face_id], find(to, audience).id)
        else:
            raise InvalidInput(f"person must be a person's uid or name, or \"new\", got {to!r}")
    except PhotoshelfError as exc:
        raise _people_error(exc) from exc
    return {"face": face_id, "person": person_summary(find(person.uid), audience)}


def name_group(db: pw.Database, face_id: int, audience: Audience, name: Any) -> dict[str, Any]:
    """"Name this group" on the photo page: the face's whole cluster takes the name (photoshelf.people owns the
    rule); moving only this face is move_face."""
    _ops()
    _face(face_id, audience)
    try:
        person = core.name_group_of_face(db, face_id, _clean_name(name))
    except PhotoshelfError as exc:
        raise _people_error(exc) from exc
    return {"face": face_id, "person": person_summary(find(person.uid), audience)}


def reject_face(db: pw.Database, face_id: int, audience: Audience, person: Any = None,
                distance: float = 0.5) -> dict[str, Any]:
    """"Not this person": the face leaves its person (or `person`) for good; it may join someone else."""
    ops = _ops()
    face = _face(face_id, audience)
    if person is not None and (not isinstance(person, (str, int)) or isinstance(person, bool)):
        raise InvalidInput(f"person must be a person's uid or name, got {person!r}")
    target = find(person, audience) if person is not None else Person.get_or_none(Person.id == face.person_id)
    if target is None:
        raise InvalidInput(f"face {face_id} belongs to no one: say which person it is not")
    try:
        face = ops.reject_face(db, face_id, target.id, distance)
    except PhotoshelfError as exc:
        raise _people_error(exc) from exc
    now = Person.get_or_none(Person.id == face.person_id) if face.person_id else None
    # An unnamed cluster left empty is deleted: `rejected` names it as it was.
    return {"face": face_id, "rejected": target.uid,
            "person": person_summary(now, audience) if now is not None else None}


# --- the photo page's extras ---


def photo_faces(photo_ids: Iterable[int], audience: Audience) -> dict[int, list[dict[str, Any]]]:
    """Faces per photo (of those `audience` sees, archived included) with their person and crop, left to right."""
    ids = list(photo_ids)
    out: dict[int, list[dict[str, Any]]] = {}
    for chunk in chunks(ids):
        rows = _face_rows(Face.photo.in_(chunk), (Face.photo, Face.x), audience, archive_view=True)
        wanted = {r["person"] for r in rows if r["person"]}
        people = {p.id: p for p in Person.select().where(Person.id.in_(wanted))} if wanted else {}
        rots = listing.rotations(chunk)
        for r in rows:
            out.setdefault(r["photo"], []).append(_face_dict(r, rots.get(r["photo"], 0), people.get(r["person"])))
    return out


def photo_labels(photo_id: int) -> list[dict[str, Any]]:
    return [{"name": lb.name, "category": lb.category, "confidence": round(lb.confidence, 3), "source": lb.source}
            for lb in PhotoLabel.select().where(PhotoLabel.photo == photo_id)
            .order_by(PhotoLabel.confidence.desc(), PhotoLabel.name)]


def photo_text(photo_id: int) -> list[str]:
    """The lines the OCR stage read in the photo, in reading order (none when it found no text)."""
    from photoshelf.db.schema import PhotoText

    row = PhotoText.get_or_none(PhotoText.photo == photo_id)
    return [] if row is None else [line for line in str(row.text).split("\n") if line]


def _ids_and_scores(found: Any) -> list[tuple[int, float | None]]:
    """models.semantic.similar's answer, whatever its shape: ids, (id, score) pairs, dicts or photos."""
    out: list[tuple[int, float | None]] = []
    for item in found or ():
        if isinstance(item, Photo):
            out.append((item.id, None))
        elif isinstance(item, dict):
            pid = item.get("id", item.get("photo_id", item.get("photo")))
            score = item.get("score", item.get("distance"))
            if pid is not None:
                out.append((int(pid), None if score is None else float(score)))
        elif isinstance(item, (tuple, list)) and item:
            out.append((int(item[0]), float(item[1]) if len(item) > 1 and item[1] is not None else None))
        else:
            out.append((int(item), None))
    return out


def similar(config: Config, db: pw.Database, photo: Photo, audience: Audience, k: int = 12) -> dict[str, Any]:
    """Photos nearest in meaning (their image embeddings), best first, of those `audience` sees; empty when there
    are no embeddings or models.semantic is not installed. Private photos are left out, as on the timeline."""
    semantic = _optional("semantic")
    if semantic is None or not hasattr(semantic, "similar"):
        return {"available": False, "photos": []}
    try:
        found = _ids_and_scores(semantic.similar(config, db, photo.id, k))
    except (PhotoshelfError, ValueError, LookupError, pw.PeeweeException) as exc:
        # The strip is a nicety: a missing or broken vector index must not take the photo page down.
        log.warning("similar photos of %s: %s", photo.id, exc)
        return {"available": True, "photos": [], "error": str(exc)}
    found = [(pid, s) for pid, s in found if pid != photo.id][:k]
    rows = {p.id: p for p in visible(Photo.select(), audience).where(
        Photo.id.in_([pid for pid, _ in found]) & (Photo.private == False))} if found else {}  # noqa: E712
    return {"available": True, "photos": [(rows[pid], s) for pid, s in found if pid in rows]}


def photo_extras(config: Config, db: pw.Database, photo_id: int, audience: Audience) -> dict[str, Any]:
    """What the photo page adds from the ML pass: faces with their people, labels, text in it, similar photos."""
    found = similar(config, db, get_photo(photo_id, audience), audience, 16)
    # Only photos with a tile, in whole rows of the strip's four columns: no blank slots (issue 15).
    shown = [(p, s) for p, s in found["photos"] if p.has_thumbs][:8]
    shown = shown[: len(shown) // 4 * 4] if len(shown) >= 4 else shown
    faces = photo_faces([photo_id], audience).get(photo_id, [])
    return {
        "faces": faces,
        "rotation": listing.rotations([photo_id]).get(photo_id, 0),
        "labels": photo_labels(photo_id),
        "text": photo_text(photo_id),
        "similar": [{"id": p.id, "title": p.title or "", "score": s, "tile": thumb_url(p.sha1, "tile")}
                    for p, s in shown],
        "names": [c["name"] for c in choices(audience) if c["name"]] if faces else [],
    }
