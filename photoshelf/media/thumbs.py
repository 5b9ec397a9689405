"""Thumbnail cache under storage: files named by content hash, so they survive moves and renames of originals."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from photoshelf import tempfiles
from photoshelf.config import ThumbnailsConfig
from photoshelf.media.decode import render_fit, render_tile

SIZES = ("tile", "fit", "preview")


@dataclass
class Rendition:
    size: str
    width: int
    height: int
    bytes: int


class ThumbCache:
    """Where thumbnails live and how they are written: <root>/<sha1[:2]>/<sha1[2:4]>/<sha1>_<size>.<ext>."""

    def __init__(self, root: Path, config: ThumbnailsConfig) -> None:
        self.root = root
        self.config = config
        self.ext = "webp" if config.format == "webp" else "jpg"

    def path(self, sha1: str, size: str) -> Path:
        return self.root / sha1[:2] / sha1[2:4] / f"{sha1}_{size}.{self.ext}"

    def pixels(self, size: str) -> int:
        return {"tile": self.config.tile_size, "fit": self.config.fit_size, "preview": self.config.preview_size}[size]

    def exists(self, sha1: str, size: str) -> bool:
        return self.path(sha1, size).is_file()

    def write(self, sha1: str, size: str, image: Image.Image) -> Rendition:
        """Write atomically (temp file + rename) so a crash never leaves a half thumbnail behind."""
        target = self.path(sha1, size)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfiles.mkstemp(target.parent, self.root.parent)  # swept after a crash (tempfiles.recover)
        try:
            with os.fdopen(fd, "wb") as fh:
                if self.ext == "webp":
                    image.save(fh, "WEBP", quality=self.config.quality, method=4)
                else:
                    image.save(fh, "JPEG", quality=self.config.quality, optimize=False, progressive=size != "tile")
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return Rendition(size=size, width=image.width, height=image.height, bytes=target.stat().st_size)

    def write_index_sizes(self, sha1: str, image: Image.Image) -> tuple[list[Rendition], Image.Image]:
        """The renditions made at index time: the fit (~720) and the square tile (~224) cut from it.

        Returns them and the tile image (the perceptual hash is computed on it)."""
        fit = render_fit(image, self.config.fit_size)
        tile = render_tile(fit, self.config.tile_size)
        return [self.write(sha1, "fit", fit), self.write(sha1, "tile", tile)], tile

    def existing(self, sha1: str, sizes: tuple[str, ...] = ("fit", "tile")) -> list[Rendition] | None:
        """Renditions already in the cache for this content (a duplicate, a move, a resumed run), or None."""
        out = []
        for size in sizes:
            path = self.path(sha1, size)
            try:
                with Image.open(path) as im:
                    out.append(Rendition(size=size, width=im.width, height=im.height, bytes=path.stat().st_size))
            except (OSError, SyntaxError):
                return None
        return out

    def remove(self, sha1: str) -> None:
        for size in SIZES:
            try:
                self.path(sha1, size).unlink()
            except FileNotFoundError:
                pass
