"""Memories on the home page (viewer/memories.py) through the real catalog on SQLite and MariaDB: on this day in
past years (never a file's date), trips as runs of days away from home, people's recent photos; the fragment
the home page fetches, and what a viewer may not see left out."""

from __future__ import annotations

import datetime as dt
import secrets

from logins import viewer_client
from starlette.testclient import TestClient

from photoshelf.db.schema import Face, Person, Photo
from photoshelf.viewer import memories
from photoshelf.viewer.memories import _Day, plan_trips
from photoshelf.viewer.urls import thumb_url
from photoshelf.visibility import EVERYONE

from conftest import Library

# The small corpus holds the Canon 6D RAW+JPEG pair taken 2019-06-06 and the Live Photo of 2023-10-31.
JUNE_8 = dt.date(2024, 6, 8)


def test_on_this_day_finds_past_years_within_a_few_days(lib: Library) -> None:
    cards = memories.on_this_day(EVERYONE, JUNE_8)
    assert [c.title for c in cards] == ["5 years ago"]
    card = cards[0]
    assert card.count == 1  # the RAW+JPEG stack counts once, as on the timeline
    assert card.subtitle == "June 6, 2019 · 1 photo"  # when the photos were taken
    assert card.href == "/search?q=taken:2019-06-06..2019-06-06" and card.cover
    assert memories.on_this_day(EVERYONE, dt.date(2024, 6, 28)) == []  # 11 and 22 days away: not "this day"
    # a photo dated only by its file (taken today, by mtime) is never a memory
    guessed = Photo.select().where(Photo.taken_src == "mtime").first()
    assert guessed is not None
    today = guessed.taken_at_local.date()
    assert all(str(today.year) not in c.subtitle for c in memories.on_this_day(EVERYONE, today.replace(year=today.year + 1)))


def test_on_this_day_through_the_api_and_the_home_page_fragment(client: TestClient, lib: Library) -> None:
    body = client.get("/api/v1/memories").json()
    assert set(body) == {"on_this_day", "trips", "people"}
    home = client.get("/").text
    assert "/static/memories.js" in home and "/static/memories.css" in home
    assert "/static/memories.js" not in client.get("/search?q=year:2019").text  # the home page only
    fragment = client.get("/memories")
    assert fragment.status_code == 200
    for card in memories.on_this_day(EVERYONE, JUNE_8):  # each card opens the search that shows its photos
        q = card.href.split("q=", 1)[1]
        assert len(client.get("/api/v1/search", params={"q": q}).json()["photos"]) == card.count
    cards = body["on_this_day"] + body["trips"] + body["people"]
    assert fragment.text.count('class="memcard') == len(cards)


def test_a_trip_is_a_run_of_days_away_from_home() -> None:
    day = dt.date(2023, 7, 1)

    def d(offset: int, place: str, n: int = 3) -> _Day:
        return _Day(day + dt.timedelta(days=offset), place, f"city:{place}", n, None)

    home = [d(i, "Berlin") for i in range(0, 40, 3)]  # the most days: home
    away = [d(50, "Rome"), d(51, "Rome"), d(53, "Florence")]  # one day without photos inside the trip
    weekend = [d(70, "Hamburg", 2)]  # one day, two photos: an outing, not a trip
    big_day = [d(80, "Paris", 12)]  # one day, many photos: a trip
    runs = plan_trips(home + away + weekend + big_day)
    assert [[x.place for x in r] for r in runs] == [["Rome", "Rome", "Florence"], ["Paris"]]
    # home in between splits two runs
    split = plan_trips(home + [d(41, "Oslo"), d(42, "Berlin"), d(43, "Oslo"), d(44, "Oslo")])
    assert [[x.day for x in r] for r in split] == [[dt.date(2023, 8, 13), dt.date(2023, 8, 14)]]  # Oslo alone: one day
    assert plan_trips([]) == []


def test_recent_people_and_what_a_viewer_may_not_see(lib: Library) -> None:
    last = memories._newest(EVERYONE)  # the newest capture time on the timeline: "recent" is before it
    assert last is not None
    newest = (Photo.select().where((Photo.taken_at_local >= last - dt.timedelta(days=1)) & (Photo.kind != "video")
                                   & Photo.taken_src.not_in(["", "mtime"]) & Photo.has_thumbs)
              .order_by(Photo.id).first())
    assert newest is not None
    person = Person.create(uid="p" + secrets.token_hex(8), name=f"Mia {secrets.token_hex(2)}")
    face = Face.create(photo=newest.id, x=0.3, y=0.3, w=0.2, h=0.2, score=0.9, person=person, model="test")
    hidden = Person.create(uid="p" + secrets.token_hex(8), name="Hidden", hidden=True)
    face2 = Face.create(photo=newest.id, x=0.6, y=0.3, w=0.2, h=0.2, score=0.9, person=hidden, model="test")
    try:
        cards = {c.title: c for c in memories.recent_people(EVERYONE)}
        assert person.name in cards and "Hidden" not in cards
        assert cards[person.name].href == f"/people/{person.uid}"
        assert cards[person.name].cover == thumb_url(newest.sha1, "tile")
        Photo.update(private=True).where(Photo.id == newest.id).execute()
        with viewer_client(lib.config, lib.db, role="viewer") as viewer:
            seen = viewer.get("/api/v1/memories").json()
            assert person.name not in [c["title"] for c in seen["people"]]
    finally:
        Photo.update(private=newest.private).where(Photo.id == newest.id).execute()
        face.delete_instance()
        face2.delete_instance()
        person.delete_instance()
        hidden.delete_instance()
