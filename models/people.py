"""People, the machine-learning side: incremental face clustering (nearest person within a distance, DBSCAN of the
unassigned), the face vector spaces, and forgetting faces. The edits a person makes and how people are listed are
photoshelf/people.py's."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import peewee as pw

from photoshelf import people
from photoshelf.db.rows import chunks, tuples
from photoshelf.db.schema import Face, FaceReject, Person, Vector
from photoshelf.db.transactions import write_transaction
from photoshelf.db.uids import person_uid
from photoshelf.models.facemodel import DIM, MODEL, SPACE_NAME
from photoshelf.models.vectors import Space, VectorIndex

log = logging.getLogger(__name__)

FACE_SPACE = Space(SPACE_NAME, DIM, metric="l2", quantise=False)
NEIGHBOURS = 10
# DBSCAN works on at most this many unassigned faces per run (newest first), so its cost is bounded.
DBSCAN_MAX = 5000


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
        people.prune_empty()


# --- the edit that needs the clustering ---


def reject_face(db: pw.Database, face_id: int, person: str | int | None = None, distance: float = 0.5) -> Face:
    """"Not this person" (photoshelf.people.reject_face), then the face may join someone else near enough."""
    return people.reject_face(db, face_id, person, reassign=lambda face: assign_new_faces(
        db, [face.id], distance, space_of_model(face.model)))
