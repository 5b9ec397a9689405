"""The selection bar's endpoints: flags on many photos at once, a zip of their originals, and the cheap
catalog-state probe the timeline polls to show new photos."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from photoshelf.db.schema import Photo
from photoshelf.viewer import bulk, zipstream
from photoshelf.viewer.audience import audience
from photoshelf.viewer.errors import InvalidInput
from photoshelf.viewer.views.common import catalog, form_ids, json_body, media
from photoshelf.visibility import Audience, visible


async def api_photos(request: Request) -> Response:
    """PATCH {"photos": [ids], "set": {"favorite"?, "archived"?, "private"?: bool}} → {"changed": N}."""
    body = await json_body(request)
    chosen = bulk.photo_ids(body.get("photos"))
    changed = await catalog(request).write(bulk.set_flags, chosen, body.get("set"), audience(request))
    return JSONResponse({"changed": changed})


async def download(request: Request) -> Response:
    """POST (a form: photo=ID…, or JSON {"photos": [ids]}) → photos.zip of the originals, streamed."""
    if request.headers.get("content-type", "").startswith("application/json"):
        chosen = bulk.photo_ids((await json_body(request)).get("photos"))
    else:
        form = await request.form()
        chosen = bulk.photo_ids(form_ids(form.getlist("photo")))
    if not chosen:
        raise InvalidInput("choose one or more photos to download")
    plan = await catalog(request).read(bulk.zip_plan, chosen, audience(request), media(request))
    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    return StreamingResponse(zipstream.stream(plan), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="photos-{stamp}.zip"', "Cache-Control": "no-store"})


def latest(who: Audience) -> dict[str, Any]:
    """The newest photo `who` sees, by id (ids only grow): walked down the primary key, so it costs one probe
    (a few more when the newest rows are hidden from `who`)."""
    newest = visible(Photo.select(Photo.id), who).order_by(Photo.id.desc()).limit(1).scalar()
    return {"latest": newest or 0}


async def api_state(request: Request) -> Response:
    """GET → {"latest": id}: what an open timeline polls to learn that new photos arrived."""
    body = await catalog(request).read(latest, audience(request))
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


routes = [
    Route("/api/v1/photos", api_photos, methods=["PATCH"]),
    Route("/download", download, methods=["POST"]),
    Route("/api/v1/state", api_state),
]
