"""People: the one owner of the edits a person makes (name, merge, move/split, "not this person", hide) and of
how people are listed (one order, one cover face), for the CLI, the viewer and the sidecars alike.

Finding faces and grouping them (embeddings, the vector index, clustering) is machine learning and lives in
models/people.py; it calls back here for the bookkeeping (which people are named, pruning empty clusters)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import peewee as pw

from photoshelf.db.changes import touch_photos
from photoshelf.db.rows import chunks, dicts, tuples
from photoshelf.db.schema import Face, FaceReject, Person, Photo, utcnow
from photoshelf.db.transactions import write_transaction
from photoshelf.db.uids import person_uid
from photoshelf.errors import NotFound, PhotoshelfError
from photoshelf.ids import parse_id
from photoshelf.visibility import Audience, condition, visible

log = logging.getLogger(__name__)

_CHUNK = 500


class PeopleError(PhotoshelfError):
    """A people edit that cannot be done (e.g. merging a person into itself)."""


# --- finding people ---


def find_person(ref: str | int) -> Person:
    """A person by id, uid or name (case-insensitive)."""
    text = str(ref).strip()
    person_id = parse_id(text)
    person = Person.get_or_none(Person.id == person_id) if person_id is not None else None
    if person is None:
        person = Person.get_or_none(Person.uid == text)
    if person is None:
        person = Person.get_or_none(pw.fn.LOWER(Person.name) == text.lower())
    if person is None:
        raise NotFound(f"no person or cluster {text!r}")
    return person


def named_people(person_ids: Iterable[int]) -> set[int]:
    """Which of these people have a name (a person confirmed them)."""
    ids = list(set(person_ids))
    if not ids:
        return set()
    return {i for (i,) in tuples(Person.select(Person.id).where(Person.id.in_(ids) & Person.name.is_null(False)))}


def photos_of(ref: str) -> Any:
    """A subquery of photo ids showing the person (by name, uid or id; a name may be partial)."""
    which = (Person.uid == ref) | pw.fn.LOWER(Person.name).contains(ref.lower())
    person_id = parse_id(ref)
    if person_id is not None:
        which |= Person.id == person_id
    return Face.select(Face.photo).where(Face.person.in_(Person.select(Person.id).where(which)))


def unassigned_count() -> int:
    return int(Face.select().where(Face.person.is_null()).count())


# --- listing: one order and one cover for every caller ---


# A face row with what its crop is made from: {id, photo, x, y, w, h, score, person, assigned_by, sha1, has_thumbs}
FACE_COLUMNS = (Face.id, Face.photo, Face.x, Face.y, Face.w, Face.h, Face.score, Face.person, Face.assigned_by,
                Photo.sha1, Photo.has_thumbs)
_COVER_KEYS = ("id", "photo", "x", "y", "w", "h", "score", "person", "assigned_by", "sha1", "has_thumbs")


def list_order(row: dict[str, Any]) -> tuple[Any, ...]:
    """The order people are listed in, everywhere: named people first, each group by how many photos show them
    (then faces), then by name and age — the order Immich's people page uses."""
    return (row["name"] is None, -row["photos"], -row["faces"], (row["name"] or "").lower(), row["id"])


def list_people(audience: Audience | None = None, include_hidden: bool = False) -> list[dict[str, Any]]:
    """People and unnamed clusters with face and photo counts and a cover face (a FACE_COLUMNS row, or None), in
    list_order. With an `audience`, counts and covers are of the photos it sees, and someone seen only on other
    photos is left out; without one (the CLI), every face counts."""
    on = Face.photo == Photo.id
    if audience is not None:
        on &= condition(audience)
    columns = (Person.id, Person.uid, Person.name, Person.hidden)
    query = (Person.select(*columns, pw.fn.COUNT(Face.id).alias("total"), pw.fn.COUNT(Photo.id).alias("faces"),
                           pw.fn.COUNT(pw.fn.DISTINCT(Photo.id)).alias("photos"))
             .join(Face, pw.JOIN.LEFT_OUTER, on=(Face.person == Person.id))
             .join(Photo, pw.JOIN.LEFT_OUTER, on=on)
             .group_by(*columns))
    if not include_hidden:
        query = query.where(Person.hidden == False)  # noqa: E712 - peewee expression
    rows: list[dict[str, Any]] = [
        {"id": i, "uid": uid, "name": name, "hidden": bool(hidden), "faces": faces, "photos": photos}
        for i, uid, name, hidden, total, faces, photos in tuples(query) if faces or not total]
    covers = cover_faces([r["id"] for r in rows], audience)
    for row in rows:
        row["cover"] = covers.get(row["id"])
    rows.sort(key=list_order)
    return rows


def cover_faces(person_ids: list[int], audience: Audience | None = None) -> dict[int, dict[str, Any]]:
    """The face that shows each person best, as a FACE_COLUMNS row: the detector's most confident (a clear,
    frontal face scores highest), then the largest, then the oldest; only faces on photos with thumbnails (a
    cover is a crop of one) that `audience`, when given, sees. One query per chunk of people."""
    rank = pw.fn.ROW_NUMBER().over(partition_by=[Face.person],
                                   order_by=[Face.score.desc(), (Face.w * Face.h).desc(), Face.id])
    out: dict[int, dict[str, Any]] = {}
    for chunk in chunks(person_ids, _CHUNK):
        ranked = (Face.select(*[c.alias(n) for c, n in zip(FACE_COLUMNS, _COVER_KEYS, strict=True)], rank.alias("nth")).join(Photo, on=(Face.photo == Photo.id))
                  .where(Face.person.in_(chunk) & Photo.has_thumbs))
        if audience is not None:
            ranked = visible(ranked, audience)
        inner = ranked.alias("ranked")
        query = (Face.select(*[getattr(inner.c, n).alias(n) for n in _COVER_KEYS]).from_(inner)
                 .where(inner.c.nth == 1))
        for row in dicts(query):
            row["has_thumbs"] = bool(row["has_thumbs"])
            out[row["person"]] = row
    return out


# --- the edits people make ---


def name_person(db: pw.Database, ref: str | int, name: str) -> Person:
    """Name a cluster (every face in it is then that person). Naming it like an existing person merges them."""
    name = name.strip()
    if not name:
        raise PeopleError("a name cannot be empty")
    person = find_person(ref)
    other = Person.get_or_none((pw.fn.LOWER(Person.name) == name.lower()) & (Person.id != person.id))
    if other is not None:
        return merge_people(db, other.id, person.id)
    Person.update(name=name, updated_at=utcnow()).where(Person.id == person.id).execute()
    return Person.get_by_id(person.id)


def merge_people(db: pw.Database, into: str | int, other: str | int) -> Person:
    """Move every face of `other` to `into` and delete `other`; its "not this person" marks carry over.
    A face that was rejected from `into` is left unassigned instead."""
    target, source = find_person(into), find_person(other)
    if target.id == source.id:
        raise PeopleError("cannot merge a person into itself")
    with write_transaction(db):
        rejected_here = FaceReject.select(FaceReject.face).where(FaceReject.person == target.id)
        Face.update(person=None, assigned_by=None).where(
            (Face.person == source.id) & Face.id.in_(rejected_here)).execute()
        Face.update(person=target.id).where(Face.person == source.id).execute()
        for (face_id,) in tuples(FaceReject.select(FaceReject.face).where(FaceReject.person == source.id)):
            FaceReject.insert(face=face_id, person=target.id).on_conflict_ignore().execute()
        FaceReject.delete().where(FaceReject.person == source.id).execute()
        if target.name is None and source.name is not None:
            target.name = source.name
        target.hidden = target.hidden and source.hidden
        target.updated_at = utcnow()
        target.save()
        source.delete_instance()
    return Person.get_by_id(target.id)


def move_faces(db: pw.Database, face_ids: list[int], to: str | int | None = None) -> Person:
    """Split: move faces to a person (or, with none given, to a new one). The move is the user's: clustering
    never moves these faces again."""
    with write_transaction(db):
        target = find_person(to) if to is not None else Person.create(uid=person_uid())
        faces = list(Face.select().where(Face.id.in_(face_ids)))
        if len(faces) != len(set(face_ids)):
            raise NotFound(f"no face with id {sorted(set(face_ids) - {f.id for f in faces})}")
        rejected = FaceReject.select().where(FaceReject.face.in_(face_ids) & (FaceReject.person == target.id))
        if rejected.exists():
            # Moving a face to a person by hand overrides an earlier "not this person".
            FaceReject.delete().where(FaceReject.face.in_(face_ids) & (FaceReject.person == target.id)).execute()
        Face.update(person=target.id, assigned_by="user").where(Face.id.in_(face_ids)).execute()
        touch_photos_of(face_ids)
        prune_empty()
    return Person.get_by_id(target.id)


def move_face_to_name(db: pw.Database, face_id: int, name: str) -> Person:
    """Move one face to the person called `name`, made when nobody has that name yet."""
    existing = Person.get_or_none(pw.fn.LOWER(Person.name) == name.lower())
    if existing is not None:
        return move_faces(db, [face_id], existing.id)
    person = move_faces(db, [face_id], None)
    return name_person(db, person.id, name)


def name_group_of_face(db: pw.Database, face_id: int, name: str) -> Person:
    """Name the group a face belongs to: its whole cluster (or person) takes the name, as `name_person` does
    (naming it like an existing person merges the two). A face in no group yet becomes that person on its own.
    Moving one face out of its group is `move_faces`, a separate, explicit edit."""
    name = name.strip()
    if not name:
        raise PeopleError("a name cannot be empty")
    face = Face.get_or_none(Face.id == face_id)
    if face is None:
        raise NotFound(f"no face with id {face_id}")
    if face.person_id is not None:
        return name_person(db, face.person_id, name)
    return move_face_to_name(db, face_id, name)


def reject_face(db: pw.Database, face_id: int, person: str | int | None = None,
                reassign: Callable[[Face], object] | None = None) -> Face:
    """"Not this person": take the face out of its person (or `person`) for good. `reassign` (the clustering's,
    models.people) may then put it with someone else, in the same transaction."""
    face = Face.get_or_none(Face.id == face_id)
    if face is None:
        raise NotFound(f"no face with id {face_id}")
    target = find_person(person) if person is not None else (
        Person.get_by_id(face.person_id) if face.person_id else None)
    if target is None:
        raise PeopleError(f"face {face_id} belongs to no one: name the person it is not")
    with write_transaction(db):
        FaceReject.insert(face=face.id, person=target.id).on_conflict_ignore().execute()
        if face.person_id == target.id:
            Face.update(person=None, assigned_by=None).where(Face.id == face.id).execute()
            if reassign is not None:
                reassign(face)
            touch_photos_of([face.id])
        prune_empty()
    return Face.get_by_id(face.id)


def touch_photos_of(face_ids: list[int]) -> None:
    """Mark the photos of these faces changed: their sidecars list each face's person, and the sidecar sync
    rewrites the photos changed since it last ran (Photo.updated_at; a person's own edits go by Person.updated_at,
    which a face moving in or out does not change)."""
    touch_photos(Face.select(Face.photo).where(Face.id.in_(face_ids)))


def set_hidden(ref: str | int, hidden: bool = True) -> Person:
    person = find_person(ref)
    Person.update(hidden=hidden, updated_at=utcnow()).where(Person.id == person.id).execute()
    return Person.get_by_id(person.id)


def prune_empty() -> int:
    """Delete unnamed people left with no faces."""
    used = Face.select(Face.person).where(Face.person.is_null(False)).distinct()
    return int(Person.delete().where(Person.name.is_null() & Person.id.not_in(used)).execute())


def find_or_create(uid: str, name: str) -> Person | None:
    """The person a restored sidecar face names (by cluster uid, else by name), made when the catalog has no such
    person yet; None when it names no one."""
    if not uid and not name:
        return None
    person = Person.get_or_none(Person.uid == uid) if uid else None
    if person is None and name:
        person = Person.get_or_none(pw.fn.LOWER(Person.name) == name.lower())
    if person is None:
        person = Person.create(uid=uid[:24] or person_uid(), name=name[:255] or None)
    return person


def person_named(name: str) -> Person:
    """The person called `name` (case-insensitive), made when nobody is yet (a name another library gave)."""
    person = Person.get_or_none(pw.fn.LOWER(Person.name) == name.lower())
    return person or Person.create(uid=person_uid(), name=name)
