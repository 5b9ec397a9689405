"""The photo page (large preview, neighbours, details, edits) and the photo API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from photoshelf.errors import NotFound
from photoshelf.ids import parse_id
from photoshelf.media import transcode
from photoshelf.records import date_guessed
from photoshelf.viewer import albums, people, photos
from photoshelf.viewer.audience import audience
from photoshelf.viewer.errors import InvalidInput
from photoshelf.viewer.listing import Scope
from photoshelf.viewer.urls import url
from photoshelf.viewer.views.common import (
    back_path,
    catalog,
    config,
    form_ids,
    json_body,
    path_int,
    redirect,
    render,
)
from photoshelf.visibility import Audience

ACTIONS: dict[str, dict[str, Any]] = {
    "rotate-left": {"rotate": "left"},
    "rotate-right": {"rotate": "right"},
}


def _scope(request: Request) -> tuple[str, Scope, str]:
    """The listing the photo was opened from (to step to its neighbours), and the query string that keeps it."""
    q = request.query_params.get("q", "")
    album = request.query_params.get("album", "")
    folder = request.query_params.get("folder", "")
    scope = Scope(album_id=parse_id(album), folder_id=parse_id(folder), rank=config(request),
                  audience=audience(request))
    keep = {k: v for k, v in (("q", q), ("album", album), ("folder", folder)) if v}
    return q, scope, ("?" + urlencode(keep)) if keep else ""


def _page_data(photo_id: int, q: str, scope: Scope) -> dict[str, Any]:
    data = photos.detail(photo_id, q, scope)
    data["all_albums"] = albums.list_albums(scope.audience)
    return data


async def photo_page(request: Request) -> Response:
    photo_id = path_int(request, "photo_id")
    q, scope, keep = _scope(request)
    data = await catalog(request).read(_page_data, photo_id, q, scope)
    data["ml"] = await catalog(request).read(people.photo_extras, config(request), catalog(request).db, photo_id,
                                             scope.audience)
    for record in (data["photo"], *data["stack_members"]):
        _add_play_url(request, record)
    if scope.album_id is not None:
        back = url(f"/albums/{scope.album_id}")
    elif scope.folder_id is not None:
        back = url(f"/folders/{scope.folder_id}")
    else:
        back = url("/") + (("?" + urlencode({"q": q})) if q else "")
    return render(request, "photo.html", {**data, "title": data["photo"]["title"] or data["photo"]["path"] or "Photo",
                                          "keep": keep, "back": back, "album_id": scope.album_id,
                                          "exif": _exif_rows(data["photo"])})


def _add_play_url(request: Request, record: dict[str, Any]) -> None:
    add_play_url(request, record, url(f"/photos/{record['id']}/play"))


def add_play_url(request: Request, record: dict[str, Any], play_url: str) -> None:
    """A video with a browser-playable copy (photoshelf/media/transcode.py) plays that (at `play_url`) instead of its
    original."""
    if record["type"] == "video" and transcode.cache_path(config(request), record["sha1"]).is_file():
        record["urls"]["play"] = play_url


async def play(request: Request) -> Response:
    """The H.264/AAC copy of a video browsers cannot play as it is, with HTTP Range (seeking); 404 without one."""
    return await play_for(request, audience(request))


async def play_for(request: Request, who: Audience) -> Response:
    """The playable copy of a video `who` sees (404 for a photo not shown, or a video without a copy)."""
    photo_id = path_int(request, "photo_id")
    photo = await catalog(request).read(photos.get_photo, photo_id, who)
    path = transcode.cache_path(config(request), photo.sha1)
    if not path.is_file():
        raise NotFound(f"photo {photo_id} has no playable copy (not transcoded, or not needed)")
    return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "private, max-age=86400"})


def _camera(r: dict[str, Any]) -> str | None:
    make, model = r["camera_make"] or "", r["camera_model"] or ""
    if make and model.lower().startswith(make.split()[0].lower()):
        return model  # "Canon" + "Canon EOS 6D" reads as "Canon EOS 6D"
    return r["camera"]


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} bytes"
    if n < 1_000_000:
        return f"{n / 1e3:.0f} KB"
    return f"{n / 1e6:,.1f} MB"


def _place(place: dict[str, Any] | None) -> str | None:
    """"Steglitz, Berlin, Germany"; a city-state once ("Berlin, Germany")."""
    if not place:
        return None
    names = [place["city"], place["state"], place["country"]]
    return ", ".join(dict.fromkeys(n for n in names if n))


def date_is_guess(r: dict[str, Any]) -> bool:
    """Whether the record's date is the file's date, not the capture time (no EXIF, XMP, name or Takeout date)."""
    return date_guessed(r.get("taken_at_source"))


def _taken(r: dict[str, Any]) -> tuple[str, str]:
    """"Taken 2019-06-06 07:29:51 (Europe/Berlin)", or for a guess "Date: unknown (file date: 2026-12-03)"."""
    when = (r["taken_at_local"] or "").replace("T", " ")[:19]
    if date_is_guess(r):
        return ("Date", f"Date unknown (file date: {when[:10]})" if when else "Date unknown")
    return ("Taken", when + (f" ({r['timezone']})" if r["timezone"] else ""))


def _exposure(text: str | None) -> str:
    """"1/250" → "1/250 s"; "30s" (how the indexer writes long exposures) → "30 s", not "30s s"."""
    if not text:
        return ""
    return f"{text.removesuffix('s').strip()} s"


def _exif_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, Any]] = [
        _taken(r),
        ("Camera", _camera(r)),
        ("Lens", r["lens"]),
        ("Exposure", " · ".join(x for x in (
            f"ƒ/{r['f_number']:g}" if r["f_number"] else "",
            _exposure(r["exposure"]),
            f"ISO {r['iso']}" if r["iso"] else "",
            f"{r['focal_length']:g} mm" if r["focal_length"] else "") if x)),
        ("Size", f"{r['width']} × {r['height']}" if r["width"] else None),
        ("File", f"{r['format'].upper() if r['format'] else r['type']} · {_size(r['size'])}"),
        ("Duration", f"{r['duration']:.1f} s" if r["duration"] else None),
        ("Codec", r["codec"]),
        ("Place", _place(r["place"])),
        ("Location", f"{r['lat']:.5f}, {r['lon']:.5f}" if r["lat"] is not None and r["lon"] is not None else None),
        ("Altitude", f"{r['altitude']:.0f} m" if r["altitude"] is not None else None),
        ("Keywords", ", ".join(r["keywords"])),
        ("Rating", "★" * r["rating"] if r["rating"] else None),
    ]
    return [(k, str(v)) for k, v in rows if v]


async def edit(request: Request) -> Response:
    """The photo page's forms (they work without JavaScript): flags, rotation, title and description."""
    photo_id = path_int(request, "photo_id")
    form = await request.form()
    action = str(form.get("action", ""))
    changes: dict[str, Any]
    if action in ("favorite", "archived", "private"):
        changes = {action: form.get("value") == "true"}
    elif action in ACTIONS:
        changes = ACTIONS[action]
    elif action == "text":
        changes = {"title": str(form.get("title", "")), "description": str(form.get("description", ""))}
    else:
        raise InvalidInput(f"unknown action {action!r}")
    await catalog(request).write(photos.update, photo_id, changes, audience(request))
    return redirect(back_path(form, f"/photos/{photo_id}" + (f"?{request.url.query}" if request.url.query else "")))


async def add_to_album(request: Request) -> Response:
    """Add photos to an album, or to a new one: from the photo page and the grid's selection bar."""
    form = await request.form()
    ids = form_ids(form.getlist("photo"))
    if not ids:
        raise InvalidInput("select at least one photo")
    album_ref = str(form.get("album", ""))
    title = str(form.get("title", "")).strip()
    if album_ref and album_ref != "new":
        await catalog(request).write(albums.add_photos, album_ref, ids, audience(request))
        target = album_ref
    else:
        created = await catalog(request).write(albums.create_album, title, "", ids, audience(request))
        target = str(created["id"])
    return redirect(back_path(form, f"/albums/{target}"))


async def api_photo(request: Request) -> Response:
    photo_id = path_int(request, "photo_id")
    q, scope, _keep = _scope(request)
    if request.method == "PATCH":
        body = await json_body(request)
        return JSONResponse(await catalog(request).write(photos.update, photo_id, body, scope.audience))
    data = await catalog(request).read(photos.detail, photo_id, q, scope)
    for record in (data["photo"], *data["stack_members"]):
        _add_play_url(request, record)
    return JSONResponse(data)


routes = [
    Route("/photos/{photo_id}", photo_page, name="photo"),
    Route("/photos/{photo_id}/edit", edit, methods=["POST"]),
    Route("/photos/{photo_id}/play", play, name="play"),
    Route("/albums/add", add_to_album, methods=["POST"]),
    Route("/api/v1/photos/{photo_id}", api_photo, methods=["GET", "PATCH"]),
]
