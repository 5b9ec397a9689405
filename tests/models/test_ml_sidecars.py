"""Faces and labels go into the sidecars after enrichment, and a restore into a rebuilt catalog brings them back
(people, boxes, embeddings, stage versions) without running the models again."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from photoshelf import people as core
from photoshelf.db.schema import Face, File, Person, Photo, PhotoLabel, PhotoStage
from photoshelf.library import index_library
from photoshelf.models import enrich, people
from photoshelf.models.stages import Item, Stage
from photoshelf.models.vectors import VectorIndex
from photoshelf.records import records
from photoshelf.sidecars import sync

from conftest import SMALL_CORPUS, Library, make_library
from support import lose_catalog

FILES = ["2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg", "Misc/Formats/example.png"]


def _embedding(tile: Path) -> np.ndarray:
    """A 128-d vector drawn from the thumbnail's pixels (a real input, a deterministic output)."""
    with Image.open(tile) as im:
        hist = np.asarray(im.convert("L").histogram(), dtype=np.float32).reshape(128, 2).sum(axis=1)
    return hist / np.linalg.norm(hist)


class TileFaces(Stage):
    """Finds one 'face' on the pets; stores it as the real faces stage does (Face row + face vector space)."""

    name = "faces"
    order = 10

    def __init__(self, config, db) -> None:
        super().__init__(config, db)
        self.calls = 0

    def unavailable(self) -> str | None:
        return None

    def version(self) -> str:
        return "tilefaces-1"

    def store(self, items: Sequence[Item]) -> dict[int, str | None]:
        self.calls += 1
        index = VectorIndex(self.db, people.FACE_SPACE)
        for item in items:
            if "/Pets/" not in File.get(File.photo == item.photo_id).path:
                continue
            face = Face.create(photo=item.photo_id, x=0.25, y=0.125, w=0.5, h=0.375, score=1.25, model=people.FACE_SPACE.name[5:])
            index.add([(face.id, _embedding(item.tile))])
        return {i.photo_id: None for i in items}


class TileLabels(Stage):
    name = "labels"
    order = 20

    def __init__(self, config, db) -> None:
        super().__init__(config, db)
        self.calls = 0
        self.confidence = 0.8765

    def unavailable(self) -> str | None:
        return None

    def version(self) -> str:
        return "tilelabels-1"

    def forget(self, photo_ids: Sequence[int]) -> None:
        PhotoLabel.delete().where(PhotoLabel.photo.in_(list(photo_ids))).execute()

    def store(self, items: Sequence[Item]) -> dict[int, str | None]:
        self.calls += 1
        for item in items:
            path = File.get(File.photo == item.photo_id).path
            if "cat" in path:
                PhotoLabel.create(photo=item.photo_id, name="cat", category="animal", categories=",animal,pet,",
                                  confidence=self.confidence, source="imagenet", model="m-1")
        return {i.photo_id: None for i in items}


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    source = tmp_path / "source"
    for rel in FILES:
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SMALL_CORPUS / rel, source / rel)
    library = make_library(tmp_path, database_url, source)
    yield library
    library.db.close()


def _index(lib: Library) -> None:
    index_library(lib.config, lib.db)


def _wipe_catalog(lib: Library) -> None:
    """The catalog is lost: every table dropped (the originals, thumbnails and sidecars stay)."""
    lose_catalog(lib)


def _ml_state() -> dict[str, object]:
    by_path = {f.path: f.photo_id for f in File.select().where(File.role == "media")}
    recs = {r["path"]: r for r in records(Photo.select())}
    vectors = VectorIndex(Photo._meta.database.obj, people.FACE_SPACE)
    faces = {by_path_rev: [(f.x, f.y, f.w, f.h, f.score, Person.get_by_id(f.person_id).name if f.person_id else None, f.assigned_by,
                            vectors.get([f.id])[f.id].round(5).tolist())
                           for f in Face.select().where(Face.photo == pid)]
             for by_path_rev, pid in by_path.items()}
    return {"labels": {p: r["labels"] for p, r in recs.items()}, "faces": faces,
            "stages": sorted((File.get(File.photo == s.photo_id).path, s.stage, s.version)
                             for s in PhotoStage.select())}


def test_faces_and_labels_round_trip_through_sidecars(lib: Library) -> None:
    _index(lib)
    runner = enrich.Enricher(lib.config, lib.db, stages=[TileFaces(lib.config, lib.db), TileLabels(lib.config, lib.db)])
    runner.run()
    cat_face = Face.select().join(Photo).join(File).where(File.path == FILES[0]).get()
    dog_face = Face.select().join(Photo).join(File).where(File.path == FILES[1]).get()
    anna = core.move_faces(lib.db, [cat_face.id])  # a person put this face in its own person...
    core.name_person(lib.db, anna.uid, "Anna")  # ...and named it; the dog's face stays unassigned
    sync.sync_changed(lib.config)

    sidecar = lib.storage / "sidecars" / "2016/Pets/cat_brown.yml"
    ours = yaml.safe_load(sidecar.read_text())["Photoshelf"]
    assert ours["Stages"] == {"faces": "tilefaces-1", "labels": "tilelabels-1"}
    assert ours["Labels"] == [{"Name": "cat", "Category": "animal", "Categories": ["animal", "pet"],
                               "Confidence": 0.8765, "Source": "imagenet", "Model": "m-1"}]
    [face] = ours["Faces"]
    assert face["Box"] == [0.25, 0.125, 0.5, 0.375] and face["Person"] == "Anna" and face["By"] == "user"
    assert face["Cluster"] == anna.uid and face["Model"] == people.FACE_SPACE.name[5:]
    stored = VectorIndex(lib.db, people.FACE_SPACE).get([cat_face.id])[cat_face.id]
    assert np.array_equal(np.frombuffer(base64.b64decode(face["Embedding"]), dtype="<f4"), stored)
    dog = yaml.safe_load((lib.storage / "sidecars" / "2019/Pets/dog_orange.yml").read_text())["Photoshelf"]
    assert "Person" not in dog["Faces"][0] and "Labels" not in dog
    png = yaml.safe_load((lib.storage / "sidecars" / "Misc/Formats/example.yml").read_text())["Photoshelf"]
    assert "Faces" not in png and png["Stages"] == {"faces": "tilefaces-1", "labels": "tilelabels-1"}
    before = _ml_state()
    assert dog_face.person_id is None

    # The catalog is lost; restore (index, then sidecars) brings back people, faces, labels and stage versions.
    _wipe_catalog(lib)
    lib.config.sidecars.enabled = False  # `restore` indexes first; the sidecars are read by restore itself
    _index(lib)
    lib.config.sidecars.enabled = True
    assert not Face.select().exists()
    report = sync.restore(lib.config, lib.db)
    assert (report.faces_restored, report.labels_restored) == (2, 1)
    assert _ml_state() == before
    assert Person.get(Person.name == "Anna").uid == anna.uid
    # ...so the models do not run again on those photos.
    faces, labels = TileFaces(lib.config, lib.db), TileLabels(lib.config, lib.db)
    done = enrich.Enricher(lib.config, lib.db, stages=[faces, labels]).run()
    assert (faces.calls, labels.calls, done.processed) == (0, 0, 0)
    # Restoring again adds nothing twice, and a rewrite of the sidecars keeps them as they were.
    again = sync.restore(lib.config, lib.db)
    assert (again.faces_restored, again.labels_restored) == (0, 0)
    assert _ml_state() == before
    sync.write_sidecars(lib.config, Photo.select())
    assert yaml.safe_load(sidecar.read_text())["Photoshelf"]["Faces"] == ours["Faces"]


def test_enrichment_and_reindex_rewrite_the_sidecar(lib: Library) -> None:
    _index(lib)
    sync.sync_changed(lib.config)  # the sidecars exist before any model ran
    sidecar = lib.storage / "sidecars" / "2016/Pets/cat_brown.yml"
    assert "Labels" not in yaml.safe_load(sidecar.read_text())["Photoshelf"]
    labels = TileLabels(lib.config, lib.db)
    runner = enrich.Enricher(lib.config, lib.db, stages=[labels])
    runner.run()
    assert sync.sync_changed(lib.config).written == len(FILES)  # Stages on all, Labels on the cat
    assert yaml.safe_load(sidecar.read_text())["Photoshelf"]["Labels"][0]["Confidence"] == 0.8765
    # reindex --stage labels: results forgotten, the stage runs again (here finding a different confidence).
    labels.confidence = 0.5
    runner.forget(labels)
    runner.run()
    sync.sync_changed(lib.config)
    assert yaml.safe_load(sidecar.read_text())["Photoshelf"]["Labels"][0]["Confidence"] == 0.5
