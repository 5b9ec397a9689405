"""People: incremental face clustering (nearest person within a distance, DBSCAN of the unassigned) and the
edits a person makes (name, merge, split/move, "not this person", hide)."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import peewee as pw

from photoshelf.db.rows import chunks, tuples
from photoshelf.db.schema import Face, FaceReject, Person, Photo, Vector, utcnow
from photoshelf.db.transactions import write_transaction
from photoshelf.db.uids import person_uid
from photoshelf.errors import NotFound, PhotoshelfError
from photoshelf.ids import parse_id
from photoshelf.models.facemodel import DIM, MODEL, SPACE_NAME
from photoshelf.models.vectors import Space, VectorIndex

log = logging.getLogger(__name__)

FACE_SPACE = Space(SPACE_NAME, DIM, metric="l2", quantise=False)
NEIGHBOURS = 10
# DBSCAN works on at most this many unassigned faces per run (newest first), so its cost is bounded.
DBSCAN_MAX = 5000


class PeopleError(PhotoshelfError):
    """A people edit that cannot be done (e.g. merging a person into itself)."""


@dataclass
class ClusterReport:
    assigned: int = 0
    new_people: int = 0
    clustered: int = 0
    unassigned: int = 0


_SPACES: dict[str, Space] = {MODEL: FACE_SPACE}


def face_space(model: str, dim: int = DIM, metric: str = "l2") -> Space:
    """The vector space of a face model's embeddings (item id = face id)."""
    space = _SPACES.get(model)
    if space is None or space.dim != dim or space.metric != metric:
        space = _SPACES[model] = Space(f"face:{model}", dim, metric=metric, quantise=False)
    return space



def space_of_model(model: str) -> Space:
    """The space of faces stored by `model`, also when that model is not loaded in this process: its dimension
    from a stored vector, its metric by convention (dlib's embeddings compare by L2, ONNX ArcFace's by cosine)."""
    space = _SPACES.get(model)
    if space is not None:
        return space
    blob = Vector.select(Vector.vector).where(Vector.space == f"face:{model}").limit(1).scalar()
    dim = len(blob) // 4 if blob else DIM
    return face_space(model, dim, "l2" if model.startswith("dlib") else "cosine")


def face_models() -> list[str]:
    """The face models whose faces are in the catalog."""
    return [m for (m,) in tuples(Face.select(Face.model).distinct())]


def face_index(db: pw.Database, space: Space = FACE_SPACE) -> VectorIndex:
    return VectorIndex(db, space)


# --- clustering ---


def _model_of(space: Space) -> str:
    return space.name.split(":", 1)[1]


def assign_new_faces(db: pw.Database, face_ids: Iterable[int], distance: float,
                     space: Space = FACE_SPACE) -> int:
    """Put each face with the person most of its near neighbours (within `distance`) belong to, unless the face
    was rejected from that person or another face of its photo is already that person. Uses the vector index,
    so the cost does not grow with the library."""
    index = face_index(db, space)
    ids = list(face_ids)
    if not ids:
        return 0
    vectors = index.get(ids)
    rejected = _rejections(ids)
    photo_of = _photos_of_faces(ids)
    assigned = 0
    for face_id in ids:
        vec = vectors.get(face_id)
        if vec is None:
            continue
        # One person appears once in a photo: the people of the photo's other faces are out.
        taken = {p for (p,) in tuples(Face.select(Face.person).where(
            (Face.photo == photo_of[face_id]) & (Face.id != face_id) & Face.person.is_null(False)))}
        person = _nearest_person(index, face_id, vec, distance, rejected.get(face_id, set()) | taken)
        if person is not None:
            Face.update(person=person, assigned_by="auto").where(
                (Face.id == face_id) & (Face.assigned_by.is_null() | (Face.assigned_by == "auto"))
            ).execute()
            assigned += 1
    return assigned


def _photos_of_faces(face_ids: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for chunk in chunks(face_ids):
        out.update(tuples(Face.select(Face.id, Face.photo).where(Face.id.in_(chunk))))
    return out


def _nearest_person(index: VectorIndex, face_id: int, vec: np.ndarray, distance: float,
                    excluded: set[int]) -> int | None:
    hits = [(i, d) for i, d in index.search(vec, NEIGHBOURS + 1) if i != face_id and d <= distance]
    if not hits:
        return None
    people = dict(tuples(Face.select(Face.id, Face.person).where(
        Face.id.in_([i for i, _ in hits]) & Face.person.is_null(False))))
    votes: Counter[int] = Counter()
    closest: dict[int, float] = {}
    for i, d in hits:
        pid = people.get(i)
        if pid is None or pid in excluded:
            continue
        votes[pid] += 1
        closest[pid] = min(closest.get(pid, d), d)
    if not votes:
        return None
    return max(votes, key=lambda p: (votes[p], -closest[p]))


def _rejections(face_ids: list[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = defaultdict(set)
    for chunk in chunks(face_ids):
        for face_id, person_id in tuples(FaceReject.select(FaceReject.face, FaceReject.person).where(
                FaceReject.face.in_(chunk))):
            out[face_id].add(person_id)
    return out


def dbscan(vectors: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """Cluster labels (-1 = noise) by scikit-learn's DBSCAN with Euclidean distance (a point counts itself among
    its min_samples), in the embeddings' float32. It gave the clusters of the hand-written DBSCAN it replaced label
    for label, on the corpus faces and on 20,000 synthetic ones, and was as fast or faster (5,000 faces, the most
    it gets: 145 ms against 208; 20,000: 2.5 s against 2.9; bench/ml.py --only clustering)."""
    from sklearn.cluster import DBSCAN

    if len(vectors) == 0:
        return np.full(0, -1, dtype=np.int64)
    labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(np.asarray(vectors, dtype=np.float32))
    return np.asarray(labels, dtype=np.int64)


def _unassigned_ids(space: Space) -> list[int]:
    """The newest DBSCAN_MAX faces of the space's model that belong to no one."""
    query = (Face.select(Face.id).where(Face.person.is_null() & (Face.model == _model_of(space)))
             .order_by(Face.id.desc()).limit(DBSCAN_MAX))
    return [i for (i,) in tuples(query)]


def cluster_unassigned(db: pw.Database, distance: float, min_samples: int,
                       space: Space = FACE_SPACE) -> ClusterReport:
    """Group faces that belong to no one into new (unnamed) people, by DBSCAN over their embeddings only (the
    newest DBSCAN_MAX of them), so the cost does not grow with the library."""
    report = ClusterReport()
    ids = _unassigned_ids(space)
    if not ids:
        return report
    vectors = face_index(db, space).get(ids)
    ids = [i for i in ids if i in vectors]
    if not ids:
        return report
    matrix = np.vstack([vectors[i] for i in ids])
    if space.metric == "cosine":
        # On unit vectors, cosine distance d is Euclidean distance sqrt(2d).
        matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        eps = float(np.sqrt(2.0 * distance))
    else:
        eps = distance
    labels = dbscan(matrix, eps, max(1, min_samples))
    groups: dict[int, list[int]] = defaultdict(list)
    for face_id, label in zip(ids, labels, strict=True):
        if label >= 0:
            groups[int(label)].append(face_id)
    with write_transaction(db):
        for members in groups.values():
            person = Person.create(uid=person_uid())
            # DBSCAN ran before this transaction: a face a person assigned meanwhile stays theirs.
            moved = int(Face.update(person=person, assigned_by="auto").where(
                Face.id.in_(members) & Face.person.is_null()).execute())
            if not moved:
                person.delete_instance()
                continue
            report.new_people += 1
            report.clustered += moved
    report.unassigned = len(ids) - report.clustered
    return report


def recluster(db: pw.Database, distance: float, min_samples: int, space: Space | None = None) -> ClusterReport:
    """`people cluster`: give the unassigned faces to existing people where near enough, then cluster the rest
    (those of one space, or of every face model in the catalog)."""
    total = ClusterReport()
    for one in [space] if space is not None else [space_of_model(m) for m in face_models()]:
        ids = _unassigned_ids(one)
        with write_transaction(db):
            assigned = assign_new_faces(db, ids, distance, one)
        report = cluster_unassigned(db, distance, min_samples, one)
        total.assigned += assigned
        total.new_people += report.new_people
        total.clustered += report.clustered
        total.unassigned += report.unassigned
    return total


def named_people(person_ids: Iterable[int]) -> set[int]:
    """Which of these people have a name (a person confirmed them)."""
    ids = list(set(person_ids))
    if not ids:
        return set()
    return {i for (i,) in tuples(Person.select(Person.id).where(Person.id.in_(ids) & Person.name.is_null(False)))}


def remove_vectors(db: pw.Database, faces: Iterable[Face]) -> None:
    """Drop the embeddings of these faces from their model's vector space."""
    by_model: dict[str, list[int]] = defaultdict(list)
    for face in faces:
        by_model[face.model].append(face.id)
    for model, ids in by_model.items():
        face_index(db, space_of_model(model)).remove(ids)


def delete_faces(db: pw.Database, faces: list[Face]) -> None:
    """Delete these faces and their embeddings (their "not this person" marks go with them)."""
    if not faces:
        return
    remove_vectors(db, faces)
    ids = [f.id for f in faces]
    for chunk in chunks(ids):
        FaceReject.delete().where(FaceReject.face.in_(chunk)).execute()
        Face.delete().where(Face.id.in_(chunk)).execute()


def remove_faces(db: pw.Database, photo_ids: list[int]) -> None:
    """Forget the faces of these photos; unnamed people left empty go too."""
    with write_transaction(db):
        faces: list[Face] = []
        for chunk in chunks(photo_ids):
            faces.extend(Face.select(Face.id, Face.model).where(Face.photo.in_(chunk)))
        if not faces:
            return
        delete_faces(db, faces)
        prune_empty()


def prune_empty() -> int:
    """Delete unnamed people left with no faces."""
    used = Face.select(Face.person).where(Face.person.is_null(False)).distinct()
    return int(Person.delete().where(Person.name.is_null() & Person.id.not_in(used)).execute())


# --- the edits people make ---


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
    existing = Person.get_or_none(pw.fn.LOWER(Person.name) == name.lower())
    if existing is not None:
        return move_faces(db, [face_id], existing.id)
    person = move_faces(db, [face_id], None)
    return name_person(db, person.id, name)


def reject_face(db: pw.Database, face_id: int, person: str | int | None = None, distance: float = 0.5) -> Face:
    """"Not this person": take the face out of its person (or `person`) for good; it may join another."""
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
            assign_new_faces(db, [face.id], distance, space_of_model(face.model))
            touch_photos_of([face.id])
        prune_empty()
    return Face.get_by_id(face.id)


def touch_photos_of(face_ids: list[int]) -> None:
    """Mark the photos of these faces changed: their sidecars list each face's person, and the sidecar sync
    rewrites the photos changed since it last ran (Photo.updated_at; a person's own edits go by Person.updated_at,
    which a face moving in or out does not change)."""
    Photo.update(updated_at=utcnow()).where(Photo.id.in_(Face.select(Face.photo).where(Face.id.in_(face_ids)))) \
        .execute()


def set_hidden(ref: str | int, hidden: bool = True) -> Person:
    person = find_person(ref)
    Person.update(hidden=hidden, updated_at=utcnow()).where(Person.id == person.id).execute()
    return Person.get_by_id(person.id)


def list_people(include_hidden: bool = False) -> list[dict[str, Any]]:
    """People and unnamed clusters with face and photo counts, named first, then by size."""
    columns = (Person.id, Person.uid, Person.name, Person.hidden)
    query = (Person.select(*columns, pw.fn.COUNT(Face.id).alias("faces"),
                           pw.fn.COUNT(pw.fn.DISTINCT(Face.photo)).alias("photos"))
             .join(Face, pw.JOIN.LEFT_OUTER, on=(Face.person == Person.id))
             .group_by(*columns))
    if not include_hidden:
        query = query.where(Person.hidden == False)  # noqa: E712 - peewee expression
    rows: list[dict[str, Any]] = [
        {"id": i, "uid": uid, "name": name, "hidden": bool(hidden), "faces": faces, "photos": photos}
        for i, uid, name, hidden, faces, photos in tuples(query)]
    covers = cover_faces([r["id"] for r in rows])
    for row in rows:
        row["cover"] = covers.get(row["id"])
    rows.sort(key=lambda r: (r["name"] is None, -r["faces"], (r["name"] or "").lower(), r["id"]))
    return rows


def cover_faces(person_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The face that shows each person best (the detector's most confident, then the largest): its id, photo
    and box, for a thumbnail crop."""
    best: dict[int, tuple[tuple[float, float], dict[str, Any]]] = {}
    for chunk in chunks(person_ids):
        query = tuples(Face.select(Face.id, Face.person, Face.photo, Face.x, Face.y, Face.w, Face.h, Face.score).where(
            Face.person.in_(chunk)))
        for face_id, person_id, photo_id, x, y, w, h, score in query:
            key = (score, w * h)
            if person_id not in best or key > best[person_id][0]:
                best[person_id] = (key, {"face": face_id, "photo": photo_id,
                                         "box": [round(x, 4), round(y, 4), round(w, 4), round(h, 4)]})
    return {pid: value for pid, (_, value) in best.items()}


def photos_of(ref: str) -> Any:
    """A subquery of photo ids showing the person (by name, uid or id; a name may be partial)."""
    which = (Person.uid == ref) | pw.fn.LOWER(Person.name).contains(ref.lower())
    person_id = parse_id(ref)
    if person_id is not None:
        which |= Person.id == person_id
    return Face.select(Face.photo).where(Face.person.in_(Person.select(Person.id).where(which)))


def unassigned_count() -> int:
    return int(Face.select().where(Face.person.is_null()).count())


def faces_of_photos(photo_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Faces per photo for records and sidecars: one query per chunk of photos."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for chunk in chunks(photo_ids):
        query = (Face.select(Face, Person.uid, Person.name)
                 .join(Person, pw.JOIN.LEFT_OUTER, on=(Face.person == Person.id))
                 .where(Face.photo.in_(chunk)).order_by(Face.photo, Face.x))
        for face in query:
            person = face.person if face.person_id else None
            out[face.photo_id].append({
                "id": face.id,
                "box": [round(face.x, 4), round(face.y, 4), round(face.w, 4), round(face.h, 4)],
                "cluster": person.uid if person else None,
                "person": person.name if person else None,
                "score": round(face.score, 3),
            })
    return out

