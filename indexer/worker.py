"""Per-file work that needs no database: read once, SHA-1, decode pixels, write thumbnails, perceptual hash."""

from __future__ import annotations

import errno
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from photoshelf import dupsig
from photoshelf.errors import MediaError
from photoshelf.media.decode import Decoded, VideoInfo, decode_image, decode_raw, decode_video, kind_for_name
from photoshelf.media.stderr_capture import decode_capturing
from photoshelf.media.thumbs import Rendition, ThumbCache

log = logging.getLogger(__name__)

IN_MEMORY_LIMIT = 128 * 1024 * 1024  # files up to this size are read once into memory and decoded from there
CHUNK = 1024 * 1024


@dataclass
class FileResult:
    """What the worker learnt about one file; `fatal` means it cannot be in the library."""

    sha1: str | None = None
    bytes_read: int = 0
    width: int | None = None
    height: int | None = None
    renditions: list[Rendition] = field(default_factory=list)
    thumbs_cached: bool = False
    phash: str | None = None
    signature: tuple[str, str] | None = None  # dHash and colour layout of the whole picture (photoshelf/dupsig.py)
    video: VideoInfo | None = None
    duration: float | None = None  # an animated image's length, from its frames
    fatal: str | None = None
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (stage, reason)


def _read_error(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied: the user running photoshelf cannot read this file"
    if exc.errno == errno.ENOENT:
        return "the file disappeared while it was being indexed"
    if exc.errno == errno.EIO:
        return "input/output error reading the file (disk or network mount problem)"
    return f"cannot read the file: {exc.strerror or exc}"


def _phash(image: Image.Image) -> str | None:
    import imagehash

    try:
        return str(imagehash.phash(image))
    except (ValueError, OSError):
        return None


def process_file(path: Path, size: int, thumbs: ThumbCache, max_megapixels: int) -> FileResult:
    """Hash the file and make its index-time thumbnails. Never raises for a bad file: problems go in the result."""
    result = FileResult()
    if size == 0:
        result.fatal = "empty file (0 bytes)"
        return result
    kind = kind_for_name(path.name)
    data: bytes | None = None
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as fh:
            if kind != "video" and size <= IN_MEMORY_LIMIT:
                data = fh.read()
                digest.update(data)
                result.bytes_read = len(data)
            else:
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
                    result.bytes_read += len(chunk)
    except OSError as exc:
        result.fatal = _read_error(exc)
        return result
    result.sha1 = digest.hexdigest()
    if result.bytes_read == 0:
        result.fatal = "empty file (0 bytes)"
        return result

    cached = thumbs.existing(result.sha1)
    if cached is not None:
        # Same bytes seen before (a duplicate, a move, a rebuilt catalog, a run killed after writing them):
        # the cached thumbnails are valid, since they are named by content.
        result.thumbs_cached = True
        result.renditions = cached
        try:
            with Image.open(thumbs.path(result.sha1, "tile")) as cached_tile:
                result.phash = _phash(cached_tile)
            with Image.open(thumbs.path(result.sha1, "fit")) as fit:
                result.signature = dupsig.signature(fit)
        except OSError:
            pass
        if kind != "video":
            return result

    decoded: Decoded | None = None
    said: list[str] = []  # what LibRaw wrote to stderr while decoding this file
    try:
        if kind == "video":
            decoded, result.video = decode_video(path, thumbs.config.fit_size)
        elif kind == "raw":
            raw = data if data is not None else path.read_bytes()
            decoded = decode_capturing(lambda: decode_raw(path, raw, thumbs.config.fit_size, max_megapixels), said)
        else:
            decoded = decode_image(data if data is not None else path.read_bytes(), thumbs.config.fit_size,
                                   max_megapixels)
    except MediaError as exc:
        result.warnings.extend(("thumbnail", line) for line in said)
        message = str(exc)
        if "safety limit" in message or "decompression bomb" in message:
            result.fatal = message
        else:
            result.warnings.append(("thumbnail", message))
        return result
    except (OSError, ValueError, MemoryError) as exc:  # a decoder failing in an unexpected way
        result.warnings.extend(("thumbnail", line) for line in said)
        result.warnings.append(("thumbnail", f"cannot decode the picture: {exc}"))
        return result
    result.warnings.extend(("thumbnail", line) for line in said)
    result.width, result.height = decoded.width, decoded.height
    result.duration = decoded.duration
    if decoded.warning:
        result.warnings.append(("thumbnail", decoded.warning))
    if result.thumbs_cached:
        return result  # a video: the decode above was for its duration and codec
    try:
        result.renditions, tile = thumbs.write_index_sizes(result.sha1, decoded.image)
    except OSError as exc:
        result.warnings.append(("thumbnail", f"cannot write the thumbnail to storage: {exc}"))
        return result
    result.phash = _phash(tile)
    result.signature = dupsig.signature(decoded.image)
    return result
