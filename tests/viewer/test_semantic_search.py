"""The web search ranked by meaning: a real MiniLM text index built by the enrichment runner over a few indexed
corpus photos, searched through the real app (page, partial page, API, the photo page's neighbours)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from logins import viewer_client
from starlette.testclient import TestClient

from photoshelf import search
from photoshelf.db.schema import Face, File, Person, Photo, PhotoLabel
from photoshelf.models import enrich, semantic, textsearch
from photoshelf.viewer import listing
from photoshelf.visibility import EVERYONE

from conftest import Library, indexed_subset

SUBSET = ["2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg", "2004/Fiji/smallFiji.JPG",
          "Misc/Formats/norway-kjetil-moe.webp", "Screenshots/Screenshot 2019-05-21 at 10.45.52.png",
          "2022/Utah Roadtrip/thompson-springs.jpg", "2020/Berlin/digikam.jpg", "Misc/Formats/example.png"]
# What the image stages would have written (as in tests/models/test_textsearch.py).
LABELS = {"dog_orange.jpg": ("dog", "animal", ",animal,pet,"),
          "cat_brown.jpg": ("cat", "animal", ",animal,pet,"),
          "smallFiji.JPG": ("beach", "nature", ",nature,water,"),
          "norway-kjetil-moe.webp": ("mountain", "nature", ",nature,landscape,"),
          "thompson-springs.jpg": ("desert", "nature", ",nature,landscape,"),
          "Screenshot 2019-05-21 at 10.45.52.png": ("screenshot", "document", ",document,")}


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    """The subset, indexed, with labels, but no text index yet (enrich_text builds it)."""
    library = indexed_subset(tmp_path, database_url, SUBSET)
    for name, (label, category, categories) in LABELS.items():
        PhotoLabel.create(photo=photo_id(name), name=label, category=category, categories=categories,
                          confidence=0.9, source="imagenet", model="test")
    yield library
    library.db.close()


def enrich_text(lib: Library) -> None:
    """The real text stage, through the enrichment runner (MiniLM over each photo's catalog text)."""
    stage = textsearch.TextStage(lib.config, lib.db)
    assert stage.unavailable() is None
    report = enrich.Enricher(lib.config, lib.db, stages=[stage]).run()
    assert report.stages[0].done == len(SUBSET) and report.stages[0].errors == 0
    assert semantic.backend(lib.config, lib.db) == "text"


@pytest.fixture
def client(lib: Library) -> Iterator[TestClient]:
    with viewer_client(lib.config, lib.db) as c:
        yield c


def photo_id(name: str) -> int:
    return int(File.select(File.photo).where(File.name == name).scalar())


def names(ids: list[int]) -> list[str]:
    by_id = {f.photo_id: f.name for f in File.select().where(File.role == "media")}
    return [by_id[i] for i in ids]


def api(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    return r.json()


def all_pages(client: TestClient, q: str, limit: int) -> tuple[list[int], set[int | None]]:
    ids: list[int] = []
    counts: set[int | None] = set()
    cursor = None
    for _ in range(50):
        body = api(client, q, limit=limit, **({"cursor": cursor} if cursor else {}))
        ids += [p["id"] for p in body["photos"]]
        counts.add(body["count"])
        cursor = body["next"]
        if cursor is None:
            return ids, counts
    raise AssertionError("the cursor never ran out")


def test_free_text_is_ranked_by_meaning_and_pages_by_rank(lib: Library, client: TestClient) -> None:
    enrich_text(lib)
    body = api(client, "puppy")
    assert body["match"] == "meaning" and body["index"] == "text"
    got = [p["id"] for p in body["photos"]]
    # The dog (its label means a puppy), and not the cat, however near in meaning: the cut-off is calibrated.
    assert names(got) == ["dog_orange.jpg"]
    assert body["photos"][0]["why"][0] == "label:dog" and body["count"] == 1 and body["mentions"] == 0
    hits = dict(semantic.search(lib.config, lib.db, "puppy", k=100))
    assert hits[photo_id("cat_brown.jpg")] >= search.SEMANTIC_MIN["text"]  # near, but not a good match

    # Paging by rank: any page size gives the same list, without duplicates or gaps.
    q = "pets nature"
    whole = api(client, q, limit=100)
    assert whole["next"] is None and len(whole["photos"]) >= 4, names([p["id"] for p in whole["photos"]])
    full = [p["id"] for p in whole["photos"]]
    for limit in (1, 2, 3):
        ids, counts = all_pages(client, q, limit)
        assert ids == full and len(set(ids)) == len(ids)
        assert counts <= {len(full), None} and len(full) in counts

    # A cursor is tied to its query: another query, a timeline cursor or garbage is a clear 400.
    second = api(client, q, limit=1)["next"]
    for other in ("kitten", f"{q} year:2019", "year:2019"):
        r = client.get("/api/v1/search", params={"q": other, "cursor": second})
        assert r.status_code == 400 and "cursor" in r.json()["error"], (other, r.text)
    timeline_cursor = api(client, "", limit=1)["next"]
    r = client.get("/api/v1/search", params={"q": q, "cursor": timeline_cursor})
    assert r.status_code == 400 and "cursor" in r.json()["error"]
    assert client.get("/api/v1/search", params={"q": q, "cursor": "cjotMTp4"}).status_code == 400  # r:-1:x
    # Spacing does not change the query, so its cursor still works.
    assert api(client, f"  {q.replace(' ', '   ')} ", cursor=second, limit=1)["photos"][0]["id"] == full[1]


def test_filters_narrow_the_ranking(lib: Library, client: TestClient) -> None:
    enrich_text(lib)
    dog, cat = photo_id("dog_orange.jpg"), photo_id("cat_brown.jpg")
    in_2019 = {p.id for p in Photo.select() if p.taken_at_local and p.taken_at_local.year == 2019}
    assert dog in in_2019 and cat not in in_2019

    body = api(client, "puppy year:2019")
    ids = [p["id"] for p in body["photos"]]
    assert body["match"] == "meaning" and ids[0] == dog and set(ids) <= in_2019
    # Without the dog (a filter), the other pet leads: the filter is applied before the top-k, not after.
    assert [p["id"] for p in api(client, "pets !label:dog")["photos"]] == [cat]
    assert [p["id"] for p in api(client, "pets label:cat")["photos"]] == [cat]
    assert api(client, "puppy year:1990")["photos"] == []
    # A literal match comes first (the folder name), then the rest by meaning.
    ids = [p["id"] for p in api(client, "pets")["photos"]]
    assert set(ids[:2]) == {dog, cat}
    # The viewer's visibility rules hold for a ranked search too: a private photo is left out.
    Photo.update(private=True).where(Photo.id == dog).execute()
    try:
        assert [p["id"] for p in api(client, "pets")["photos"]] == [cat]
        assert api(client, "puppy")["photos"] == []
        assert [p["id"] for p in api(client, "puppy private:true")["photos"]] == [dog]
    finally:
        Photo.update(private=False).where(Photo.id == dog).execute()


def tiles(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'class="tile[^"]*" href="/photos/\d+[^"]*"\s+data-id="(\d+)"', html)]


def test_search_page_infinite_scroll_and_photo_neighbours_follow_the_ranking(lib: Library,
                                                                               client: TestClient) -> None:
    enrich_text(lib)
    q = "pets nature"
    full = [p["id"] for p in api(client, q, limit=100)["photos"]]

    r = client.get("/search", params={"q": q, "limit": 2})
    assert r.status_code == 200
    assert 'data-match="meaning"' in r.text and "Ranked by meaning" in r.text
    assert 'class="day"' not in r.text  # best first, not in days
    seen = tiles(r.text)
    assert seen == full[:2]
    # Infinite scroll fetches the "More photos" link as a fragment, page after page.
    more = re.search(r'id="more" href="([^"]+)"', r.text)
    while more:
        r = client.get(more.group(1).replace("&amp;", "&") + "&partial=1")  # as app.js asks for it
        assert r.status_code == 200
        seen += tiles(r.text)
        more = re.search(r'id="more" href="([^"]+)"', r.text)
    assert seen == full
    # The timeline's own search box (/?q=) ranks the same way.
    assert tiles(client.get("/", params={"q": q, "limit": 100}).text) == full

    # The photo page opened from the search steps through it in the same order.
    for i, pid in enumerate(full):
        body = client.get(f"/api/v1/photos/{pid}", params={"q": q}).json()
        assert body["prev"] == (full[i - 1] if i > 0 else None)
        assert body["next"] == (full[i + 1] if i + 1 < len(full) else None)
    page = client.get(f"/photos/{full[1]}", params={"q": q})
    assert page.status_code == 200
    assert f'/photos/{full[0]}?q=' in page.text and f'/photos/{full[2]}?q=' in page.text


def test_without_a_semantic_index_free_text_matches_literally_by_date(lib: Library, client: TestClient) -> None:
    # Nothing enriched yet: the LIKE search in timeline order, exactly as the listing without ranking.
    def literal(q: str) -> list[int]:
        return [p.id for p in listing.page(q, limit=100, scope=listing.Scope(audience=EVERYONE)).photos]

    for q in ("pets", "puppy", "fiji year:2004", "misc"):
        body = api(client, q)
        assert body["match"] == "text" and body["index"] is None
        assert [p["id"] for p in body["photos"]] == literal(q), q
    assert names(literal("pets")) == ["dog_orange.jpg", "cat_brown.jpg"]  # newest first
    assert api(client, "puppy")["photos"] == []
    r = client.get("/search", params={"q": "pets"})
    assert 'data-match="text"' in r.text and "Matching text" in r.text and 'class="day"' in r.text
    ids, _ = all_pages(client, "misc", 1)
    assert ids == literal("misc")
    # No free text: no hint, timeline order.
    body = api(client, "year:2019")
    assert body["match"] is None
    assert 'data-match' not in client.get("/search", params={"q": "year:2019"}).text

    # With the index built but ML turned off in the configuration, the same.
    enrich_text(lib)
    assert api(client, "puppy")["match"] == "meaning"
    lib.config.models.enabled = False
    try:
        body = api(client, "pets")
        assert body["match"] == "text" and [p["id"] for p in body["photos"]] == literal("pets")
        # A ranked cursor from before is refused, not misread as an offset into the date order.
        lib.config.models.enabled = True
        ranked_cursor = api(client, "pets", limit=1)["next"]
        lib.config.models.enabled = False
        r = client.get("/api/v1/search", params={"q": "pets", "cursor": ranked_cursor})
        assert r.status_code == 400 and "cursor" in r.json()["error"]
    finally:
        lib.config.models.enabled = True


def test_no_good_match_says_so_and_names_are_mentions(lib: Library, client: TestClient) -> None:
    """A word with no photo of it (snow) answers no good match, and lists the photos that only mention it (a
    person called Snow, a file named so) after, each saying why; a name never counts as a good match, and
    matches whole words only (kids is not Kit)."""
    fiji, screenshot = photo_id("smallFiji.JPG"), photo_id("Screenshot 2019-05-21 at 10.45.52.png")
    snow = Person.create(uid="pSnow000000000001", name="Joe Snow")
    kit = Person.create(uid="pKit0000000000001", name="Kit Harris")
    Face.create(photo=fiji, x=0.1, y=0.1, w=0.3, h=0.3, person=snow, model="test")
    Face.create(photo=screenshot, x=0.1, y=0.1, w=0.3, h=0.3, person=kit, model="test")
    enrich_text(lib)

    body = api(client, "snow")
    assert body["match"] == "meaning" and body["count"] == 0 and body["mentions"] == 1
    assert [(p["id"], p["why"]) for p in body["photos"]] == [(fiji, ["person"])]
    r = client.get("/search", params={"q": "snow"})
    assert "No photo looks like <q>snow</q>; 1 photo mentions it" in r.text
    assert re.search(r'<span class="why"><span class="chip" title="matched by person">person</span>', r.text)
    # Whole words: kids is neither Kit nor "kit" inside another word.
    assert api(client, "kids")["photos"] == [] and api(client, "kid")["photos"] == []
    assert [p["why"] for p in api(client, "kit")["photos"]] == [["person"]]
    # A folder's name is a mention too, and a good match (a label) comes before photos that only mention.
    body = api(client, "pets")
    assert body["count"] == 2 and all(p["why"][0].startswith("label:") for p in body["photos"])
    body = api(client, "formats")  # the folder Misc/Formats
    assert body["count"] == 0 and [p["why"] for p in body["photos"]] == [["file name"]] * 2
    # The words people wrote on a photo are a good match.
    Photo.update(title="Snow in the harbour").where(Photo.id == fiji).execute()
    body = api(client, "snow")
    assert body["count"] == 1 and body["photos"][0]["why"][0] == "title" and "person" in body["photos"][0]["why"]
    r = client.get("/search", params={"q": "snow"})
    assert "No photo looks like" not in r.text and "Ranked by meaning" in r.text


def test_word_boundaries() -> None:
    from photoshelf.ranking import stem, word_pattern

    assert stem("kids") == "kid" and stem("beaches") == "beach" and stem("bus") == "bus" and stem("glass") == "glass"
    pattern = word_pattern("kids")
    assert pattern.search("Kid") and pattern.search("the kids' party") and pattern.search("2019_kids-camp")
    assert not pattern.search("Kit Harris") and not pattern.search("skids") and not pattern.search("kidney")
    assert word_pattern("beach").search("2017/South Africa/beach_sand.jpg")
    assert word_pattern("ferris wheel").search("ferriswheel") is None
    assert word_pattern("ferris wheel").search("Ferris-Wheels at night")
    assert word_pattern("café").search("Fotos_Müller_café_日本.jpg")


WORDS = st.sampled_from([*(f"{f}:" for f in search.FILTERS), "puppy", "beach", "!", "|", '"', "\\", ":", "2019",
                         "..", "true", "ü", "😀", " ", "%", "_", "\x00", "[SEP]", "##", "dog"])
QUERIES = st.one_of(st.text(max_size=40), st.lists(WORDS, max_size=10).map("".join))
CURSORS = st.one_of(st.none(), st.text(max_size=24),
                    st.builds(lambda o, d: listing.Cursor(offset=o, digest=d).encode(),
                              st.integers(0, 10**12), st.text(min_size=1, max_size=12)))


@pytest.fixture
def enriched_client(lib: Library) -> Iterator[TestClient]:
    enrich_text(lib)
    with viewer_client(lib.config, lib.db) as c:
        yield c


@given(QUERIES, CURSORS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_ranked_search_never_fails(enriched_client: TestClient, text: str, cursor: str | None) -> None:
    params = {"q": text, "limit": "3", **({"cursor": cursor} if cursor is not None else {})}
    r = enriched_client.get("/api/v1/search", params=params)
    assert r.status_code in (200, 400), (text, cursor, r.text)
    if r.status_code == 200:
        body = r.json()
        assert body["count"] is None or body["count"] + (body.get("mentions") or 0) >= len(body["photos"])
    page = enriched_client.get("/search", params=params)
    assert page.status_code in (200, 400), (text, cursor)
