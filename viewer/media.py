"""Files the viewer serves: cached thumbnails by content hash, the large preview made on first view, originals.

What is part of the library (README, "Symlinks"): a file the indexer reaches. A catalog path is served only
when it stays inside the originals folder as written (never `..`, never absolute); with index.follow_symlinks
(the default) the indexer follows links wherever they point, so a file reached through a link to another disk
is as much the library's as any other, and its original, thumbnails and preview are all served; without it,
the indexer skips links, and an original whose path passes through one (a folder replaced by a link since it was
indexed) is refused. Thumbnails and previews are made only from such files, so they are served by content hash.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from photoshelf.config import Config
from photoshelf.db.schema import File, Photo, Thumbnail
from photoshelf.errors import MediaError, NotFound
from photoshelf.filenames import rel_of
from photoshelf.media.decode import (
    OverDecodeLimit,
    decode_image,
    decode_raw,
    decode_video,
    kind_for_name,
    render_fit,
)
from photoshelf.media.thumbs import SIZES, ThumbCache
from photoshelf.visibility import EVERYONE, Audience, can_see, sees

log = logging.getLogger(__name__)

SHA1 = re.compile(r"[0-9a-f]{40}")
# Making a preview holds the decoded original in memory (3-4 bytes a pixel) while serving: past this many
# decoded pixels (after JPEG's reduced-size decoding) the fit rendition made at index time stands in for it.
PREVIEW_DECODE_PIXELS = 64_000_000
PREVIEW_RENDERS = 2  # previews made at once; more wait their turn (bench/preview.py)

Writer = Callable[..., object]


@dataclass(frozen=True)
class Original:
    path: Path
    name: str
    mime: str


class MediaFiles:
    """Resolves what a URL asks for to a file in storage or the originals. URLs carry content hashes and ids,
    never paths, and every resolved path is checked to lie inside its root."""

    def __init__(self, config: Config, write: Writer) -> None:
        self.config = config
        self.cache = ThumbCache(config.thumbs_path, config.thumbnails)
        self._write = write
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._renders = threading.BoundedSemaphore(PREVIEW_RENDERS)
        self.preview_decode_pixels = PREVIEW_DECODE_PIXELS

    def thumb(self, size: str, sha1: str) -> Path | None:
        """The cached rendition, or None. Cheap enough to run on the event loop: one stat of a known path."""
        if size not in SIZES or not SHA1.fullmatch(sha1):
            return None
        path = self.cache.path(sha1, size)
        return path if path.is_file() else None

    def original(self, photo_id: int, audience: Audience) -> Original:
        """The photo's present media file (the first by path when there are duplicates), if `audience` sees it."""
        photo = Photo.get_or_none(Photo.id == photo_id)
        if photo is None or not can_see(photo, audience):
            raise NotFound(f"no photo {photo_id}")
        files = list(File.select().where((File.photo == photo.id) & (File.role == "media"))
                     .order_by(File.missing_since.is_null(False), File.path))
        for f in files:
            path = self.in_library(rel_of(f))  # a name that is not UTF-8 opens by its raw bytes
            if path is None:
                log.warning("refusing to serve %s: it is not part of the library (outside the originals, or "
                            "through a symlink while index.follow_symlinks is off)", f.path)
                continue
            if path.is_file():
                return Original(path=path, name=f.name, mime=photo.mime or "application/octet-stream")
        raise NotFound(f"the original of photo {photo_id} is not on disk (moved or deleted?)")

    def in_library(self, rel: str) -> Path | None:
        """The originals file a catalog path names, or None when that file is not part of the library (see the
        module's docstring): the path leaves the originals folder as written, or it passes through a symlink
        while index.follow_symlinks is off."""
        root = self.config.originals_path
        path = root / rel
        if not Path(os.path.normpath(path)).is_relative_to(root) or ".." in Path(rel).parts:
            return None
        if not self.config.index.follow_symlinks and os.path.realpath(path) != str(path):
            return None
        return path

    def preview(self, sha1: str, audience: Audience) -> Path | None:
        """The large preview, decoded from the original on first request and cached by content hash."""
        if not SHA1.fullmatch(sha1) or not shown(sha1, audience):
            return None
        cached = self.thumb("preview", sha1)
        if cached is not None:
            return cached
        with self._lock(sha1):
            cached = self.thumb("preview", sha1)
            if cached is not None:
                return cached
            photo = Photo.get_or_none(Photo.sha1 == sha1)
            if photo is None:
                return None
            try:
                with self._renders:
                    return self._make_preview(photo)
            except OverDecodeLimit as exc:
                log.info("photo %s: %s: its fit rendition is its preview", photo.id, exc)
                return self._fit_as_preview(photo)
            except (NotFound, MediaError, OSError, ValueError) as exc:
                # A preview is a nicety: the fit rendition made at index time stands in for it.
                log.warning("no preview for photo %s: %s", photo.id, exc)
                return self.thumb("fit", sha1)

    def _lock(self, sha1: str) -> threading.Lock:
        with self._locks_guard:
            if len(self._locks) > 1024:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            return self._locks.setdefault(sha1, threading.Lock())

    def _fit_as_preview(self, photo: Photo) -> Path | None:
        """The fit rendition written as the preview too: an original too large to decode on demand is looked at
        once, not on every view (the preview's URL is cached as immutable by browsers anyway)."""
        fit = self.thumb("fit", photo.sha1)
        if fit is None:
            return None
        with Image.open(fit) as image:
            rendition = self.cache.write(photo.sha1, "preview", image)
        self._write(_record_preview, photo.id, rendition.width, rendition.height, self.cache.ext, rendition.bytes)
        return self.cache.path(photo.sha1, "preview")

    def _make_preview(self, photo: Photo) -> Path:
        original = self.original(photo.id, EVERYONE)  # the caller checked the audience
        size = self.config.thumbnails.preview_size
        limit = self.config.index.max_megapixels
        kind = kind_for_name(original.name)
        if kind == "video":
            decoded, _info = decode_video(original.path, size)
        elif kind == "raw":
            decoded = decode_raw(original.path, original.path.read_bytes(), size, limit)
        else:
            decoded = decode_image(original.path.read_bytes(), size, limit, decode_limit=self.preview_decode_pixels)
        rendition = self.cache.write(photo.sha1, "preview", render_fit(decoded.image, size))
        self._write(_record_preview, photo.id, rendition.width, rendition.height, self.cache.ext, rendition.bytes)
        return self.cache.path(photo.sha1, "preview")


def shown(sha1: str, audience: Audience) -> bool:
    """Whether `audience` may see the photo with this content hash (its thumbnails and preview): one lookup on
    the unique sha1 index for the columns visibility needs, so the grid's hot path stays one probe per tile."""
    row = Photo.select(Photo.id, Photo.private, Photo.archived, Photo.owner).where(Photo.sha1 == sha1).tuples().first()
    if row is None:
        return False
    photo_id, private, archived, owner = row
    return sees(audience, photo_id, private=bool(private), archived=bool(archived), owner=owner)


def _record_preview(photo_id: int, width: int, height: int, fmt: str, size: int) -> None:
    Thumbnail.insert(photo=photo_id, size="preview", width=width, height=height, format=fmt, bytes=size) \
        .on_conflict_ignore().execute()
