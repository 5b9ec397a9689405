"""Serving bytes: thumbnails (content-addressed, cached forever), the large preview, originals with ranges."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from photoshelf.db.schema import Photo
from photoshelf.errors import NotFound
from photoshelf.viewer.audience import audience
from photoshelf.viewer.media import MediaFiles, shown
from photoshelf.viewer.urls import route_path
from photoshelf.viewer.views.common import catalog, media, path_int
from photoshelf.visibility import Audience

# "private": a thumbnail is shown only to those who may see its photo, so no shared cache may keep it.
IMMUTABLE = "private, max-age=31536000, immutable"
MIME = {"jpg": "image/jpeg", "webp": "image/webp"}


def _read(path: Path) -> bytes:
    return path.read_bytes()


async def thumb(request: Request) -> Response:
    """/thumb/{tile|fit|preview}/{sha1}.jpg: named by content, so a URL's bytes never change."""
    return await thumb_for(request, audience(request))


async def thumb_for(request: Request, who: Audience) -> Response:
    """A thumbnail of a photo `who` sees (else 404, whether or not the hash is in the library: a content hash is
    no secret, anyone holding the same picture knows it)."""
    size = request.path_params["size"]
    name = request.path_params["name"]
    sha1 = name.split(".", 1)[0].lower()
    etag = f'"{sha1}-{size}"'
    files = media(request)
    if not await catalog(request).read(shown, sha1, who):
        raise NotFound(f"no {size} thumbnail {name}")
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    path = await catalog(request).read(files.preview, sha1, who) if size == "preview" else files.thumb(size, sha1)
    if path is None:
        raise NotFound(f"no {size} thumbnail {name}")
    # One thread hop for the read: thumbnails are small, and a cold disk must not stall the event loop.
    data = await run_in_threadpool(_read, path)
    return Response(data, media_type=MIME.get(path.suffix.lstrip("."), "image/jpeg"),
                    headers={"ETag": etag, "Cache-Control": IMMUTABLE})


async def original(request: Request) -> Response:
    """The original file, unchanged, with HTTP Range (video seeking); ?download=1 saves it under its name."""
    return await original_for(request, audience(request), request.query_params.get("download") == "1")


async def original_for(request: Request, who: Audience, download: bool) -> Response:
    photo_id = path_int(request, "photo_id")
    found = await catalog(request).read(media(request).original, photo_id, who)
    return FileResponse(found.path, media_type=found.mime, filename=found.name,
                        content_disposition_type="attachment" if download else "inline",
                        headers={"Cache-Control": "private, max-age=3600"})


class CachedThumbnails:
    """The grid's hot path: GET /thumb/{tile|fit}/{sha1}.jpg of a rendition already in the cache, answered before
    the router, the middleware and the exception handlers (a page of 100 tiles is 100 of these).

    Same answer as `thumb` (ETag, immutable, 304 on If-None-Match) after the same check that the request's
    audience sees the photo: one probe of the unique sha1 index, on the thread that reads the file, so this
    middleware must sit inside the one that finds the login (viewer/auth.py). Anything else — a preview, a
    HEAD, a missing file, a bad name, a photo not shown — goes on to the app as before. The read runs on a small
    thread pool of its own (a cold disk must not stall the event loop), without Starlette's per-call
    thread-pool machinery."""

    PREFIX = "/thumb/"

    def __init__(self, app: ASGIApp, files: MediaFiles, threads: int = 4) -> None:
        self.app = app
        self.files = files
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="photoshelf-thumbs")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not route_path(scope).startswith(self.PREFIX):
            await self.app(scope, receive, send)
            return
        size, _, name = route_path(scope)[len(self.PREFIX):].partition("/")
        sha1 = name.split(".", 1)[0].lower()
        if size not in ("tile", "fit"):
            await self.app(scope, receive, send)
            return
        who = audience(Request(scope))
        if not who.anyone:
            await self.app(scope, receive, send)
            return
        etag = f'"{sha1}-{size}"'.encode()
        headers = [(b"etag", etag), (b"cache-control", IMMUTABLE.encode())]
        revalidate = any(key == b"if-none-match" and etag in value for key, value in scope["headers"])
        path = None if revalidate else self.files.thumb(size, sha1)
        if path is None and not revalidate:
            await self.app(scope, receive, send)  # the route answers 404 (JSON) as it always has
            return
        ok, data = await asyncio.get_running_loop().run_in_executor(self._pool, _shown_and_read, sha1, who, path)
        if ok and revalidate:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if not ok or data is None or path is None:
            await self.app(scope, receive, send)
            return
        mime = MIME.get(path.suffix.lstrip("."), "image/jpeg")
        headers += [(b"content-type", mime.encode()), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def _shown_and_read(sha1: str, who: Audience, path: Path | None) -> tuple[bool, bytes | None]:
    """Whether `who` sees the photo, and the file's bytes when so (and a path is given)."""
    Photo._meta.database.connect(reuse_if_open=True)  # this pool's threads keep a connection each, as readers do
    if not shown(sha1, who):
        return False, None
    return True, _read_or_none(path) if path is not None else None


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # removed since the stat: the route answers
        return None


routes = [
    Route("/thumb/{size}/{name}", thumb, name="thumb"),
    Route("/photos/{photo_id}/original", original, name="original"),
]
