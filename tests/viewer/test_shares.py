"""Share links through the real app on SQLite and MariaDB: made by members through the API, opened by someone
without an account. A link shows only what was shared (no way out, no other photo by id guessing), a password
keeps it shut until given (rate-limited), a revoked or expired link is gone (410), an unknown one 404, and
originals come only when the link allows downloads."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from households import Household, build, links, photo_id
from starlette.testclient import TestClient

from photoshelf import accounts, shares
from photoshelf.db.schema import Photo, Share, utcnow
from photoshelf.sidecars.sync import write_sidecars

from support import cli_env, lose_catalog


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> Iterator[Household]:
    household = build(tmp_path, database_url)
    yield household
    household.lib.db.close()


def _share(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/shares", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _only_inside(html: str, token: str) -> None:
    """Every URL of a share's page stays inside the link (or is a static file)."""
    outside = [u for u in links(html) if not (u == f"/s/{token}" or u.startswith((f"/s/{token}/", f"/s/{token}?",
                                                                                  "/static/")))]
    assert not outside, outside


def test_an_album_link_shows_the_album_and_nothing_else(home: Household) -> None:
    dog = Photo.get_by_id(photo_id("dog_orange.jpg"))
    fiji = Photo.get_by_id(photo_id("smallFiji.JPG"))
    with home.client("member") as member:
        made = _share(member, album=home.album.uid)
    token = made["token"]
    assert set(made) >= {"token", "url", "expires_at"} and made["expires_at"] is None
    assert made["url"] == f"http://photoshelf.test/s/{token}" and len(token) >= 32
    with home.client(None) as visitor:
        page = visitor.get(f"/s/{token}")
        assert page.status_code == 200 and "Pets" in page.text
        _only_inside(page.text, token)
        assert 'role="search"' not in page.text and 'class="side"' not in page.text
        # the album's photos the link may show: the dog (the member's cat is private: never through a link)
        tiles = set(re.findall(rf'href="/s/{token}/photos/(\d+)"', page.text))
        assert tiles == {str(dog.id)}
        shown = visitor.get(f"/s/{token}/photos/{dog.id}")
        assert shown.status_code == 200
        _only_inside(shown.text, token)
        assert visitor.get(f"/s/{token}/thumb/fit/{dog.sha1}.jpg").status_code == 200
        assert visitor.get(f"/s/{token}/thumb/preview/{dog.sha1}.jpg").status_code == 200
        # id guessing: no other photo answers through this link, whatever the id or content hash
        for pid in range(1, max(home.ids) + 3):
            expected = 200 if pid == dog.id else 404
            assert visitor.get(f"/s/{token}/photos/{pid}").status_code == expected, pid
        for other in (fiji, home.private):
            assert visitor.get(f"/s/{token}/thumb/fit/{other.sha1}.jpg").status_code == 404
            assert visitor.get(f"/s/{token}/thumb/preview/{other.sha1}.jpg").status_code == 404
        # no download unless the link allows it
        assert visitor.get(f"/s/{token}/photos/{dog.id}/original").status_code == 403
        assert "/original" not in shown.text
        # the library itself stays shut to the link's visitor
        for url in ("/", f"/photos/{dog.id}", f"/thumb/fit/{dog.sha1}.jpg", f"/photos/{dog.id}/original",
                    "/api/v1/search"):
            assert visitor.get(url, follow_redirects=False).status_code in (303, 401), url
        assert visitor.get("/s/" + "x" * 32).status_code == 404
        # a token matches only as written (MariaDB's default collation compares without case)
        for other_case in {token.swapcase(), token.upper(), token.lower()} - {token}:
            assert visitor.get(f"/s/{other_case}").status_code == 404, other_case
    assert Share.get(Share.token == token).views >= 1


def test_a_photo_link_with_downloads(home: Household) -> None:
    dog = Photo.get_by_id(photo_id("dog_orange.jpg"))
    with home.client("member") as member:
        made = _share(member, photo=dog.id, download=True, expires_days=7)
        assert member.post("/api/v1/shares", json={"photo": home.private.id}).status_code == 400  # private
        assert member.post("/api/v1/shares", json={"photo": dog.id, "album": home.album.uid}).status_code == 400
        assert member.post("/api/v1/shares", json={"photo": dog.id, "expires_days": 0.5}).status_code == 400
        assert member.post("/api/v1/shares", json={"photo": dog.id, "whatever": 1}).status_code == 400
    expires = dt.datetime.fromisoformat(made["expires_at"].rstrip("Z"))
    assert dt.timedelta(days=6.9) < expires - utcnow() <= dt.timedelta(days=7)
    token = made["token"]
    with home.client(None) as visitor:
        page = visitor.get(f"/s/{token}")
        assert page.status_code == 200
        _only_inside(page.text, token)
        assert f"/s/{token}/photos/{dog.id}/original?download=1" in page.text
        original = visitor.get(f"/s/{token}/photos/{dog.id}/original?download=1")
        assert original.status_code == 200
        assert original.content == (home.lib.originals / "2019/Pets/dog_orange.jpg").read_bytes()
        assert "attachment" in original.headers["content-disposition"]
        fiji = photo_id("smallFiji.JPG")
        assert visitor.get(f"/s/{token}/photos/{fiji}/original").status_code == 404
        assert visitor.get(f"/s/{token}/photos/{fiji}").status_code == 404
    # made private later: the link shows nothing any more
    Photo.update(private=True).where(Photo.id == dog.id).execute()
    with home.client(None) as visitor:
        assert visitor.get(f"/s/{token}").status_code == 404
        assert visitor.get(f"/s/{token}/thumb/fit/{dog.sha1}.jpg").status_code == 404


def test_a_password_keeps_the_link_shut_until_given(home: Household) -> None:
    dog = Photo.get_by_id(photo_id("dog_orange.jpg"))
    with home.client("member") as member:
        token = _share(member, album=home.album.uid, password="open sesame")["token"]
    with home.client(None) as visitor:
        form = visitor.get(f"/s/{token}")
        assert form.status_code == 200 and 'type="password"' in form.text and dog.sha1 not in form.text
        _only_inside(form.text, token)
        assert visitor.get(f"/s/{token}/thumb/fit/{dog.sha1}.jpg").status_code == 403
        assert visitor.get(f"/s/{token}/photos/{dog.id}", follow_redirects=False).status_code == 303
        wrong = visitor.post(f"/s/{token}", data={"password": "nope"})
        assert wrong.status_code == 401 and "wrong password" in wrong.text
        right = visitor.post(f"/s/{token}", data={"password": "open sesame"}, follow_redirects=False)
        assert right.status_code == 303 and right.headers["location"] == f"/s/{token}"
        cookie = right.headers["set-cookie"]
        assert f"Path=/s/{token}" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert dog.sha1 in visitor.get(f"/s/{token}").text
        assert visitor.get(f"/s/{token}/thumb/fit/{dog.sha1}.jpg").status_code == 200
    with home.client(None) as stranger:  # the unlock is the browser's, not the link's
        assert stranger.get(f"/s/{token}/thumb/fit/{dog.sha1}.jpg").status_code == 403
        limit = home.lib.config.auth.login_attempts_per_user
        codes = [stranger.post(f"/s/{token}", data={"password": f"guess {i}"}).status_code for i in range(limit + 1)]
        assert codes[-1] == 429 and set(codes[:-1]) <= {401, 429}
        # blocked means blocked: even the right password waits
        assert stranger.post(f"/s/{token}", data={"password": "open sesame"}).status_code == 429


def test_revoked_and_expired_links_are_gone(home: Household) -> None:
    dog = Photo.get_by_id(photo_id("dog_orange.jpg"))
    with home.client("member") as member, home.client("member2") as other, home.client("viewer") as viewer:
        first = _share(member, album=home.album.uid)["token"]
        second = _share(member, photo=dog.id)["token"]
        theirs = _share(other, photo=dog.id)["token"]
        assert viewer.post("/api/v1/shares", json={"photo": dog.id}).status_code == 403
        # members list and revoke their own links; admins all of them
        assert {s["token"] for s in member.get("/api/v1/shares").json()["shares"]} == {first, second}
        assert other.delete(f"/api/v1/shares/{first}").status_code == 403
        assert member.delete("/api/v1/shares/" + "y" * 32).status_code == 404
        r = member.delete(f"/api/v1/shares/{first}")
        assert r.status_code == 200 and r.json()["state"] == "revoked"
    with home.client("admin") as admin:
        assert {s["token"] for s in admin.get("/api/v1/shares").json()["shares"]} >= {first, second, theirs}
        assert admin.delete(f"/api/v1/shares/{theirs}").status_code == 200
    Share.update(expires_at=utcnow() - dt.timedelta(minutes=1)).where(Share.token == second).execute()
    with home.client(None) as visitor:
        for token in (first, second, theirs):
            r = visitor.get(f"/s/{token}")
            assert r.status_code == 410, token
            assert visitor.get(f"/s/{token}/photos/{dog.id}").status_code == 410
            assert visitor.get(f"/s/{token}/thumb/fit/{dog.sha1}.jpg").status_code == 410
        assert "expired" in visitor.get(f"/s/{second}").text and "revoked" in visitor.get(f"/s/{first}").text


def test_share_urls_use_the_base_url(home: Household) -> None:
    config = home.lib.config
    config.server.base_url = "https://photos.example.org/shelf"
    config.auth.secure_cookies = "never"  # the test client speaks plain HTTP
    try:
        with home.client("member") as member:
            made = _share(member, album=home.album.uid)
    finally:
        config.server.base_url, config.auth.secure_cookies = "", "auto"
    assert made["url"] == f"https://photos.example.org/shelf/s/{made['token']}"


def test_the_share_button_on_album_and_photo_pages(home: Household) -> None:
    dog = photo_id("dog_orange.jpg")
    with home.client("member") as member, home.client("viewer") as viewer:
        for url in (f"/albums/{home.album.id}", f"/photos/{dog}"):
            assert 'class="share-open"' in member.get(url).text
            assert 'class="share-open"' not in viewer.get(url).text
        assert 'class="share-open"' not in member.get(f"/photos/{home.private.id}").text  # private: no link


def test_links_outlive_a_lost_catalog(home: Household) -> None:
    """users.yaml keeps every link (its token's key, never the token); after the catalog is lost and rebuilt by
    `photoshelf restore` from the originals and sidecars, the links a family sent out open again: the password
    still asked, downloads as allowed, a revoked link still gone, and the key from the file opens nothing."""
    dog = Photo.get_by_id(photo_id("dog_orange.jpg"))
    fiji = Photo.get_by_id(photo_id("smallFiji.JPG"))
    with home.client("member") as member, home.client("admin") as admin:
        album_link = _share(member, album=home.album.uid, password="open sesame", expires_days=30)
        photo_link = _share(admin, photo=fiji.id, download=True)
        revoked = _share(member, photo=dog.id)
        assert member.delete(f"/api/v1/shares/{revoked['token']}").status_code == 200
    backup = (home.lib.storage / "users.yaml").read_text()
    for made in (album_link, photo_link, revoked):
        assert made["token"] not in backup and shares.token_key(made["token"]) in backup
    write_sidecars(home.lib.config, Photo.select())  # the album lives in the sidecars (the indexer's job)
    lose_catalog(home.lib)
    assert Share.select().count() == 0 and Photo.select().count() == 0
    # a change to the accounts before the rebuild is finished keeps the links in the file
    accounts.add_user("cousin", "viewer", "a long enough password")
    assert shares.token_key(album_link["token"]) in (home.lib.storage / "users.yaml").read_text()
    rebuilt = subprocess.run([sys.executable, "-m", "photoshelf.cli", "restore", "--json"], env=cli_env(home.lib),
                             capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(rebuilt.stdout)["share_links"] == 3
    dog, fiji = Photo.get(Photo.sha1 == dog.sha1), Photo.get(Photo.sha1 == fiji.sha1)  # new ids
    with home.client(None) as visitor:
        token = album_link["token"]
        assert 'type="password"' in visitor.get(f"/s/{token}").text
        assert visitor.post(f"/s/{token}", data={"password": "open sesame"}).status_code == 200
        page = visitor.get(f"/s/{token}")
        assert page.status_code == 200 and "Pets" in page.text and dog.sha1 in page.text
        _only_inside(page.text, token)
        assert visitor.get(f"/s/{token}/photos/{dog.id}").status_code == 200
        token = photo_link["token"]
        original = visitor.get(f"/s/{token}/photos/{fiji.id}/original")
        assert original.status_code == 200
        assert original.content == (home.lib.originals / "2004/Fiji/smallFiji.JPG").read_bytes()
        assert visitor.get(f"/s/{revoked['token']}").status_code == 410
        key = shares.token_key(album_link["token"])
        assert visitor.get(f"/s/{key}").status_code == 404  # what users.yaml holds is no way in
    with home.client("member") as member:  # the creator still sees and revokes them (by the key: no token kept)
        listed = {s["token"]: s for s in member.get("/api/v1/shares").json()["shares"]}
        restored = listed[shares.token_key(album_link["token"])]
        assert restored["restored"] and restored["url"] is None and restored["expires_at"] == album_link["expires_at"]
        assert member.delete(f"/api/v1/shares/{restored['token']}").status_code == 200
    with home.client(None) as visitor:
        assert visitor.get(f"/s/{album_link['token']}").status_code == 410
