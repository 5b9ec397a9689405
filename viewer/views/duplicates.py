"""The duplicates page: groups side by side with the keeper and why, confirm per group or in bulk, take back."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf import ids
from photoshelf.viewer import duplicates
from photoshelf.viewer.audience import audience
from photoshelf.viewer.photos import viewer_records
from photoshelf.viewer.views.common import catalog, form_ids, redirect, render, tile
from photoshelf.visibility import Audience


async def duplicates_page(request: Request) -> Response:
    data = await catalog(request).read(duplicates.page, audience(request))
    for g in data["groups"]:
        for m in g["members"]:
            m["tile"] = tile(m["photo"], 0)
    for g in data["lookalike"]:
        g["tiles"] = [tile(p, 0) for p in g["photos"]]
    return render(request, "duplicates.html", {"title": "Duplicates", **data})


def _api(who: Audience) -> dict[str, Any]:
    data = duplicates.page(who)
    groups: list[dict[str, Any]] = []
    for g in data["groups"]:
        records = viewer_records([m["photo"] for m in g["members"]], who)
        for record, m in zip(records, g["members"], strict=True):
            record.update(keep=m["keep"], reason=m["reason"], path=(m["paths"] or [""])[0])
        groups.append({"group": g["id"], "kind": g["kind"], "distance": g["distance"], "resolved": g["resolved"],
                       "freeable": g["freeable"], "photos": records})
    for g in data["lookalike"]:
        groups.append({"kind": "lookalike", "similarity": g["similarity"],
                       "photos": viewer_records(g["photos"], who)})
    return {"groups": groups, "summary": data["summary"]}


async def api_duplicates(request: Request) -> Response:
    return JSONResponse(await catalog(request).read(_api, audience(request)))


async def resolve(request: Request) -> Response:
    """Confirm: `group` (repeatable) or `all=suggested`; `keep` a photo id to keep instead of the suggested one."""
    form = await request.form()
    keep_raw = str(form.get("keep", "") or "")
    keep = ids.parse_id(keep_raw) if keep_raw else None
    if keep_raw and keep is None:
        from photoshelf.viewer.errors import InvalidInput

        raise InvalidInput(f"keep must be a photo id, got {keep_raw[:40]!r}")
    groups = [str(g)[:120] for g in form.getlist("group")]
    await catalog(request).write(duplicates.resolve, audience(request), groups, form.get("all") == "suggested", keep)
    return redirect("/duplicates")


async def unresolve(request: Request) -> Response:
    """Take back: `photo` (repeatable), a copy or a keeper (then all its copies)."""
    form = await request.form()
    await catalog(request).write(duplicates.unresolve, audience(request), form_ids(form.getlist("photo")))
    return redirect("/duplicates")


routes = [
    Route("/duplicates", duplicates_page, name="duplicates"),
    Route("/duplicates/resolve", resolve, methods=["POST"]),
    Route("/duplicates/unresolve", unresolve, methods=["POST"]),
    Route("/api/v1/duplicates", api_duplicates),
]
