"""The viewer behind a reverse proxy under a path prefix (`photoshelf serve --root-path /shelf`): every link of
every page, every redirect and every URL of the JSON API starts with /shelf and answers.

The real app through TestClient with root_path "/shelf" (as uvicorn passes it) crawls the household's library
from /shelf/ as the admin, then a share link as its visitor. The scripts make their URLs with appUrl(). In a real
Chromium, `photoshelf serve --root-path /shelf` behind a proxy that strips the prefix: tests/viewer/test_e2e.py
(test_under_a_root_path_behind_a_proxy)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from households import Household, build, photo_id
from logins import BASE_URL
from starlette.routing import Match
from starlette.testclient import TestClient

ROOT = "/shelf"
# The attributes that hold a URL: links, images, forms, and the ones scripts read (photo.js, people.js).
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "data-api", "data-prev", "data-next", "data-back",
                  "data-preview"}
PAGES_PER_SHAPE = 3  # /shelf/photos/N is one shape: a few of each are enough


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Household]:
    household = build(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", text_index=True)
    yield household
    household.lib.db.close()


@contextmanager
def shelf_client(home: Household, role: str | None) -> Iterator[TestClient]:
    """The app under /shelf, as uvicorn serves it with --root-path (the scope's path keeps the prefix)."""
    with home.client(role, root_path=ROOT, base_url=BASE_URL + ROOT) as client:
        yield client


# --- reading pages ------------------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.forms: list[tuple[str, str]] = []  # (method, action)
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.found += [(tag, k, v) for k, v in values.items() if k in URL_ATTRIBUTES]
        if tag == "form" and values.get("method", "get").lower() != "dialog":
            self.forms.append((values.get("method", "get").lower(), values.get("action", "")))
        if tag == "meta" and "name" in values:
            self.meta[values["name"]] = values.get("content", "")


def parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _outside(value: str, inside: str) -> bool:
    """Whether a page's URL leaves `inside` (the root path, or a share link's own path)."""
    if not value or value.startswith("#"):
        return False
    parts = urlsplit(value)
    if parts.scheme:  # only a share link's own address is absolute (server.base_url or the request's)
        return not (f"{parts.scheme}://{parts.netloc}" == BASE_URL and parts.path.startswith(f"{ROOT}/s/"))
    return not (parts.path == inside or parts.path.startswith(inside.rstrip("/") + "/"))


def _shape(path: str) -> str:
    return re.sub(r"/(\d+|[0-9a-f]{32,}|[ap][0-9a-f]{16})(?=[/.]|$)", "/N", path)


def _route_exists(client: TestClient, method: str, path: str) -> bool:
    """Whether the app has a route for a form's POST (posting it would change the library)."""
    scope = {"type": "http", "method": method.upper(), "path": path[len(ROOT):] or "/", "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in client.app.routes)  # type: ignore[attr-defined]


def crawl(client: TestClient, start: list[str], inside: str = ROOT) -> dict[str, int]:
    """Every page reachable from `start` (a few of each shape), every URL on them checked: inside `inside`, and
    answering (GET), or routed (a POST form). Returns each URL fetched with its status."""
    queue, seen, shapes = list(start), set(start), dict[str, int]()
    fetched: dict[str, int] = {}
    while queue:
        url = queue.pop(0)
        r = client.get(BASE_URL + url, follow_redirects=False)
        fetched[url] = r.status_code
        assert r.status_code in (200, 206), f"{url}: {r.status_code} {r.text[:200]}"
        if not r.headers.get("content-type", "").startswith("text/html"):
            continue
        page = parse(r.text)
        assert page.meta.get("root-path") == ROOT, url
        outside = [(tag, attr, v) for tag, attr, v in page.found if _outside(v, inside) and
                   not (inside != ROOT and v.startswith(f"{ROOT}/static/"))]
        assert not outside, f"{url} points outside {inside}: {outside}"
        for method, action in page.forms:
            if method == "post":
                assert _route_exists(client, "POST", urlsplit(action).path), f"{url}: no route for POST {action}"
        for _tag, attr, value in page.found:
            target = urlsplit(value)
            if not value or target.scheme or value.startswith("#") or target.path.endswith("/logout"):
                continue
            if attr in ("action", "formaction") and any(a == value and m == "post" for m, a in page.forms):
                continue
            if attr in ("formaction", "data-api"):  # what a button or a script posts to
                assert _route_exists(client, "POST", target.path), f"{url}: no route for POST {value}"
                continue
            link = target.path + (f"?{target.query}" if target.query else "")
            if link in seen:
                continue
            seen.add(link)
            shape = _shape(target.path)
            shapes[shape] = shapes.get(shape, 0) + 1
            if shapes[shape] <= PAGES_PER_SHAPE or "/thumb/" in link or "/faces/" in link or "/static/" in link:
                queue.append(link)
    return fetched


def _api_urls(body: Any) -> Iterator[str]:
    """The URLs in a JSON answer: every string that is a path or an http(s) address."""
    if isinstance(body, dict):
        for value in body.values():
            yield from _api_urls(value)
    elif isinstance(body, list):
        for value in body:
            yield from _api_urls(value)
    elif isinstance(body, str) and (body.startswith("/") or body.startswith(("http://", "https://"))):
        yield body


# --- the tests ----------------------------------------------------------------------------------------------


def test_every_link_of_every_page_stays_under_the_root_path_and_answers(home: Household) -> None:
    with shelf_client(home, "admin") as admin:
        fetched = crawl(admin, [f"{ROOT}/", f"{ROOT}/?limit=2", f"{ROOT}/search?q=dog", f"{ROOT}/map?q=cat",
                                f"{ROOT}/people?hidden=1", f"{ROOT}/status"])
        pages = {_shape(urlsplit(u).path) for u in fetched}
        for expected in ("/shelf/", "/shelf/albums/N", "/shelf/people/N", "/shelf/photos/N", "/shelf/folders/N",
                         "/shelf/admin", "/shelf/account", "/shelf/favorites", "/shelf/duplicates", "/shelf/places",
                         "/shelf/calendar", "/shelf/thumb/fit/N.jpg", "/shelf/thumb/tile/N.jpg", "/shelf/faces/N.jpg",
                         "/shelf/photos/N/original", "/shelf/static/app.js", "/shelf/static/grid.js"):
            assert expected in pages, f"the crawl never reached {expected}: {sorted(pages)}"
        assert any("cursor=" in u and "partial" not in u for u in fetched)  # the "More photos" link
        # A page that is not there is the error page, its links under the root path too.
        missing = admin.get(f"{BASE_URL}{ROOT}/nowhere")
        assert missing.status_code == 404 and not [v for _t, _a, v in parse(missing.text).found if _outside(v, ROOT)]
        # An API error is JSON, whatever the prefix (the handler reads the route's path, not the URL's).
        r = admin.get(f"{BASE_URL}{ROOT}/api/v1/photos/999999999")
        assert r.status_code == 404 and "error" in r.json()
        r = admin.get(f"{BASE_URL}{ROOT}/static/nowhere.css")  # inside the /static mount too
        assert r.status_code == 404 and "error" in r.json()


def test_the_api_answers_with_urls_under_the_root_path(home: Household) -> None:
    dog = photo_id("dog_orange.jpg")
    with shelf_client(home, "admin") as admin:
        made = admin.post("/api/v1/shares", json={"album": home.album.uid, "download": True})
        assert made.status_code == 201 and made.json()["url"] == f"{BASE_URL}{ROOT}/s/{made.json()['token']}"
        urls: list[str] = []
        for path in ("/api/v1/search?q=&limit=50", f"/api/v1/photos/{dog}", "/api/v1/albums",
                     f"/api/v1/albums/{home.album.uid}", "/api/v1/people", f"/api/v1/people/{home.person.uid}",
                     f"/api/v1/photos/{dog}/similar", "/api/v1/map?zoom=2&bbox=-90,-180,90,180", "/api/v1/shares",
                     "/api/v1/folders", "/api/v1/duplicates"):
            r = admin.get(path)
            assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:200]}"
            urls += _api_urls(r.json())
        revoked = admin.delete(f"/api/v1/shares/{made.json()['token']}")
        assert revoked.status_code == 200
        urls += _api_urls(revoked.json())
        kinds = {_shape(urlsplit(u).path).split("/")[2] for u in urls}
        assert {"thumb", "photos", "people", "faces", "s"} <= kinds, kinds
        local = [u for u in urls if not u.startswith("http")]
        assert all(u.startswith(f"{ROOT}/") for u in local), [u for u in local if not u.startswith(f"{ROOT}/")]
        assert all(u.startswith(f"{BASE_URL}{ROOT}/s/") for u in urls if u.startswith("http"))
        for u in sorted({u for u in local if "/s/" not in u}):  # the revoked link's pages are gone (410)
            assert admin.get(BASE_URL + u).status_code in (200, 206), u


def test_redirects_go_under_the_root_path(home: Household) -> None:
    dog = photo_id("dog_orange.jpg")
    with shelf_client(home, "admin") as admin:
        token = admin.headers["X-CSRF-Token"]
        form = {"csrf_token": token}

        def post(path: str, **fields: str) -> str:
            r = admin.post(path, data={**form, **fields}, follow_redirects=False)
            assert r.status_code == 303, f"{path}: {r.status_code} {r.text[:200]}"
            return r.headers["location"]

        made = post("/albums", title="Under a prefix")
        assert re.fullmatch(rf"{ROOT}/albums/\d+", made)
        album = made.rsplit("/", 1)[1]
        assert post(f"/albums/{album}/edit", title="Still under it") == f"{ROOT}/albums/{album}"
        assert post("/albums/add", album=album, photo=str(dog)) == f"{ROOT}/albums/{album}"
        assert post(f"/photos/{dog}/edit", action="favorite", value="true") == f"{ROOT}/photos/{dog}"
        assert post(f"/photos/{dog}/edit", action="favorite", value="false", back="/duplicates") == \
            f"{ROOT}/duplicates"
        assert post(f"/people/{home.person.uid}/rename", name="Kitty") == f"{ROOT}/people/{home.person.uid}"
        assert post(f"/albums/{album}/delete") == f"{ROOT}/albums"
        r = admin.get(f"/people/{home.person.id}", follow_redirects=False)  # reached by id: its address is its uid
        assert r.status_code == 303 and r.headers["location"] == f"{ROOT}/people/{home.person.uid}"
        assert post("/logout") == f"{ROOT}/login"


def test_a_share_link_under_the_root_path(home: Household) -> None:
    with shelf_client(home, "admin") as admin:
        made = admin.post("/api/v1/shares", json={"album": home.album.uid, "download": True, "password": "open sesame"})
        assert made.status_code == 201
    token = made.json()["token"]
    link = f"{ROOT}/s/{token}"
    try:
        with shelf_client(home, None) as visitor:
            locked = visitor.get(BASE_URL + link)
            assert locked.status_code == 200 and ("post", link) in parse(locked.text).forms
            r = visitor.post(BASE_URL + link, data={"password": "open sesame"}, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == link
            assert f"Path={link}" in r.headers["set-cookie"]
            fetched = crawl(visitor, [link], inside=link)
            assert any("/photos/" in u and u.endswith("/original?download=1") for u in fetched), fetched
            assert any(f"{link}/thumb/fit/" in u for u in fetched)
    finally:
        with shelf_client(home, "admin") as admin:
            assert admin.delete(f"/api/v1/shares/{token}").status_code == 200


def test_scripts_make_every_url_with_app_url() -> None:
    """A path written in a script (a fetch, a link it builds) goes through appUrl(), which adds the root path."""
    static = Path(__file__).resolve().parents[2] / "viewer" / "static"
    bare = []
    for script in sorted(static.glob("*.js")):
        for n, line in enumerate(script.read_text().splitlines(), 1):
            for m in re.finditer(r"""(["'`])/[a-z]""", line):
                if not line[:m.start()].endswith("appUrl(") and not line.lstrip().startswith("//"):
                    bare.append(f"{script.name}:{n}: {line.strip()}")
    assert not bare, "paths not made with appUrl():\n" + "\n".join(bare)
