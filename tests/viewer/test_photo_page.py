"""The photo page through the real app, on SQLite and MariaDB: how a guessed date and long exposures read, the
attributes photo.js zooms and plays Live Photos with, and the similar-photos strip without blank slots."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from photoshelf.db.schema import Photo
from photoshelf.viewer.views.photo import _exif_rows, _exposure, _taken

from conftest import Library


def _record(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"taken_at_local": "2026-12-03T10:11:12", "timezone": None, "taken_at_source": "exif"}
    return {**base, **fields}


def test_exposure_reads_once_with_its_unit() -> None:
    assert _exposure("30s") == "30 s"  # was "30s s"
    assert _exposure("2.5s") == "2.5 s"
    assert _exposure("1/250") == "1/250 s"
    assert _exposure(None) == "" and _exposure("") == ""


def test_a_guessed_date_is_not_shown_as_taken() -> None:
    assert _taken(_record()) == ("Taken", "2026-12-03 10:11:12")
    assert _taken(_record(timezone="Europe/Berlin")) == ("Taken", "2026-12-03 10:11:12 (Europe/Berlin)")
    assert _taken(_record(taken_at_source="mtime")) == ("Date", "Date unknown (file date: 2026-12-03)")
    assert _taken(_record(taken_at_source="", taken_at_local=None)) == ("Date", "Date unknown")
    assert _taken(_record(taken_at_source="name")) [0] == "Taken"  # a date in the file name is a real date


def _photo(q: object) -> Photo:
    photo = Photo.select().where(q).order_by(Photo.id).first()
    assert photo is not None
    return photo


def test_photo_page_shows_date_unknown_and_the_exposure(client: TestClient, lib: Library) -> None:
    photo = _photo(Photo.has_thumbs & (Photo.kind == "image") & (Photo.private == False))  # noqa: E712
    before = (photo.taken_src, photo.exposure)
    try:
        Photo.update(taken_src="mtime", exposure="30s").where(Photo.id == photo.id).execute()
        page = client.get(f"/photos/{photo.id}").text
        assert "<th>Date</th><td>Date unknown (file date: " in page
        assert "<th>Taken</th>" not in page
        assert "30 s" in page and "30s s" not in page
    finally:
        Photo.update(taken_src=before[0], exposure=before[1]).where(Photo.id == photo.id).execute()
    assert "<th>Taken</th>" in client.get(f"/photos/{photo.id}").text


def test_zoom_gets_the_original_only_where_a_browser_shows_it(client: TestClient, lib: Library) -> None:
    jpeg = _photo(Photo.has_thumbs & (Photo.mime == "image/jpeg") & (Photo.private == False))  # noqa: E712
    page = client.get(f"/photos/{jpeg.id}").text
    assert f'data-original="/photos/{jpeg.id}/original"' in page
    assert "/static/photo.js" in page and "/static/photo.css" in page
    heic = _photo(Photo.has_thumbs & (Photo.format == "HEIC"))
    assert "data-original=" not in client.get(f"/photos/{heic.id}").text


def test_a_live_photo_still_carries_its_motion(client: TestClient, lib: Library) -> None:
    still = _photo(Photo.has_thumbs & (Photo.format == "HEIC") & Photo.stack.is_null(False))
    motion = _photo((Photo.stack == still.stack_id) & (Photo.kind == "video"))
    page = client.get(f"/photos/{still.id}").text
    assert re.search(rf'data-motion="/photos/{motion.id}/(original|play)"', page), page[:3000]
    assert 'id="livebadge"' in page
    assert "data-motion" not in client.get(f"/photos/{motion.id}").text  # the video itself just plays


def test_every_photo_page_renders_for_every_kind(client: TestClient, lib: Library) -> None:
    """Each kind the small corpus has (image, raw, video, live, undated, broken): a page, and its exif rows."""
    for photo in Photo.select().where(Photo.missing_since.is_null()):
        r = client.get(f"/photos/{photo.id}")
        assert r.status_code == 200, (photo.id, r.text[:500])
    rows = _exif_rows({**_record(), "camera": None, "camera_make": None, "camera_model": None, "lens": None,
                       "f_number": 2.8, "exposure": "1/60", "iso": 100, "focal_length": 35, "width": 10,
                       "height": 10, "format": "jpeg", "type": "image", "size": 2000, "duration": None,
                       "codec": None, "place": None, "lat": None, "lon": None, "altitude": None, "keywords": [],
                       "rating": None})
    assert ("Exposure", "ƒ/2.8 · 1/60 s · ISO 100 · 35 mm") in rows


def test_make_a_photo_the_album_cover_from_its_page(client: TestClient, lib: Library) -> None:
    photos = list(Photo.select().where(Photo.has_thumbs & (Photo.kind == "image")).order_by(Photo.id).limit(2))
    album = client.post("/api/v1/albums", json={"title": "Cover test", "photos": [p.id for p in photos]}).json()
    try:
        page = client.get(f"/photos/{photos[1].id}?album={album['id']}").text
        assert f'action="/albums/{album["id"]}/cover"' in page and 'id="makecover"' in page
        assert 'id="makecover"' not in client.get(f"/photos/{photos[1].id}").text  # not opened from an album
        r = client.post(f"/albums/{album['id']}/cover", data={"photo": str(photos[1].id),
                                                              "back": f"/photos/{photos[1].id}?album={album['id']}"},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/photos/{photos[1].id}?album={album['id']}"
        assert client.get(f"/api/v1/albums/{album['uid']}").json()["cover"] == photos[1].id
    finally:
        client.delete(f"/api/v1/albums/{album['uid']}")
