"""Serving bytes: thumbnails (content-addressed, cached forever), the large preview, originals with ranges."""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from photoshelf.errors import NotFound
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


routes = [
    Route("/thumb/{size}/{name}", thumb, name="thumb"),
    Route("/photos/{photo_id}/original", original, name="original"),
]
