"""End to end, the family viewer of issue 15 in a real Chromium (the server, library and page watching of
tests/viewer/test_e2e.py): the dense timeline with its scrubber and "Unknown date", every section reachable at
phone width, the selection bar (range select, favorite, archive, download), new photos appearing live, arrow
keys between tiles, and axe-core on the main pages, at 1440×900 and 390×844 in light and dark. Screenshots go
to test-output/e2e/ like the others'."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

from conftest import Library


def _e2e() -> ModuleType:
    """tests/viewer/test_e2e.py as a module: its fixtures (one library, server and browser per module) and helpers."""
    name = "photoshelf_test_e2e_shared"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("test_e2e.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


e2e = _e2e()
lib, base_url, browser, logged_in, shots, open_page = (e2e.lib, e2e.base_url, e2e.browser, e2e.logged_in, e2e.shots,
                                                       e2e.open_page)
api, photo_id, tile_ids, Watched = e2e.api, e2e.photo_id, e2e.tile_ids, e2e.Watched

pytestmark = pytest.mark.slow

LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = {"laptop": LAPTOP, "phone": PHONE}
LOOKS = [(size, theme) for size in SIZES for theme in ("light", "dark")]
FITS = "document.scrollingElement.scrollWidth <= window.innerWidth"
AXE_JS = None  # axe-core's script, read once


def _open(open_page: Callable[..., Any], size: str, theme: str, **options: Any) -> Any:
    extra = {"is_mobile": True, "has_touch": True} if size == "phone" else {}
    return open_page(viewport=SIZES[size], color_scheme=theme, **extra, **options)


def axe_violations(w: Any) -> list[str]:
    """axe-core (the copy the axe-playwright-python package ships) on the page as it is: the serious and critical
    violations, one line each. Injected through evaluate(), which the page's CSP (no inline script) allows."""
    global AXE_JS
    if AXE_JS is None:
        try:
            import axe_playwright_python
        except ImportError:
            pytest.fail("the accessibility checks need axe-playwright-python: pip install -e '.[dev]'")
        AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
    w.page.evaluate(AXE_JS)
    result = w.page.evaluate("""() => axe.run(document, {resultTypes: ['violations'],
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})""")
    return [f"{v['impact']}: {v['id']}: {v['help']} — " + "; ".join(n["target"][0] if isinstance(n["target"][0], str)
                                                                       else str(n["target"]) for n in v["nodes"][:4])
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


# --- the timeline ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size, theme", LOOKS)
def test_dense_timeline_scrubber_and_unknown_dates(open_page: Callable[..., Any], base_url: str, size: str,
                                                   theme: str) -> None:
    w = _open(open_page, size, theme)
    w.goto("/")
    assert w.page.evaluate(FITS)
    # Dense: days share lines (a day of one photo does not take a row); on a laptop many days to a line.
    lines = w.page.evaluate("""() => {
        const tops = [...document.querySelectorAll('#timeline section.day')].slice(0, 30)
            .map(d => Math.round(d.getBoundingClientRect().top));
        return {days: tops.length, lines: new Set(tops).size};
    }""")
    assert lines["days"] >= 10 and lines["lines"] < lines["days"] * (0.5 if size == "laptop" else 0.9), lines
    # No tile sticks out of its day, no day out of the column.
    assert w.page.evaluate("""() => [...document.querySelectorAll('#timeline section.day')].every(d => {
        const r = d.getBoundingClientRect(), c = document.getElementById('timeline').getBoundingClientRect();
        return r.right <= c.right + 1 && [...d.querySelectorAll('.tile')].every(t => t.getBoundingClientRect().right <= r.right + 1);
    })""")
    w.shot(f"timeline-{size}-{theme}")
    assert not axe_violations(w), axe_violations(w)

    # The scrubber jumps to a year: the page starts at that year's newest photo.
    years = w.page.eval_on_selector_all(".scrubyear[data-year]", "ls => ls.map(l => l.dataset.year)")
    assert "2021" in years and "2019" in years, years
    if size == "phone":
        w.page.locator(".scrubber summary").tap()
        w.shot(f"scrubber-{size}-{theme}")
    w.page.locator('.scrubyear[data-year="2019"] > a').click()
    w.page.wait_for_url("**/?cursor=*")
    first = tile_ids(w)[0]
    assert api(base_url, f"/api/v1/photos/{first}")["photo"]["taken_at_local"].startswith("2019")
    assert w.page.locator(".jumpback a").is_visible()
    assert w.page.evaluate(FITS)

    # Photos whose date is a guess come last, in "Unknown date", not in the month they were copied.
    w.goto("/?part=unknown")
    assert w.page.locator('section.monthblock[data-month="unknown"] h2').inner_text() == "Unknown date"
    unknown = tile_ids(w)
    assert unknown
    for pid in unknown[:5]:
        src = api(base_url, f"/api/v1/photos/{pid}")["photo"]["taken_at_source"]
        assert src in ("", "mtime"), (pid, src)
    # A file nothing could make a preview of is a tile that names it, not a grey box.
    if w.page.locator(".tile.noimg").count():
        assert w.page.locator(".tile.noimg .fname").first.inner_text().strip()
    w.shot(f"unknown-{size}-{theme}", full_page=size == "laptop")


def test_scrolling_reaches_unknown_date_last(open_page: Callable[..., Any], base_url: str) -> None:
    total = api(base_url, "/api/v1/search?limit=1")["count"]
    w = open_page(viewport=LAPTOP)
    w.goto("/")
    w.scroll_to_end()
    w.page.wait_for_function(f"() => document.querySelectorAll('.tile').length >= {total}")
    ids = tile_ids(w)
    assert len(ids) == len(set(ids)) == total
    months = w.page.eval_on_selector_all("section.monthblock", "ms => ms.map(m => m.dataset.month)")
    assert months[-1] == "unknown" and len(months) == len(set(months)), months
    dated = [m for m in months if m != "unknown"]
    assert dated == sorted(dated, reverse=True)


def test_a_long_scroll_keeps_the_page_bounded(open_page: Callable[..., Any], base_url: str) -> None:
    """Past Grid.keep tiles (2000; 30 here, the test library is small) days far off screen give up their tiles
    and get them back when scrolled to again: same photos, same order, the selection kept."""
    total = api(base_url, "/api/v1/search?limit=1")["count"]
    w = open_page(viewport=LAPTOP)
    w.goto("/")
    first = tile_ids(w)[:12]
    w.page.locator(".selstart").click()
    w.page.locator(f'.tile[data-id="{first[0]}"]').click()
    w.page.evaluate("Grid.keep = 30; document.dispatchEvent(new CustomEvent('photoshelf:page'))")
    w.scroll_to_end()
    w.page.wait_for_function("() => Grid.sleeping() > 0")
    held = w.page.locator(".tile").count()
    assert held < total, (held, total)
    assert w.page.locator('section.monthblock[data-month="unknown"] .tile').count() > 0  # the end is there
    w.shot("bounded-end")
    w.page.evaluate("window.scrollTo(0, 0)")
    # Days wake one by one as they come near the viewport: wait for all of the first twelve, not just the first.
    w.page.wait_for_function("ids => ids.every(id => document.querySelector(`.tile[data-id=\"${id}\"]`) !== null)",
                             arg=first)
    assert tile_ids(w)[:12] == first
    assert w.page.locator(f'.tile.selected[data-id="{first[0]}"]').count() == 1
    assert w.page.evaluate(FITS)


def test_every_section_is_reachable_at_phone_width(open_page: Callable[..., Any], base_url: str) -> None:
    """Everything the laptop's side bar lists, and the account pages, reached by taps at 390 px: in the bottom
    bar or in its "More" sheet; each page fits the width and its navigation targets are 44 px or more."""
    laptop = open_page(viewport=LAPTOP)
    laptop.goto("/")
    sections = laptop.page.eval_on_selector_all("nav.side > a", "as => as.map(a => a.getAttribute('href'))")
    assert {"/people", "/places", "/folders", "/calendar", "/videos", "/things", "/status"} <= set(sections), sections
    for theme in ("light", "dark"):
        w = _open(open_page, "phone", theme)
        w.goto("/")
        for href in [*sections, "/account", "/admin"]:
            link = w.page.locator(f'nav.side > a[href="{href}"]')
            if not link.is_visible():
                w.page.locator(".moresheet summary").tap()
                link = w.page.locator(f'.moresheet .sheet a[href="{href}"]')
                if href == "/things" and theme == "light":
                    w.shot("more-sheet")
            assert link.is_visible(), f"{href} cannot be reached at phone width"
            box = link.bounding_box()
            assert box["width"] >= 44 and box["height"] >= 44, (href, box)
            with w.page.expect_navigation(wait_until="load"):
                link.tap()
            assert w.page.url == base_url + href
            assert w.page.evaluate(FITS), f"{href} scrolls sideways at phone width"
            if theme == "dark":
                w.shot(f"phone{href.replace('/', '-') or '-timeline'}-dark")
        summary = w.page.locator(".moresheet summary").bounding_box()
        assert summary["width"] >= 44 and summary["height"] >= 44


# --- selecting ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_selection_bar_range_favorite_archive_download(open_page: Callable[..., Any], base_url: str,
                                                       size: str) -> None:
    w = _open(open_page, size, "light", accept_downloads=True)
    w.goto("/search?q=path:Generated")
    w.page.locator(".selstart").click()
    tiles = w.page.locator(".tile")
    tiles.nth(1).click()
    tiles.nth(4).click(modifiers=["Shift"])  # the run from the 2nd to the 5th
    chosen = tile_ids(w)[1:5]
    assert w.page.locator(".tile.selected").count() == 4
    assert w.page.locator(".selcount").inner_text() == "4 selected"
    bar = w.page.locator("#selbar").bounding_box()
    assert bar["x"] >= 0 and bar["x"] + bar["width"] <= SIZES[size]["width"] + 1
    w.shot(f"selecting-{size}")
    before = {pid: api(base_url, f"/api/v1/photos/{pid}")["photo"]["favorite"] for pid in chosen}
    try:
        w.page.locator('#selbar [data-flag="favorite"]').click()
        w.page.wait_for_function("() => document.querySelector('.selmsg').textContent.includes('favorited')")
        assert all(api(base_url, f"/api/v1/photos/{pid}")["photo"]["favorite"] for pid in chosen)
        assert w.page.locator(".tile.selected .fav").count() == 4
        # The zip of the four originals, streamed.
        with w.page.expect_download() as download:
            w.page.locator("#selbar .seldownload").click()
        data = Path(download.value.path()).read_bytes()
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        assert len(names) == 4 and all(n.startswith("gen_") for n in names), names
        # Archive two: they leave the listing.
        w.page.locator(".tile.selected").nth(0).click()
        w.page.locator(".tile.selected").nth(0).click()  # two left selected
        left = [int(x) for x in w.page.eval_on_selector_all(".tile.selected", "ts => ts.map(t => t.dataset.id)")]
        w.page.locator('#selbar [data-flag="archived"]').click()
        w.page.wait_for_function("() => document.querySelector('.selmsg').textContent.includes('archived')")
        assert not set(left) & set(tile_ids(w))
        assert all(api(base_url, f"/api/v1/photos/{pid}")["photo"]["archived"] for pid in left)
        w.shot(f"archived-{size}")
    finally:
        for pid in chosen:
            api(base_url, f"/api/v1/photos/{pid}", "PATCH", {"favorite": before[pid], "archived": False})


# --- live updates, keys -----------------------------------------------------------------------------------------


def _index_now(lib: Library) -> None:
    """`photoshelf index` as a user runs it, beside the running server (SQLite: another process's writes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOSHELF_")}
    env.update({"PHOTOSHELF_ORIGINALS": str(lib.originals), "PHOTOSHELF_STORAGE": str(lib.storage),
                "PHOTOSHELF_DATABASE": lib.database_url, "PHOTOSHELF_LOG_LEVEL": "warning"})
    out = subprocess.run([sys.executable, "-m", "photoshelf.cli", "index", "--no-ml"], env=env, capture_output=True,
                         text=True, timeout=240, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_new_photos_appear_while_the_page_is_open(open_page: Callable[..., Any], base_url: str, lib: Library) -> None:
    w = open_page(viewport=LAPTOP)
    w.goto("/")
    before = tile_ids(w)
    latest = int(w.page.get_attribute("#timeline", "data-latest"))
    assert latest >= max(before)
    now = dt.datetime.now().replace(microsecond=0)
    with lib.user_changes():
        folder = lib.originals / "Live"
        folder.mkdir(exist_ok=True)
        im = Image.new("RGB", (640, 480), (200, 60, 90))
        exif = Image.Exif()
        exif[0x0132] = now.strftime("%Y:%m:%d %H:%M:%S")
        exif.get_ifd(0x8769)[0x9003] = now.strftime("%Y:%m:%d %H:%M:%S")
        im.save(folder / "just-taken.jpg", quality=85, exif=exif)
    _index_now(lib)
    new = photo_id(base_url, "path:just-taken")
    w.page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # poll now, not in 15 s
    w.page.wait_for_function(f"() => document.querySelector('.tile[data-id=\"{new}\"]') !== null", timeout=20000)
    assert tile_ids(w)[0] == new  # at the top, today
    w.shot("live")


def test_arrow_keys_move_between_tiles(open_page: Callable[..., Any], base_url: str) -> None:
    w = open_page(viewport=LAPTOP)
    w.goto("/")
    first = w.page.locator(".tile").first
    first.focus()
    ids = tile_ids(w)
    focused = "() => Number(document.activeElement.dataset.id)"
    w.page.keyboard.press("ArrowRight")
    assert w.page.evaluate(focused) == ids[1]
    w.page.keyboard.press("ArrowLeft")
    assert w.page.evaluate(focused) == ids[0]
    w.page.keyboard.press("ArrowDown")
    below = w.page.evaluate(focused)
    top = w.page.evaluate(f"() => document.querySelector('.tile[data-id=\"{ids[0]}\"]').getBoundingClientRect().bottom")
    assert w.page.evaluate(f"() => document.querySelector('.tile[data-id=\"{below}\"]').getBoundingClientRect().top") >= top - 1
    ring = w.page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert ring != "none"
    w.shot("keyboard-focus")
    w.page.keyboard.press("Enter")
    w.page.wait_for_url(f"**/photos/{below}*")


# --- accessibility --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_no_serious_violations_on_the_main_pages(open_page: Callable[..., Any], theme: str) -> None:
    found: dict[str, list[str]] = {}
    for size in ("laptop", "phone"):
        w = _open(open_page, size, theme)
        for path in ("/", "/search", "/search?q=year:2021", "/albums", "/people", "/folders", "/calendar", "/places",
                     "/things", "/favorites", "/videos", "/status", "/account"):
            w.goto(path)
            bad = axe_violations(w)
            if bad:
                found[f"{size} {path}"] = bad
    assert not found, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in found.items())
