"""The browse pages as cards with cover photos and counts (places, calendar, folders, things) through the real
app on SQLite and MariaDB: a favorite is the cover, counts match the search each card opens, and a viewer never
gets a cover (or a count) from a photo they may not see."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from logins import viewer_client
from starlette.testclient import TestClient

from photoshelf.db.schema import Photo, PhotoLabel
from photoshelf.viewer.urls import thumb_url

from conftest import Library


def _search_count(client: TestClient, q: str) -> int:
    body = client.get("/api/v1/search", params={"q": q, "limit": 500}).json()
    assert body["next"] is None
    return len(body["photos"])


@pytest.fixture
def labelled(lib: Library) -> Iterator[tuple[str, list[Photo]]]:
    """A label of our own on three photos with tiles (one of them private), removed afterwards."""
    photos = list(Photo.select().where(Photo.has_thumbs & (Photo.kind == "image") & Photo.stack.is_null()
                                       & Photo.missing_since.is_null()).order_by(Photo.id).limit(3))
    assert len(photos) == 3
    name = f"zebra{secrets.token_hex(3)}"
    for p in photos:
        PhotoLabel.create(photo=p.id, name=name, category="animal", categories=",animal,", confidence=0.9,
                          source="imagenet")
    flags = [(p.id, p.favorite, p.private) for p in photos]
    try:
        yield name, photos
    finally:
        PhotoLabel.delete().where(PhotoLabel.name == name).execute()
        for pid, favorite, private in flags:
            Photo.update(favorite=favorite, private=private).where(Photo.id == pid).execute()


def test_things_page_cards_with_a_favorite_cover(client: TestClient, lib: Library,
                                                 labelled: tuple[str, list[Photo]]) -> None:
    name, photos = labelled
    Photo.update(favorite=True).where(Photo.id == photos[1].id).execute()
    things = {t["name"]: t for t in client.get("/api/v1/things").json()["things"]}
    assert things[name]["count"] == 3 == _search_count(client, things[name]["query"])
    assert things[name]["cover"] == thumb_url(photos[1].sha1, "tile")  # the favorite, not the newest
    page = client.get("/things").text
    assert f'href="/search?q=label%3A{name}"' in page and "Animal" in page
    assert thumb_url(photos[1].sha1, "tile") in page
    # the newest then, once nobody is a favorite
    Photo.update(favorite=False).where(Photo.id == photos[1].id).execute()
    things = {t["name"]: t for t in client.get("/api/v1/things").json()["things"]}
    assert things[name]["cover"] == thumb_url(photos[2].sha1, "tile")


def test_a_viewer_gets_no_cover_or_count_from_a_private_photo(lib: Library, labelled: tuple[str, list[Photo]]) -> None:
    name, photos = labelled
    Photo.update(private=True, favorite=True).where(Photo.id == photos[2].id).execute()
    with viewer_client(lib.config, lib.db, role="viewer") as viewer:
        card = {t["name"]: t for t in viewer.get("/api/v1/things").json()["things"]}[name]
        assert card["count"] == 2 and card["cover"] == thumb_url(photos[1].sha1, "tile")
        assert thumb_url(photos[2].sha1, "tile") not in viewer.get("/things").text


def test_places_calendar_and_folders_have_covers_and_counts(client: TestClient, lib: Library) -> None:
    places = client.get("/api/v1/places").json()["places"]
    assert places and all(c["cover"] for c in places)
    for country in places:
        assert country["count"] == _search_count(client, country["query"])
        for city in country["cities"]:
            assert city["cover"] and city["count"] == _search_count(client, city["query"])
    page = client.get("/places").text
    assert page.count('class="card"') == len(places) + sum(len(c["cities"]) for c in places if len(c["cities"]) > 1)

    years = client.get("/api/v1/calendar").json()["years"]
    assert years
    for y in years:  # a cover wherever a photo of that year has a thumbnail (a RAW stub has none)
        thumbed = [p for p in client.get("/api/v1/search", params={"q": f"year:{y['year']}"}).json()["photos"]
                   if p["has_thumbnails"]]
        assert bool(y["cover"]) == bool(thumbed), y
    for y in years:
        assert y["count"] == sum(m["count"] for m in y["months"])
        for m in y["months"]:
            assert m["count"] == _search_count(client, f"taken:{y['year']}-{m['month']:02d}")
    page = client.get("/calendar").text
    assert page.count('class="card"') == sum(len(y["months"]) for y in years)
    assert f'href="#y{years[0]["year"]}"' in page  # the year jump

    root = client.get("/api/v1/folders").json()
    assert root["children"] and all(c["cover"] for c in root["children"])  # nested folders get one from below
    page = client.get("/folders").text
    assert page.count('class="card"') == len(root["children"])


def test_calendar_leaves_out_photos_with_only_a_file_date(client: TestClient, lib: Library) -> None:
    photo = Photo.select().where(Photo.taken_at_local.is_null(False) & (Photo.taken_src.not_in(["", "mtime"]))
                                 & (Photo.private == False) & Photo.stack.is_null()).order_by(Photo.id).first()  # noqa: E712
    assert photo is not None
    before = sum(y["count"] for y in client.get("/api/v1/calendar").json()["years"])
    src = photo.taken_src
    Photo.update(taken_src="mtime").where(Photo.id == photo.id).execute()
    try:
        assert sum(y["count"] for y in client.get("/api/v1/calendar").json()["years"]) == before - 1
    finally:
        Photo.update(taken_src=src).where(Photo.id == photo.id).execute()
