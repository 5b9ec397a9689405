"""The timeline, search, and the fixed-filter listings (favorites, videos, archive, private); the search API."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf import search
from photoshelf.viewer import listing, scrubber, suggest
from photoshelf.viewer.audience import audience
from photoshelf.viewer.errors import InvalidInput
from photoshelf.viewer.listing import Scope
from photoshelf.viewer.photos import viewer_records
from photoshelf.viewer.urls import route_path
from photoshelf.viewer.views.common import catalog, config, grid_page, int_param, render, with_query
from photoshelf.viewer.views.selection import latest

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


UNKNOWN_DATE = "Unknown date"


async def timeline(request: Request) -> Response:
    """The library newest first, in two parts: the photos whose date is a capture time (listing.dated()), by day,
    then "Unknown date" (dated by their file, undated, or impossibly far ahead), which the first part's last
    page continues into (`part=unknown`). The first page also has the date scrubber and the newest photo's id
    (static/grid.js polls /api/v1/state against it)."""
    if request.query_params.get("q"):
        return await grid_page(request, title="Search", scope=ranked(request))
    part = request.query_params.get("part") or "known"
    if part not in ("known", "unknown"):
        raise InvalidInput(f"part must be known or unknown, got {part[:20]!r}")
    who = audience(request)
    scope = replace(ranked(request), dates=part)
    extra: dict[str, object] = {"part": part}
    then = None
    unknown = await catalog(request).read(_count, replace(scope, dates="unknown"))
    extra["unknown_count"] = unknown
    if part == "known" and unknown:
        then = with_query(request.url, cursor=None, partial=None, part="unknown")
    if request.query_params.get("partial") != "1":
        extra["scrubber"] = await catalog(request).read(scrubber.years, who)
        extra["latest"] = (await catalog(request).read(latest, who))["latest"]
        extra["jumped"] = bool(request.query_params.get("cursor")) or part == "unknown"
    return await grid_page(request, title="Photos", scope=scope, extra=extra, then=then,
                           undated=UNKNOWN_DATE if part == "unknown" else None)


def _count(scope: Scope) -> int:
    return listing.listing_count(listing.base_select("", scope), "", scope)


async def search_page(request: Request) -> Response:
    """A search; before anything is typed, a friendly start (recent searches, the library's common things,
    people and places) instead of every photo."""
    extra: dict[str, object] = {"search_help": True, "filters": search.FILTERS}
    if not request.query_params.get("q", "").strip():
        extra["search_start"] = await catalog(request).read(suggest.suggestions, audience(request))
        return render(request, "timeline.html", {"title": "Search", "page": None, "days": None, "tiles": None,
                                                 "error": None, "next_url": None, "photo_query": "", **extra})
    return await grid_page(request, title="Search", scope=ranked(request), extra=extra)


async def fixed_listing(request: Request) -> Response:
    title, fixed = LISTINGS[route_path(request.scope)]
    request.scope["fixed_filter"] = fixed
    return await grid_page(request, title=title, fixed=fixed, scope=ranked(request))


def _search(text: str, cursor: str | None, limit: int, scope: Scope) -> dict[str, object]:
    result = listing.page(text, cursor=cursor, limit=limit, scope=scope)
    photos = viewer_records(result.photos, scope.audience)
    if result.match == "meaning":
        # Why each photo matched (label:dog, meaning, title, person, place, file name, text in photo), and how
        # many are good matches (`count`) and how many only mention the words (`mentions`).
        for record in photos:
            record["why"] = result.why.get(record["id"], [])
    return {"photos": photos, "count": result.count, "next": result.next, "match": result.match,
            "index": result.index, "mentions": result.mentions}


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
