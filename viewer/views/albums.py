"""Album pages (list, one album's grid, its forms) and the albums API."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf.viewer import albums, listing
from photoshelf.viewer.audience import audience
from photoshelf.viewer.errors import InvalidInput
from photoshelf.viewer.photos import viewer_records
from photoshelf.viewer.views.common import (
    back_path,
    catalog,
    form_ids,
    grid_page,
    int_param,
    json_body,
    redirect,
    render,
)
from photoshelf.visibility import Audience


async def album_list(request: Request) -> Response:
    if request.method == "POST":
        form = await request.form()
        created = await catalog(request).write(albums.create_album, str(form.get("title", "")),
                                               str(form.get("description", "")), [], audience(request))
        return redirect(f"/albums/{created['id']}")
    items = await catalog(request).read(albums.list_albums, audience(request))
    return render(request, "albums.html", {"title": "Albums", "albums": items})


async def album_page(request: Request) -> Response:
    who = audience(request)
    album = await catalog(request).read(lambda ref: albums.album_summary(albums.get_album(ref, who), who),
                                        request.path_params["ref"])
    return await grid_page(request, title=album["title"], scope=listing.Scope(album_id=album["id"]),
                           extra={"album": album}, template="album.html", by_day=False)


async def album_action(request: Request) -> Response:
    """The album page's forms: edit, delete, remove the selected photos, make a photo the cover."""
    ref = request.path_params["ref"]
    action = request.path_params["action"]
    form = await request.form()
    ids = form_ids(form.getlist("photo"))
    write = catalog(request).write
    who = audience(request)
    if action == "edit":
        await write(albums.update_album, ref, {"title": str(form.get("title", "")),
                                               "description": str(form.get("description", ""))}, who)
    elif action == "delete":
        await write(albums.delete_album, ref, who)
        return redirect("/albums")
    elif action == "remove":
        await write(albums.remove_photos, ref, ids, who)
    elif action == "cover":
        if not ids:
            raise InvalidInput("choose a photo for the cover")
        await write(albums.update_album, ref, {"cover": ids[0]}, who)
    else:
        raise InvalidInput(f"unknown album action {action!r}")
    return redirect(back_path(form, f"/albums/{ref}"))  # the photo page's "Make album cover" comes back to it


def _photo_ids(body: dict[str, Any]) -> list[Any]:
    ids = body.get("photos", [])
    if not isinstance(ids, list):
        raise InvalidInput("photos must be a list of photo ids")
    return ids


async def api_albums(request: Request) -> Response:
    """GET: every album. POST {"title", "description"?, "photos"?: [ids]}: a new album."""
    if request.method == "POST":
        body = await json_body(request)
        created = await catalog(request).write(albums.create_album, body.get("title"), body.get("description", ""),
                                               _photo_ids(body), audience(request))
        return JSONResponse(created, status_code=201)
    return JSONResponse({"albums": await catalog(request).read(albums.list_albums, audience(request))})


def _album_with_photos(ref: str, cursor: str | None, limit: int, who: Audience) -> dict[str, Any]:
    album = albums.album_summary(albums.get_album(ref, who), who)
    result = listing.page("", cursor=cursor, limit=limit, scope=listing.Scope(album_id=album["id"], audience=who),
                          with_count=False)
    return {**album, "photos": viewer_records(result.photos, who), "next": result.next}


async def api_album(request: Request) -> Response:
    """GET: the album and a page of its photos (in album order). PATCH {"title"?, "description"?, "cover"?}.
    DELETE: the album (never the photos)."""
    ref = request.path_params["ref"]
    who = audience(request)
    if request.method == "PATCH":
        return JSONResponse(await catalog(request).write(albums.update_album, ref, await json_body(request), who))
    if request.method == "DELETE":
        await catalog(request).write(albums.delete_album, ref, who)
        return Response(status_code=204)
    limit = int_param(request, "limit", 100, 1, listing.MAX_LIMIT)
    return JSONResponse(await catalog(request).read(_album_with_photos, ref, request.query_params.get("cursor"),
                                                    limit, who))


async def api_album_photos(request: Request) -> Response:
    """POST {"photos": [ids]} adds (appended), DELETE {"photos": [ids]} removes, PUT {"photos": [ids]} orders."""
    ref = request.path_params["ref"]
    ids = _photo_ids(await json_body(request))
    write = catalog(request).write
    who = audience(request)
    if request.method == "POST":
        return JSONResponse({"added": await write(albums.add_photos, ref, ids, who)})
    if request.method == "DELETE":
        return JSONResponse({"removed": await write(albums.remove_photos, ref, ids, who)})
    await write(albums.reorder, ref, ids, who)
    return JSONResponse(await catalog(request).read(_album_with_photos, ref, None, listing.MAX_LIMIT, who))


routes = [
    Route("/albums", album_list, methods=["GET", "POST"], name="albums"),
    Route("/albums/{ref}", album_page, name="album"),
    Route("/albums/{ref}/{action}", album_action, methods=["POST"]),
    Route("/api/v1/albums", api_albums, methods=["GET", "POST"]),
    Route("/api/v1/albums/{ref}", api_album, methods=["GET", "PATCH", "DELETE"]),
    Route("/api/v1/albums/{ref}/photos", api_album_photos, methods=["POST", "DELETE", "PUT"]),
]
