"""Faces, labels and text in the sidecars: what the enrichment found, written out, and put back by a restore so a
rebuilt catalog has its people, labels and photos' text without running the models again."""

from __future__ import annotations

import base64
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import peewee as pw

from photoshelf import people, values
from photoshelf.db.rows import chunks, tuples
from photoshelf.db.schema import (
    Face,
    Person,
    PhotoLabel,
    PhotoStage,
    PhotoText,
    Vector,
    database_proxy,
    utcnow,
)
from photoshelf.sidecars.format import UserData, _box

log = logging.getLogger(__name__)

# The stages whose results the sidecar carries whole (the text and CLIP indexes are rebuilt: they are cheap, or
# their model may be different on the new host).
RESTORED_STAGES = ("faces", "labels", "ocr")
_CHUNK = 500


def _db() -> pw.Database:
    """The catalog's real database (the vector index needs to know the backend, which a proxy hides)."""
    return database_proxy.obj if isinstance(database_proxy, pw.DatabaseProxy) else database_proxy


def ml_of(photo_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The sidecar's Labels, Faces, Text and Stages per photo: five queries per 500 photos."""
    from photoshelf.models.ocr import lines_of

    out: dict[int, dict[str, Any]] = defaultdict(dict)
    for chunk in chunks(list(photo_ids), _CHUNK):
        stages = PhotoStage.select(PhotoStage.photo, PhotoStage.stage, PhotoStage.version).where(
            PhotoStage.photo.in_(chunk) & PhotoStage.stage.in_(RESTORED_STAGES) & PhotoStage.error.is_null())
        for photo_id, stage, version in tuples(stages):
            out[photo_id].setdefault("Stages", {})[stage] = version
        labels = (PhotoLabel.select(PhotoLabel.photo, PhotoLabel.name, PhotoLabel.category, PhotoLabel.categories,
                                    PhotoLabel.confidence, PhotoLabel.source, PhotoLabel.model)
                  .where(PhotoLabel.photo.in_(chunk))
                  .order_by(PhotoLabel.photo, PhotoLabel.confidence.desc(), PhotoLabel.name))
        for photo_id, name, category, categories, confidence, source, model in tuples(labels):
            entry: dict[str, Any] = {"Name": name, "Category": category or "",
                                     "Categories": [c for c in (categories or "").split(",") if c],
                                     "Confidence": round(float(confidence), 4), "Source": source}
            if model:
                entry["Model"] = model
            out[photo_id].setdefault("Labels", []).append(entry)
        for photo_id, lines in tuples(PhotoText.select(PhotoText.photo, PhotoText.lines).where(
                PhotoText.photo.in_(chunk))):
            found = [[t, round(c, 4)] for t, c in lines_of(lines)]
            if found:
                out[photo_id]["Text"] = found
        faces: list[Any] = list(tuples(Face.select(Face.id, Face.photo, Face.x, Face.y, Face.w, Face.h, Face.score, Face.model,
                                 Face.assigned_by, Person.uid, Person.name)
                     .join(Person, pw.JOIN.LEFT_OUTER, on=(Face.person == Person.id))
                     .where(Face.photo.in_(chunk)).order_by(Face.photo, Face.x, Face.id)))
        embeddings: dict[int, bytes] = {}
        face_ids = [f[0] for f in faces]
        for ids in chunks(face_ids, _CHUNK):
            rows = Vector.select(Vector.item_id, Vector.vector).where(
                Vector.item_id.in_(ids) & Vector.space.startswith("face:"))
            for item_id, blob in tuples(rows):
                embeddings[item_id] = bytes(blob)
        for face_id, photo_id, x, y, w, h, score, model, by, uid, name in faces:
            face: dict[str, Any] = {"Box": [round(x, 4), round(y, 4), round(w, 4), round(h, 4)],
                                    "Score": round(float(score), 3), "Model": model}
            if uid:
                face["Cluster"] = uid
                face["By"] = by or "auto"
            if name:
                face["Person"] = name
            if face_id in embeddings:
                face["Embedding"] = base64.b64encode(embeddings[face_id]).decode("ascii")
            out[photo_id].setdefault("Faces", []).append(face)
    return dict(out)


class Restorer:
    """Puts sidecar faces and labels back into a catalog, for photos that have no results of that stage yet
    (a rebuilt catalog), and records the stage versions so the models do not run again on them."""

    def __init__(self) -> None:
        self.people: dict[str, Person] = {}  # by uid and by "name:" + lower-case name
        self.vectors: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
        self.faces = 0
        self.labels = 0
        self.texts = 0

    def apply(self, items: Sequence[tuple[int, UserData]]) -> None:
        """Restore a batch of (photo id, sidecar data); call flush() at the end of the transaction."""
        items = [(pid, ud) for pid, ud in items if ud.labels or ud.faces or ud.stages or ud.text]
        if not items:
            return
        ids = [pid for pid, _ in items]
        have: set[tuple[int, str]] = set()
        for chunk in chunks(ids, _CHUNK):
            have.update(tuples(PhotoStage.select(PhotoStage.photo, PhotoStage.stage).where(
                PhotoStage.photo.in_(chunk) & PhotoStage.stage.in_(RESTORED_STAGES))))
        stage_rows = []
        for photo_id, ud in items:
            if (photo_id, "labels") not in have and (ud.labels or "labels" in ud.stages):
                self._labels(photo_id, ud.labels)
                if "labels" in ud.stages:
                    stage_rows.append({"photo": photo_id, "stage": "labels", "version": ud.stages["labels"][:48],
                                       "done_at": utcnow()})
            if (photo_id, "ocr") not in have and (ud.text or "ocr" in ud.stages):
                self._text(photo_id, ud.text, ud.stages.get("ocr", ""))
                if "ocr" in ud.stages:
                    stage_rows.append({"photo": photo_id, "stage": "ocr", "version": ud.stages["ocr"][:48],
                                       "done_at": utcnow()})
            if (photo_id, "faces") not in have and (ud.faces or "faces" in ud.stages):
                self._faces(photo_id, ud.faces)
                if "faces" in ud.stages:
                    stage_rows.append({"photo": photo_id, "stage": "faces", "version": ud.stages["faces"][:48],
                                       "done_at": utcnow()})
        if stage_rows:
            PhotoStage.insert_many(stage_rows).execute()

    def _labels(self, photo_id: int, labels: list[dict[str, Any]]) -> None:
        rows = []
        for label in labels:
            name = values.text(label["Name"], 64)
            if name is None:
                continue
            categories = label.get("Categories")
            cats = [c for c in (values.text(c, 64) for c in (
                categories if isinstance(categories, list) else [label.get("Category")])) if c]
            confidence = values.fraction(label.get("Confidence"))
            rows.append({"photo": photo_id, "name": name,
                         "category": values.text(label.get("Category"), 64) or (cats[0] if cats else ""),
                         "categories": ("," + ",".join(cats) + ",")[:255] if cats else "",
                         "confidence": confidence, "source": str(label.get("Source") or "imagenet")[:16],
                         "model": str(label.get("Model") or "")[:48]})
        if rows:
            PhotoLabel.insert_many(rows).on_conflict_ignore().execute()
            self.labels += len(rows)

    def _text(self, photo_id: int, lines: list[tuple[str, float]], model: str) -> None:
        kept = [(t, c) for t, c in ((values.text(t, 1000), c) for t, c in lines) if t]
        if not kept:
            return
        PhotoText.insert(photo=photo_id, text="\n".join(t for t, _ in kept),
                         lines=json.dumps([[t, c] for t, c in kept], ensure_ascii=False),
                         model=model[:48]).on_conflict_ignore().execute()
        self.texts += 1

    def _faces(self, photo_id: int, faces: list[dict[str, Any]]) -> None:
        for face in faces:
            box = _box(face.get("Box"))
            if box is None:
                continue
            person = self._person(face)
            score = values.number(face.get("Score")) or 0.0
            by = face.get("By") if face.get("By") in ("auto", "user") else "auto"
            model = str(face.get("Model") or "unknown")[:32]
            row = Face.create(photo=photo_id, x=box[0], y=box[1], w=box[2], h=box[3], score=score,
                              person=person.id if person else None, assigned_by=by if person else None, model=model)
            self.faces += 1
            embedding = face.get("Embedding")
            if isinstance(embedding, str) and embedding:
                try:
                    blob = base64.b64decode(embedding, validate=True)
                except ValueError:
                    log.warning("restore: a face of photo %s has an unreadable embedding", photo_id)
                    continue
                if blob and len(blob) % 4 == 0:
                    self.vectors[f"face:{model}"].append((row.id, blob))

    def _person(self, face: dict[str, Any]) -> Person | None:
        uid = values.identifier(face.get("Cluster"), values.UID) or ""
        name = values.text(face.get("Person"), 255) or ""
        if not uid and not name:
            return None
        key = uid or "name:" + name.lower()
        if key in self.people:
            return self.people[key]
        person = people.find_or_create(uid, name)
        if person is None:
            return None
        self.people[key] = person
        if name:
            self.people["name:" + name.lower()] = person
        return person

    def flush(self) -> None:
        """Add the collected face embeddings to the vector index, one call per space."""
        import numpy as np

        from photoshelf.models.vectors import VectorIndex

        for space_name, rows in self.vectors.items():
            dims = {len(blob) // 4 for _, blob in rows}
            for dim in dims:
                vecs = [(fid, np.frombuffer(blob, dtype="<f4")) for fid, blob in rows if len(blob) // 4 == dim]
                VectorIndex(_db(), _face_space(space_name, dim)).add(vecs)
        self.vectors.clear()


def _face_space(name: str, dim: int) -> Any:
    """The face space as the faces stage defines it: its dimension from the vectors, its metric by the people
    module's convention (dlib's embeddings compare by L2, ONNX ArcFace's by cosine)."""
    from photoshelf.models.people import face_space

    model = name[len("face:"):]
    return face_space(model, dim, "l2" if model.startswith("dlib") else "cosine")
