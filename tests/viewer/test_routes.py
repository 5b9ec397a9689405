"""The viewer's pages and JSON API through the real app, on an indexed corpus, on SQLite and MariaDB."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from photoshelf.db.schema import Photo, PhotoEdit, Thumbnail
from photoshelf.records import records

from conftest import Library

PAGES = ["/", "/search", "/search?q=year:2019", "/favorites", "/videos", "/archive", "/private", "/albums",
         "/map", "/folders", "/calendar", "/places", "/duplicates", "/status"]


def all_photos(client: TestClient, q: str = "", limit: int = 7) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"q": q, "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/api/v1/search", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["photos"]
        cursor = body["next"]
        if not cursor:
            assert len(out) == body["count"] or body["count"] is None
            return out


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text[:2000]
    assert "<title>" in r.text and "photoshelf" in r.text


def test_timeline_shows_days_and_tiles(client: TestClient) -> None:
    r = client.get("/")
    assert 'class="day"' in r.text and 'class="tile' in r.text
    assert "/thumb/fit/" in r.text


def test_search_api_has_export_fields_and_pages_with_a_cursor(client: TestClient, lib: Library) -> None:
    photos = all_photos(client)
    ids = [p["id"] for p in photos]
    assert len(ids) == len(set(ids)) > 10
    first = photos[0]
    expected = records([Photo.get_by_id(first["id"])])[0]
    for key, value in expected.items():
        assert first[key] == value, key
    assert set(first) - set(expected) == {"rotation", "urls"}
    # newest first by local capture time; the timeline shows a stack once (its primary photo)
    times = [p["taken_at_local"] for p in photos if p["taken_at_local"]]
    assert times == sorted(times, reverse=True)
    stacked = [p for p in photos if p["stack"]]
    assert all(p["stack"]["primary"] for p in stacked)


def test_search_filters(client: TestClient) -> None:
    videos = all_photos(client, "type:video")
    assert videos and all(p["type"] == "video" for p in videos)
    y2019 = all_photos(client, "year:2019")
    assert y2019 and all(p["taken_at_local"].startswith("2019") for p in y2019)
    not2019 = all_photos(client, "!year:2019")
    assert not {p["id"] for p in y2019} & {p["id"] for p in not2019}
    either = all_photos(client, "year:2019|2020")
    assert {p["id"] for p in y2019} <= {p["id"] for p in either}
    phrase = all_photos(client, 'path:"Utah Roadtrip"')
    assert [p["path"] for p in phrase] == ["2022/Utah Roadtrip/thompson-springs.jpg"]
    # every member of a stack is found when the query asks for stacks
    assert len(all_photos(client, "stack:true")) > len([p for p in all_photos(client) if p["stack"]])


def test_search_error_gives_position(client: TestClient) -> None:
    r = client.get("/api/v1/search", params={"q": "beach year:20x"})
    assert r.status_code == 400
    body = r.json()
    assert "year" in body["error"] and body["position"] == 6
    page = client.get("/search", params={"q": 'say "unclosed'})
    assert page.status_code == 200 and "Cannot search" in page.text and "unclosed quote" in page.text
    assert client.get("/api/v1/search", params={"cursor": "garbage!"}).status_code == 400
    assert client.get("/api/v1/search", params={"limit": "0"}).status_code == 400


def test_infinite_scroll_fragment(client: TestClient) -> None:
    r = client.get("/", params={"limit": "5"})
    assert 'id="more"' in r.text
    nxt = r.text.split('id="more" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    frag = client.get(nxt + "&partial=1")
    assert frag.status_code == 200
    assert "<html" not in frag.text and 'class="tile' in frag.text


def test_photo_page_and_neighbours(client: TestClient) -> None:
    photos = all_photos(client)
    middle = photos[len(photos) // 2]
    detail = client.get(f"/api/v1/photos/{middle['id']}").json()
    i = len(photos) // 2
    assert detail["prev"] == photos[i - 1]["id"] and detail["next"] == photos[i + 1]["id"]
    assert client.get(f"/api/v1/photos/{photos[0]['id']}").json()["prev"] is None
    assert client.get(f"/api/v1/photos/{photos[-1]['id']}").json()["next"] is None
    html = client.get(f"/photos/{middle['id']}")
    assert html.status_code == 200 and "Favorite" in html.text and f"/photos/{photos[i + 1]['id']}" in html.text
    # neighbours within a search
    videos = all_photos(client, "type:video")
    if len(videos) > 1:
        d = client.get(f"/api/v1/photos/{videos[0]['id']}", params={"q": "type:video"}).json()
        assert d["next"] == videos[1]["id"]
    assert client.get("/photos/999999").status_code == 404
    assert client.get("/api/v1/photos/999999").json()["error"]
    assert client.get("/photos/abc").status_code == 404


def test_stack_members_on_the_photo_page(client: TestClient) -> None:
    raw_jpeg = [p for p in all_photos(client) if p["stack"] and p["stack"]["kind"] == "raw"]
    assert raw_jpeg
    d = client.get(f"/api/v1/photos/{raw_jpeg[0]['id']}").json()
    assert [m["type"] for m in d["stack_members"]] == ["raw"]
    assert "RAW + JPEG" in client.get(f"/photos/{raw_jpeg[0]['id']}").text


def test_thumbnails_are_cached_forever_by_content(client: TestClient, lib: Library) -> None:
    photo = Photo.select().where(Photo.has_thumbs == True).first()  # noqa: E712
    for size in ("tile", "fit"):
        r = client.get(f"/thumb/{size}/{photo.sha1}.jpg")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.content[:2] == b"\xff\xd8"
        assert r.headers["cache-control"] == "private, max-age=31536000, immutable"  # shown only to who may see it
        etag = r.headers["etag"]
        again = client.get(f"/thumb/{size}/{photo.sha1}.jpg", headers={"If-None-Match": etag})
        assert again.status_code == 304 and not again.content


@pytest.mark.parametrize("url", [
    "/thumb/tile/0000000000000000000000000000000000000000.jpg",
    "/thumb/huge/{sha1}.jpg",
    "/thumb/tile/..%2F..%2F..%2Fetc%2Fpasswd",
    "/thumb/tile/%2e%2e",
    "/thumb/preview/not-a-hash.jpg",
    "/photos/..%2F..%2Fetc%2Fpasswd/original",
    "/static/..%2F..%2Fapp.py",
])
def test_no_path_reaches_outside(client: TestClient, url: str) -> None:
    sha1 = Photo.select().first().sha1
    r = client.get(url.format(sha1=sha1))
    assert r.status_code == 404
    assert b"root:" not in r.content and b"create_app" not in r.content


def test_preview_is_made_on_first_view(client: TestClient, lib: Library) -> None:
    photo = Photo.select().where((Photo.kind == "image") & (Photo.has_thumbs == True)  # noqa: E712
                                 & (Photo.width > 720)).first()
    r = client.get(f"/thumb/preview/{photo.sha1}.jpg")
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    assert (lib.config.thumbs_path / photo.sha1[:2] / photo.sha1[2:4] / f"{photo.sha1}_preview.jpg").is_file()
    assert Thumbnail.get_or_none((Thumbnail.photo == photo.id) & (Thumbnail.size == "preview")) is not None
    import io

    from PIL import Image

    assert max(Image.open(io.BytesIO(r.content)).size) > 720


def test_video_original_supports_ranges(client: TestClient, lib: Library) -> None:
    video = Photo.select().where(Photo.kind == "video").first()
    full = client.get(f"/photos/{video.id}/original")
    assert full.status_code == 200 and full.headers["accept-ranges"] == "bytes"
    part = client.get(f"/photos/{video.id}/original", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
    down = client.get(f"/photos/{video.id}/original", params={"download": "1"})
    assert down.headers["content-disposition"].startswith("attachment")


def test_flags_and_rotation_never_touch_the_original(client: TestClient, lib: Library) -> None:
    photo = Photo.select().where((Photo.kind == "image") & (Photo.stack.is_null())).order_by(Photo.id).first()
    path = lib.originals / records([photo])[0]["path"]
    before = hashlib.sha1(path.read_bytes()).hexdigest()
    try:
        r = client.patch(f"/api/v1/photos/{photo.id}", json={"favorite": True, "title": "Grandma at the lake",
                                                             "rotate": "right"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["favorite"] is True and body["title"] == "Grandma at the lake" and body["rotation"] == 90
        assert photo.id in [p["id"] for p in all_photos(client, "favorite:true")]
        assert photo.id in [p["id"] for p in all_photos(client, "grandma")]
        assert PhotoEdit.get(PhotoEdit.photo == photo.id).rotation == 90
        assert client.patch(f"/api/v1/photos/{photo.id}", json={"rotate": "left"}).json()["rotation"] == 0
        # the forms of the photo page (no JavaScript needed)
        r = client.post(f"/photos/{photo.id}/edit", data={"action": "archived", "value": "true"},
                        follow_redirects=False)
        assert r.status_code == 303
        assert photo.id not in [p["id"] for p in all_photos(client)]
        assert photo.id in [p["id"] for p in all_photos(client, "archived:true")]
        client.post(f"/photos/{photo.id}/edit", data={"action": "private", "value": "true"})
        client.post(f"/photos/{photo.id}/edit", data={"action": "archived", "value": "false"})
        assert photo.id not in [p["id"] for p in all_photos(client)]
        assert photo.id in [p["id"] for p in all_photos(client, "private:true")]
        for bad in ({"rotation": 45}, {"favorite": "yes"}, {"sha1": "x"}, {"title": 5}):
            r = client.patch(f"/api/v1/photos/{photo.id}", json=bad)
            assert r.status_code == 400, bad
        assert client.patch(f"/api/v1/photos/{photo.id}", content=b"[1]").status_code == 400
    finally:
        client.patch(f"/api/v1/photos/{photo.id}", json={"favorite": False, "title": None, "private": False,
                                                         "archived": False, "rotation": 0})
    assert hashlib.sha1(path.read_bytes()).hexdigest() == before


def test_albums_api(client: TestClient) -> None:
    photos = all_photos(client)
    a, b, c = photos[0]["id"], photos[1]["id"], photos[2]["id"]
    r = client.post("/api/v1/albums", json={"title": "Summer 2019", "photos": [a, b]})
    assert r.status_code == 201, r.text
    album = r.json()
    assert album["count"] == 2 and album["cover_tile"]
    uid = album["uid"]
    assert client.post(f"/api/v1/albums/{uid}/photos", json={"photos": [b, c]}).json() == {"added": 1}
    got = client.get(f"/api/v1/albums/{uid}").json()
    assert [p["id"] for p in got["photos"]] == [a, b, c]
    assert client.put(f"/api/v1/albums/{uid}/photos", json={"photos": [c, a]}).status_code == 200
    assert [p["id"] for p in client.get(f"/api/v1/albums/{uid}").json()["photos"]] == [c, a, b]
    assert {p["id"] for p in all_photos(client, "album:summer")} >= {a, b, c}
    assert {p["id"] for p in all_photos(client, f"album:{uid}")} == {a, b, c}
    r = client.patch(f"/api/v1/albums/{uid}", json={"title": "Summer at the lake", "cover": c})
    assert r.json()["title"] == "Summer at the lake" and r.json()["cover"] == c
    assert client.request("DELETE", f"/api/v1/albums/{uid}/photos", json={"photos": [c]}).json() == {"removed": 1}
    assert client.get(f"/api/v1/albums/{uid}").json()["cover"] is None
    titles = [x["title"] for x in client.get("/api/v1/albums").json()["albums"]]
    assert "Summer at the lake" in titles
    assert "Summer at the lake" in client.get(f"/albums/{album['id']}").text
    assert client.post("/api/v1/albums", json={"title": " "}).status_code == 400
    assert client.post(f"/api/v1/albums/{uid}/photos", json={"photos": [99999999]}).status_code == 404
    assert client.delete(f"/api/v1/albums/{uid}").status_code == 204
    assert client.get(f"/api/v1/albums/{uid}").status_code == 404
    assert Photo.get_or_none(Photo.id == a) is not None  # deleting an album keeps its photos


def test_albums_forms(client: TestClient) -> None:
    photos = all_photos(client)
    ids = [photos[3]["id"], photos[4]["id"]]
    r = client.post("/albums/add", data={"album": "new", "title": "Kids", "photo": [str(i) for i in ids]},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/albums/")
    album_url = r.headers["location"]
    page = client.get(album_url)
    assert "Kids" in page.text and page.text.count('class="tile') == 2
    album_id = album_url.rsplit("/", 1)[1]
    photo_page = client.get(f"/photos/{ids[0]}", params={"album": album_id})
    assert f"/photos/{ids[1]}?album={album_id}" in photo_page.text
    client.post(f"{album_url}/remove", data={"photo": str(ids[0])})
    assert client.get(album_url).text.count('class="tile') == 1
    r = client.post(f"{album_url}/delete", follow_redirects=False)
    assert r.headers["location"] == "/albums"


def test_cross_site_writes_are_refused(client: TestClient) -> None:
    photo = all_photos(client)[0]
    r = client.patch(f"/api/v1/photos/{photo['id']}", json={"favorite": True},
                     headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    ok = client.post("/api/v1/albums", json={"title": "same site"}, headers={"Origin": "http://photoshelf.test"})
    assert ok.status_code == 201
    client.delete(f"/api/v1/albums/{ok.json()['uid']}")


def test_map_geojson_clusters(client: TestClient) -> None:
    geotagged = [p for p in all_photos(client) if p["lat"] is not None]
    assert geotagged
    world = client.get("/api/v1/map", params={"zoom": "0"}).json()
    assert world["type"] == "FeatureCollection"
    assert world["count"] == len(geotagged) == sum(f["properties"]["count"] for f in world["features"])
    close = client.get("/api/v1/map", params={"zoom": "18"}).json()
    assert len(close["features"]) >= len(world["features"])
    one = next(f for f in close["features"] if f["properties"]["count"] == 1)
    lon, lat = one["geometry"]["coordinates"]
    match = [p for p in geotagged if p["id"] == one["properties"]["photo"]][0]
    assert abs(match["lat"] - lat) < 1e-5 and abs(match["lon"] - lon) < 1e-5
    box = f"{lat - 0.01},{lon - 0.01},{lat + 0.01},{lon + 0.01}"
    near = client.get("/api/v1/map", params={"zoom": "10", "bbox": box}).json()
    assert 1 <= near["count"] < world["count"] or len(geotagged) == 1
    assert client.get("/api/v1/map", params={"q": "type:video", "zoom": "3"}).json()["count"] <= world["count"]
    assert client.get("/api/v1/map", params={"zoom": "99"}).status_code == 400
    assert client.get("/api/v1/map", params={"bbox": "1,2"}).status_code == 400
    assert client.get("/api/v1/map/bounds").json()["bounds"]


def test_browse_apis(client: TestClient) -> None:
    root = client.get("/api/v1/folders").json()
    names = {c["name"] for c in root["children"]}
    assert {"2019", "Raw", "Phone"} <= names
    raw = next(c for c in root["children"] if c["name"] == "Raw")
    sub = client.get(f"/api/v1/folders/{raw['id']}").json()
    assert [c["crumbs"] for c in [sub]][0][-1]["name"] == "Raw"
    canon = next(c for c in sub["children"] if c["name"] == "Canon")
    page = client.get(f"/folders/{canon['id']}")
    assert page.status_code == 200 and "Canon/IMG_0350" not in page.text  # ids, not paths, in the grid
    assert 'class="fname">IMG_0350.CR2<' in page.text  # a tile without a preview names its file
    assert page.text.count('class="tile') == canon["photos"] == 1
    years = client.get("/api/v1/calendar").json()["years"]
    assert any(y["year"] == 2019 for y in years)
    assert sum(y["count"] for y in years) == sum(m["count"] for y in years for m in y["months"])
    assert client.get("/api/v1/places").json()["places"]
    groups = client.get("/api/v1/duplicates").json()["groups"]
    exact = [g for g in groups if g["kind"] == "exact"]
    assert exact and len(exact[0]["photos"][0]["files"]) >= 2
    assert client.get("/api/v1/folders/999999").status_code == 404


def test_status(client: TestClient) -> None:
    s = client.get("/api/v1/status").json()
    assert s["stats"]["photos"] > 10
    assert {f["path"] for f in s["failed_files"]} >= {"bad/empty.jpg", "bad/random_bytes.jpg"}
    assert s["last_index"]["state"] == "done"
    page = client.get("/status")
    assert "bad/random_bytes.jpg" in page.text
    assert client.get("/api/v1/health").json() == {"ok": True}


def test_not_found_and_wrong_method(client: TestClient) -> None:
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/api/v1/nope").json() == {"error": "no such page"}
    assert client.delete("/api/v1/search").status_code == 405


def test_api_is_json_serialisable_for_every_photo(client: TestClient) -> None:
    for p in all_photos(client, "missing:false|true", limit=50):
        json.dumps(p)
