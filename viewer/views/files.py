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

from photoshelf.errors import NotFound
from photoshelf.viewer.media import MediaFiles
from photoshelf.viewer.views.common import catalog, media, path_int

IMMUTABLE = "public, max-age=31536000, immutable"
MIME = {"jpg": "image/jpeg", "webp": "image/webp"}


def _read(path: Path) -> bytes:
    return path.read_bytes()


async def thumb(request: Request) -> Response:
    """/thumb/{tile|fit|preview}/{sha1}.jpg: named by content, so a URL's bytes never change."""
    size = request.path_params["size"]
    name = request.path_params["name"]
    sha1 = name.split(".", 1)[0].lower()
    etag = f'"{sha1}-{size}"'
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    files = media(request)
    if size == "preview":
        path = await catalog(request).read(files.preview, sha1)
    else:
        path = files.thumb(size, sha1)
    if path is None:
        raise NotFound(f"no {size} thumbnail {name}")
    # One thread hop for the read: thumbnails are small, and a cold disk must not stall the event loop.
    data = await run_in_threadpool(_read, path)
    return Response(data, media_type=MIME.get(path.suffix.lstrip("."), "image/jpeg"),
                    headers={"ETag": etag, "Cache-Control": IMMUTABLE})


async def original(request: Request) -> Response:
    """The original file, unchanged, with HTTP Range (video seeking); ?download=1 saves it under its name."""
    photo_id = path_int(request, "photo_id")
    found = await catalog(request).read(media(request).original, photo_id)
    download = request.query_params.get("download") == "1"
    return FileResponse(found.path, media_type=found.mime, filename=found.name,
                        content_disposition_type="attachment" if download else "inline",
                        headers={"Cache-Control": "private, max-age=3600"})


class CachedThumbnails:
    """The grid's hot path: GET /thumb/{tile|fit}/{sha1}.jpg of a rendition already in the cache, answered before
    the router, the middleware and the exception handlers (a page of 100 tiles is 100 of these).

    Same answer as `thumb` (ETag, immutable, 304 on If-None-Match); anything else — a preview, a HEAD, a
    missing file, a bad name — goes on to the app as before. The read runs on a small thread pool of its own
    (a cold disk must not stall the event loop), without Starlette's per-call thread-pool machinery."""

    PREFIX = "/thumb/"

    def __init__(self, app: ASGIApp, files: MediaFiles, threads: int = 4) -> None:
        self.app = app
        self.files = files
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="photoshelf-thumbs")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith(self.PREFIX):
            await self.app(scope, receive, send)
            return
        size, _, name = scope["path"][len(self.PREFIX):].partition("/")
        sha1 = name.split(".", 1)[0].lower()
        if size not in ("tile", "fit"):
            await self.app(scope, receive, send)
            return
        etag = f'"{sha1}-{size}"'.encode()
        headers = [(b"etag", etag), (b"cache-control", IMMUTABLE.encode())]
        for key, value in scope["headers"]:
            if key == b"if-none-match" and etag in value:
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        path = self.files.thumb(size, sha1)
        data = await asyncio.get_running_loop().run_in_executor(self._pool, _read_or_none, path) if path else None
        if data is None:
            await self.app(scope, receive, send)  # the route answers 404 (JSON) as it always has
            return
        mime = MIME.get(path.suffix.lstrip("."), "image/jpeg") if path else "image/jpeg"
        headers += [(b"content-type", mime.encode()), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # removed since the stat: the route answers
        return None


routes = [
    Route("/thumb/{size}/{name}", thumb, name="thumb"),
    Route("/photos/{photo_id}/original", original, name="original"),
]
