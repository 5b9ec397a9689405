"""The faces stage with the real dlib models on real photos: faces found, clustered by person, re-runs stable."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from photoshelf import people as core
from photoshelf.db.schema import Face, FaceReject, Person, Photo, PhotoStage, Vector
from photoshelf.library import index_library
from photoshelf.media.thumbs import ThumbCache
from photoshelf.models import people
from photoshelf.models.enrich import Enricher
from photoshelf.models.facemodel import MODEL, SPACE_NAME
from photoshelf.models.faces import DlibFaces, FacesStage, dlib_missing
from photoshelf.models.stages import Item

from conftest import SMALL_CORPUS, Library, make_config
from support import no_catalog

pytestmark = pytest.mark.skipif(dlib_missing() is not None, reason=dlib_missing() or "")


@pytest.fixture(scope="module")
def dlib_model() -> DlibFaces:
    """One loaded model for the module's later runs (loading takes seconds under load)."""
    return DlibFaces()

# Who is in which photo, faces from left to right (checked by eye on crops of each face the detector found).
# "girl" is the child at the bottom right of obama_and_biden.jpg: one face, so she must stay unclustered.
TRUTH = {
    "Family/Barack/obama.jpg": ["obama"],
    "Family/Barack/obama2.jpg": ["obama"],
    "Family/Barack/obama3.jpg": ["obama"],
    "Family/Joe/biden.jpg": ["biden"],
    "Family/Joe/biden2.jpg": ["biden"],
    "Family/obama_and_biden.jpg": ["biden", "obama", "girl"],
}


def index_family(lib: Library, corpus: Path) -> list[Item]:
    """Index a copy of <corpus>/Family only (small and quick) and return the items the runner would build."""
    with lib.user_changes():
        shutil.copytree(corpus / "Family", lib.originals / "Family")
    index_library(lib.config, lib.db)
    thumbs = ThumbCache(lib.config.thumbs_path, lib.config.thumbnails)
    return [Item(p.id, p.sha1, thumbs.path(p.sha1, "fit"), thumbs.path(p.sha1, "tile"), p.kind)
            for p in Photo.select().order_by(Photo.id)]


def faces_by_path() -> dict[str, list[Face]]:
    """The catalog's faces per photo path, left to right."""
    from photoshelf.db.schema import File

    paths = {f.photo_id: f.path for f in File.select().where(File.role == "media")}
    out: dict[str, list[Face]] = {}
    for face in Face.select().order_by(Face.x):
        out.setdefault(paths[face.photo_id], []).append(face)
    return out


def pairwise(found: dict[str, list[Face]]) -> tuple[float, float]:
    """Pairwise precision and recall of the people faces were put in against TRUTH (unassigned = alone)."""
    labelled = []
    for path, faces in found.items():
        for face, who in zip(faces, TRUTH[path], strict=True):
            labelled.append((who, face.person_id if face.person_id is not None else f"alone-{face.id}"))
    tp = fp = fn = 0
    for (a_true, a_pred), (b_true, b_pred) in itertools.combinations(labelled, 2):
        same_true, same_pred = a_true == b_true, a_pred == b_pred
        tp += same_true and same_pred
        fp += same_pred and not same_true
        fn += same_true and not same_pred
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def check_clusters(lib: Library, items: list[Item]) -> None:
    found = faces_by_path()
    expected = {p for p in TRUTH if (lib.originals / p).exists()}
    assert set(found) == expected
    for path, faces in found.items():
        assert len(faces) == len(TRUTH[path]), (path, [(f.x, f.w) for f in faces])
        for f in faces:
            assert 0 <= f.x < 1 and 0 <= f.y < 1 and 0.03 < f.w < 0.7 and 0.03 < f.h < 0.7 and f.model == MODEL
    precision, recall = pairwise(found)
    assert precision >= 0.95 and recall >= 0.8, (precision, recall)
    # Every face has its 128-d embedding in the face space.
    ids = [f.id for fs in found.values() for f in fs]
    assert Vector.select().where((Vector.space == SPACE_NAME) & Vector.item_id.in_(ids)).count() == len(ids)
    # Two people, and the girl (one face) is in no one's cluster.
    assert len({f.person_id for fs in found.values() for f in fs if f.person_id}) == 2
    assert found["Family/obama_and_biden.jpg"][2].person_id is None


def test_faces_found_and_clustered_by_person(library: Library, dlib_model: DlibFaces) -> None:
    """The in-repo Family photos (4 photos, 6 faces, 3 people) through the runner: detect, cluster, and a
    re-run (after a settings change) that keeps what the user decided."""
    lib = library
    items = index_family_only(lib)
    stage = FacesStage(lib.config, lib.db)
    assert stage.unavailable() is None
    report = Enricher(lib.config, lib.db, stages=[stage]).run(record=False)
    assert (report.stages[0].done, report.stages[0].errors) == (len(items), 0)
    assert PhotoStage.select().where((PhotoStage.stage == "faces") & (PhotoStage.version == stage.version())
                                     & PhotoStage.error.is_null()).count() == len(items)
    check_clusters(lib, items)

    # The user names Obama's cluster, moves Biden's face in the group photo to a person of its own, and says
    # the group photo's Obama is not Barack.
    found = faces_by_path()
    obama = found["Family/Barack/obama.jpg"][0].person_id
    core.name_person(lib.db, obama, "Barack")
    group = found["Family/obama_and_biden.jpg"]
    split = core.move_faces(lib.db, [group[0].id])
    people.reject_face(lib.db, group[1].id, None, lib.config.models.face_distance)
    assert Face.get_by_id(group[1].id).person_id is None
    before = {f.id: (f.person_id, f.assigned_by) for f in Face.select()}

    # A changed setting re-runs the stage on every photo; it finds the same boxes: same face rows, the user's
    # decisions kept, the rejected face not back with Barack.
    lib.reconfigure(PHOTOSHELF_MODELS_FACE_MIN_SIZE="39")
    stage = FacesStage(lib.config, lib.db, dlib_model)
    report = Enricher(lib.config, lib.db, stages=[stage]).run(record=False)
    assert report.stages[0].done == len(items)
    after = {f.id: (f.person_id, f.assigned_by) for f in Face.select()}
    assert after == before
    assert after[group[0].id] == (split.id, "user")
    assert after[found["Family/Barack/obama.jpg"][0].id][0] == obama
    assert after[group[1].id] == (None, None)
    assert FaceReject.select().where(FaceReject.face == group[1].id).count() == 1

    # forget() drops the faces of a photo and their embeddings; empty unnamed clusters go, named people stay.
    stage.forget([items[0].photo_id])
    assert Face.select().where(Face.photo == items[0].photo_id).count() == 0
    assert Vector.select().where(Vector.space == SPACE_NAME).count() == Face.select().count()
    assert Person.get_by_id(obama).name == "Barack"


def index_family_only(lib: Library) -> list[Item]:
    """The `library` fixture copies the whole small corpus: index only its Family folder."""
    index_library(lib.config, lib.db, [str(lib.originals / "Family")])
    thumbs = ThumbCache(lib.config.thumbs_path, lib.config.thumbnails)
    return [Item(p.id, p.sha1, thumbs.path(p.sha1, "fit"), thumbs.path(p.sha1, "tile"), p.kind)
            for p in Photo.select().order_by(Photo.id)]


def test_stage_settings(tmp_path: Path) -> None:
    config = make_config(tmp_path / "o", tmp_path / "s", f"sqlite:///{tmp_path / 'c.db'}")
    stage = FacesStage(config, no_catalog())  # neither needs the catalog
    assert stage.name == "faces" and stage.unavailable() is None
    version = stage.version()
    assert MODEL in version and len(version) <= 48
    other = make_config(tmp_path / "o", tmp_path / "s", "sqlite:///x.db", PHOTOSHELF_MODELS_FACE_MIN_SIZE="60")
    assert FacesStage(other, no_catalog()).version() != version
    off = make_config(tmp_path / "o", tmp_path / "s", "sqlite:///x.db", PHOTOSHELF_MODELS_FACES="false")
    assert "models.faces" in (FacesStage(off, no_catalog()).unavailable() or "")


@pytest.mark.corpus
def test_full_family_corpus(tmp_path: Path, database_url: str, full_corpus: Path, dlib_model: DlibFaces) -> None:
    """All of ../shared/corpus/Family: 6 photos, 8 faces, 3 people; measures photos/s of the stage."""
    from conftest import make_library

    lib = make_library(tmp_path, database_url, None)
    try:
        items = index_family(lib, full_corpus)
        stage = FacesStage(lib.config, lib.db, dlib_model)
        report = Enricher(lib.config, lib.db, stages=[stage]).run(record=False)
        sr = report.stages[0]
        assert (sr.done, sr.errors) == (len(items), 0)
        print(f"faces stage: {sr.done} photos in {sr.seconds:.2f}s = {sr.rate:.1f} photos/s")
        check_clusters(lib, items)
    finally:
        lib.db.close()


def test_small_corpus_has_the_family_photos() -> None:
    """The in-repo subset must keep enough faces for the tests above to mean something."""
    present = [p for p in TRUTH if (SMALL_CORPUS / p).exists()]
    assert sum(len(TRUTH[p]) for p in present) >= 5 and {"obama", "biden"} <= {
        w for p in present for w in TRUTH[p]}


def test_compute_apart_from_store(library: Library, dlib_model: DlibFaces) -> None:
    """compute() finds faces without the catalog, on a pool of model copies (one per thread), exactly what one
    model finds photo by photo; store() writes them. So the runner computes faces beside other stages."""
    import numpy as np

    from photoshelf.models.enrich import splits
    from photoshelf.models.faces import load_rgb

    lib = library
    items = index_family_only(lib)
    lib.reconfigure(PHOTOSHELF_MODELS_THREADS="2")
    stage = FacesStage(lib.config, lib.db)
    assert splits(stage)
    computed = stage.compute(items)
    assert stage._pool().size == 2 and Face.select().count() == 0
    assert computed.results == {item.photo_id: None for item in items}
    for item in items:
        alone = dlib_model.find(np.asarray(load_rgb(item.fit)))
        pooled = computed.found[item.photo_id]
        assert [(f.x, f.y, f.w, f.h, f.score) for f in pooled] == [(f.x, f.y, f.w, f.h, f.score) for f in alone]
        assert all(np.array_equal(a.embedding, b.embedding) for a, b in zip(pooled, alone, strict=True))
    with lib.db.atomic():
        assert stage.store(computed) == computed.results
    assert Face.select().count() == sum(len(fs) for fs in computed.found.values()) >= 5
    stage.close()


def test_model_pool_lends_one_copy_per_thread() -> None:
    import threading

    from photoshelf.models.faces import ModelPool

    made: list[object] = []

    def make() -> object:
        made.append(object())
        return made[-1]

    pool = ModelPool(make, 2)  # type: ignore[arg-type]
    with pool.lend() as a, pool.lend() as b:
        assert a is not b and len(made) == 2
        got: list[object] = []
        waiter = threading.Thread(target=lambda: got.extend([pool.lend().__enter__()]))
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive() and not got, "a third thread waits for a free copy"
    waiter.join(5)
    assert got and got[0] in made and len(made) == 2
