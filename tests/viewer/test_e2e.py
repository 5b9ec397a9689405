"""End to end: `photoshelf serve` over an indexed copy of the corpus, driven in a real headless Chromium.

One library is indexed and one server and one browser are started per module. Every page a test opens is watched:
a failed request, a response >= 400, a console error or an uncaught exception fails the test. Screenshots go to
the test's temp folder and to test-output/e2e/ (git-ignored) so a reviewer can look at them."""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from logins import PASSWORD, browser_log_in
from PIL import Image, ImageDraw
from proxies import stripping_proxy

from conftest import REPO, SMALL_CORPUS, Library, make_library

# Debian's package (scripts/setup-system.sh --test); Ubuntu names it chromium-browser.
CHROMIUM = os.environ.get("PHOTOSHELF_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") \
    or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
PAGE_SIZE = 100  # the first page of the timeline is exactly the "page of 100 thumbnails"
GENERATED = 95  # photos made for this test beside the small corpus, so there is more than one page
DESKTOP = {"width": 1280, "height": 860}
LAPTOP = {"width": 1366, "height": 850}
PHONE = {"width": 390, "height": 844}
SHOTS = REPO / "test-output" / "e2e"

pytestmark = pytest.mark.slow


# --- the library, the server, the browser -------------------------------------------------------------------


def _generate_photos(folder: Path, count: int) -> None:
    """Real JPEGs with distinct bytes, capture dates over 2021 and, for some, GPS around the Alps (map clusters)."""
    folder.mkdir(parents=True)
    for i in range(count):
        w, h = ((640, 427), (427, 640), (600, 600), (800, 360))[i % 4]
        rnd = random.Random(i)  # shapes differ photo to photo, so they are not taken for look-alike duplicates
        im = Image.new("RGB", (w, h), tuple(rnd.randrange(40, 220) for _ in range(3)))
        draw = ImageDraw.Draw(im)
        for _ in range(6):
            x, y = rnd.randrange(w), rnd.randrange(h)
            r = rnd.randrange(20, max(w, h) // 2)
            shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
            shape((x - r, y - r, x + r, y + r), fill=tuple(rnd.randrange(256) for _ in range(3)))
        draw.text((12, 12), f"generated {i:03d}", fill=(0, 0, 0))
        exif = Image.Exif()
        when = f"2021:{1 + (i // 8) % 12:02d}:{1 + (i * 3) % 28:02d} {8 + i % 12:02d}:{i % 60:02d}:00"
        exif[0x0132] = when
        exif[0x010F], exif[0x0110] = "Photoshelf", "Test Camera E2E"
        exif.get_ifd(0x8769)[0x9003] = when
        if i % 5 == 0:
            lat, lon = 46.0 + (i % 7) * 0.4, 8.0 + (i % 11) * 0.5
            gps = exif.get_ifd(0x8825)
            gps[1], gps[2] = "N", (float(int(lat)), float(int(lat * 60 % 60)), 0.0)
            gps[3], gps[4] = "E", (float(int(lon)), float(int(lon * 60 % 60)), 0.0)
        im.save(folder / f"gen_{i:03d}.jpg", quality=82, exif=exif)


def _indexed_library(root: Path, source: Path, generated: int) -> Library:
    from photoshelf.library import index_library

    lib = make_library(root, f"sqlite:///{root / 'catalog.db'}", source)  # copies the corpus: originals stay as they are
    if generated:
        with lib.user_changes():
            _generate_photos(lib.originals / "Generated" / "2021", generated)
    try:
        index_library(lib.config, lib.db)
    finally:
        lib.db.close()
    return lib


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(lib: Library, log_path: Path, *options: str) -> Iterator[str]:
    """`photoshelf serve --no-watch [options]` in its own process, as a user starts it; no tile server (no
    network). Yields the address it listens on."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOSHELF_")}
    env.update({
        "PHOTOSHELF_ORIGINALS": str(lib.originals), "PHOTOSHELF_STORAGE": str(lib.storage),
        "PHOTOSHELF_DATABASE": lib.database_url, "PHOTOSHELF_VIEWER_TILE_URL": "",
        "PHOTOSHELF_VIEWER_PAGE_SIZE": str(PAGE_SIZE), "PHOTOSHELF_LOG_LEVEL": "warning",
        "PHOTOSHELF_ADMIN_PASSWORD": PASSWORD,  # the first serve makes the admin the browser logs in as
    })
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "photoshelf.cli", "serve", "--no-watch", "--host", "127.0.0.1", "--port", str(port),
             *options],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=lib.storage.parent,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"photoshelf serve exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(base + "/api/v1/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"photoshelf serve did not answer in 60 s:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text and "ERROR" not in text, f"the server logged errors:\n{text}"


def _sync_playwright() -> Any:
    """Playwright's sync API; a missing package or browser fails (CI installs both: scripts/setup-system.sh --test)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the E2E tests need playwright's Python package: pip install -e '.[dev]'")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/setup-system.sh --test (or set PHOTOSHELF_TEST_CHROMIUM)")
    return sync_playwright


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Library:
    """The small corpus plus generated photos (more than one page), copied and indexed once for the module."""
    return _indexed_library(tmp_path_factory.mktemp("e2e"), SMALL_CORPUS, GENERATED)


@pytest.fixture(scope="module")
def base_url(lib: Library) -> Iterator[str]:
    with _serve(lib, lib.storage.parent / "serve.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with _sync_playwright()() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def logged_in(browser: Any, base_url: str) -> dict[str, Any]:
    """The browser's state after logging in once through the real /login form (the session cookie)."""
    return _log_in(browser, base_url)


def _log_in(browser: Any, base: str) -> dict[str, Any]:
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        browser_log_in(page, base)
        assert not problems, problems
        return dict(context.storage_state())
    finally:
        context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The screenshots: in the test's temp folder, and copied to test-output/e2e/ for a reviewer (overwritten,
    not emptied first: another run may be writing there too)."""
    return tmp_path_factory.mktemp("screenshots")


# --- watching pages -----------------------------------------------------------------------------------------


class Watched:
    """A page and everything that went wrong on it: failed requests, HTTP errors, console errors, exceptions."""

    def __init__(self, page: Any, base: str, shots: Path, prefix: str) -> None:
        self.page = page
        self.base = base
        self.shots = shots
        self.prefix = prefix
        self.problems: list[str] = []
        self.responses: list[Any] = []
        self.requests: list[str] = []
        self.navigations = 0  # documents the tab has shown so far
        self.issued: dict[Any, int] = {}  # request -> the document that made it
        self.aborted: list[Any] = []
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"uncaught exception: {e}"))
        page.on("framenavigated", self._navigated)

    def _navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.navigations += 1

    def _request(self, request: Any) -> None:
        self.requests.append(request.url)
        self.issued[request] = self.navigations

    def _failed(self, request: Any) -> None:
        if request.failure == "net::ERR_ABORTED" and request.resource_type not in ("document", "media"):
            self.aborted.append(request)  # judged in check(), when every navigation has been seen
            return
        if request.failure == "net::ERR_ABORTED":
            return  # a superseded navigation; media requests Chromium replaces by ranges
        self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Any) -> None:
        self.responses.append(response)
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text} ({message.location})")

    def goto(self, path: str) -> None:
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"

    def path(self) -> str:
        return self.page.url[len(self.base):]

    def shot(self, name: str, full_page: bool = False) -> Path:
        if full_page:  # lazy images below the fold would show as empty boxes
            self.page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })")
        self.settle_images()
        target = self.shots / f"{self.prefix}{name}.png"
        self.page.screenshot(path=str(target), full_page=full_page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(target, SHOTS / target.name)
        return target

    def settle_images(self) -> None:
        """Wait for every image on screen to finish loading (lazy ones off screen need not have started)."""
        self.page.wait_for_function("""() => [...document.images].every(i => {
            if (i.complete) return true;
            const r = i.getBoundingClientRect();
            return i.loading === 'lazy' && (r.bottom < 0 || r.top > innerHeight);
        })""", timeout=15000)

    def scroll_to_end(self) -> None:
        """Scroll down a screen at a time until the page stops growing (infinite scroll has nothing more)."""
        last = -1
        for _ in range(200):
            height = self.page.evaluate("document.scrollingElement.scrollHeight")
            at = self.page.evaluate("window.scrollY + window.innerHeight")
            if at >= height - 2:
                if height == last:
                    break
                last = height
                self.page.wait_for_timeout(400)  # a next page may be arriving
                continue
            self.page.mouse.wheel(0, 700)
            self.page.wait_for_timeout(60)

    def every_tile_loaded(self, total: int) -> dict[str, Any]:
        """Scroll the grid to its end until it holds `total` tiles, load every thumbnail (the lazy ones too), and
        say how many loaded and which broke (all_thumbnails_loaded)."""
        self.scroll_to_end()
        self.page.wait_for_function(f"() => document.querySelectorAll('.tile').length >= {total}")
        self.page.evaluate("document.querySelectorAll('.tile img').forEach(i => { i.loading = 'eager'; })")
        self.page.wait_for_function("() => [...document.querySelectorAll('.tile img')].every(i => i.complete)")
        return self.all_thumbnails_loaded()

    def all_thumbnails_loaded(self) -> dict[str, Any]:
        return self.page.evaluate("""() => {
            const imgs = [...document.querySelectorAll('.tile img')];
            return {count: imgs.length, broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)};
        }""")

    def check(self) -> None:
        # Chromium cancels what a page still had in flight when the tab moves on (a prefetched neighbour, a lazy
        # image, the next page of a grid): not a failure. A request the page still showing lost is one.
        lost = [f"request aborted: {r.method} {r.url}" for r in self.aborted if self.issued.get(r, -1) >= self.navigations]
        problems = self.problems + lost
        assert not problems, "problems on the page:\n" + "\n".join(problems)


@pytest.fixture
def open_page(browser: Any, base_url: str, shots: Path, logged_in: dict[str, Any],
              request: pytest.FixtureRequest) -> Iterator[Callable[..., Watched]]:
    """Open a watched page in a fresh browser context (desktop unless a viewport is given), logged in as the
    admin unless `storage_state=None`; checked at the end."""
    contexts: list[Any] = []
    watched: list[Watched] = []
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name.removeprefix("test_")).strip("-")

    def make(viewport: dict[str, int] | None = None, color_scheme: str = "light", **options: Any) -> Watched:
        options.setdefault("storage_state", logged_in)
        context = browser.new_context(viewport=viewport or DESKTOP, color_scheme=color_scheme, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        w = Watched(page, base_url, shots, f"{name}-" if len(watched) == 0 else f"{name}{len(watched)}-")
        watched.append(w)
        return w

    yield make
    try:
        for w in watched:  # before closing, which cancels whatever is still in flight
            w.check()
            offsite = [u for u in w.requests if not u.startswith((base_url, "data:", "blob:"))]
            assert not offsite, f"requests left the server (no network in a LAN install): {offsite}"
    finally:
        for c in contexts:
            c.close()


_openers: dict[str, tuple[Any, str]] = {}  # per server: the admin's cookie jar opener and CSRF token


def api(base: str, path: str, method: str = "GET", body: Any = None) -> Any:
    """A JSON API call as the admin (logged in once per server through POST /api/v1/session); a write sends
    `body` as JSON with the session's CSRF token."""
    if base not in _openers:
        import http.cookiejar

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        login = urllib.request.Request(base + "/api/v1/session", method="POST",
                                       data=json.dumps({"username": "admin", "password": PASSWORD}).encode(),
                                       headers={"Content-Type": "application/json"})
        with opener.open(login, timeout=30) as r:
            assert r.status == 200
            _openers[base] = (opener, json.loads(r.read())["csrf_token"])
    opener, token = _openers[base]
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "X-CSRF-Token": token})
    with opener.open(request, timeout=30) as r:
        return json.loads(r.read())


def search_ids(base: str, q: str) -> list[int]:
    from urllib.parse import urlencode

    body = api(base, "/api/v1/search?" + urlencode({"q": q, "limit": 500}))
    assert body["next"] is None
    return [p["id"] for p in body["photos"]]


def photo_id(base: str, q: str) -> int:
    ids = search_ids(base, q)
    assert ids, f"nothing matches {q!r}"
    return ids[0]


def tile_ids(w: Watched) -> list[int]:
    return [int(x) for x in w.page.eval_on_selector_all(".tile", "ts => ts.map(t => t.dataset.id)")]


# --- the tests ----------------------------------------------------------------------------------------------


def test_login_goes_back_to_the_page_and_logout_ends_it(open_page: Callable[..., Watched], base_url: str) -> None:
    w = open_page(storage_state=None)  # not logged in
    w.goto("/albums")
    assert w.path() == "/login?next=%2Falbums"
    assert w.page.locator("nav.side").count() == 0
    w.page.fill("input[name=username]", "admin")
    w.page.fill("input[name=password]", "not the password")
    w.page.click(".login button[type=submit]")
    w.page.wait_for_selector(".login .qerror")
    w.problems = [p for p in w.problems if "HTTP 401" not in p and "401 (Unauthorized)" not in p]  # the wrong try
    w.shot("wrong-password")
    w.page.fill("input[name=password]", PASSWORD)
    w.page.click(".login button[type=submit]")
    w.page.wait_for_url(f"{base_url}/albums")
    assert w.page.locator("nav.side").is_visible()
    token = w.page.get_attribute('meta[name="csrf-token"]', "content")
    assert token and api(base_url, "/api/v1/health") == {"ok": True}
    w.page.locator(".usermenu summary").click()
    w.page.locator(".usermenu form.logout button").click()
    w.page.wait_for_url("**/login")
    w.goto("/albums")
    assert w.path() == "/login?next=%2Falbums"  # the session is gone


def test_timeline_page_of_100_thumbnails_loads_cleanly(open_page: Callable[..., Watched], base_url: str) -> None:
    w = open_page()
    w.goto("/")
    assert w.page.title().startswith("Photos")
    assert w.page.locator(".tile").count() == PAGE_SIZE
    assert w.page.locator(".tile img").count() >= PAGE_SIZE - 5  # a few files have no preview (a RAW stub)
    w.shot("top")
    # Every thumbnail of the first page, brought into view so the lazy ones load too.
    w.page.evaluate("document.querySelectorAll('.tile img').forEach(i => { i.loading = 'eager'; })")
    w.page.wait_for_function("() => [...document.querySelectorAll('.tile img')].every(i => i.complete)")
    loaded = w.all_thumbnails_loaded()
    assert loaded["count"] >= PAGE_SIZE - 5 and not loaded["broken"], loaded
    thumbs = [r for r in w.responses if "/thumb/fit/" in r.url]
    assert len(thumbs) >= PAGE_SIZE - 5
    assert all(r.status == 200 and "immutable" in r.headers.get("cache-control", "") for r in thumbs)
    # The grid is justified: rows reach the right edge of the column (except a day's last row).
    widths = w.page.evaluate("""() => [...document.querySelectorAll('.grid')].map(g => {
        const right = g.getBoundingClientRect().right;
        const tiles = [...g.querySelectorAll('.tile')];
        return {grid: right, overflow: tiles.some(t => t.getBoundingClientRect().right > right + 1)};
    })""")
    assert not any(x["overflow"] for x in widths)
    assert w.page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def test_infinite_scroll_loads_every_photo_once(open_page: Callable[..., Watched], base_url: str) -> None:
    total = api(base_url, "/api/v1/search?limit=1")["count"]
    assert total > PAGE_SIZE
    w = open_page()
    w.goto("/")
    assert w.page.locator("#more").count() == 1
    w.scroll_to_end()
    w.page.wait_for_function(f"() => document.querySelectorAll('.tile').length >= {total}")
    ids = tile_ids(w)
    assert len(ids) == len(set(ids)) == total
    # The API's order, newest first, except that the photos whose date is a guess come last ("Unknown date").
    unknown = [int(x) for x in w.page.eval_on_selector_all('section.monthblock[data-month="unknown"] .tile',
                                                            "ts => ts.map(t => t.dataset.id)")]
    in_api = search_ids(base_url, "")
    assert ids == [i for i in in_api if i not in unknown] + [i for i in in_api if i in unknown]
    assert w.page.locator("#more").count() == 0  # nothing left to load
    days = w.page.eval_on_selector_all("section.day", "ss => ss.map(s => s.dataset.day)")
    assert len(days) == len(set(days)), "a day continued on the next page must stay one section"
    months = w.page.eval_on_selector_all("h2.month", "hs => hs.map(h => h.textContent)")
    assert len(months) == len(set(months))
    loaded = w.all_thumbnails_loaded()
    assert not loaded["broken"], loaded
    w.shot("end")


def test_folder_pages_scroll_in_a_flat_grid(open_page: Callable[..., Watched], base_url: str) -> None:
    w = open_page()
    w.goto("/folders")
    w.page.locator(".folderlist a", has_text="Generated").click()
    w.page.locator(".folderlist a", has_text="2021").click()
    w.page.wait_for_selector(".grid.flat")
    folder = w.path().split("?")[0]
    w.goto(folder + "?limit=30")  # pages of 30, so the flat grid grows by infinite scroll
    w.scroll_to_end()
    w.page.wait_for_function(f"() => document.querySelectorAll('.tile').length >= {GENERATED}")
    ids = tile_ids(w)
    assert len(ids) == len(set(ids)) == GENERATED
    assert len([r for r in w.responses if "partial=1" in r.url and "limit=30" in r.url]) == 3
    assert w.page.locator(".grid").count() == 1 and w.page.locator("#more").count() == 0
    assert w.page.locator(".crumbs a").all_inner_texts()[-2:] == ["Generated", "2021"]
    # "/" jumps to the search box from anywhere.
    w.page.keyboard.press("/")
    assert w.page.evaluate("document.activeElement.name") == "q"
    w.page.evaluate("window.scrollTo(0, 0)")
    w.shot("folder")


def test_photo_page_preview_exif_and_arrow_keys(open_page: Callable[..., Watched], base_url: str) -> None:
    w = open_page()
    w.goto("/search?q=path:Berlin")
    w.page.locator(".tile").first.click()
    w.page.wait_for_url("**/photos/*")
    pid = int(w.path().split("/")[2].split("?")[0])
    # The large preview replaces the 720 px picture once it has loaded.
    w.page.wait_for_function("() => { const i = document.getElementById('photo'); "
                             "return i && i.complete && i.naturalWidth > 0 && i.src.includes('/thumb/preview/'); }")
    exif = dict(zip(w.page.locator(".exif th").all_inner_texts(), w.page.locator(".exif td").all_inner_texts(), strict=True))
    assert {"Taken", "Size", "File", "Location"} <= set(exif), exif
    assert "Berlin" in " ".join(w.page.locator(".files").all_inner_texts())
    # The small map: Leaflet drew the pin without any tile server.
    w.page.wait_for_selector("#minimap.leaflet-container path.leaflet-interactive", state="attached")
    w.shot("detail")

    w.goto(f"/photos/{pid}")  # stepping through the whole timeline
    nxt = w.page.get_attribute(".viewer", "data-next")
    prev = w.page.get_attribute(".viewer", "data-prev")
    assert nxt or prev
    stage = w.page.locator("#stage").bounding_box()
    arrow = w.page.locator("#next" if nxt else "#prev").bounding_box()
    assert stage and arrow and abs((arrow["y"] + arrow["height"] / 2) - (stage["y"] + stage["height"] / 2)) <= 2
    if nxt:
        w.page.keyboard.press("ArrowRight")
        w.page.wait_for_url(base_url + nxt)
        w.page.wait_for_selector(".viewer")
        w.page.keyboard.press("ArrowLeft")
        w.page.wait_for_url(f"{base_url}/photos/{pid}")
    else:
        w.page.keyboard.press("ArrowLeft")
        w.page.wait_for_url(base_url + prev)
    w.page.wait_for_selector(".viewer")
    w.page.keyboard.press("Escape")
    w.page.wait_for_url(base_url + "/")


def test_photo_page_neighbours_follow_the_listing(open_page: Callable[..., Watched], base_url: str) -> None:
    ids = search_ids(base_url, "year:2021")
    w = open_page()
    w.goto(f"/photos/{ids[0]}?q=year:2021")
    seen = [ids[0]]
    for _ in range(3):
        w.page.keyboard.press("ArrowRight")
        w.page.wait_for_function(f"() => !location.pathname.endsWith('/photos/{seen[-1]}')")
        w.page.wait_for_selector(".viewer")
        seen.append(int(w.path().split("/")[2].split("?")[0]))
    assert seen == ids[:4]
    assert w.page.get_attribute(".viewer", "data-next").endswith("?q=year%3A2021")


def test_search_with_filters_and_a_parse_error(open_page: Callable[..., Watched], base_url: str) -> None:
    w = open_page()
    w.goto("/")
    box = w.page.locator(".searchbox input")
    for q in ("year:2019", "camera:canon", "year:2021 geo:true", "type:video|live"):
        box.fill(q)
        box.press("Enter")
        w.page.wait_for_load_state("load")
        w.page.wait_for_selector(".pagehead h1")
        assert w.page.input_value(".searchbox input") == q
        expected = search_ids(base_url, q)
        assert expected, q
        count = w.page.locator(".pagehead .count").inner_text()
        assert count.startswith(f"{len(expected)} item"), (q, count)
        assert tile_ids(w) == expected, q
        box = w.page.locator(".searchbox input")
    w.shot("filters", full_page=True)

    q = "camera:canon year:20x9"
    box.fill(q)
    box.press("Enter")
    w.page.wait_for_selector(".qerror")
    assert "year:20x9" in w.page.locator(".qerror p").inner_text()
    lines = w.page.locator(".qerror pre").inner_text().split("\n")
    assert lines[0] == q and lines[1].index("^") == q.index("year:20x9"), lines
    assert w.page.locator(".tile").count() == 0
    w.shot("parse-error")

    # The search page's tips run searches too.
    w.goto("/search")
    w.page.locator(".searchtips summary").click()
    w.page.locator(".searchtips a", has_text="type:video").click()
    w.page.wait_for_url("**/search?q=type*")
    assert w.page.locator(".tile").count() == len(search_ids(base_url, "type:video"))


def test_make_an_album_and_add_a_photo(open_page: Callable[..., Watched], base_url: str) -> None:
    w = open_page()
    w.goto("/search?q=year:2021")
    picked = tile_ids(w)[:2]
    w.page.locator(".selstart").click()
    assert w.page.locator("#selbar").is_visible()
    for pid in picked:
        w.page.locator(f".tile[data-id='{pid}']").click()
    assert w.page.locator(".selcount").inner_text() == "2 selected"
    w.page.wait_for_function("() => document.querySelector('.album-choice').options.length >= 1")
    w.page.locator(".album-title").fill("E2E trip")
    w.shot("selecting")
    w.page.locator("#selbar button.seladd").click()
    w.page.wait_for_url("**/albums/*")
    album = w.path().split("/")[2]
    assert w.page.locator(".pagehead h1").inner_text() == "E2E trip"
    assert sorted(tile_ids(w)) == sorted(picked)

    # From a photo page: add one more to that album.
    third = photo_id(base_url, "path:thompson")
    w.goto(f"/photos/{third}")
    w.page.select_option(".addalbum select", album)
    w.page.locator(".addalbum button").click()
    w.page.wait_for_url(f"**/photos/{third}")
    assert "E2E trip" in w.page.locator(".albums").inner_text()
    w.page.locator(".albums a", has_text="E2E trip").click()
    w.page.wait_for_url(f"**/albums/{album}")
    assert sorted(tile_ids(w)) == sorted([*picked, third])
    w.shot("album")

    # The album page's own forms: make a photo the cover, remove one, rename.
    cover = api(base_url, f"/api/v1/photos/{third}")["photo"]["sha1"]
    w.page.keyboard.press("s")  # the keyboard way into selecting
    w.page.locator(f".tile[data-id='{third}']").click()
    w.page.locator("#selbar button", has_text="Make cover").click()
    w.page.wait_for_url(f"**/albums/{album}")
    w.page.locator(".selstart").click()
    w.page.locator(f".tile[data-id='{picked[0]}']").click()
    w.page.locator("#selbar button", has_text="Remove from album").click()
    w.page.wait_for_url(f"**/albums/{album}")
    assert sorted(tile_ids(w)) == sorted([picked[1], third])
    w.page.locator(".albumedit summary").click()
    w.page.locator(".albumedit input[name=title]").fill("E2E trip, renamed")
    w.page.locator(".albumedit button", has_text="Save").click()
    w.page.wait_for_url(f"**/albums/{album}")
    assert w.page.locator(".pagehead h1").inner_text() == "E2E trip, renamed"

    w.goto("/albums")
    card = w.page.locator(".card", has_text="E2E trip, renamed")
    assert card.count() == 1
    assert cover in (card.locator("img").get_attribute("src") or "")
    assert "2 items" in card.inner_text()
    w.shot("albums")


def test_play_a_video_with_range_requests(open_page: Callable[..., Watched], base_url: str) -> None:
    vid = photo_id(base_url, "path:VID_20170222")
    w = open_page()
    w.goto(f"/photos/{vid}")
    video = w.page.locator("video#video")
    assert video.get_attribute("poster").startswith("/thumb/fit/")
    w.page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; return v.play(); }")
    w.page.wait_for_function(
        "() => { const v = document.getElementById('video'); return v.readyState >= 2 && (v.currentTime > 0 || v.ended); }")
    state = w.page.evaluate("() => { const v = document.getElementById('video'); "
                            "return {w: v.videoWidth, h: v.videoHeight, d: v.duration, error: v.error && v.error.code}; }")
    assert state["w"] > 0 and state["h"] > 0 and state["d"] > 0 and state["error"] is None, state
    originals = [r for r in w.responses if r.url.endswith(f"/photos/{vid}/original")]
    assert any(r.status == 206 and r.headers.get("content-range", "").startswith("bytes ") for r in originals), \
        [(r.status, r.headers) for r in originals]
    w.shot("video")


def test_stacks_odd_files_and_download(open_page: Callable[..., Watched], base_url: str) -> None:
    w = open_page()
    fits = "document.scrollingElement.scrollWidth <= window.innerWidth"
    # A Live Photo and a RAW+JPEG pair: one photo in the grid, its members on the photo page.
    for name, q, kind in (("live", "path:IMG_1502", "Live Photo"), ("raw", "path:IMG_6D_0001", "RAW + JPEG")):
        pid = photo_id(base_url, q)
        w.goto(f"/photos/{pid}")
        assert w.page.locator(".info h4", has_text=kind).count() == 1, name
        members = w.page.locator(".members a")
        assert members.count() >= 1, name  # the other members of the stack
        w.page.wait_for_function("() => [...document.querySelectorAll('.members img')].every(i => i.complete && i.naturalWidth > 0)")
        w.shot(name)
    # A RAW that cannot be decoded still has its page, saying why there is no picture.
    w.goto(f"/photos/{photo_id(base_url, 'path:IMG_0350')}")
    assert "LibRaw" in w.page.locator(".nopreview").inner_text()
    w.shot("no-preview")
    # A very long file name stays inside the info column.
    w.goto(f"/photos/{photo_id(base_url, 'path:Summer_holiday')}")
    assert w.page.evaluate(fits)
    overflow = w.page.evaluate("() => { const a = document.querySelector('.info'); return a.scrollWidth - a.clientWidth; }")
    assert overflow <= 1
    w.shot("long-name")
    # The original downloads under its own (non-ASCII) name, byte for byte.
    pid = photo_id(base_url, "path:Fotos_Müller")
    w.goto(f"/photos/{pid}")
    with w.page.expect_download() as info:
        w.page.keyboard.press("d")
    download = info.value
    assert download.suggested_filename == "Fotos_Müller_café_日本_😀.jpg"
    original = SMALL_CORPUS / "bad" / "Fotos_Müller_café_日本_😀.jpg"
    assert Path(download.path()).read_bytes() == original.read_bytes()


def test_map_shows_markers_without_tiles(open_page: Callable[..., Watched], base_url: str) -> None:
    geotagged = len(search_ids(base_url, "geo:true"))
    assert geotagged >= 10
    w = open_page()
    w.goto("/map")
    w.page.wait_for_function("() => Number(document.getElementById('map').dataset.markers || 0) > 0")
    markers = w.page.locator(".leaflet-marker-icon")
    assert markers.count() > 0
    assert w.page.locator(".leaflet-marker-icon .cluster, .leaflet-marker-icon .photomarker span").count() > 0, \
        "at world zoom some photos share a cluster"
    counts = w.page.eval_on_selector_all(
        ".leaflet-marker-icon", "ms => ms.map(m => Number((m.querySelector('span, .cluster') || {}).textContent || 1))")
    assert sum(counts) == geotagged
    assert w.page.locator(".leaflet-tile").count() == 0
    assert w.page.locator("#mapcount").inner_text().startswith(f"{geotagged} photos")
    w.settle_images()
    w.shot("world")

    # A cluster zooms in; a single photo opens it.
    before = w.page.evaluate("location.hash")
    biggest = max(range(len(counts)), key=lambda i: counts[i])
    markers.nth(biggest).click()
    w.page.wait_for_function(f"() => location.hash !== {json.dumps(before)}")
    w.page.wait_for_function("() => Number(document.getElementById('map').dataset.markers || 0) > 0")
    w.settle_images()
    w.shot("zoomed")

    w.goto("/map?q=year:2021")
    w.page.wait_for_function("() => Number(document.getElementById('map').dataset.markers || 0) > 0")
    assert w.page.locator("#mapcount").inner_text().startswith(f"{len(search_ids(base_url, 'year:2021 geo:true'))} ")


def test_favorite_toggle(open_page: Callable[..., Watched], base_url: str) -> None:
    pid = photo_id(base_url, "path:digikam")
    assert pid not in search_ids(base_url, "favorite:true")
    w = open_page()
    w.goto(f"/photos/{pid}")
    fav = w.page.locator("#fav")
    assert fav.get_attribute("aria-pressed") == "false"
    fav.click()
    w.page.wait_for_selector("#fav[aria-pressed=true]")
    assert "on" in (w.page.locator("#fav").get_attribute("class") or "")
    w.shot("on")
    w.goto("/favorites")
    assert tile_ids(w) == [pid]
    assert w.page.locator(f".tile[data-id='{pid}'] .fav").count() == 1
    w.shot("favorites")
    # The f key toggles it back.
    w.goto(f"/photos/{pid}")
    w.page.keyboard.press("f")
    w.page.wait_for_selector("#fav[aria-pressed=false]")
    assert pid not in search_ids(base_url, "favorite:true")


def test_rotate_turns_the_picture_within_the_stage(open_page: Callable[..., Watched], base_url: str) -> None:
    pid = photo_id(base_url, "path:thompson")  # landscape
    w = open_page()
    w.goto(f"/photos/{pid}")
    fits = """() => { const s = document.getElementById('stage').getBoundingClientRect();
        const i = document.getElementById('photo').getBoundingClientRect();
        return i.width > 0 && i.left >= s.left - 1 && i.right <= s.right + 1 && i.top >= s.top - 1 && i.bottom <= s.bottom + 1; }"""
    assert w.page.evaluate(fits)
    w.page.locator("#rotr").click()
    w.page.wait_for_selector("#stage.rot90")
    w.page.wait_for_function("() => { const i = document.getElementById('photo'); return i.complete && i.naturalWidth > 0; }")
    w.page.wait_for_timeout(300)  # the turn is animated
    assert w.page.evaluate(fits), "the turned picture must stay inside the stage"
    w.shot("rot90")
    # What shows is the picture contained in the element's box, turned a quarter: taller than wide.
    shown = w.page.evaluate("""() => { const i = document.getElementById('photo');
        const k = Math.min(i.offsetWidth / i.naturalWidth, i.offsetHeight / i.naturalHeight);
        return {width: i.naturalHeight * k, height: i.naturalWidth * k}; }""")
    assert shown["height"] > shown["width"] > 300, shown
    w.goto("/search?q=path:thompson")
    assert w.page.locator(f".tile.rot90[data-id='{pid}']").count() == 1
    w.goto(f"/photos/{pid}")
    w.page.keyboard.press("l")  # and back: the photo ends as it started
    w.page.wait_for_selector("#stage.rot0")


def test_light_and_dark(open_page: Callable[..., Watched]) -> None:
    w = open_page()
    w.goto("/")
    background = "getComputedStyle(document.body).backgroundColor"
    light = w.page.evaluate(background)
    w.page.locator(".theme-toggle").click()
    assert w.page.get_attribute("html", "data-theme") == "dark"
    dark = w.page.evaluate(background)
    assert light != dark and _luminance(dark) < 0.2 < _luminance(light), (light, dark)
    w.page.reload()
    assert w.page.get_attribute("html", "data-theme") == "dark"  # remembered
    w.shot("timeline-dark")
    pid = tile_ids(w)[0]
    w.goto(f"/photos/{pid}")
    assert w.page.evaluate(background) == dark
    w.shot("photo-dark")
    w.page.locator(".theme-toggle").click()
    assert w.page.get_attribute("html", "data-theme") == "light"
    assert w.page.evaluate(background) == light


    # A device in dark mode gets dark without choosing.
    d = open_page(color_scheme="dark")
    d.goto("/search?q=year:2019")
    assert d.page.evaluate(background) == dark
    d.shot("search-device-dark")
    d.goto("/map")
    d.page.wait_for_function("() => Number(document.getElementById('map').dataset.markers || 0) > 0")
    d.shot("map-device-dark")


def _luminance(css: str) -> float:
    r, g, b = (int(v) for v in css[css.index("(") + 1:css.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


@pytest.mark.parametrize("path", ["/albums", "/people", "/folders", "/calendar", "/places", "/duplicates", "/status",
                                  "/videos", "/archive", "/search", "/account", "/admin"])
def test_other_pages(open_page: Callable[..., Watched], path: str) -> None:
    w = open_page()
    w.goto(path)
    assert w.page.locator("main h1").count() >= 1
    assert w.page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    w.shot("page", full_page=path != "/search")  # /search without a query lists everything


def test_phone_width(open_page: Callable[..., Watched], base_url: str) -> None:
    w = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    fits = "document.scrollingElement.scrollWidth <= window.innerWidth"
    w.goto("/")
    assert w.page.locator("nav.side").is_visible()
    nav = w.page.locator("nav.side").bounding_box()
    assert nav is not None and nav["y"] + nav["height"] == pytest.approx(PHONE["height"], abs=1)  # a bottom bar
    assert w.page.evaluate(fits)
    tiles = w.page.eval_on_selector_all(".tile", "ts => ts.slice(0, 12).map(t => t.getBoundingClientRect().width)")
    assert all(0 < x <= PHONE["width"] for x in tiles)
    w.shot("timeline")
    # Selecting: the bar sits above the bottom navigation and fits the width.
    w.page.locator(".selstart").click()
    w.page.locator(".tile").nth(1).tap()
    bar = w.page.locator("#selbar").bounding_box()
    assert bar is not None and bar["x"] >= 0 and bar["x"] + bar["width"] <= PHONE["width"]
    assert bar["y"] + bar["height"] <= nav["y"]
    w.shot("selecting")
    pid = photo_id(base_url, "path:digikam")
    w.goto(f"/photos/{pid}")
    assert w.page.evaluate(fits)
    w.page.wait_for_function("() => { const i = document.getElementById('photo'); return i.complete && i.naturalWidth > 0; }")
    box = w.page.locator("#photo").bounding_box()
    assert box is not None and box["width"] > 300
    w.shot("photo")
    w.shot("photo-full", full_page=True)
    # A swipe to the left steps to the next photo, as the arrow does on a desktop.
    nxt = w.page.get_attribute(".viewer", "data-next")
    assert nxt
    w.page.evaluate("""() => {
        const stage = document.getElementById('stage');
        const touch = (x) => new Touch({identifier: 1, target: stage, clientX: x, clientY: 300});
        stage.dispatchEvent(new TouchEvent('touchstart', {touches: [touch(320)], changedTouches: [touch(320)], bubbles: true}));
        stage.dispatchEvent(new TouchEvent('touchend', {touches: [], changedTouches: [touch(80)], bubbles: true}));
    }""")
    w.page.wait_for_url(base_url + nxt)
    w.page.wait_for_selector(".viewer")
    w.goto("/search?q=camera:canon year:20x9")
    assert w.page.evaluate(fits)
    w.shot("search-error")
    w.goto("/map")
    w.page.wait_for_function("() => Number(document.getElementById('map').dataset.markers || 0) > 0")
    assert w.page.evaluate(fits)
    w.shot("map")
    w.goto("/albums")
    assert w.page.evaluate(fits)
    w.shot("albums")


def test_user_menu_and_admin_page(open_page: Callable[..., Watched], base_url: str) -> None:
    fits = "document.scrollingElement.scrollWidth <= window.innerWidth"
    w = open_page()
    w.goto("/")
    w.page.locator(".usermenu summary").click()
    menu = w.page.locator(".usermenu .menu")
    assert menu.is_visible() and "admin" in menu.inner_text()
    w.shot("menu")
    menu.get_by_text("Admin: users and links").click()
    w.page.wait_for_url(f"{base_url}/admin")
    w.page.fill(".adduser input[name=name]", "cousin")
    w.page.select_option(".adduser select[name=role]", "viewer")
    w.page.fill(".adduser input[name=password]", "a long enough password")
    w.page.click(".adduser button[type=submit]")
    w.page.wait_for_selector(".notice")
    assert "cousin added as viewer" in w.page.locator(".notice").inner_text()
    assert w.page.locator('tr[data-user="cousin"]').is_visible()
    w.shot("admin", full_page=True)
    phone = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    phone.goto("/admin")
    assert phone.page.evaluate(fits)
    phone.shot("admin-phone", full_page=True)
    phone.goto("/")
    phone.page.locator(".usermenu summary").tap()
    box = phone.page.locator(".usermenu .menu").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    phone.shot("menu-phone")
    phone.goto("/account")
    assert phone.page.evaluate(fits) and phone.page.locator("input[name=current_password]").is_visible()
    phone.shot("account-phone")


def test_a_viewer_gets_no_editing_controls_and_the_keys_change_nothing(open_page: Callable[..., Watched],
                                                                      base_url: str) -> None:
    """A viewer (browse only) sees no button that would answer 403, reads the title as text, and f, l, r and s
    send nothing (viewer/static: they act only with <body data-can-edit>; s starts selecting, to download)."""
    api(base_url, "/api/v1/users", "POST", {"name": "reader", "role": "viewer", "password": PASSWORD})
    pid = photo_id(base_url, "path:gen_013")
    before = api(base_url, f"/api/v1/photos/{pid}")["photo"]
    api(base_url, f"/api/v1/photos/{pid}", "PATCH", {"title": "Read, not written", "description": "A viewer's view"})
    writes: list[str] = []  # every request but a GET, from either page
    try:
        for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
            options = {"is_mobile": True, "has_touch": True} if viewport is PHONE else {}
            w = open_page(viewport=viewport, storage_state=None, **options)
            w.page.on("request", lambda r: writes.append(f"{r.method} {r.url}") if r.method != "GET" else None)
            browser_log_in(w.page, base_url, "reader")
            writes.clear()  # the login itself
            assert w.page.get_attribute("body", "data-can-edit") is None
            assert w.page.locator(".selstart").count() == 1  # selecting is for downloading (the next test)
            assert w.page.locator(VIEWER_HIDDEN_SELECTION).count() == 0
            w.page.keyboard.press("s")
            w.shot(f"timeline-{size}")
            w.goto(f"/photos/{pid}")
            for control in ("#fav", "#rotl", "#rotr", ".textedit", ".addalbum", "form[method=post]:not(.logout)"):
                assert w.page.locator(control).count() == 0, control
            assert w.page.locator(".phototitle").inner_text() == "Read, not written"
            assert w.page.locator("#download").is_visible()
            for key in ("f", "l", "r", "s"):
                w.page.keyboard.press(key)
            w.page.wait_for_timeout(500)  # what a key would have sent has left by now
            assert not writes, writes
            assert w.path() == f"/photos/{pid}" and w.page.locator("#stage.rot0").count() == 1
            w.shot(f"photo-{size}")
        after = api(base_url, f"/api/v1/photos/{pid}")["photo"]
        assert (after["favorite"], after["rotation"]) == (before["favorite"], before["rotation"])
    finally:
        api(base_url, f"/api/v1/photos/{pid}", "PATCH",
            {"title": before["title"] or "", "description": before["description"] or ""})


# What a viewer's selection bar must not hold: the buttons that change photos or albums (each would answer 403).
VIEWER_HIDDEN_SELECTION = "#selbar [data-flag], #selbar .seladd, #selbar .selremove, #selbar select, #selbar input[type=text]"


def test_a_viewer_selects_two_photos_and_downloads_a_zip(open_page: Callable[..., Watched], base_url: str,
                                                        lib: Library) -> None:
    """A viewer's selection bar downloads and does nothing else: two photos selected, one zip holding both
    originals (POST /download, the only write the page sends), and no favorite, archive, private or album
    button."""
    api(base_url, "/api/v1/users", "POST", {"name": "fetcher", "role": "viewer", "password": PASSWORD})
    w = open_page(storage_state=None, accept_downloads=True)
    writes: list[str] = []
    w.page.on("request", lambda r: writes.append(f"{r.method} {r.url}") if r.method != "GET" else None)
    browser_log_in(w.page, base_url, "fetcher")
    writes.clear()  # the login itself
    w.goto("/search?q=path:Generated")
    w.page.locator(".selstart").click()
    assert w.page.locator("#selbar").is_visible()
    assert w.page.locator(VIEWER_HIDDEN_SELECTION).count() == 0
    labels = w.page.eval_on_selector_all("#selbar button", "bs => bs.map(b => b.textContent.trim())")
    assert labels == ["Download", "Cancel"], labels
    tiles = w.page.locator(".tile")
    tiles.nth(0).click()
    tiles.nth(2).click()
    ids = tile_ids(w)
    chosen = [ids[0], ids[2]]
    assert w.page.locator(".tile.selected").count() == 2
    assert w.page.locator(".selcount").inner_text() == "2 selected"
    w.shot("selecting")
    with w.page.expect_download() as download:
        w.page.locator("#selbar .seldownload").click()
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as held:
        inside = {name: held.read(name) for name in held.namelist()}
    originals = {Path(p).name: (lib.originals / p).read_bytes()
                 for p in (api(base_url, f"/api/v1/photos/{pid}")["photo"]["path"] for pid in chosen)}
    assert inside == originals
    assert writes == [f"POST {base_url}/download"], writes


def test_share_a_photo_and_open_the_link(open_page: Callable[..., Watched], base_url: str) -> None:
    pid = photo_id(base_url, "path:digikam")
    w = open_page()
    w.goto(f"/photos/{pid}")
    w.page.click(".share-open")
    w.page.select_option("#sharedialog select[name=expires_days]", "30")
    w.page.click("#sharedialog .share-create")
    w.page.wait_for_selector("#sharedialog .shareresult:not([hidden])")
    url = w.page.input_value("#sharedialog .shareurl")
    assert url.startswith(f"{base_url}/s/")
    w.shot("dialog")
    visitor = open_page(storage_state=None)  # someone without an account
    visitor.goto(url[len(base_url):])
    visitor.page.wait_for_function("() => { const i = document.getElementById('photo'); return i.complete && i.naturalWidth > 0; }")
    assert visitor.page.locator("nav.side").count() == 0 and visitor.page.locator(".searchbox").count() == 0
    hrefs = visitor.page.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
    assert all(h.startswith(url[len(base_url):]) for h in hrefs), hrefs
    visitor.shot("visitor")
    phone = open_page(viewport=PHONE, is_mobile=True, has_touch=True, storage_state=None)
    phone.goto(url[len(base_url):])
    assert phone.page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    phone.shot("visitor-phone")


def test_under_a_root_path_behind_a_proxy(lib: Library, browser: Any, shots: Path, tmp_path: Path) -> None:
    """`serve --root-path /shelf` behind a proxy that strips the prefix (packaging/Caddyfile, nginx.conf): the
    timeline's thumbnails and infinite scroll, selecting, a photo, sharing it, the next photo and the map all stay
    under /shelf, with no failed request and no console error (tests/viewer/test_root_path.py crawls every link)."""
    with _serve(lib, tmp_path / "serve.log", "--root-path", "/shelf") as direct, \
            stripping_proxy(int(direct.rsplit(":", 1)[1]), "/shelf") as base:
        total = api(base, "/api/v1/search?limit=1")["count"]
        context = browser.new_context(viewport=DESKTOP, color_scheme="light", storage_state=_log_in(browser, base))
        try:
            w = Watched(context.new_page(), base, shots, "root-path-")
            w.page.set_default_timeout(15000)
            w.goto("/")
            loaded = w.every_tile_loaded(total)
            assert loaded["count"] >= total - 5 and not loaded["broken"], loaded
            with w.page.expect_response(lambda r: r.url == f"{base}/api/v1/albums") as albums:
                w.page.keyboard.press("s")  # selecting lists the albums (app.js)
            assert albums.value.status == 200
            w.page.keyboard.press("Escape")
            w.page.evaluate("window.scrollTo(0, 0)")
            w.page.locator(".tile").first.click()
            w.page.wait_for_url(re.compile(re.escape(base) + r"/photos/\d+"))
            w.page.wait_for_function("() => { const i = document.getElementById('photo');"
                                     " return i && i.complete && i.naturalWidth > 0; }")
            w.page.locator(".share-open").click()  # share.js
            w.page.locator(".share-create").click()
            w.page.wait_for_function("() => document.querySelector('.shareurl').value !== ''")
            assert w.page.input_value(".shareurl").startswith(f"{base}/s/")
            w.page.locator(".share-close").click()
            first = w.page.url
            w.page.keyboard.press("ArrowRight")  # photo.js follows data-next
            w.page.wait_for_function(f"() => location.href !== {json.dumps(first)}")
            w.page.wait_for_load_state("load")
            assert w.path().startswith("/photos/"), w.page.url
            w.shot("photo")
            w.goto("/map")  # map.js asks /shelf/api/v1/map and links markers under /shelf
            w.page.wait_for_function("() => Number(document.getElementById('map').dataset.markers || 0) > 0")
            w.settle_images()
            w.shot("map")
            w.check()
            assert all(u.startswith((f"{base}/", "data:", "blob:")) for u in w.requests), w.requests
        finally:
            context.close()


# --- the full corpus ----------------------------------------------------------------------------------------


@pytest.mark.corpus
def test_full_corpus_timeline_loads_cleanly(full_corpus: Path, tmp_path: Path, browser: Any) -> None:
    lib = _indexed_library(tmp_path, full_corpus, 0)
    with _serve(lib, tmp_path / "serve.log") as base:
        total = api(base, "/api/v1/search?limit=1")["count"]
        context = browser.new_context(viewport=DESKTOP, color_scheme="light", storage_state=_log_in(browser, base))
        try:
            w = Watched(context.new_page(), base, tmp_path, "corpus-")
            w.goto("/")
            loaded = w.every_tile_loaded(total)
            assert loaded["count"] >= total * 0.8 and not loaded["broken"], loaded
            w.page.evaluate("window.scrollTo(0, 0)")
            w.shot("timeline")
            w.goto("/map")
            w.page.wait_for_function("() => Number(document.getElementById('map').dataset.markers || 0) > 0")
            w.settle_images()
            w.shot("map")
            w.check()
        finally:
            context.close()


def test_screenshots_are_ignored_by_git() -> None:
    """test-output/ holds the screenshots for a reviewer; it must never be committed by accident."""
    out = subprocess.run(["git", "check-ignore", "-q", str(SHOTS / "x.png")], cwd=REPO, check=False)
    if out.returncode == 128:
        pytest.skip("not a git checkout")
    assert out.returncode == 0, "test-output/ must be in .gitignore"


@pytest.fixture
def dup_lib(tmp_path: Path) -> Iterator[Library]:
    """Near copies, a burst and an exact copy (tests/test_duplicates.py), indexed into SQLite."""
    from test_duplicates import make_source

    from photoshelf.library import index_library

    library = make_library(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", make_source(tmp_path / "source"))
    index_library(library.config, library.db)
    yield library
    library.db.close()


def test_duplicates_page_at_phone_width(dup_lib: Library, browser: Any, tmp_path: Path) -> None:
    """The duplicates page at 390 px: groups fit, confirm and undo work through the page's forms."""
    from photoshelf.db.schema import Photo

    from support import checksums

    lib = dup_lib
    before = checksums(lib.originals)
    # The module's browser: a second sync_playwright() while another is open fails ("Sync API inside the asyncio loop").
    with _serve(lib, tmp_path / "serve.log") as base:
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        try:
            page: Any = context.new_page()
            page.set_default_timeout(20000)
            browser_log_in(page, base)
            w = Watched(page, base, tmp_path, "duplicates-phone-")
            w.goto("/duplicates")
            # A phone widens its layout to fit what is too wide (scrollWidth then equals innerWidth): check both.
            assert page.evaluate("window.innerWidth") == PHONE["width"]
            assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
            boxes = page.eval_on_selector_all(".dup", "ds => ds.map(d => d.getBoundingClientRect().toJSON())")
            assert len(boxes) >= 9, boxes  # the near group (7), the burst (3), the exact copy
            assert all(b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] for b in boxes), boxes
            assert page.locator(".dup.keep").count() >= 3
            w.shot("groups", full_page=True)
            page.locator("section.dupgroup", has_text="distance").first.locator(
                ".dupaction button").click()
            page.wait_for_selector("text=Undo: show the copies again")
            assert Photo.select().where(Photo.duplicate_of.is_null(False)).count() == 6
            assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
            w.shot("resolved", full_page=True)
            page.locator(".dupaction button", has_text="Undo").click()
            page.wait_for_selector("text=Confirm all 1 near-duplicate group")
            assert Photo.select().where(Photo.duplicate_of.is_null(False)).count() == 0
            w.check()
        finally:
            context.close()
    assert checksums(lib.originals) == before
