"""The status page (library counts, health, failures, indexing, watcher) and its API."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf.viewer.status import status
from photoshelf.viewer.views.common import catalog, config, render


async def _status(request: Request) -> dict[str, Any]:
    access = catalog(request)
    return await access.read(status, config(request), access.db)


async def status_page(request: Request) -> Response:
    return render(request, "status.html", {"title": "Status", "s": await _status(request)})


async def api_status(request: Request) -> Response:
    return JSONResponse(await _status(request))


async def health(request: Request) -> Response:
    """For a NAS's container health check: answers once the catalog answers."""
    await catalog(request).read(lambda: catalog(request).db.execute_sql("SELECT 1").fetchone())
    return JSONResponse({"ok": True})


routes = [
    Route("/status", status_page, name="status"),
    Route("/api/v1/status", api_status),
    Route("/api/v1/health", health),
]
