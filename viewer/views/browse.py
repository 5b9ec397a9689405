"""Folders, calendar and places: pages and their API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf.viewer import browse, listing, memories, things
from photoshelf.viewer.audience import audience
from photoshelf.viewer.views.common import catalog, grid_page, path_int, render


async def folders_page(request: Request) -> Response:
    folder_id = path_int(request, "folder_id") if "folder_id" in request.path_params else None
    data = await catalog(request).read(browse.folder, folder_id, audience(request))
    if data["folder"] is None:
        return render(request, "folders.html", {"title": "Folders", "data": data, "page": None, "tiles": None})
    return await grid_page(request, title=data["folder"]["name"], scope=listing.Scope(folder_id=data["folder"]["id"]),
                           extra={"data": data}, template="folders.html", by_day=False)


async def calendar_page(request: Request) -> Response:
    years = await catalog(request).read(browse.calendar, audience(request))
    return render(request, "calendar.html", {"title": "Calendar", "years": years})


async def places_page(request: Request) -> Response:
    countries = await catalog(request).read(browse.places, audience(request))
    return render(request, "places.html", {"title": "Places", "countries": countries})


async def things_page(request: Request) -> Response:
    data = await catalog(request).read(things.things, audience(request))
    return render(request, "things.html", {"title": "Things", **data})


async def api_things(request: Request) -> Response:
    data = await catalog(request).read(things.things, audience(request))
    return JSONResponse({"things": data["things"]})


async def memories_fragment(request: Request) -> Response:
    """The home page's memories strip, as HTML for static/memories.js (empty when there are none)."""
    data = await catalog(request).read(memories.memories, audience(request))
    return render(request, "_memories.html", {"memories": data})


async def api_memories(request: Request) -> Response:
    return JSONResponse(await catalog(request).read(memories.memories, audience(request)))


async def api_folder(request: Request) -> Response:
    folder_id = path_int(request, "folder_id") if "folder_id" in request.path_params else None
    return JSONResponse(await catalog(request).read(browse.folder, folder_id, audience(request)))


async def api_calendar(request: Request) -> Response:
    return JSONResponse({"years": await catalog(request).read(browse.calendar, audience(request))})


async def api_places(request: Request) -> Response:
    return JSONResponse({"places": await catalog(request).read(browse.places, audience(request))})


routes = [
    Route("/folders", folders_page, name="folders"),
    Route("/folders/{folder_id}", folders_page, name="folder"),
    Route("/calendar", calendar_page, name="calendar"),
    Route("/places", places_page, name="places"),
    Route("/things", things_page, name="things"),
    Route("/api/v1/things", api_things),
    Route("/memories", memories_fragment, name="memories"),
    Route("/api/v1/memories", api_memories),
    Route("/api/v1/folders", api_folder),
    Route("/api/v1/folders/{folder_id}", api_folder),
    Route("/api/v1/calendar", api_calendar),
    Route("/api/v1/places", api_places),
]
