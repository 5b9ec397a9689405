"""The pages draw only the controls a visitor may use: a viewer, public mode and a share link's visitor get no
editing form or favorite/rotate/archive/private button (each would answer 403), and no <body data-can-edit> (the
scripts' shortcuts do nothing without it); a viewer's selection bar only downloads (public mode and share links
have none); members and admins get them all. On both backends, through the real app (tests/viewer/test_e2e.py
checks the keys and a viewer's download in Chromium)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from households import Household, build, photo_id
from starlette.testclient import TestClient

from photoshelf import shares
from photoshelf.db.schema import Face, File, Photo

POST_FORM = re.compile(r"<form\b[^>]*>", re.I)
# What only an editor's page holds: (what it is, the text that shows it).
SELECT_MARKS = [("Select button", 'class="selstart"'), ("selection bar", 'id="selbar"')]
EDIT_MARKS = [("selection bar flags", 'data-flag="'), ("selection bar albums", 'class="albumpick"'),
              ("selection bar albums", 'class="danger selremove"'), ("favorite button", 'id="fav"'),
              ("rotate buttons", 'id="rotl"'), ("rotate buttons", 'id="rotr"'),
              ("archive button", 'name="action" value="archived"'), ("private button", 'name="action" value="private"'),
              ("title form", 'class="stack textedit"'), ("add to album", 'class="addalbum"'),
              ("create album", 'class="newalbum"'), ("album edit", 'class="albumedit"'),
              ("person edit", 'class="personedit"'), ("face forms", '/reject"'), ("face forms", '/move"'),
              ("editing flag", "data-can-edit")]


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> Iterator[Household]:
    household = build(tmp_path, database_url)
    dog, png = photo_id("dog_orange.jpg"), photo_id("example.png")
    # a favorite with a title (the viewer reads them), and an archived photo (the archive view has a grid)
    Photo.update(favorite=True, title="Good dog", description="In the garden").where(Photo.id == dog).execute()
    Photo.update(archived=True).where(Photo.id == png).execute()
    yield household
    household.lib.db.close()


def _pages(home: Household, audience: str) -> list[str]:
    dog = photo_id("dog_orange.jpg")
    folder = File.get(File.photo == dog).folder_id
    pages = ["/", "/search?q=dog", f"/photos/{dog}", "/albums", f"/albums/{home.album.uid}", "/people",
             f"/people/{home.person.uid}", "/folders", f"/folders/{folder}", "/duplicates", "/favorites"]
    if audience != "public":
        pages.append("/archive")
    if audience in ("member", "admin"):  # archived photos show to them alone; the private one is the member's
        pages += [f"/photos/{photo_id('example.png')}", f"/photos/{home.private.id}"]
    return pages


def _get(client: TestClient, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
    return r.text


def _no_controls(html: str, where: str, *, selecting: bool = False) -> None:
    """No editing control; with `selecting` (a viewer) the selection bar may be there, as a form to /download."""
    forms = [f for f in POST_FORM.findall(html) if 'method="post"' in f.lower()]
    allowed = ('action="/logout"', 'action="/download"') if selecting else ('action="/logout"',)
    assert all(any(a in f for a in allowed) for f in forms), f"{where}: write forms {forms}"
    shown = [what for what, mark in EDIT_MARKS + ([] if selecting else SELECT_MARKS) if mark in html]
    assert not shown, f"{where}: {shown}"


def test_viewers_and_public_mode_get_no_editing_controls(home: Household) -> None:
    dog = photo_id("dog_orange.jpg")
    with home.client("viewer") as viewer, home.public() as public:
        for audience, client in (("viewer", viewer), ("public", public)):
            for path in _pages(home, audience):
                _no_controls(_get(client, path), f"{audience} {path}", selecting=audience == "viewer")
            photo = _get(client, f"/photos/{dog}")
            # read-only text instead of the controls: the star, the title and the description
            assert '<span class="favmark"' in photo and "★ Favorite" in photo
            assert '<h2 class="phototitle">Good dog</h2>' in photo and '<p class="photodesc">In the garden</p>' in photo
            assert 'id="download"' in photo  # downloading is reading
            assert ">Kitty</a>" in photo  # the face's name, without "not this person"
        # a viewer selects to download, on every grid (public mode cannot POST: no bar there)
        for path in ("/", "/search?q=dog", "/favorites", f"/folders/{File.get(File.photo == dog).folder_id}",
                     f"/albums/{home.album.uid}", f"/people/{home.person.uid}"):
            html = _get(viewer, path)
            assert 'class="selstart"' in html and 'class="seldownload"' in html, path
            assert 'data-can-select="1"' in html and "/static/select.js" in html, path
        # the user menu stays for a logged-in viewer: their password and logging out
        menu = _get(viewer, "/")
        assert 'href="/account">Change password' in menu and 'action="/logout"' in menu
        # housekeeping sections are for those who keep photos: not in a viewer's or the public gallery's menus
        for html in (menu, _get(public, "/")):
            for path in ("/duplicates", "/archive", "/private", "/status"):
                assert f'href="{path}"' not in html, path


def test_members_and_admins_get_every_control(home: Household) -> None:
    dog = photo_id("dog_orange.jpg")
    for role in ("member", "admin"):
        with home.client(role) as client:
            for path in _pages(home, role):
                assert 'data-can-edit="1"' in _get(client, path), f"{role} {path}"
            photo = _get(client, f"/photos/{dog}")
            for mark in ('id="fav"', 'id="rotl"', 'id="rotr"', 'value="archived"', 'value="private"',
                         'class="stack textedit"', 'class="addalbum"', f'/faces/{Face.get(Face.photo == dog).id}/reject"'):
                assert mark in photo, f"{role}: {mark}"
            assert 'value="Good dog"' in photo and "favmark" not in photo
            for path in ("/", "/search?q=dog", "/favorites", f"/folders/{File.get(File.photo == dog).folder_id}",
                         f"/albums/{home.album.uid}", f"/people/{home.person.uid}", "/archive"):
                html = _get(client, path)
                assert 'class="selstart"' in html and 'id="selbar"' in html, f"{role} {path}"
            assert 'class="newalbum"' in _get(client, "/albums")
            menu = _get(client, "/")
            assert all(f'href="{path}"' in menu for path in ("/duplicates", "/archive", "/private")), role
            assert ('href="/status"' in menu) == (role == "admin"), role
            assert 'class="albumedit"' in _get(client, f"/albums/{home.album.uid}")
            person = _get(client, f"/people/{home.person.uid}")
            assert 'class="personedit"' in person and 'class="js-face"' in person


def test_share_link_pages_have_no_controls_whoever_opens_them(home: Household) -> None:
    """A share link's page (role None) draws no control, even for an admin who is logged in as well."""
    dog = Photo.get_by_id(photo_id("dog_orange.jpg"))
    album_link = shares.create_share(album=home.album, download=True)
    photo_link = shares.create_share(photo=dog)
    with home.client("admin") as admin, home.client(None) as visitor:
        for client in (admin, visitor):
            for path in (f"/s/{album_link.token}", f"/s/{album_link.token}/photos/{dog.id}", f"/s/{photo_link.token}"):
                _no_controls(_get(client, path), path)
