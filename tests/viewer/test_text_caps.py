"""Text a person types in the viewer meets the indexer's rules (photoshelf.values): the same caps, answered with a
400 and a JSON error when over them, and no control characters stored (issue #12)."""

from __future__ import annotations

from starlette.testclient import TestClient

from photoshelf import values
from photoshelf.db.schema import Photo


def test_photo_title_and_description_caps(client: TestClient) -> None:
    photo = Photo.select().where(Photo.kind == "image").order_by(Photo.id).first()
    url = f"/api/v1/photos/{photo.id}"
    try:
        for field, cap in (("title", values.TITLE), ("description", values.DESCRIPTION)):
            r = client.patch(url, json={field: "x" * (cap + 1)})
            assert r.status_code == 400 and f"longer than {cap} characters" in r.json()["error"], r.text
            assert client.patch(url, json={field: "x" * cap}).status_code == 200
        r = client.patch(url, json={"title": " Grandma\x00 at\tthe\u0007 lake\n", "description": "one\r\ntwo\x1b"})
        assert r.status_code == 200, r.text
        assert (r.json()["title"], r.json()["description"]) == ("Grandma at the lake", "one\ntwo")
    finally:
        client.patch(url, json={"title": None, "description": None})


def test_album_text_caps(client: TestClient) -> None:
    r = client.post("/api/v1/albums", json={"title": "Caps", "description": "d" * (values.DESCRIPTION + 1)})
    assert r.status_code == 400 and "description" in r.json()["error"], r.text
    assert client.post("/api/v1/albums", json={"title": "t" * (values.ALBUM_TITLE + 1)}).status_code == 400
    assert client.post("/api/v1/albums", json={"title": "\x00\x07"}).status_code == 400  # nothing left: no title
    r = client.post("/api/v1/albums", json={"title": "Summer\x00 trip", "description": "by the\x07 lake"})
    assert r.status_code == 201, r.text
    uid = r.json()["uid"]
    try:
        assert (r.json()["title"], r.json()["description"]) == ("Summer trip", "by the lake")
        r = client.patch(f"/api/v1/albums/{uid}", json={"description": "d" * (values.DESCRIPTION + 1)})
        assert r.status_code == 400, r.text
    finally:
        assert client.delete(f"/api/v1/albums/{uid}").status_code == 204
