"""Faces: detection, 5-point alignment and 128-d embeddings with dlib (weights from face-recognition-models),
and the `faces` enrichment stage that stores them and puts each face with a person."""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import peewee as pw

from photoshelf.config import Config
from photoshelf.db.schema import Face
from photoshelf.db.transactions import write_transaction
from photoshelf.errors import ToolMissing
from photoshelf.models.facemodel import DIM, MODEL, FaceModel, FoundFace
from photoshelf.models.runtime import Lazy, require
from photoshelf.models.stages import Item, Stage

log = logging.getLogger(__name__)

# A face found again by a re-run is "the same face" (keeps its id, person and "not this person" marks) when its
# box overlaps the earlier one at least this much (intersection over union).
SAME_FACE_IOU = 0.5
# Unassigned faces are re-clustered when a run has left this many new ones unassigned (and at the end of every
# run, in close()), so DBSCAN runs a bounded number of times per run.
CLUSTER_EVERY = 200
# dlib copies (threads) the faces stage uses when models.threads is 0 (one per core, up to this many).
POOL_MAX = 4


def weights_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing("faces need the dlib weights: pip install face-recognition-models (and dlib-bin)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibFaces:
    """HOG detector, 5-point shape predictor, ResNet embedder. Not thread-safe: one per worker thread."""

    model = MODEL
    dim = DIM
    metric = "l2"

    def __init__(self, min_size: int = 40, min_score: float = 0.0, upsample: int = 1) -> None:
        dlib = require("dlib", package="dlib-bin")
        folder = weights_dir()
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        # The 5-point model: the 68-point one was trained on data that allows no commercial use.
        self.shapes = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
        self.min_size = min_size
        self.min_score = min_score
        self.upsample = upsample

    def find(self, image: np.ndarray) -> list[FoundFace]:
        """Faces in an RGB uint8 array (H, W, 3)."""
        height, width = image.shape[:2]
        rects, scores, _ = self.detector.run(image, self.upsample, self.min_score)
        kept = [(r, s) for r, s in zip(rects, scores, strict=True)
                if min(r.width(), r.height()) >= self.min_size]
        if not kept:
            return []
        shapes = self._dlib.full_object_detections()
        for rect, _ in kept:
            shapes.append(self.shapes(image, rect))
        # The encoder aligns each face on its landmarks (a 150 px chip) before embedding it.
        descriptors = self.encoder.compute_face_descriptor(image, shapes)
        out = []
        for (rect, score), desc in zip(kept, descriptors, strict=True):
            left, top = max(0, rect.left()), max(0, rect.top())
            right, bottom = min(width, rect.right()), min(height, rect.bottom())
            out.append(FoundFace(
                x=left / width, y=top / height, w=(right - left) / width, h=(bottom - top) / height,
                score=float(score), embedding=np.asarray(desc, dtype=np.float32),
            ))
        return out


class ModelPool:
    """Copies of a face model lent one per thread: dlib's objects are not thread-safe, but dlib lets go of the
    GIL while it detects and embeds (two threads with a copy each ran 1.8x as fast as one on 2 cores), so copies
    on threads use the cores together. A copy is made when a thread finds none free, up to `size`."""

    def __init__(self, make: Callable[[], FaceModel], size: int) -> None:
        self._make = make
        self.size = max(1, size)
        self._free: queue.LifoQueue[FaceModel] = queue.LifoQueue()
        self._lock = threading.Lock()
        self.first = make()
        self._made = 1
        self._free.put(self.first)

    @contextmanager
    def lend(self) -> Iterator[FaceModel]:
        try:
            model = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self._made < self.size
                if make:
                    self._made += 1
            if not make:
                model = self._free.get()
            else:
                try:
                    model = self._make()
                except BaseException:
                    with self._lock:
                        self._made -= 1
                    raise
        try:
            yield model
        finally:
            self._free.put(model)


@dataclass
class Computed:
    """What compute() found for a batch: faces per photo, None or an error text per photo, and the model."""

    found: dict[int, list[FoundFace]] = field(default_factory=dict)
    results: dict[int, str | None] = field(default_factory=dict)
    model: str = MODEL
    dim: int = DIM
    metric: str = "l2"


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return cast("Callable[[int], int]", ctypes.CDLL(None).malloc_trim)  # glibc only
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Hand the memory the pool's threads freed back to the system. glibc keeps what a thread frees in that
    thread's arena, and dlib's pyramids are large: two dlib threads left the process 200 MB larger (RSS 636 ->
    870 MB after the bench's full enrichment; with MALLOC_ARENA_MAX=2 it stayed at 636)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def load_rgb(path: Path, max_side: int | None = None) -> Any:
    """A thumbnail as an RGB PIL image."""
    from PIL import Image

    with Image.open(path) as opened:
        im = opened.convert("RGB")
    if max_side and max(im.size) > max_side:
        im.thumbnail((max_side, max_side))
    return im


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def dlib_missing() -> str | None:
    """Why the dlib pipeline cannot load here (a package missing), or None."""
    if importlib.util.find_spec("dlib") is None:
        return "faces need dlib: pip install dlib-bin"
    if importlib.util.find_spec("face_recognition_models") is None:
        return "faces need the dlib weights: pip install face-recognition-models"
    return None


class FacesStage(Stage):
    """Find faces on the fit thumbnail, store them with their embeddings, and put each new face with the person
    its nearest neighbours belong to; faces no one claims are clustered into new (unnamed) people now and then."""

    name = "faces"
    order = 10

    def __init__(self, config: Config, db: pw.Database, model: FaceModel | None = None) -> None:
        super().__init__(config, db)
        m = config.models
        self._given = model
        self._given_pool = ModelPool(lambda: model, 1) if model is not None else None
        self._unclustered = 0  # faces this stage left unassigned since it last clustered
        self._executor: ThreadPoolExecutor | None = None  # compute()'s threads, kept from batch to batch
        # "dlib" (built in), or the name of an ONNX pair under models_path (models.face_model, when configured).
        self._choice = str(getattr(m, "face_model", "dlib") or "dlib")
        self._model = Lazy(f"faces:{self._choice}", self._load, float(m.idle_unload_seconds))

    def _load(self) -> ModelPool:
        m = self.config.models
        if self._choice == "dlib":
            # A dlib copy per thread, about 35 MB each: models.threads, or one per core up to POOL_MAX.
            return ModelPool(lambda: DlibFaces(m.face_min_size, m.face_min_score, m.face_upsample),
                             m.threads or min(os.cpu_count() or 1, POOL_MAX))
        from photoshelf.models.faceonnx import OnnxFaces

        # onnxruntime sessions are thread-safe and use the cores themselves (intra-op threads): one is enough.
        return ModelPool(lambda: OnnxFaces(self.config.models_path / self._choice, m.threads, m.face_min_size,
                                           m.face_min_score), 1)

    def _pool(self) -> ModelPool:
        return self._given_pool if self._given_pool is not None else self._model.get()

    @property
    def face_model(self) -> FaceModel:
        return self._pool().first

    def _model_name(self) -> str:
        if self._given is not None:
            return self._given.model
        return MODEL if self._choice == "dlib" else self._choice[:32]

    def unavailable(self) -> str | None:
        if not self.config.models.enabled:
            return "machine learning is turned off (models.enabled = false)"
        if not self.config.models.faces:
            return "faces are turned off (models.faces = false)"
        if importlib.util.find_spec("sklearn") is None:
            return "clustering faces needs scikit-learn: pip install 'photoshelf[ml]'"
        if self._given is not None:
            return None
        if self._choice == "dlib":
            return dlib_missing()
        if importlib.util.find_spec("onnxruntime") is None:
            return "ONNX face models need onnxruntime: pip install onnxruntime"
        from photoshelf.models.faceonnx import missing

        return missing(self.config.models_path / self._choice)

    def version(self) -> str:
        m = self.config.models
        return f"{self._model_name()} min{m.face_min_size} up{m.face_upsample} sc{m.face_min_score:g}"[:48]

    def compute(self, items: Sequence[Item]) -> Computed:
        """Find the faces of a batch without touching the catalog (the runner may call it on a worker thread).
        The photos are spread over the pool's model copies, each on its own thread."""
        pool = self._pool()
        first = pool.first
        out = Computed(model=first.model, dim=first.dim, metric=first.metric)

        def one(item: Item) -> tuple[int, list[FoundFace] | str]:
            try:
                image = np.asarray(load_rgb(item.fit))
            except (OSError, ValueError) as exc:
                return item.photo_id, f"cannot read the fit thumbnail {item.fit.name}: {exc}"
            with pool.lend() as model:
                return item.photo_id, model.find(image)

        if pool.size > 1 and len(items) > 1:
            # The same threads batch after batch (closed in close()).
            if self._executor is None:
                self._executor = ThreadPoolExecutor(pool.size, thread_name_prefix="faces")
            done = list(self._executor.map(one, items))  # in the items' order: face ids come out as before
            release_freed_memory()
        else:
            done = [one(item) for item in items]
        for photo_id, got in done:
            if isinstance(got, str):
                out.results[photo_id] = got
            else:
                out.found[photo_id] = got
                out.results[photo_id] = None
        return out

    def store(self, computed: Computed) -> dict[int, str | None]:
        """Write what compute() found and put the new faces with people (on the runner's thread, inside its
        transaction)."""
        from photoshelf.models import people

        space = people.face_space(computed.model, computed.dim, computed.metric)
        with write_transaction(self.db):
            new_ids = self._store(computed.found, computed.model, space)
            assigned = people.assign_new_faces(self.db, new_ids, self.config.models.face_distance, space)
        self._unclustered += len(new_ids) - assigned
        return computed.results

    def after_batch(self) -> None:
        """Cluster the unassigned faces once enough have gathered: after the batch's transaction, since DBSCAN
        runs on the whole set of them (cluster_unassigned writes the new people in a short transaction of its own)."""
        if self._unclustered >= CLUSTER_EVERY:
            self.cluster()

    def _store(self, found: dict[int, list[FoundFace]], model: str, space: Any) -> list[int]:
        """Replace the faces of these photos. A face found again at the same place keeps its row (so its "not
        this person" marks stay) and its person; after a model change only when a person put it there or named
        its person, the others are put with a person again. Returns the ids of the faces to assign."""
        from photoshelf import people as edits
        from photoshelf.models import people

        if not found:
            return []
        photo_ids = list(found)
        old_by_photo: dict[int, list[Face]] = {}
        for face in Face.select().where(Face.photo.in_(photo_ids)):
            old_by_photo.setdefault(face.photo_id, []).append(face)
        named = edits.named_people([f.person_id for fs in old_by_photo.values() for f in fs if f.person_id])
        to_assign: list[int] = []
        vectors: list[tuple[int, np.ndarray]] = []
        dropped: list[Face] = []
        for photo_id, faces in found.items():
            old = old_by_photo.get(photo_id, [])
            pairs = sorted(((iou((o.x, o.y, o.w, o.h), (f.x, f.y, f.w, f.h)), oi, fi)
                            for oi, o in enumerate(old) for fi, f in enumerate(faces)), reverse=True)
            matched: dict[int, Face] = {}
            used: set[int] = set()
            for overlap, oi, fi in pairs:
                if overlap < SAME_FACE_IOU:
                    break
                if oi in used or fi in matched:
                    continue
                used.add(oi)
                matched[fi] = old[oi]
            dropped.extend(o for oi, o in enumerate(old) if oi not in used)
            for fi, f in enumerate(faces):
                row = dict(x=f.x, y=f.y, w=f.w, h=f.h, score=f.score, model=model)
                prev = matched.get(fi)
                if prev is None:
                    face_id = Face.insert(photo=photo_id, **row).execute()
                    to_assign.append(int(face_id))
                else:
                    keep = prev.person_id is not None and (
                        prev.model == model or prev.assigned_by == "user" or prev.person_id in named)
                    if not keep:
                        row.update(person=None, assigned_by=None)
                        to_assign.append(prev.id)
                    Face.update(**row).where(Face.id == prev.id).execute()
                    face_id = prev.id
                vectors.append((int(face_id), f.embedding))
        if dropped:
            people.delete_faces(self.db, dropped)
        # Faces of an earlier model live in another space: drop them there before adding here.
        stale = [f for fs in old_by_photo.values() for f in fs if f.model != model and f not in dropped]
        if stale:
            people.remove_vectors(self.db, stale)
        people.face_index(self.db, space).add(vectors)
        edits.prune_empty()
        return to_assign

    def cluster(self) -> Any:
        """Cluster the unassigned faces now (DBSCAN over them only)."""
        from photoshelf.models import people

        model = self.face_model if self._given is not None or self._model.loaded else None
        space = (people.face_space(model.model, model.dim, model.metric) if model is not None
                 else people.space_of_model(self._model_name()))
        report = people.cluster_unassigned(self.db, self.config.models.face_distance,
                                           self.config.models.face_cluster_min, space)
        self._unclustered = 0
        log.info("faces: %s new people from %s faces, %s faces left unassigned",
                 report.new_people, report.clustered, report.unassigned)
        return report

    def forget(self, photo_ids: Sequence[int]) -> None:
        from photoshelf.models import people

        people.remove_faces(self.db, list(photo_ids))

    def finish(self) -> None:
        """The end of a run (the runner calls it): cluster what this run left unassigned."""
        if self._unclustered > 0:
            self.cluster()

    def close(self) -> None:
        self.finish()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        self._model.unload()
