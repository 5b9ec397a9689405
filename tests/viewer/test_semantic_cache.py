"""The viewer keeps a ranked search's list per (query, catalog state): its pages and the photo page's previous/next
rank once, and any write to the catalog (through the app, another connection or the reading one) ranks again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logins import viewer_client
from starlette.testclient import TestClient

from photoshelf import ranking, search
from photoshelf.db.schema import File, Photo, PhotoLabel
from photoshelf.models import enrich, textsearch
from photoshelf.viewer import listing
from photoshelf.visibility import EVERYONE

from conftest import Library, indexed_subset

SUBSET = ["2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg", "2004/Fiji/smallFiji.JPG",
          "Misc/Formats/norway-kjetil-moe.webp", "2022/Utah Roadtrip/thompson-springs.jpg"]
LABELS = {"dog_orange.jpg": ("dog", "animal", ",animal,pet,"),
          "cat_brown.jpg": ("cat", "animal", ",animal,pet,"),
          "smallFiji.JPG": ("beach", "nature", ",nature,water,"),
          "norway-kjetil-moe.webp": ("mountain", "nature", ",nature,landscape,"),
          "thompson-springs.jpg": ("desert", "nature", ",nature,landscape,")}
QUERY = "pets nature"


def photo_id(name: str) -> int:
    return int(File.select(File.photo).where(File.name == name).scalar())


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    """The subset, indexed, labelled and with its text index built by the real text stage."""
    library = indexed_subset(tmp_path, database_url, SUBSET)
    for name, (label, category, categories) in LABELS.items():
        PhotoLabel.create(photo=photo_id(name), name=label, category=category, categories=categories,
                          confidence=0.9, source="imagenet", model="test")
    report = enrich.Enricher(library.config, library.db, stages=[textsearch.TextStage(library.config, library.db)]).run()
    assert report.stages[0].done == len(SUBSET)
    listing.forget_rankings()
    yield library
    listing.forget_rankings()
    library.db.close()


@pytest.fixture
def client(lib: Library) -> Iterator[TestClient]:
    with viewer_client(lib.config, lib.db) as c:
        yield c


@pytest.fixture
def rankings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries photoshelf.ranking ranked (each call is a full ranking: encoding, vector search, labels,
    the literal match)."""
    calls: list[str] = []
    real = ranking.rank

    def counted(query: search.Query, **kwargs: Any) -> Any:
        calls.append(query.text)
        return real(query, **kwargs)

    monkeypatch.setattr(ranking, "rank", counted)
    return calls


def api(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    return r.json()


def pages(client: TestClient, q: str, limit: int) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        body = api(client, q, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert body["match"] == "meaning"
        ids += [p["id"] for p in body["photos"]]
        cursor = body["next"]
        if cursor is None:
            return ids


def test_pages_and_neighbours_rank_once(client: TestClient, rankings: list[str]) -> None:
    full = [p["id"] for p in api(client, QUERY, limit=100)["photos"]]
    assert len(full) >= 4 and rankings == [QUERY]
    assert pages(client, QUERY, 1) == full
    assert client.get("/search", params={"q": QUERY}).status_code == 200
    for i, pid in enumerate(full):
        body = client.get(f"/api/v1/photos/{pid}", params={"q": QUERY}).json()
        assert (body["prev"], body["next"]) == (full[i - 1] if i else None, full[i + 1] if i + 1 < len(full) else None)
    assert client.get(f"/photos/{full[1]}", params={"q": QUERY}).status_code == 200
    assert rankings == [QUERY]  # every page and every neighbour from the one ranking
    # Spacing does not make another query; other text or filters do.
    api(client, f"  {QUERY.replace(' ', '  ')} ")
    assert rankings == [QUERY]
    api(client, f"{QUERY} year:2019")
    api(client, "puppy")
    assert len(rankings) == 3


def test_a_write_ranks_again(lib: Library, client: TestClient, rankings: list[str]) -> None:
    dog = photo_id("dog_orange.jpg")
    assert dog in [p["id"] for p in api(client, "puppy")["photos"]]
    # Through the app's writer: the flag takes effect on the next search.
    r = client.patch(f"/api/v1/photos/{dog}", json={"private": True})
    assert r.status_code == 200, r.text
    assert dog not in [p["id"] for p in api(client, "puppy")["photos"]]
    assert len(rankings) == 2
    # From another connection (this thread's; the app reads on its pool): seen as well.
    Photo.update(private=False).where(Photo.id == dog).execute()
    assert dog in [p["id"] for p in api(client, "puppy")["photos"]]
    assert len(rankings) == 3
    # A literal match made by a new title comes first at once.
    Photo.update(title="a puppy").where(Photo.id == photo_id("smallFiji.JPG")).execute()
    assert api(client, "puppy")["photos"][0]["id"] == photo_id("smallFiji.JPG")
    # Nothing written: the kept ranking again.
    api(client, "puppy")
    assert len(rankings) == 4


def test_a_write_on_the_reading_connection_ranks_again(lib: Library, rankings: list[str]) -> None:
    scope = listing.Scope(rank=lib.config, audience=EVERYONE)
    first = listing.ranking("puppy", scope)
    assert first is not None and listing.ranking("puppy", scope) is first and len(rankings) == 1
    dog = photo_id("dog_orange.jpg")
    Photo.update(archived=True).where(Photo.id == dog).execute()  # the connection ranking() reads with
    again = listing.ranking("puppy", scope)
    assert again is not None and dog in first.ids and dog not in again.ids and len(rankings) == 2


def test_listing_counts_are_kept_until_a_write(lib: Library, client: TestClient) -> None:
    """The timeline's count (20 ms inside MariaDB at 100k photos) is kept per (listing, catalog state) too."""
    assert api(client, "")["count"] == len(SUBSET)
    calls: list[int] = []
    real = listing._kept

    def kept(cache: Any, key: Any, compute: Any, size: int) -> Any:
        def counted() -> Any:
            calls.append(1)
            return compute()

        return real(cache, key, counted, size)

    listing._kept = kept
    try:
        assert api(client, "")["count"] == len(SUBSET) and calls == []  # kept from the first request
        assert api(client, "year:2019")["count"] == 1 and len(calls) == 1  # another listing counts afresh
        Photo.update(private=True).where(Photo.id == photo_id("dog_orange.jpg")).execute()  # another connection
        assert api(client, "")["count"] == len(SUBSET) - 1 and len(calls) == 2
        r = client.patch(f"/api/v1/photos/{photo_id('dog_orange.jpg')}", json={"private": False})  # the app's writer
        assert r.status_code == 200, r.text
        assert api(client, "")["count"] == len(SUBSET) and len(calls) == 3
    finally:
        listing._kept = real
