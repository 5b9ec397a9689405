"""The map page (Leaflet, vendored) and its GeoJSON API, clustered on the server."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf import search
from photoshelf.errors import QueryError
from photoshelf.viewer import geo
from photoshelf.viewer.audience import audience
from photoshelf.viewer.views.common import catalog, config, int_param, render


async def map_page(request: Request) -> Response:
    q = request.query_params.get("q", "")
    error = None
    box = None
    try:
        search.parse(q)
        box = await catalog(request).read(geo.bounds, q, audience(request))
    except QueryError as exc:
        error = exc
    cfg = config(request).viewer
    return render(request, "map.html", {"title": "Map", "error": error, "bounds": box, "tile_url": cfg.tile_url,
                                        "tile_attribution": cfg.tile_attribution})


async def api_map(request: Request) -> Response:
    """GET /api/v1/map?q=…&zoom=…&bbox=south,west,north,east → a GeoJSON FeatureCollection of clusters."""
    q = request.query_params.get("q", "")
    zoom = int_param(request, "zoom", 2, 0, geo.MAX_ZOOM)
    raw_box = request.query_params.get("bbox")
    box = geo.BBox.parse(raw_box) if raw_box else None
    return JSONResponse(await catalog(request).read(geo.clusters, q, zoom, box, audience(request)))


async def api_bounds(request: Request) -> Response:
    return JSONResponse({"bounds": await catalog(request).read(geo.bounds, request.query_params.get("q", ""),
                                                               audience(request))})


routes = [
    Route("/map", map_page, name="map"),
    Route("/api/v1/map", api_map),
    Route("/api/v1/map/bounds", api_bounds),
]
