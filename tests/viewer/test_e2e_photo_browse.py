"""Chromium end-to-end for the photo page (stepping without a reload, Back, zoom, swipe, keys), the browse pages'
cards (places, calendar, folders, things), the home page's memories and a transcoded MPEG-4 Part 2 video, at
1440×900 and 390×844 in both themes, against `photoshelf serve` in its own process. The screenshots go to
test-output/e2e/ (test_e2e.py's fixtures and helpers, loaded from that file)."""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import SMALL_CORPUS, Library, make_library

_spec = importlib.util.spec_from_file_location("photoshelf_e2e_base", Path(__file__).with_name("test_e2e.py"))
assert _spec is not None and _spec.loader is not None
e2e: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

# The server, browser and watched pages of test_e2e.py, for this module's own library.
base_url = e2e.base_url
browser = e2e.browser
logged_in = e2e.logged_in
shots = e2e.shots
open_page = e2e.open_page
Watched = e2e.Watched

LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = [("laptop", LAPTOP, {}), ("phone", PHONE, {"is_mobile": True, "has_touch": True})]
THEMES = ["light", "dark"]
FITS = "document.scrollingElement.scrollWidth <= window.innerWidth"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Library:
    """The small corpus, 24 generated photos, an MPEG-4 Part 2 clip (transcoded by the background stage) and a
    label on a few photos (the Things page), indexed once for the module."""
    from photoshelf.db.schema import Photo, PhotoLabel, database_proxy
    from photoshelf.library import index_library
    from photoshelf.models.enrich import Enricher, load_stages

    root = tmp_path_factory.mktemp("e2e-b")
    lib = make_library(root, f"sqlite:///{root / 'catalog.db'}", SMALL_CORPUS)
    with lib.user_changes():
        e2e._generate_photos(lib.originals / "Generated" / "2021", 24)
        clip = lib.originals / "Videos" / "old_camera.avi"
        clip.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc=duration=2:size=320x240:rate=15", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
                        "-c:v", "mpeg4", "-c:a", "mp3", "-shortest", str(clip)], check=True)
    try:
        index_library(lib.config, lib.db)
        database_proxy.initialize(lib.db)
        Enricher(lib.config, lib.db, stages=load_stages(lib.config, lib.db, ["transcode"])).run()
        for i, photo in enumerate(Photo.select().where(Photo.has_thumbs & (Photo.kind == "image"))
                                  .order_by(Photo.id).limit(9)):
            PhotoLabel.create(photo=photo.id, name=("beach", "dog", "cake")[i % 3],
                              category=("landscape", "animal", "food")[i % 3], confidence=0.8, source="imagenet")
    finally:
        lib.db.close()
    return lib


def _photo_ids(base: str, q: str) -> list[int]:
    return e2e.search_ids(base, q)


def _no_reload_marker(w: Any) -> None:
    w.page.evaluate("window.__stay = 42")


def _same_document(w: Any) -> bool:
    return bool(w.page.evaluate("window.__stay === 42"))


def _photo_shown(w: Any) -> None:
    w.page.wait_for_function("() => { const i = document.getElementById('photo'); "
                             "return i && i.complete && i.naturalWidth > 0; }")


@pytest.mark.parametrize("theme", THEMES)
def test_photo_page_steps_without_reloading_and_back_works(open_page: Callable[..., Any], base_url: str,
                                                          theme: str) -> None:
    ids = _photo_ids(base_url, "year:2021")
    w = open_page(viewport=LAPTOP, color_scheme=theme)
    w.goto(f"/photos/{ids[0]}?q=year:2021")
    _photo_shown(w)
    _no_reload_marker(w)
    for expected in ids[1:4]:
        w.page.keyboard.press("ArrowRight")
        w.page.wait_for_url(f"{base_url}/photos/{expected}?q=year%3A2021")
        _photo_shown(w)
    assert _same_document(w)  # three steps, no page load
    assert w.page.title().endswith("· photoshelf")
    w.page.locator("#prev").click()
    w.page.wait_for_url(f"{base_url}/photos/{ids[2]}?q=year%3A2021")
    w.page.go_back()  # the browser's Back: the photo before, still without a reload
    w.page.wait_for_url(f"{base_url}/photos/{ids[3]}?q=year%3A2021")
    w.page.wait_for_function(f"() => document.querySelector('.viewer').dataset.prev.includes('/photos/{ids[2]}')")
    assert _same_document(w)
    # The exposure, the date and the forms are the next photo's own.
    assert w.page.locator("form.addalbum input[name=photo]").get_attribute("value") == str(ids[3])
    w.shot(f"photo-stepped-{theme}")


def test_zoom_with_keys_wheel_and_the_original(open_page: Callable[..., Any], base_url: str) -> None:
    pid = _photo_ids(base_url, "year:2021")[0]
    w = open_page(viewport=LAPTOP)
    w.goto(f"/photos/{pid}")
    _photo_shown(w)
    assert w.page.get_attribute("#photo", "data-original") == f"/photos/{pid}/original"
    w.page.keyboard.press("+")
    w.page.keyboard.press("+")
    assert "zoomed" in (w.page.get_attribute("#stage", "class") or "")
    assert "scale(2.25)" in w.page.evaluate("document.getElementById('photo').style.transform")
    # deeper than 2x: the original replaces the 1920 preview
    w.page.wait_for_function("() => document.getElementById('photo').src.endsWith('/original')")
    _photo_shown(w)
    w.shot("photo-zoomed")
    w.page.keyboard.press("Escape")  # the first Escape only zooms out
    assert "zoomed" not in (w.page.get_attribute("#stage", "class") or "")
    assert w.path() == f"/photos/{pid}"
    box = w.page.locator("#stage").bounding_box()
    w.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    w.page.mouse.wheel(0, -400)
    w.page.wait_for_function("() => document.getElementById('stage').classList.contains('zoomed')")
    w.page.dblclick("#photo")  # a double click zooms back out
    assert "zoomed" not in (w.page.get_attribute("#stage", "class") or "")


@pytest.mark.parametrize("theme", THEMES)
def test_phone_swipes_between_photos(open_page: Callable[..., Any], base_url: str, theme: str) -> None:
    ids = _photo_ids(base_url, "year:2021")
    w = open_page(viewport=PHONE, color_scheme=theme, is_mobile=True, has_touch=True)
    w.goto(f"/photos/{ids[0]}?q=year:2021")
    _photo_shown(w)
    _no_reload_marker(w)
    w.page.evaluate("""() => {
        const stage = document.getElementById('stage');
        const touch = (x) => new Touch({identifier: 1, target: stage, clientX: x, clientY: 300});
        stage.dispatchEvent(new TouchEvent('touchstart', {touches: [touch(320)], changedTouches: [touch(320)], bubbles: true}));
        stage.dispatchEvent(new TouchEvent('touchend', {touches: [], changedTouches: [touch(60)], bubbles: true}));
    }""")
    w.page.wait_for_url(f"{base_url}/photos/{ids[1]}?q=year%3A2021")
    _photo_shown(w)
    assert _same_document(w) and w.page.evaluate(FITS)
    w.shot(f"photo-swiped-{theme}")


def test_a_transcoded_mpeg4_video_plays_with_a_picture(open_page: Callable[..., Any], base_url: str) -> None:
    vid = e2e.photo_id(base_url, "path:old_camera")
    w = open_page(viewport=LAPTOP)
    w.goto(f"/photos/{vid}")
    assert w.page.get_attribute("video#video", "src") == f"/photos/{vid}/play"
    w.page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; return v.play(); }")
    w.page.wait_for_function(
        "() => { const v = document.getElementById('video'); return v.readyState >= 2 && (v.currentTime > 0 || v.ended); }")
    size = w.page.evaluate("() => { const v = document.getElementById('video'); return [v.videoWidth, v.videoHeight]; }")
    assert size == [320, 240]  # a picture, not sound over 0×0
    w.shot("video-transcoded")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size_name,viewport,options", SIZES, ids=["laptop", "phone"])
@pytest.mark.parametrize("path", ["/places", "/calendar", "/folders", "/things"])
def test_browse_pages_are_cards_with_covers(open_page: Callable[..., Any], path: str, size_name: str,
                                            viewport: dict[str, int], options: dict[str, Any], theme: str) -> None:
    w = open_page(viewport=viewport, color_scheme=theme, **options)
    w.goto(path)
    cards = w.page.locator("main .card")
    assert cards.count() > 0
    w.page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })")
    w.settle_images()
    covers = w.page.eval_on_selector_all("main .card img", "is => is.map(i => i.naturalWidth)")
    assert covers and all(n > 0 for n in covers), covers
    assert w.page.evaluate(FITS)
    if size_name == "phone":  # two cards a row, thumb-sized targets
        first = cards.first.bounding_box()
        assert first and 140 <= first["width"] <= 195 and first["height"] >= 44
    w.shot(f"{path.strip('/')}-{size_name}-{theme}", full_page=True)
    cards.first.click()
    w.page.wait_for_load_state("load")
    assert w.page.locator(".tile, .card").count() > 0  # the card opened photos (or subfolders)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size_name,viewport,options", SIZES, ids=["laptop", "phone"])
def test_home_page_memories(open_page: Callable[..., Any], base_url: str, size_name: str, viewport: dict[str, int],
                            options: dict[str, Any], theme: str) -> None:
    expected = e2e.api(base_url, "/api/v1/memories")
    cards = sum(len(v) for v in expected.values())
    w = open_page(viewport=viewport, color_scheme=theme, **options)
    w.goto("/")
    if cards:
        w.page.wait_for_selector(".memories .memcard")
        assert w.page.locator(".memcard").count() == cards
        strip = w.page.locator(".memories").bounding_box()
        timeline = w.page.locator("#timeline").bounding_box()
        assert strip and timeline and strip["y"] < timeline["y"]  # above the timeline
    else:
        w.page.wait_for_load_state("networkidle")
        assert w.page.locator(".memories").count() == 0
    assert w.page.evaluate(FITS)
    w.shot(f"home-memories-{size_name}-{theme}")


def test_a_live_photo_plays_its_motion_while_pointed_at(open_page: Callable[..., Any], base_url: str) -> None:
    still = e2e.photo_id(base_url, "path:IMG_1502")
    w = open_page(viewport=LAPTOP)
    w.goto(f"/photos/{still}")
    _photo_shown(w)
    motion = w.page.get_attribute("#stage", "data-motion")
    assert motion and motion.endswith("/play")  # the HEVC motion's H.264 copy (video.live_hevc)
    assert w.page.locator("#livebadge").is_visible()
    box = w.page.locator("#stage").bounding_box()
    w.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    w.page.wait_for_function("() => { const v = document.querySelector('video.motion'); "
                             "return v && !v.hidden && v.readyState >= 2 && v.videoWidth > 0; }")
    w.shot("live-motion")
    w.page.mouse.move(box["x"] + box["width"] + 100, box["y"] + 10)  # away: the still again
    w.page.wait_for_function("() => document.querySelector('video.motion').hidden")


@pytest.mark.parametrize("theme", THEMES)
def test_a_raw_photo_shows_libraw_pixels_not_white(open_page: Callable[..., Any], base_url: str, theme: str) -> None:
    """The Canon 6D DNG: its 1920 preview is LibRaw's rendering (1224 px wide, more than the 1024 px embedded
    preview), and it is a picture, not pure white."""
    raw = [p for p in e2e.api(base_url, "/api/v1/search?q=path:IMG_6D_0001%20stack:true&limit=10")["photos"]
           if p["format"] == "DNG"]
    assert raw, "the DNG of the RAW+JPEG pair"
    w = open_page(viewport=LAPTOP, color_scheme=theme)
    w.goto(f"/photos/{raw[0]['id']}")
    w.page.wait_for_function("() => { const i = document.getElementById('photo'); "
                             "return i && i.complete && i.src.includes('/thumb/preview/') && i.naturalWidth > 0; }")
    found = w.page.evaluate("""() => {
        const i = document.getElementById('photo'), c = document.createElement('canvas');
        c.width = 64; c.height = 64;
        const g = c.getContext('2d'); g.drawImage(i, 0, 0, 64, 64);
        const d = g.getImageData(0, 0, 64, 64).data;
        let sum = 0; for (let k = 0; k < d.length; k += 4) sum += (d[k] + d[k + 1] + d[k + 2]) / 3;
        return {width: i.naturalWidth, mean: sum / (d.length / 4)};
    }""")
    assert found["width"] == 1224 and 10 < found["mean"] < 200, found
    w.shot(f"raw-dng-{theme}")
