"""The timeline's parts through the real app, on both backends: photos whose date is a guess (file mtime, none)
or impossible (after tomorrow) come last under "Unknown date", the scrubber's jumps start at their month, a
tile without a thumbnail names its file, and the search page starts with suggestions, not every photo."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from households import Household, build, photo_id

from photoshelf.db.schema import Photo
from photoshelf.viewer import listing, scrubber
from photoshelf.visibility import EVERYONE

TILE = re.compile(r'class="tile[^"]*" href="[^"]*/photos/(\d+)')


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> Iterator[Household]:
    household = build(tmp_path, database_url)
    yield household
    household.lib.db.close()


def _tiles(html: str) -> list[int]:
    return [int(x) for x in TILE.findall(html)]


def test_guessed_and_impossible_dates_come_last(home: Household) -> None:
    dog, fiji, berlin = photo_id("dog_orange.jpg"), photo_id("smallFiji.JPG"), photo_id("digikam.jpg")
    Photo.update(taken_src="mtime", taken_at_local=dt.datetime(2026, 12, 1, 9, 0)).where(Photo.id == dog).execute()
    Photo.update(taken_at_local=dt.datetime(2099, 1, 1), taken_src="exif").where(Photo.id == fiji).execute()
    with home.client("admin") as admin:
        top = admin.get("/")
        assert top.status_code == 200
        known = _tiles(top.text)
        assert dog not in known and fiji not in known and berlin in known
        assert "2099" not in top.text.split('id="timeline"')[1]  # no "January 2099" on top
        # The last page of the dated photos continues into the others.
        more = re.search(r'id="more" href="([^"]+)"', top.text)
        assert more and "part=unknown" in more.group(1)
        rest = admin.get(more.group(1).replace("&amp;", "&") + "&partial=1")
        assert 'data-month="unknown"' in rest.text and "Unknown date" in rest.text
        assert set(_tiles(rest.text)) >= {dog, fiji}
        assert "December 2026" not in rest.text  # filed under what it is, not the day it was copied
        # The count in the heading is of everything.
        total = len(known) + len(_tiles(rest.text))
        assert f"{total} items" in top.text
        assert admin.get("/?part=sideways").status_code == 400


def test_the_scrubber_jumps_to_a_month(home: Household) -> None:
    years = scrubber.years(EVERYONE)
    assert [y.year for y in years] == sorted({y.year for y in years}, reverse=True)
    year_2019 = next(y for y in years if y.year == 2019)
    assert year_2019.count == sum(m.count for m in year_2019.months) >= 1
    with home.client("viewer") as viewer:
        page = viewer.get("/")
        assert 'data-year="2019"' in page.text and year_2019.months[0].cursor in page.text
        jumped = viewer.get(f"/?cursor={year_2019.cursor}")
        first = _tiles(jumped.text)[0]
        assert Photo.get_by_id(first).taken_at_local.year == 2019
        assert "Back to the newest photos" in jumped.text
    # The jump cursor is an ordinary page cursor: the listing goes on from there.
    page = listing.page("", cursor=year_2019.months[0].cursor, limit=50,
                        scope=listing.Scope(audience=EVERYONE, dates="known"))
    assert page.photos and all(p.taken_at_local.year <= 2019 for p in page.photos)


def test_a_tile_without_a_thumbnail_names_its_file(home: Household) -> None:
    png = photo_id("example.png")
    Photo.update(has_thumbs=False).where(Photo.id == png).execute()
    with home.client("admin") as admin:
        html = admin.get("/", params={"limit": 500}).text + admin.get("/?part=unknown&limit=500").text
    tile = html[html.index(f'/photos/{png}"'):]
    tile = tile[:tile.index("</a>")]
    assert 'class="fname">example.png<' in tile and "no preview" in tile and "<img" not in tile


def test_every_tile_has_words_for_its_picture(home: Household) -> None:
    Photo.update(title="Good dog").where(Photo.id == photo_id("dog_orange.jpg")).execute()
    with home.client("admin") as admin:
        html = admin.get("/").text
    alts = re.findall(r'<img src="[^"]*/thumb/fit/[^"]*" loading="lazy" decoding="async" alt="([^"]*)"', html)
    assert alts and all(alts) and "Good dog" in alts


def test_the_search_page_starts_with_suggestions(home: Household) -> None:
    with home.client("admin") as admin:
        start = admin.get("/search")
        assert start.status_code == 200
        assert not _tiles(start.text)  # not every photo
        assert 'href="/search?q=label%3Adog"' in start.text or 'href="/search?q=label:dog"' in start.text
        assert "person%3AKitty" in start.text or "person:Kitty" in start.text
        assert "Search tips" in start.text and "How to search" not in start.text
        found = admin.get("/search", params={"q": "label:dog"})
        assert photo_id("dog_orange.jpg") in _tiles(found.text)
    with home.client("member2") as other:  # Kitty's photos are the member's private cat and the dog: one seen
        html = other.get("/search").text
        kitty = re.search(r"person%3AKitty\">Kitty <small>(\d+)</small>", html)
        assert kitty and kitty.group(1) == "1"


def test_no_json_buttons_or_commands_for_a_family(home: Household) -> None:
    with home.client("member") as member:
        for path in ("/", "/search", "/albums", f"/albums/{home.album.uid}", "/people", f"/people/{home.person.uid}"):
            html = member.get(path).text
            assert ">JSON<" not in html, path
            assert "photoshelf enrich" not in html and "photoshelf index" not in html, path
