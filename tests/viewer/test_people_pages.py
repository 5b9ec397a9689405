"""People pages, face crops and the people/faces/similar API through the real app, on SQLite and MariaDB.

People and faces are made as rows (the way the enrichment pass stores them), on real indexed photos; the edits
then go through the real HTTP API and forms into models.people. Each test removes what it made: the indexed
library is shared by the session."""

from __future__ import annotations

import datetime as dt
import io
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from logins import browser_log_in, ensure_users, viewer_client
from PIL import Image
from starlette.testclient import TestClient

from photoshelf.db.schema import Face, FaceReject, Person, Photo, PhotoLabel

from conftest import SMALL_CORPUS, Library, make_library


@dataclass
class Cast:
    """Two named people and an unnamed cluster, each with faces on real photos."""

    anna: Person
    ben: Person
    cluster: Person
    faces: dict[str, list[Face]]
    photos: list[Photo]
    tag: str


def _person(name: str | None, hidden: bool = False) -> Person:
    return Person.create(uid="p" + secrets.token_hex(8), name=name, hidden=hidden)


def _face(photo: Photo, person: Person | None, x: float = 0.3, score: float = 0.9) -> Face:
    return Face.create(photo=photo.id, x=x, y=0.25, w=0.2, h=0.3, score=score, person=person,
                       assigned_by="auto" if person else None, model="test")


@pytest.fixture
def cast(lib: Library) -> Iterator[Cast]:
    photos = list(Photo.select().where(Photo.has_thumbs & (Photo.kind == "image") & (Photo.private == False)  # noqa: E712
                                       & Photo.stack.is_null()).order_by(Photo.id).limit(6))
    assert len(photos) == 6
    tag = secrets.token_hex(3)
    anna, ben, cluster = _person(f"Anna {tag}"), _person(f"Ben {tag}"), _person(None)
    faces = {
        "anna": [_face(photos[0], anna, score=0.99), _face(photos[1], anna), _face(photos[2], anna, 0.6)],
        "ben": [_face(photos[2], ben, 0.1), _face(photos[3], ben)],
        "cluster": [_face(photos[4], cluster), _face(photos[5], cluster)],
    }
    made = {anna.id, ben.id, cluster.id}
    all_faces = [f.id for fs in faces.values() for f in fs]
    yield Cast(anna, ben, cluster, faces, photos, tag)
    # Faces the edits moved to people the test made (a new cluster, a newly named person) go with them.
    FaceReject.delete().where(FaceReject.face.in_(all_faces)).execute()
    extra = {f.person_id for f in Face.select().where(Face.id.in_(all_faces)) if f.person_id}
    Face.delete().where(Face.id.in_(all_faces)).execute()
    Person.delete().where(Person.id.in_(made | extra)).execute()


def test_people_page_without_faces_explains_how_to_enable(client: TestClient, lib: Library) -> None:
    if Face.select().exists():
        pytest.skip("this catalog already has faces")
    r = client.get("/people")
    assert r.status_code == 200
    assert "No faces yet" in r.text and "photoshelf enrich" in r.text
    body = client.get("/api/v1/people").json()
    assert body["people"] == [] and body["faces"] == 0


def test_people_page_lists_named_and_clusters_with_covers(client: TestClient, cast: Cast) -> None:
    r = client.get("/people")
    assert r.status_code == 200, r.text[:2000]
    assert f"Anna {cast.tag}" in r.text and f"Ben {cast.tag}" in r.text
    assert f'href="/people/{cast.cluster.uid}"' in r.text and "Not named yet" in r.text
    assert 'href="/people"' in client.get("/").text  # the navigation has People
    body = client.get("/api/v1/people").json()
    by_uid = {p["uid"]: p for p in body["people"]}
    anna = by_uid[cast.anna.uid]
    assert (anna["faces"], anna["photos"]) == (3, 3)
    # the cover is the best-scoring face
    assert anna["cover"]["id"] == cast.faces["anna"][0].id
    assert anna["cover"]["crop"] in r.text.replace("&amp;", "&")
    assert by_uid[cast.cluster.uid]["name"] is None
    # a face in no group yet is found with face:new, and the page links there
    loose = _face(cast.photos[5], None)
    try:
        page = client.get("/people").text
        assert 'href="/search?q=face:new"' in page
        found = client.get("/api/v1/search", params={"q": "face:new"}).json()["photos"]
        assert cast.photos[5].id in {p["id"] for p in found}
    finally:
        loose.delete_instance()


def test_face_crop_is_served_cached_with_an_etag(client: TestClient, cast: Cast, lib: Library) -> None:
    url = client.get("/api/v1/people").json()["people"]
    crop = next(p["cover"]["crop"] for p in url if p["uid"] == cast.anna.uid)
    r = client.get(crop)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert "immutable" in r.headers["cache-control"]
    with Image.open(io.BytesIO(r.content)) as im:
        assert im.width == im.height and 16 <= im.width <= 192
    etag = r.headers["etag"]
    again = client.get(crop, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    # cached in storage, next to the thumbnails
    assert list((lib.config.thumbs_path / "faces").rglob("*.jpg"))
    # without the digest it is still served, but revalidated
    bare = client.get(f"/faces/{cast.faces['anna'][0].id}.jpg")
    assert bare.status_code == 200 and "immutable" not in bare.headers["cache-control"]
    assert client.get("/faces/999999999.jpg").status_code == 404
    assert client.get("/faces/abc.jpg").status_code == 404


def test_person_page_shows_their_photos_in_the_grid(client: TestClient, cast: Cast) -> None:
    r = client.get(f"/people/{cast.anna.uid}")
    assert r.status_code == 200, r.text[:2000]
    assert f"Anna {cast.tag}" in r.text and 'id="timeline"' in r.text
    shown = {int(x.split('"')[0]) for x in r.text.split('data-id="')[1:]}
    assert shown == {p.id for p in cast.photos[:3]}
    assert "Not this person" in r.text and f"/faces/{cast.faces['anna'][0].id}/reject" in r.text
    # a photo opened from here steps through this person's photos
    assert f'href="/photos/{cast.photos[0].id}?q=person%3A{cast.anna.uid}"' in r.text
    step = client.get(f"/photos/{cast.photos[1].id}", params={"q": f"person:{cast.anna.uid}"})
    assert step.status_code == 200
    near = [step.text.split(f'data-{k}="')[1].split('"')[0] for k in ("prev", "next")]
    assert any(near) and all(n.split("?")[0] in {f"/photos/{p.id}" for p in cast.photos[:3]} for n in near if n)
    # infinite scroll: a page of one, then the rest as fragments
    first = client.get(f"/people/{cast.anna.uid}", params={"limit": "1"})
    assert 'id="more"' in first.text
    more = first.text.split('id="more" href="')[1].split('"')[0].replace("&amp;", "&")
    part = client.get(more, params={"partial": "1"})
    assert part.status_code == 200 and "<html" not in part.text and 'class="tile' in part.text
    # reached by id or name, it redirects to its uid
    r = client.get(f"/people/{cast.anna.id}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/people/{cast.anna.uid}"
    assert client.get("/people/nobody-like-this").status_code == 404
    assert client.get("/api/v1/people/nobody-like-this").status_code == 404


def test_person_api(client: TestClient, cast: Cast) -> None:
    body = client.get(f"/api/v1/people/{cast.anna.uid}").json()
    assert body["name"] == cast.anna.name and body["faces"] == 3 and body["count"] == 3
    assert {p["id"] for p in body["photos_page"]} == {p.id for p in cast.photos[:3]}
    assert body["photos_page"][0]["urls"]["page"].startswith("/photos/")
    assert [f["id"] for f in body["faces_shown"]][0] == cast.faces["anna"][0].id


def test_rename_and_hide_through_the_api(client: TestClient, cast: Cast) -> None:
    r = client.post(f"/api/v1/people/{cast.cluster.uid}", json={"name": f"Carla {cast.tag}"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == f"Carla {cast.tag}"
    assert Person.get_by_id(cast.cluster.id).name == f"Carla {cast.tag}"
    r = client.post(f"/api/v1/people/{cast.cluster.uid}", json={"hidden": True})
    assert r.status_code == 200 and r.json()["hidden"] is True
    listed = {p["uid"] for p in client.get("/api/v1/people").json()["people"]}
    assert cast.cluster.uid not in listed
    assert cast.cluster.uid in {p["uid"] for p in client.get("/api/v1/people?hidden=1").json()["people"]}
    assert f"Carla {cast.tag}" not in client.get("/people").text
    assert f"Carla {cast.tag}" in client.get("/people?hidden=1").text
    # bad input is a 400 that says why
    for body in ({"name": ""}, {"name": 5}, {"hidden": "yes"}, {"colour": "red"}):
        r = client.post(f"/api/v1/people/{cast.ben.uid}", json=body)
        assert r.status_code == 400 and r.json()["error"], body
    assert client.post(f"/api/v1/people/{cast.ben.uid}", content=b"[1]").status_code == 400
    assert client.post("/api/v1/people/nobody-like-this", json={"name": "X"}).status_code == 404


def test_naming_like_someone_else_merges(client: TestClient, cast: Cast) -> None:
    r = client.post(f"/api/v1/people/{cast.cluster.uid}", json={"name": f"ANNA {cast.tag}"})
    assert r.status_code == 200
    assert r.json()["uid"] == cast.anna.uid and r.json()["faces"] == 5
    assert Person.get_or_none(Person.id == cast.cluster.id) is None


def test_merge_through_the_api(client: TestClient, cast: Cast) -> None:
    r = client.post(f"/api/v1/people/{cast.ben.uid}/merge", json={"into": cast.anna.uid})
    assert r.status_code == 200, r.text
    assert r.json()["uid"] == cast.anna.uid and r.json()["faces"] == 5
    assert Person.get_or_none(Person.id == cast.ben.id) is None
    assert client.get(f"/api/v1/people/{cast.ben.uid}").status_code == 404
    # merging others into this one
    r = client.post(f"/api/v1/people/{cast.anna.uid}/merge", json={"from": [cast.cluster.uid]})
    assert r.status_code == 200 and r.json()["faces"] == 7
    assert client.post(f"/api/v1/people/{cast.anna.uid}/merge", json={"into": cast.anna.uid}).status_code == 400
    assert client.post(f"/api/v1/people/{cast.anna.uid}/merge", json={}).status_code == 400
    assert client.post(f"/api/v1/people/{cast.anna.uid}/merge", json={"into": "nobody-like-this"}).status_code == 404


def test_reject_and_move_faces_through_the_api(client: TestClient, cast: Cast) -> None:
    face = cast.faces["anna"][2]
    r = client.post(f"/api/v1/faces/{face.id}", json={"reject": True})
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == cast.anna.uid
    assert Face.get_by_id(face.id).person_id != cast.anna.id
    assert FaceReject.select().where((FaceReject.face == face.id) & (FaceReject.person == cast.anna.id)).exists()
    assert client.get(f"/api/v1/people/{cast.anna.uid}").json()["faces"] == 2
    # move it to Ben, then to a new person by name, then to a new unnamed cluster
    hour_ago = Photo.get_by_id(face.photo_id).updated_at - dt.timedelta(hours=1)  # MariaDB keeps whole seconds
    Photo.update(updated_at=hour_ago).where(Photo.id == face.photo_id).execute()
    r = client.post(f"/api/v1/faces/{face.id}", json={"person": cast.ben.uid})
    assert r.status_code == 200 and r.json()["person"]["uid"] == cast.ben.uid
    moved = Face.get_by_id(face.id)
    assert moved.person_id == cast.ben.id and moved.assigned_by == "user"
    # its photo is marked changed, so the sidecar (which lists the photo's people) is rewritten
    assert Photo.get_by_id(face.photo_id).updated_at > hour_ago
    r = client.post(f"/api/v1/faces/{face.id}", json={"name": f"Dora {cast.tag}"})
    assert r.status_code == 200 and r.json()["person"]["name"] == f"Dora {cast.tag}"
    r = client.post(f"/api/v1/faces/{face.id}", json={"person": "new"})
    assert r.status_code == 200 and r.json()["person"]["name"] is None and r.json()["person"]["faces"] == 1
    # errors
    assert client.post("/api/v1/faces/999999999", json={"reject": True}).status_code == 404
    assert client.post(f"/api/v1/faces/{face.id}", json={"person": "nobody-like-this"}).status_code == 404
    assert client.post(f"/api/v1/faces/{face.id}", json={"person": 1.5}).status_code == 400
    assert client.post(f"/api/v1/faces/{face.id}", json={}).status_code == 400
    assert client.post(f"/api/v1/faces/{face.id}", json={"colour": 1}).status_code == 400
    assert client.post("/api/v1/faces/abc", json={"reject": True}).status_code == 404


def test_forms_rename_merge_hide_reject_move(client: TestClient, cast: Cast) -> None:
    r = client.post(f"/people/{cast.cluster.uid}/rename", data={"name": f"Eve {cast.tag}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/people/{cast.cluster.uid}"
    assert Person.get_by_id(cast.cluster.id).name == f"Eve {cast.tag}"
    r = client.post(f"/people/{cast.cluster.uid}/hide", follow_redirects=False)
    assert r.status_code == 303 and Person.get_by_id(cast.cluster.id).hidden
    page = client.get(f"/people/{cast.cluster.uid}")
    assert "Unhide" in page.text
    client.post(f"/people/{cast.cluster.uid}/show")
    assert not Person.get_by_id(cast.cluster.id).hidden
    face = cast.faces["anna"][1]
    r = client.post(f"/faces/{face.id}/reject", data={"person": cast.anna.uid, "back": f"/people/{cast.anna.uid}"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/people/{cast.anna.uid}"
    assert Face.get_by_id(face.id).person_id != cast.anna.id
    r = client.post(f"/faces/{face.id}/move", data={"to": f"ben {cast.tag}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/people/{cast.ben.uid}"
    assert Face.get_by_id(face.id).person_id == cast.ben.id
    r = client.post(f"/faces/{face.id}/move", data={"to": f"Finn {cast.tag}"}, follow_redirects=False)
    finn = Person.get(Person.name == f"Finn {cast.tag}")
    assert r.headers["location"] == f"/people/{finn.uid}" and Face.get_by_id(face.id).person_id == finn.id
    r = client.post(f"/people/{cast.ben.uid}/merge", data={"into": cast.anna.uid}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/people/{cast.anna.uid}"
    assert Person.get_or_none(Person.id == cast.ben.id) is None
    # the pages say what went wrong
    r = client.post(f"/people/{cast.anna.uid}/rename", data={"name": " "})
    assert r.status_code == 400 and "name" in r.text
    assert client.post(f"/people/{cast.anna.uid}/fly").status_code == 400
    assert client.post(f"/faces/{face.id}/fly").status_code == 400
    # a write from another site's page is refused
    r = client.post(f"/people/{cast.anna.uid}/hide", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and not Person.get_by_id(cast.anna.id).hidden


def test_naming_a_face_on_the_photo_page_names_its_whole_group(client: TestClient, cast: Cast) -> None:
    """The naming trap (issue 15): "Name this group" under one face names the cluster, every face in it; moving
    only that face is the separate "Move this face" form."""
    first, second = cast.faces["cluster"]
    page = client.get(f"/photos/{first.photo_id}").text
    assert f'action="/faces/{first.id}/name"' in page and 'placeholder="Name this group"' in page
    assert f'action="/faces/{first.id}/move"' in page and "Move this face" in page
    r = client.post(f"/faces/{first.id}/name", data={"name": f"Joe {cast.tag}", "back": f"/photos/{first.photo_id}"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/photos/{first.photo_id}"
    assert Person.get_by_id(cast.cluster.id).name == f"Joe {cast.tag}"  # the cluster itself, not a new person
    assert {Face.get_by_id(f.id).person_id for f in (first, second)} == {cast.cluster.id}
    assert client.get(f"/api/v1/people/{cast.cluster.uid}").json()["photos"] == 2
    # naming a group like someone who exists merges it into them (both faces go)
    assert cast.anna.name is not None
    r = client.post(f"/api/v1/faces/{second.id}", json={"group_name": cast.anna.name.upper()})
    assert r.status_code == 200 and r.json()["person"]["uid"] == cast.anna.uid
    assert {Face.get_by_id(f.id).person_id for f in (first, second)} == {cast.anna.id}
    # moving one face is explicit and moves only it
    r = client.post(f"/faces/{second.id}/move", data={"to": cast.ben.uid}, follow_redirects=False)
    assert r.status_code == 303
    assert Face.get_by_id(second.id).person_id == cast.ben.id and Face.get_by_id(first.id).person_id == cast.anna.id
    # a face in no group becomes the named person alone
    loose = _face(cast.photos[5], None, x=0.6)
    try:
        r = client.post(f"/api/v1/faces/{loose.id}", json={"group_name": f"Kim {cast.tag}"})
        assert r.status_code == 200 and r.json()["person"]["name"] == f"Kim {cast.tag}"
        assert r.json()["person"]["faces"] == 1
    finally:
        kim = Face.get_by_id(loose.id).person_id
        loose.delete_instance()
        Person.delete().where(Person.id == kim).execute()
    assert client.post(f"/faces/{first.id}/name", data={"name": "  "}).status_code == 400
    assert client.post("/api/v1/faces/999999999", json={"group_name": "X"}).status_code == 404


def test_photo_page_shows_faces_labels_and_no_similar_without_embeddings(client: TestClient, cast: Cast) -> None:
    photo = cast.photos[2]
    label = PhotoLabel.create(photo=photo.id, name=f"dog{cast.tag}", category="animal", confidence=0.8,
                              source="imagenet")
    try:
        r = client.get(f"/photos/{photo.id}")
        assert r.status_code == 200, r.text[:2000]
        assert 'id="faceboxes"' in r.text and r.text.count('class="facebox"') == 2
        assert f'href="/people/{cast.anna.uid}">{cast.anna.name}</a>' in r.text
        assert f'action="/faces/{cast.faces["anna"][2].id}/reject"' in r.text  # "not Anna", from the photo
        assert f"/search?q=label%3Adog{cast.tag}" in r.text
        assert "/static/people.js" in r.text
    finally:
        label.delete_instance()
    plain = client.get(f"/photos/{cast.photos[0].id}").text
    assert "Similar photos" not in plain  # no embeddings, no strip


def test_similar_endpoint_is_empty_without_embeddings(client: TestClient, lib: Library) -> None:
    photo = Photo.select().order_by(Photo.id).first()
    for ref in (photo.id, photo.uid):
        r = client.get(f"/api/v1/photos/{ref}/similar")
        assert r.status_code == 200, r.text
        assert r.json()["photos"] == [] and r.json()["photo"] == photo.id
    assert client.get("/api/v1/photos/nope/similar").status_code == 404
    assert client.get(f"/api/v1/photos/{photo.id}/similar?k=0").status_code == 400


def test_status_page_has_a_line_per_ml_stage(client: TestClient) -> None:
    r = client.get("/status")
    assert r.status_code == 200
    assert "Faces, labels and search by meaning" in r.text
    assert "enrichment" in client.get("/api/v1/status").json()


def test_the_viewer_works_without_the_people_module(client: TestClient, cast: Cast,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An install without photoshelf.models.people (an injected import failure): pages and reads still work,
    edits answer 400 with how to turn faces on."""
    monkeypatch.setitem(sys.modules, "photoshelf.models.people", None)  # the next import raises ImportError
    assert client.get("/people").status_code == 200
    r = client.get(f"/people/{cast.anna.uid}")
    assert r.status_code == 200 and "Editing people is off here" in r.text
    assert client.get("/api/v1/people").json()["available"] is False
    r = client.post(f"/api/v1/people/{cast.anna.uid}", json={"name": "X"})
    assert r.status_code == 400 and "photoshelf enrich" in r.json()["error"]
    assert Person.get_by_id(cast.anna.id).name == cast.anna.name
    assert client.get(f"/photos/{cast.photos[0].id}").status_code == 200


def test_similar_photos_strip_and_api(client: TestClient, cast: Cast, lib: Library) -> None:
    """Nearest neighbours in the real text-embedding index (vectors stored directly, as the text stage stores
    them): best first, the photo itself and private photos left out; the photo page shows the strip."""
    import numpy as np

    from photoshelf.models import textsearch

    index = textsearch.index(lib.db)
    if index.count():
        pytest.skip("this catalog already has text embeddings")
    dim = index.space.dim
    vectors = []
    for i, photo in enumerate(cast.photos):
        v = np.zeros(dim, dtype=np.float32)
        v[0] = 1.0
        v[1 + i] = 0.3 * i  # further from the first photo the later it comes
        vectors.append((photo.id, v / np.linalg.norm(v)))
    private = cast.photos[5]
    index.add(vectors)
    Photo.update(private=True).where(Photo.id == private.id).execute()
    try:
        body = client.get(f"/api/v1/photos/{cast.photos[0].uid}/similar", params={"k": "4"}).json()
        page = client.get(f"/photos/{cast.photos[0].id}").text
    finally:
        Photo.update(private=False).where(Photo.id == private.id).execute()
        index.remove([pid for pid, _ in vectors])
    assert body["available"] is True
    assert [p["id"] for p in body["photos"]] == [p.id for p in cast.photos[1:5]]
    scores = [p["score"] for p in body["photos"]]
    assert scores == sorted(scores, reverse=True) and body["photos"][0]["urls"]["page"]
    assert "Similar photos" in page and f'href="/photos/{cast.photos[1].id}" title=' in page
    assert f'href="/photos/{private.id}" title=' not in page


@pytest.mark.slow
def test_real_faces_from_the_family_photos(tmp_path: Path) -> None:
    """The real pipeline on real photos: index, the dlib faces stage through the enrichment runner, then the
    People page, a person's page, crops and naming through the viewer."""
    from photoshelf.models.faces import dlib_missing

    if dlib_missing():
        pytest.skip(dlib_missing() or "")
    from photoshelf.db.schema import database_proxy
    from photoshelf.library import index_library
    from photoshelf.models.enrich import Enricher, load_stages

    lib = make_library(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", SMALL_CORPUS / "Family")
    try:
        index_library(lib.config, lib.db)
        Enricher(lib.config, lib.db, load_stages(lib.config, lib.db, ["faces"])).run()
        assert Face.select().count() >= 4
        with viewer_client(lib.config, lib.db) as client:
            listed = client.get("/api/v1/people").json()
            assert listed["faces"] >= 4 and listed["people"], listed
            cluster = max(listed["people"], key=lambda p: p["faces"])
            assert client.get(cluster["cover"]["crop"]).headers["content-type"] == "image/jpeg"
            page = client.get("/people")
            assert page.status_code == 200 and cluster["url"] in page.text
            r = client.post(f"/people/{cluster['uid']}/rename", data={"name": "Joe"}, follow_redirects=False)
            assert r.status_code == 303
            person = client.get(f"/api/v1/people/{cluster['uid']}").json()
            assert person["name"] == "Joe" and person["count"] == cluster["photos"]
            shown = client.get(cluster["url"])
            assert shown.status_code == 200 and shown.text.count('class="tile') == cluster["photos"]
            photo = person["photos_page"][0]["id"]
            assert ">Joe</a>" in client.get(f"/photos/{photo}").text
    finally:
        lib.db.close()
        database_proxy.initialize(None)


def test_many_clusters_show_the_largest_first_then_all(client: TestClient, cast: Cast) -> None:
    uids = ["p" + secrets.token_hex(8) for _ in range(205)]
    Person.insert_many([{"uid": u} for u in uids]).execute()
    made = {p.id: p.uid for p in Person.select().where(Person.uid.in_(uids))}
    Face.insert_many([{"photo": cast.photos[0].id, "x": 0.1, "y": 0.1, "w": 0.1, "h": 0.1, "score": 0.5,
                       "person": pid, "model": "test"} for pid in made]).execute()
    try:
        page = client.get("/people").text
        # the test's own cluster has two faces: it is among the largest, shown first
        assert f'href="/people/{cast.cluster.uid}"' in page
        assert "Show all" in page and "?all=1" in page
        assert sum(f'href="/people/{u}"' in page for u in uids) < len(uids)
        everything = client.get("/people?all=1").text
        assert all(f'href="/people/{u}"' in everything for u in uids)
    finally:
        Face.delete().where(Face.person.in_(list(made))).execute()
        Person.delete().where(Person.id.in_(list(made))).execute()


@pytest.mark.slow
def test_people_pages_in_a_browser(cast: Cast, lib: Library) -> None:
    """Real Chromium over the real server: crops load, the forms run through the API without a reload, the face
    boxes sit on the picture; no request fails and nothing is logged as an error."""
    if not lib.database_url.startswith("sqlite"):
        pytest.skip("the browser run once is enough (the API is tested on both backends)")
    chromium = os.environ.get("PHOTOSHELF_TEST_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"no Chromium at {chromium}")
    playwright = pytest.importorskip("playwright.sync_api")
    import uvicorn

    from photoshelf.viewer.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ensure_users(lib.db)
    server = uvicorn.Server(uvicorn.Config(create_app(lib.config, lib.db), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    problems: list[str] = []
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            browser_log_in(page, base)
            page.goto(f"{base}/people")
            page.wait_for_load_state("networkidle")
            assert page.evaluate("[...document.querySelectorAll('.card.person img')].every(i => i.naturalWidth > 0)")
            page.goto(f"{base}/people/{cast.anna.uid}")
            page.wait_for_load_state("networkidle")
            face = cast.faces["anna"][1]
            page.click(f'li[data-face="{face.id}"] form.js-face:not(.move) button')
            page.wait_for_selector(f'li[data-face="{face.id}"]', state="detached")
            assert Face.get_by_id(face.id).person_id != cast.anna.id
            page.fill(".personedit input[name=name]", f"Anna B {cast.tag}")
            page.click(".personedit form.js-person button")
            page.wait_for_function(f"() => document.getElementById('person-name').textContent === 'Anna B {cast.tag}'")
            assert Person.get_by_id(cast.anna.id).name == f"Anna B {cast.tag}"
            page.goto(f"{base}/photos/{cast.photos[2].id}")
            page.wait_for_selector("#faceboxes:not([hidden])", state="attached")
            inside = page.evaluate("""() => {
                const img = document.getElementById('photo').getBoundingClientRect();
                return [...document.querySelectorAll('.facebox')].map(b => {
                    const r = b.getBoundingClientRect();
                    return r.width > 0 && r.left >= img.left - 1 && r.right <= img.right + 1
                        && r.top >= img.top - 1 && r.bottom <= img.bottom + 1; });
            }""")
            assert inside == [True, True]
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    assert not problems, problems
