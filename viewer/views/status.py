"""The status page (library counts, health, failures, indexing, watcher) and its API."""

from __future__ import annotations

from typing import Any

import peewee as pw
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf.viewer.status import status
from photoshelf.viewer.views.common import catalog, config, render


def _enrichment(db: pw.Database) -> dict[str, Any] | None:
    """Per-stage progress of the machine-learning pass, or None where models.enrich is not installed."""
    try:
        from photoshelf.models.enrich import progress
    except ImportError:
        return None
    return progress(db)


async def _status(request: Request) -> dict[str, Any]:
    access = catalog(request)
    data = await access.read(status, config(request), access.db)
    data["enrichment"] = await access.read(_enrichment, access.db)
    return data


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
