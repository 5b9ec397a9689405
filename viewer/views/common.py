"""What every view shares: templates, reaching the catalog, grouping a page by day, errors as responses."""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

import peewee as pw
from markupsafe import Markup, escape
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from photoshelf import __version__, ids
from photoshelf.accounts import AccountError
from photoshelf.config import Config
from photoshelf.db.schema import Photo
from photoshelf.errors import DatabaseError, Gone, NotFound, PhotoshelfError, QueryError
from photoshelf.records import date_guessed
from photoshelf.shares import ShareError
from photoshelf.viewer.catalog import CatalogAccess
from photoshelf.viewer.errors import BodyTooLarge, Forbidden, InvalidInput
from photoshelf.viewer.listing import Page
from photoshelf.viewer.media import MediaFiles
from photoshelf.viewer.urls import root, route_path, url

log = logging.getLogger(__name__)

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
templates.env.globals["version"] = __version__


def catalog(request: Request) -> CatalogAccess:
    return request.app.state.catalog


def config(request: Request) -> Config:
    return request.app.state.config


def media(request: Request) -> MediaFiles:
    return request.app.state.media


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    cfg = config(request)
    state = request.scope.get("state") or {}
    csrf = state.get("csrf_token") or ""
    context = {"config": cfg, "theme": cfg.viewer.dark_mode, "q": request.query_params.get("q", ""),
               # the path the app is served under: every link in a template starts with {{ root }} (viewer/urls.py)
               "root": root(),
               # who is asking (viewer/auth.py) and the token every form and fetch() sends back
               "user": state.get("user"), "role": state.get("role"), "csrf_token": csrf,
               "csrf_input": Markup(f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'), **context}
    # whether to draw the editing controls: for the roles whose writes viewer/auth.py lets through (after the
    # context, so a share link's page, which says role None, gets none whoever opens it)
    context["can_edit"] = context["role"] in ("admin", "member")
    # whether to draw the selection bar: any logged-in role may download a selection (POST /download); a viewer's
    # bar holds only that (public mode writes nothing, a share link's page has its own downloads)
    context["can_select"] = context["role"] in ("admin", "member", "viewer")
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def redirect(path: str) -> RedirectResponse:
    """303 to `path` of this app (a route path: "/albums/3"), under the root path it is served at."""
    return RedirectResponse(url(path), status_code=303)


def back_path(form: Any, default: str) -> str:
    """Where a form goes back to: its `back` field, a route path of this site ("/duplicates"), else `default`."""
    back = str(form.get("back", ""))
    return back if back.startswith("/") and not back.startswith(("//", "/\\")) else default


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter (ASCII digits, photoshelf.ids), `default` when absent; else a 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = ids.parse_int(raw, low, high)
    if value is None:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}, got {raw[:40]!r}")
    return value


def form_ids(values: list[Any]) -> list[int]:
    """The ids among a form's values (its checked photos); anything that is not one is left out."""
    return [i for i in map(ids.parse_id, values) if i is not None]


def path_int(request: Request, name: str) -> int:
    """An id in the URL's path: anything that is not one (not ASCII digits, past 64 bits) is a 404."""
    raw = request.path_params[name]
    value = ids.parse_id(raw)
    if value is None:
        raise NotFound(f"no {name.removesuffix('_id')} {str(raw)[:40]}")
    return value


@dataclass
class Tile:
    """A photo as the grid draws it: the aspect ratio it shows at (after the user's rotation) and its badges."""

    photo: Photo
    rotation: int
    ratio: float
    duration: str | None
    alt: str = ""  # what the tile shows, in words: its title, else its kind and date
    name: str | None = None  # the file's name, for a tile without a thumbnail


@dataclass
class Day:
    key: str
    month_key: str
    month: str
    label: str
    tiles: list[Tile] = field(default_factory=list)

    @property
    def width(self) -> float:
        """How many row-heights wide the day's tiles are side by side (its flex basis on the timeline)."""
        return round(sum(t.ratio for t in self.tiles), 3)


def tile(photo: Photo, rotation: int) -> Tile:
    w, h = photo.width or 1, photo.height or 1
    if rotation in (90, 270):
        w, h = h, w
    ratio = max(0.3, min(4.0, w / h))
    duration = None
    if photo.kind in ("video", "image") and photo.duration:  # an image with a length is an animated GIF/WebP
        secs = max(1, int(round(photo.duration)))  # a clip under half a second is not "0:00"
        duration = f"{secs // 60}:{secs % 60:02d}"
    return Tile(photo=photo, rotation=rotation, ratio=round(ratio, 3), duration=duration, alt=alt_text(photo))


KIND_WORDS = {"video": "Video", "live": "Live photo", "raw": "RAW photo"}


def alt_text(photo: Photo) -> str:
    """A tile's text for those who cannot see it: the title a person gave, else what it is and when."""
    if photo.title:
        return str(photo.title)
    when: dt.datetime | None = photo.taken_at_local
    what = KIND_WORDS.get(photo.kind, "Photo")
    return f"{what}, {when.strftime('%-d %B %Y')}" if when and not date_guessed(photo.taken_src) else what


def days(page: Page, undated: str | None = None) -> list[Day]:
    """The page's photos in runs of one local day (the timeline's sections); with `undated`, all in one section
    of that title (the timeline's "Unknown date": their dates are guesses)."""
    out: list[Day] = []
    for photo in page.photos:
        when: dt.datetime | None = None if undated else photo.taken_at_local
        key = when.strftime("%Y-%m-%d") if when else "unknown"
        if not out or out[-1].key != key:
            if when:
                out.append(Day(key, when.strftime("%Y-%m"), when.strftime("%B %Y"), when.strftime("%a %-d %b")))
            else:
                out.append(Day(key, "unknown", undated or "Date unknown", ""))
        out[-1].tiles.append(tile(photo, page.rotations.get(photo.id, 0)))
    return out


def tiles(page: Page) -> list[Tile]:
    return [tile(p, page.rotations.get(p.id, 0)) for p in page.photos]


def with_query(url: URL | str, **params: Any) -> str:
    """`url` with these query parameters set (None removes one). `url` is what the browser asked for
    (request.url: its path carries the root path), or a path made with viewer.urls.url()."""
    u = URL(str(url))
    current = dict(parse_qsl(u.query, keep_blank_values=True))
    for k, v in params.items():
        if v is None or v == "":
            current.pop(k, None)
        else:
            current[k] = str(v)
    # Relative (path and query only), so it stays right behind a reverse proxy.
    return u.path + ("?" + urlencode(current) if current else "")


templates.env.globals["with_query"] = with_query


def _status_for(exc: Exception) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, BodyTooLarge):
        return 413
    if isinstance(exc, Gone):
        return 410
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, (QueryError, InvalidInput, AccountError, ShareError)):
        return 400
    if isinstance(exc, (DatabaseError, pw.PeeweeException)):
        return 503
    return 500


async def error_response(request: Request, exc: Exception) -> Response:
    """The web's one place that turns domain errors into responses: JSON under /api/, a page elsewhere."""
    code = _status_for(exc)
    if code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    message = str(exc) if isinstance(exc, PhotoshelfError) else f"the catalog database failed: {exc}"
    body: dict[str, Any] = {"error": message}
    if isinstance(exc, QueryError):
        body["position"] = exc.position
    if route_path(request.scope).startswith("/api/"):
        return JSONResponse(body, status_code=code)
    return render(request, "error.html", {"code": code, "message": message,
                                          "position": body.get("position")}, status_code=code)


async def not_found(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, HTTPException) else 404
    message = "no such page" if code == 404 else (exc.detail if isinstance(exc, HTTPException) else str(exc))
    if route_path(request.scope).startswith(("/api/", "/thumb/", "/static/")):
        return JSONResponse({"error": message}, status_code=code)
    return render(request, "error.html", {"code": code, "message": message, "position": None}, status_code=code)


async def grid_page(request: Request, *, title: str, fixed: str = "", scope: Any = None,
                    extra: dict[str, Any] | None = None, template: str = "timeline.html",
                    by_day: bool = True, then: str | None = None, undated: str | None = None) -> Response:
    """A page of the shared grid: the timeline, a search, favorites, an album, a folder.

    `fixed` is a filter the page always applies (favorite:true); the user's `q` is parsed on its own first so
    a parse error points into what the user typed. With `partial=1` only the next run of tiles is rendered,
    for infinite scroll. `then`: the URL that continues the page when this listing ends (the timeline's
    "Unknown date" part); `undated`: the title of the one section this listing's photos all go into."""
    from dataclasses import replace

    from photoshelf import search
    from photoshelf.viewer.audience import audience
    from photoshelf.viewer.listing import EVERYTHING, page

    q = request.query_params.get("q", "").strip()
    cursor = request.query_params.get("cursor") or None
    partial = request.query_params.get("partial") == "1"
    limit = int_param(request, "limit", config(request).viewer.page_size, 1, 500)
    error: QueryError | None = None
    try:
        search.parse(q)
    except QueryError as exc:
        error = exc
    result: Page | None = None
    if error is None:
        text = f"{fixed} {q}".strip()
        # Whom the page is for comes from the request, whatever scope the caller built (photoshelf.visibility).
        seen_by = replace(scope or EVERYTHING, audience=audience(request))
        result = await catalog(request).read(page, text, cursor=cursor, limit=limit, scope=seen_by,
                                             with_count=cursor is None)
    elif partial:
        raise error
    if result is not None and result.match == "meaning":
        by_day = False  # ranked best first: days would chop the ranking into runs of one photo
    sections = days(result, undated) if result and by_day else None
    flat = tiles(result) if result and not by_day else None
    no_thumbs = [p.id for p in result.photos if not p.has_thumbs] if result else []
    if no_thumbs:
        names = await catalog(request).read(file_names, no_thumbs)
        for t in flat or [t for d in sections or [] for t in d.tiles]:
            t.name = names.get(t.photo.id)
    next_url = with_query(request.url, cursor=result.next, partial=None) if result and result.next else None
    context: dict[str, Any] = {
        "title": title,
        "page": result,
        "days": sections,
        "tiles": flat,
        "error": error,
        "next_url": next_url or (then if result is not None else None),
        "photo_query": _photo_query(request, scope),
        **(extra or {}),
    }
    # A query that does not parse still gets its page (200), with the error shown where the user typed it; the
    # API answers 400 for the same query.
    return render(request, "grid_partial.html" if partial else template, context)


def file_names(photo_ids: list[int]) -> dict[int, str]:
    """Each photo's file name (its first media file by path): what a tile without a thumbnail shows."""
    from photoshelf.db.schema import File

    out: dict[int, str] = {}
    rows = cast(Any, File.select(File.photo, File.name).where(File.photo.in_(photo_ids) & (File.role == "media"))
                .order_by(File.path).tuples())
    for pid, name in rows:
        out.setdefault(pid, name)
    return out


def _photo_query(request: Request, scope: Any) -> str:
    """What a photo link carries so the photo page can step through the same listing."""
    params: dict[str, str] = {}
    q = request.query_params.get("q", "").strip()
    fixed = request.scope.get("fixed_filter", "")
    text = f"{fixed} {q}".strip()
    if text:
        params["q"] = text
    if scope is not None and scope.album_id is not None:
        params["album"] = str(scope.album_id)
    if scope is not None and scope.folder_id is not None:
        params["folder"] = str(scope.folder_id)
    return ("?" + urlencode(params)) if params else ""


# What a JSON body may be: an edit is a few hundred bytes, a reorder of 10,000 photo ids about 100 KB.
BODY_MAX = 1_000_000
JSON_DEPTH_MAX = 32
_TOO_DEEP = f"the JSON body is nested too deeply (at most {JSON_DEPTH_MAX} levels)"


async def json_body(request: Request) -> dict[str, Any]:
    """A request's JSON object body ({} when empty), or a 4xx naming what is wrong: over BODY_MAX bytes (413);
    not a JSON object, nested deeper than JSON_DEPTH_MAX, a number past 64 bits or not finite, or a string with
    a lone surrogate (which no database column can store) (400)."""
    import json

    raw = await _body(request, BODY_MAX)
    try:
        body = json.loads(raw or b"{}", parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
    except RecursionError:  # the C decoder's own guard, far above JSON_DEPTH_MAX
        raise InvalidInput(_TOO_DEEP) from None
    except ValueError:
        raise InvalidInput("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    _check_json(body)
    return body


async def _body(request: Request, limit: int) -> bytes:
    """The body, read no further than `limit` bytes (a 413 past it, or when Content-Length says so first)."""
    declared = ids.parse_int(request.headers.get("content-length", "0"))
    too_large = BodyTooLarge(f"the body is larger than {limit:,} bytes")
    if declared is not None and declared > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _json_int(text: str) -> int:
    value = ids.parse_int(text, -ids.INT64_MAX - 1, ids.INT64_MAX)
    if value is None:
        raise InvalidInput(f"the number {text[:25]}{'…' if len(text) > 25 else ''} in the body is out of range")
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInput(f"the number {text[:25]} in the body is out of range")
    return value


def _json_constant(text: str) -> float:
    raise InvalidInput(f"{text} is not a number JSON allows")


def _check_json(body: Any) -> None:
    """Nesting depth and lone surrogates, without recursion."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > JSON_DEPTH_MAX:
            raise InvalidInput(_TOO_DEEP)
        if isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput("a string in the body is not valid Unicode (a lone surrogate)") from None
