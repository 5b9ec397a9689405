"""The second look at a picture for near-duplicates: a difference hash of the whole frame and a colour layout.

The indexer's pHash is taken on the square tile (a centred crop); this pair is taken on the whole upright
picture at fit size, so it sees what the tile cuts off, and its colours, which pHash (grey) ignores. Both are
computed where the pHash is (indexer/worker.py), and from the fit thumbnail for photos indexed before they
existed (`backfill`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from photoshelf.db.rows import chunks
from photoshelf.db.schema import Photo
from photoshelf.db.transactions import write_transaction

log = logging.getLogger(__name__)

GRID = 3  # the colour layout: mean RGB of a 3×3 grid, 27 bytes as 54 hex digits
COLORS_LEN = GRID * GRID * 3 * 2
GREY_SPREAD = 8  # a cell whose channels differ by at most this (of 255) is grey; a picture of grey cells is grey
_CHUNK = 200


def signature(image: Image.Image) -> tuple[str, str] | None:
    """(dHash hex, colour layout hex) of an upright picture, or None when it cannot be read."""
    import imagehash

    try:
        rgb = image.convert("RGB")
        dhash = str(imagehash.dhash(rgb))
        cells = rgb.resize((GRID, GRID), Image.Resampling.BOX)
    except (ValueError, OSError):
        return None
    return dhash, cells.tobytes().hex()


def colours(hexes: str | None) -> list[tuple[int, int, int]] | None:
    """The grid's cells as RGB triples, or None for a missing or malformed value."""
    if not hexes or len(hexes) != COLORS_LEN:
        return None
    try:
        raw = bytes.fromhex(hexes)
    except ValueError:
        return None
    return [(raw[k], raw[k + 1], raw[k + 2]) for k in range(0, len(raw), 3)]


def is_grey(cells: list[tuple[int, int, int]]) -> bool:
    return all(max(c) - min(c) <= GREY_SPREAD for c in cells)


def colour_distance(a: str | None, b: str | None) -> float | None:
    """Mean absolute difference of the two layouts per channel (0–255), or None when it cannot say: a value is
    missing, or one picture is grey (a black-and-white copy keeps the layout of light, not the colours)."""
    ca, cb = colours(a), colours(b)
    if ca is None or cb is None:
        return None
    if is_grey(ca) or is_grey(cb):
        ca = [(sum(c) // 3,) * 3 for c in ca]
        cb = [(sum(c) // 3,) * 3 for c in cb]
    total = sum(abs(x - y) for pa, pb in zip(ca, cb, strict=True) for x, y in zip(pa, pb, strict=True))
    return total / (len(ca) * 3)


def backfill(db: Any, fit_path: Callable[[str], Path], limit: int | None = None) -> int:
    """Compute the signature of photos that have thumbnails but none yet (indexed before it existed), from their
    fit thumbnail; `fit_path(sha1)` names that file. Returns how many were filled. A photo whose thumbnail
    cannot be read gets an empty signature ("") so it is not read again on every call."""
    query = (Photo.select(Photo.id, Photo.sha1).where(Photo.dhash.is_null() & (Photo.has_thumbs == True)  # noqa: E712
                                                      & Photo.missing_since.is_null()).order_by(Photo.id))
    if limit is not None:
        query = query.limit(limit)
    todo: list[tuple[int, str]] = list(query.tuples())  # type: ignore[arg-type]
    done = 0
    for chunk in chunks(todo, _CHUNK):
        rows = []
        for photo_id, sha1 in chunk:
            try:
                with Image.open(fit_path(sha1)) as im:
                    sig = signature(im)
            except (OSError, SyntaxError) as exc:
                log.warning("duplicates: cannot read the thumbnail of photo %s: %s", photo_id, exc)
                sig = None
            rows.append((photo_id, sig))
        with write_transaction(db):
            for photo_id, sig in rows:
                dhash, colors = sig if sig is not None else ("", "")
                Photo.update(dhash=dhash, colors=colors).where(Photo.id == photo_id).execute()
        done += len(rows)
    if done:
        log.info("duplicates: computed the second hash of %s photos from their thumbnails", done)
    return done
