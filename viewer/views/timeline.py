"""The timeline, search, and the fixed-filter listings (favorites, videos, archive, private); the search API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf import search
from photoshelf.viewer import listing
from photoshelf.viewer.audience import audience
from photoshelf.viewer.listing import Scope
from photoshelf.viewer.photos import viewer_records
from photoshelf.viewer.urls import route_path
from photoshelf.viewer.views.common import catalog, config, grid_page, int_param

LISTINGS = {
    "/favorites": ("Favorites", "favorite:true"),
    "/videos": ("Videos", "type:video|live"),
    "/archive": ("Archive", "archived:true"),
    "/private": ("Private", "private:true"),
}


def ranked(request: Request) -> Scope:
    """Everything the request's audience sees, with free text ranked by meaning when a semantic index exists
    (listing.ranking)."""
    return Scope(rank=config(request), audience=audience(request))


async def timeline(request: Request) -> Response:
    return await grid_page(request, title="Photos" if not request.query_params.get("q") else "Search",
                           scope=ranked(request))


async def search_page(request: Request) -> Response:
    return await grid_page(request, title="Search", scope=ranked(request),
                           extra={"search_help": True, "filters": search.FILTERS})


async def fixed_listing(request: Request) -> Response:
    title, fixed = LISTINGS[route_path(request.scope)]
    request.scope["fixed_filter"] = fixed
    return await grid_page(request, title=title, fixed=fixed, scope=ranked(request))


def _search(text: str, cursor: str | None, limit: int, scope: Scope) -> dict[str, object]:
    result = listing.page(text, cursor=cursor, limit=limit, scope=scope)
    return {"photos": viewer_records(result.photos), "count": result.count, "next": result.next,
            "match": result.match, "index": result.index}


async def api_search(request: Request) -> Response:
    """GET /api/v1/search?q=…&cursor=…&limit=… → {"photos": [...], "count": N, "next": cursor|null}"""
    q = request.query_params.get("q", "")
    limit = int_param(request, "limit", 100, 1, listing.MAX_LIMIT)
    body = await catalog(request).read(_search, q, request.query_params.get("cursor") or None, limit,
                                       ranked(request))
    return JSONResponse(body)


routes = [
    Route("/", timeline, name="timeline"),
    Route("/search", search_page, name="search"),
    *[Route(path, fixed_listing, name=path.strip("/")) for path in LISTINGS],
    Route("/api/v1/search", api_search),
]
