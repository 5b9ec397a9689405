"""People pages (everyone, one person's photos, their forms), face crops, and the people, faces and similar
photos API. They work without ML results: the pages then say how to turn faces on."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photoshelf import search
from photoshelf.errors import NotFound, QueryError
from photoshelf.ids import parse_id
from photoshelf.viewer import people
from photoshelf.viewer.audience import audience
from photoshelf.viewer.errors import InvalidInput
from photoshelf.viewer.listing import MAX_LIMIT
from photoshelf.viewer.photos import viewer_records
from photoshelf.viewer.views.common import (
    back_path,
    catalog,
    config,
    days,
    int_param,
    json_body,
    media,
    path_int,
    redirect,
    render,
    with_query,
)
from photoshelf.visibility import Audience

# "private": a crop is shown only to those who may see its photo. The URL carries the crop's digest.
CROP_CACHE = "private, max-age=31536000, immutable"
CROP_REVALIDATE = "private, max-age=0, must-revalidate"  # a URL without it (or an old one) checks its ETag


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "") in ("1", "true", "yes")


# --- pages ---


async def people_page(request: Request) -> Response:
    data = await catalog(request).read(people.list_people, audience(request), _flag(request, "hidden"))
    return render(request, "people.html", {"title": "People", "d": data, "show_hidden": _flag(request, "hidden"),
                                           "show_all": _flag(request, "all"), "how_to_enable": people.HOW_TO_ENABLE})


def _person_page_data(ref: str, q: str, cursor: str | None, limit: int, first: bool, who: Audience
                      ) -> dict[str, Any]:
    person = people.find(ref, who)
    data: dict[str, Any] = {"page": people.person_photos(person, who, q, cursor, limit, with_count=first),
                            "query": people.person_query(person)}
    if first:
        data.update(person=people.person_summary(person, who), faces=people.person_faces(person, who),
                    choices=people.choices(who, exclude=person.id), available=people.available())
    return data


async def person_page(request: Request) -> Response:
    """A person's photos in the shared grid (infinite scroll with ?partial=1), their faces and the edit forms."""
    ref = request.path_params["ref"]
    q = request.query_params.get("q", "").strip()
    cursor = request.query_params.get("cursor") or None
    partial = request.query_params.get("partial") == "1"
    limit = int_param(request, "limit", config(request).viewer.page_size, 1, MAX_LIMIT)
    error: QueryError | None = None
    try:
        search.parse(q)
    except QueryError as exc:
        if partial:
            raise
        error, q = exc, ""
    data = await catalog(request).read(_person_page_data, ref, q, cursor, limit, not partial, audience(request))
    page = data["page"]
    keep = " ".join(x for x in (data["query"], q) if x)
    context: dict[str, Any] = {
        "page": page,
        "days": days(page),
        "tiles": None,
        "error": error,
        "next_url": with_query(request.url, cursor=page.next, partial=None) if page.next else None,
        "photo_query": ("?" + urlencode({"q": keep})) if keep else "",
    }
    if partial:
        return render(request, "grid_partial.html", context)
    person = data["person"]
    if person["uid"] != ref:  # reached by id or name: the page's address is its uid
        return redirect(f"/people/{person['uid']}" + (f"?{request.url.query}" if request.url.query else ""))
    title = person["name"] or "Unnamed person"
    return render(request, "person.html", {**context, **data, "title": title,
                                           "how_to_enable": people.HOW_TO_ENABLE})


async def person_action(request: Request) -> Response:
    """The person page's forms (they work without JavaScript): rename, merge into someone, hide or show."""
    ref = request.path_params["ref"]
    action = request.path_params["action"]
    form = await request.form()
    access = catalog(request)
    who = audience(request)
    if action == "rename":
        result = await access.write(people.update_person, access.db, ref, {"name": str(form.get("name", ""))}, who)
    elif action == "merge":
        result = await access.write(people.merge, access.db, ref, str(form.get("into", "")), who)
    elif action in ("hide", "show"):
        result = await access.write(people.update_person, access.db, ref, {"hidden": action == "hide"}, who)
    else:
        raise InvalidInput(f"unknown person action {action!r}")
    return redirect(back_path(form, f"/people/{result['uid']}"))


async def face_action(request: Request) -> Response:
    """A face's forms: "not this person", and move to someone (a name nobody has yet makes a new person)."""
    face_id = path_int(request, "face_id")
    action = request.path_params["action"]
    form = await request.form()
    access = catalog(request)
    who = audience(request)
    if action == "reject":
        person = str(form.get("person", "")).strip() or None
        result = await access.write(people.reject_face, access.db, face_id, who, person,
                                    config(request).models.face_distance)
        default = f"/people/{result['rejected']}" if result["person"] is not None else "/people"
    elif action == "name":
        result = await access.write(people.name_group, access.db, face_id, who, str(form.get("name", "")))
        default = f"/people/{result['person']['uid']}"
    elif action == "move":
        to = str(form.get("to", "")).strip()
        if to == "new":
            result = await access.write(people.move_face, access.db, face_id, who, "new")
        else:
            result = await access.write(_move_by_text, access.db, face_id, to, who)
        default = f"/people/{result['person']['uid']}"
    else:
        raise InvalidInput(f"unknown face action {action!r}")
    return redirect(back_path(form, default))


def _move_by_text(db: Any, face_id: int, text: str, who: Audience) -> dict[str, Any]:
    """What a person typed in "move to": a person's uid or name, else the name of a new person."""
    if not text:
        raise InvalidInput("type the name of the person this face is")
    try:
        target = people.find(text, who)
    except NotFound:
        return people.move_face(db, face_id, who, name=text)
    return people.move_face(db, face_id, who, target.uid)


async def face_crop(request: Request) -> Response:
    """/faces/{id}.jpg: the face cut from its photo's thumbnail, cached in storage, with an ETag."""
    name = request.path_params["name"]
    stem, _, ext = name.partition(".")
    face_id = parse_id(stem)
    if ext != "jpg" or face_id is None:
        raise NotFound(f"no face crop {name[:60]}")
    files = media(request)
    crop = await catalog(request).read(people.face_crop, config(request), files.cache, face_id, audience(request))
    etag = f'"face-{crop.digest}"'
    cache = CROP_CACHE if request.query_params.get("v") == crop.digest else CROP_REVALIDATE
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache})
    data = await run_in_threadpool(crop.path.read_bytes)
    return Response(data, media_type="image/jpeg", headers={"ETag": etag, "Cache-Control": cache})


# --- the API ---


async def api_people(request: Request) -> Response:
    """GET /api/v1/people[?hidden=1] → {"people": [...], "faces", "unassigned", "hidden", "available"}"""
    return JSONResponse(await catalog(request).read(people.list_people, audience(request), _flag(request, "hidden")))


def _person_with_photos(ref: str, cursor: str | None, limit: int, who: Audience) -> dict[str, Any]:
    person = people.find(ref, who)
    page = people.person_photos(person, who, "", cursor, limit, with_count=cursor is None)
    return {**people.person_summary(person, who), "faces_shown": people.person_faces(person, who),
            "photos_page": viewer_records(page.photos, who), "count": page.count, "next": page.next}


async def api_person(request: Request) -> Response:
    """GET: the person, their faces and a page of their photos. POST {"name"?, "hidden"?}: rename, hide."""
    ref = request.path_params["ref"]
    access = catalog(request)
    who = audience(request)
    if request.method == "POST":
        return JSONResponse(await access.write(people.update_person, access.db, ref, await json_body(request), who))
    limit = int_param(request, "limit", 100, 1, MAX_LIMIT)
    return JSONResponse(await access.read(_person_with_photos, ref, request.query_params.get("cursor") or None,
                                          limit, who))


async def api_merge(request: Request) -> Response:
    """POST {"into": ref}: merge this person into `ref`; or {"from": ref | [refs]}: merge those into this one."""
    ref = request.path_params["ref"]
    body = await json_body(request)
    access = catalog(request)
    who = audience(request)
    if "into" in body:
        return JSONResponse(await access.write(people.merge, access.db, ref, body["into"], who))
    sources = body.get("from")
    if isinstance(sources, (str, int)) and not isinstance(sources, bool):
        sources = [sources]
    if not isinstance(sources, list) or not sources:
        raise InvalidInput('say whom to merge: {"into": person} or {"from": [people]}')
    result: dict[str, Any] = {}
    for source in sources:
        result = await access.write(people.merge, access.db, source, ref, who)
    return JSONResponse(result)


async def api_face(request: Request) -> Response:
    """POST {"person": ref | "new"} or {"name": "Anna"}: move the face; {"group_name": "Anna"}: name its whole
    group; {"reject": true | ref}: not this person."""
    face_id = path_int(request, "face_id")
    body = await json_body(request)
    access = catalog(request)
    who = audience(request)
    unknown = set(body) - {"person", "name", "reject", "group_name"}
    if unknown:
        raise InvalidInput(f"unknown face field {sorted(unknown)[0]!r} (known: person, name, group_name, reject)")
    if "group_name" in body:
        return JSONResponse(await access.write(people.name_group, access.db, face_id, who, body["group_name"]))
    if "reject" in body:
        reject = body["reject"]
        if reject is False:
            raise InvalidInput('reject must be true or the person the face is not')
        person = None if reject is True else reject
        return JSONResponse(await access.write(people.reject_face, access.db, face_id, who, person,
                                               config(request).models.face_distance))
    if "name" in body:
        return JSONResponse(await access.write(people.move_face, access.db, face_id, who, name=body["name"]))
    if "person" in body:
        return JSONResponse(await access.write(people.move_face, access.db, face_id, who, body["person"]))
    raise InvalidInput('say what to do: {"person": ref}, {"name": "…"} or {"reject": true}')


def _similar(cfg: Any, db: Any, ref: str, k: int, who: Audience) -> dict[str, Any]:
    photo = people.get_photo(ref, who)
    found = people.similar(cfg, db, photo, who, k)
    photos = [p for p, _ in found["photos"]]
    records = viewer_records(photos, who)
    for record, (_, score) in zip(records, found["photos"], strict=True):
        record["score"] = score
    return {"photo": photo.id, "available": found["available"], "photos": records}


async def api_similar(request: Request) -> Response:
    """GET /api/v1/photos/{id or uid}/similar?k=12 → {"photos": [...], "available": bool} (best first)."""
    k = int_param(request, "k", 12, 1, 100)
    access = catalog(request)
    return JSONResponse(await access.read(_similar, config(request), access.db, request.path_params["ref"], k,
                                          audience(request)))


routes = [
    Route("/people", people_page, name="people"),
    Route("/people/{ref}", person_page, name="person"),
    Route("/people/{ref}/{action}", person_action, methods=["POST"]),
    Route("/faces/{name}", face_crop, name="face_crop"),
    Route("/faces/{face_id}/{action}", face_action, methods=["POST"]),
    Route("/api/v1/people", api_people),
    Route("/api/v1/people/{ref}", api_person, methods=["GET", "POST"]),
    Route("/api/v1/people/{ref}/merge", api_merge, methods=["POST"]),
    Route("/api/v1/faces/{face_id}", api_face, methods=["POST"]),
    Route("/api/v1/photos/{ref}/similar", api_similar),
]
