"""People edits on real faces (dlib on the in-repo Family photos): name, merge, split, "not this person", hide,
and the `people` command, on SQLite and MariaDB."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from photoshelf import people as core
from photoshelf.cli import cli
from photoshelf.db.schema import Face, FaceReject, File, Person, Photo
from photoshelf.errors import NotFound
from photoshelf.library import index_library
from photoshelf.media.thumbs import ThumbCache
from photoshelf.models import people
from photoshelf.models.enrich import Enricher
from photoshelf.models.faces import DlibFaces, FacesStage, dlib_missing
from photoshelf.models.stages import Item

from conftest import Library

pytestmark = pytest.mark.skipif(dlib_missing() is not None, reason=dlib_missing() or "")


@pytest.fixture(scope="module")
def dlib_model() -> DlibFaces:
    """One loaded model for the module (loading takes seconds); the stage's own lazy loading is tested in
    test_faces.py."""
    return DlibFaces()


def enrich_family(lib: Library, model: DlibFaces) -> tuple[list[Item], dict[str, Face]]:
    """Index the small corpus's Family folder, run the faces stage, and name its faces for the test:
    obama, obama2, biden2, and group-biden, group-obama, group-girl (obama_and_biden.jpg, left to right)."""
    index_library(lib.config, lib.db, [str(lib.originals / "Family")])
    thumbs = ThumbCache(lib.config.thumbs_path, lib.config.thumbnails)
    items = [Item(p.id, p.sha1, thumbs.path(p.sha1, "fit"), thumbs.path(p.sha1, "tile"), p.kind)
             for p in Photo.select().order_by(Photo.id)]
    report = Enricher(lib.config, lib.db, stages=[FacesStage(lib.config, lib.db, model)]).run(record=False)
    assert report.stages[0].done == len(items)
    paths = {f.photo_id: f.path for f in File.select().where(File.role == "media")}
    named: dict[str, Face] = {}
    for face in Face.select().order_by(Face.x):
        stem = paths[face.photo_id].rsplit("/", 1)[1].removesuffix(".jpg")
        if stem == "obama_and_biden":
            stem = ["group-biden", "group-obama", "group-girl"][sum(k.startswith("group") for k in named)]
        named[stem] = face
    assert set(named) == {"obama", "obama2", "biden2", "group-biden", "group-obama", "group-girl"}
    return items, named


def person_of(face: Face) -> int | None:
    return Face.get_by_id(face.id).person_id


def test_people_edits(library: Library, dlib_model: DlibFaces) -> None:
    lib = library
    distance = lib.config.models.face_distance
    items, f = enrich_family(lib, dlib_model)
    # Clustering made two unnamed people; the girl's single face belongs to no one.
    obama, biden = person_of(f["obama"]), person_of(f["biden2"])
    assert obama and biden and obama != biden
    assert person_of(f["obama2"]) == person_of(f["group-obama"]) == obama
    assert person_of(f["group-biden"]) == biden and person_of(f["group-girl"]) is None
    listed = core.list_people()
    assert [(r["id"], r["name"], r["faces"], r["photos"]) for r in listed] == [(obama, None, 3, 3), (biden, None, 2, 2)]
    assert listed[0]["cover"]["id"] in {f["obama"].id, f["obama2"].id, f["group-obama"].id}
    assert core.unassigned_count() == 1

    # Naming a cluster names every face in it; lookups by name ignore case.
    core.name_person(lib.db, obama, "Barack")
    assert core.find_person("BARACK").id == obama
    assert {pid for (pid,) in core.photos_of("barack").tuples()} == {
        f["obama"].photo_id, f["obama2"].photo_id, f["group-obama"].photo_id}
    # Naming another cluster with an existing name merges it into that person (as Immich does).
    merged = core.name_person(lib.db, biden, "barack")
    assert merged.id == obama and Person.get_or_none(Person.id == biden) is None
    assert person_of(f["biden2"]) == person_of(f["group-biden"]) == obama

    # Split the mistake out again: the moved faces are a new person, and the user's (clustering keeps off them).
    joe = core.move_faces(lib.db, [f["biden2"].id, f["group-biden"].id])
    assert joe.id != obama and Face.get_by_id(f["biden2"].id).assigned_by == "user"
    core.name_person(lib.db, joe.uid, "Joe")
    # Merge: the girl, put into a person of her own, merged into Joe (to show a merge), then moved out again.
    girl = core.move_faces(lib.db, [f["group-girl"].id])
    core.merge_people(lib.db, "joe", girl.id)
    assert person_of(f["group-girl"]) == joe.id and Person.get_or_none(Person.id == girl.id) is None
    girl = core.move_faces(lib.db, [f["group-girl"].id])
    assert [(r["name"], r["faces"]) for r in core.list_people()[:2]] == [("Barack", 3), ("Joe", 2)]

    # "Not this person": obama2 leaves Barack and never comes back, not by re-clustering, not by re-running the
    # stage (incremental assignment), not by merging a person holding it into Barack.
    people.reject_face(lib.db, f["obama2"].id, None, distance)
    assert person_of(f["obama2"]) is None
    people.recluster(lib.db, distance, lib.config.models.face_cluster_min)
    assert person_of(f["obama2"]) is None
    lib.reconfigure(PHOTOSHELF_MODELS_FACE_MIN_SIZE="39")  # a new stage version: the runner re-runs it
    report = Enricher(lib.config, lib.db, stages=[FacesStage(lib.config, lib.db, dlib_model)]).run(record=False)
    assert report.stages[0].done == len(items)
    assert person_of(f["obama2"]) is None and person_of(f["obama"]) == obama
    holder = core.move_faces(lib.db, [f["obama2"].id])
    core.merge_people(lib.db, obama, holder.id)
    assert person_of(f["obama2"]) is None
    # Only a person's own hand puts it back (and that lifts the mark).
    core.move_faces(lib.db, [f["obama2"].id], "Barack")
    assert person_of(f["obama2"]) == obama and FaceReject.select().count() == 0

    # Hide and unhide.
    core.set_hidden("Joe")
    assert "Joe" not in [r["name"] for r in core.list_people()]
    assert "Joe" in [r["name"] for r in core.list_people(include_hidden=True)]
    core.set_hidden("joe", False)
    assert "Joe" in [r["name"] for r in core.list_people()]

    # Edits that cannot be done say why.
    with pytest.raises(core.PeopleError):
        core.merge_people(lib.db, "Barack", obama)
    with pytest.raises(core.PeopleError):
        core.name_person(lib.db, "Barack", "  ")
    with pytest.raises(NotFound):
        core.find_person("Nobody")
    with pytest.raises(NotFound):
        core.move_faces(lib.db, [999_999], "Barack")
    assert person_of(f["group-girl"]) == girl.id
    Face.update(person=None, assigned_by=None).where(Face.id == f["group-girl"].id).execute()
    with pytest.raises(core.PeopleError, match="belongs to no one"):
        people.reject_face(lib.db, f["group-girl"].id, None, distance)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the SQL is test_people_edits' (both)
def test_people_command(library: Library, dlib_model: DlibFaces) -> None:
    lib = library
    _, f = enrich_family(lib, dlib_model)
    where = ["--originals", str(lib.originals), "--storage", str(lib.storage), "--database", lib.database_url]
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, [*where, "people", *args], catch_exceptions=False)
        assert result.exit_code == code, (args, result.output)
        return result.output

    listed = json.loads(run("--json"))
    assert [(p["faces"], p["photos"]) for p in listed["people"]] == [(3, 3), (2, 2)]
    assert listed["unassigned_faces"] == 1
    obama = listed["people"][0]
    assert "Barack" in run("name", obama["uid"], "Barack")
    text = run("list")
    assert "Barack" in text and "(unnamed)" in text and "1 faces belong to no one" in text
    biden = listed["people"][1]["id"]
    assert "Joe" in run("name", str(biden), "Joe")
    run("move", str(f["group-girl"].id), "--to", "joe")
    assert person_of(f["group-girl"]) == biden
    assert "no one" in run("reject", str(f["group-girl"].id))
    assert person_of(f["group-girl"]) is None
    run("merge", "Barack", "Joe")
    assert person_of(f["biden2"]) == obama["id"] and Person.get_or_none(Person.id == biden) is None
    run("hide", "barack")
    assert json.loads(run("--json"))["people"] == []
    assert json.loads(run("list", "--all", "--json"))["people"][0]["hidden"] is True
    run("unhide", "barack")
    report = json.loads(run("cluster", "--json"))
    assert report["unassigned"] == 1 and report["new_people"] == 0
    # Errors: a message and a non-zero exit.
    assert "no person" in run("name", "nobody", "X", code=3)
    assert "itself" in run("merge", "Barack", "barack", code=1)
    assert "numbers" in run("move", "abc", code=1)
    assert "belongs to no one" in run("reject", str(f["group-girl"].id), code=1)
    assert "no face" in run("reject", "999999", code=3)


def test_the_command_and_the_viewer_list_people_alike(library: Library, dlib_model: DlibFaces) -> None:
    """`photoshelf people` and the People page list people in one order (named people first, by how many photos
    show them, then the unnamed clusters by size) with the same cover faces: both ask photoshelf.people."""
    from logins import viewer_client

    lib = library
    _, f = enrich_family(lib, dlib_model)
    # "Abe" comes first by name but has fewer photos than "Zed"; the girl's face becomes a cluster of its own.
    abe, zed = person_of(f["biden2"]), person_of(f["obama"])
    assert abe and zed
    core.name_person(lib.db, abe, "Abe")
    core.name_person(lib.db, zed, "Zed")
    core.move_faces(lib.db, [f["group-girl"].id])
    where = ["--originals", str(lib.originals), "--storage", str(lib.storage), "--database", lib.database_url]
    result = CliRunner().invoke(cli, [*where, "people", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["people"]
    with viewer_client(lib.config, lib.db) as client:
        web = client.get("/api/v1/people").json()["people"]
    assert [(p["name"], p["photos"]) for p in listed] == [("Zed", 3), ("Abe", 2), (None, 1)]
    assert [(p["uid"], p["faces"], p["photos"]) for p in web] == [(p["uid"], p["faces"], p["photos"]) for p in listed]
    assert [p["cover"]["id"] for p in web] == [p["cover"]["face"] for p in listed]
    # The cover is each person's most confident face (then the largest).
    for row in listed:
        faces = list(Face.select().where(Face.person == row["id"]))
        best = max(faces, key=lambda x: (x.score, x.w * x.h, -x.id))
        assert row["cover"]["face"] == best.id


def test_dbscan_is_dbscan() -> None:
    """The clustering of the unassigned, checked against DBSCAN's definition on random blobs and noise."""
    import numpy as np

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(6, 16)) * 3
    points = np.vstack([c + rng.normal(scale=0.15, size=(int(rng.integers(1, 12)), 16)) for c in centres]
                       + [rng.normal(size=(20, 16)) * 3])
    eps, min_samples = 0.8, 3
    labels = people.dbscan(points.astype(np.float32), eps, min_samples)
    near = np.linalg.norm(points[:, None] - points[None], axis=2) <= eps
    core = near.sum(axis=1) >= min_samples
    for i in range(len(points)):
        if core[i]:
            # A core point's neighbours are all in its cluster.
            assert labels[i] >= 0 and (labels[near[i]] == labels[i]).all()
        elif labels[i] >= 0:
            # A border point is in the cluster of a core neighbour.
            assert (core & near[i] & (labels == labels[i])).any()
        else:
            assert not (core & near[i]).any()
    # Clusters are the connected components of core points: no two clusters' cores touch.
    for k in np.flatnonzero(core):
        assert len(set(labels[near[k] & core])) == 1
    assert len(set(labels[labels >= 0])) >= 4


def test_face_edits_rewrite_the_sidecar(library: Library, dlib_model: DlibFaces) -> None:
    """Moving a face to a person, or "not this person", changes what its photo's sidecar says: the next sidecar
    sync rewrites that sidecar (it picks photos by timestamps, so the edit must touch one it reads)."""
    import datetime as dt

    import yaml

    from photoshelf.db.schema import PhotoStage
    from photoshelf.sidecars.sync import sidecar_paths, sync_changed

    lib = library
    _, f = enrich_family(lib, dlib_model)
    obama, biden = person_of(f["obama"]), person_of(f["biden2"])
    assert obama is not None and biden is not None
    core.name_person(lib.db, obama, "Barack")
    joe = core.name_person(lib.db, biden, "Joe")
    sync_changed(lib.config)

    def backdate() -> None:
        """Everything happened an hour ago, the last sync included: only a later edit is "changed"."""
        past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
        Photo.update(updated_at=past).execute()
        Person.update(updated_at=past).execute()
        PhotoStage.update(done_at=past).execute()

    def people_in(face: Face) -> list[str | None]:
        photo = Photo.get_by_id(face.photo_id)
        data = yaml.safe_load(sidecar_paths(lib.config, [photo])[photo.id].read_text())
        return [x.get("Person") for x in data["Photoshelf"]["Faces"]]

    backdate()
    assert sync_changed(lib.config).written == 0
    assert sorted(people_in(f["group-obama"]), key=str) == ["Barack", "Joe", None]
    core.move_faces(lib.db, [f["group-obama"].id], joe.id)  # a move into an existing person
    assert sync_changed(lib.config).written == 1
    assert sorted(people_in(f["group-obama"]), key=str) == ["Joe", "Joe", None]

    backdate()
    people.reject_face(lib.db, f["group-biden"].id)  # "not Joe": the face leaves Joe and no one else takes it
    assert sync_changed(lib.config).written == 1
    assert sorted(people_in(f["group-biden"]), key=str) == ["Joe", None, None]
