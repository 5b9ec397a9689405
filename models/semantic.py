"""Search by meaning: free text to photos (CLIP text-to-image when a CLIP model is installed and has embedded the
library, else MiniLM over the text index), and "similar photos" (nearest neighbours of a photo's embedding)."""

from __future__ import annotations

import logging
from collections.abc import Collection

import numpy as np
import peewee as pw

from photoshelf.config import Config
from photoshelf.db.schema import Vector
from photoshelf.models import clip, textsearch
from photoshelf.models.vectors import VectorIndex

log = logging.getLogger(__name__)


def clip_index(config: Config, db: pw.Database) -> VectorIndex | None:
    """The CLIP image index when the configured model is installed and has vectors, else None."""
    name = config.models.clip_model
    if not config.models.enabled or not name or clip.missing_files(clip.model_dir(config, name)):
        return None
    space = clip.space_for(config, name)
    if space is None:
        return None
    vindex = VectorIndex(db, space)
    return vindex if vindex.count() else None


def _has_vectors(space: str) -> bool:
    """Whether a space holds any vector: one index probe (counting 100k vectors, and opening a VectorIndex,
    which makes sure of its sqlite-vec tables, cost milliseconds on every ranked request)."""
    return bool(Vector.select(Vector.id).where(Vector.space == space).limit(1).exists())


def backend(config: Config, db: pw.Database) -> str | None:
    """Which index free text searches here: "clip", "text", or None (nothing embedded yet)."""
    name = config.models.clip_model
    if config.models.enabled and name and not clip.missing_files(clip.model_dir(config, name)):
        space = clip.space_for(config, name)
        if space is not None and _has_vectors(space.name):
            return "clip"
    if config.models.enabled and config.models.text_search and _has_vectors(textsearch.SPACE.name):
        return "text"
    return None


def search(config: Config, db: pw.Database, text: str, k: int = 100,
           allowed_ids: Collection[int] | None = None, which: str | None = None) -> list[tuple[int, float]]:
    """The k photos nearest in meaning to `text`, as (photo id, cosine similarity), best first. `allowed_ids`
    (the other filters of the query) restricts the ranking without losing results; [] when nothing is indexed.
    `which`: what backend() answered just before ("clip", "text"), so the index is not probed again."""
    text = " ".join(text.split())
    if not text:
        return []
    if which is None:
        which = backend(config, db)
    space = clip.space_for(config, config.models.clip_model) if which == "clip" else None
    if space is not None:
        vindex = VectorIndex(db, space)
        query = clip.load(config, config.models.clip_model).encode_texts([text])[0]
    elif which == "text":
        vindex = textsearch.index(db)
        query = textsearch.query_vector(config, text)
    else:
        return []
    return [(pid, 1.0 - dist) for pid, dist in vindex.search(query, k, allowed=allowed_ids)]


def similar(config: Config, db: pw.Database, photo_id: int, k: int = 12,
            allowed_ids: Collection[int] | None = None) -> list[tuple[int, float]]:
    """Photos that look (CLIP) or read (text index) most like this one, itself left out; [] when it has no
    embedding."""
    candidates = [clip_index(config, db)]
    if config.models.enabled and config.models.text_search:
        candidates.append(textsearch.index(db))
    for vindex in candidates:
        if vindex is None:
            continue
        own = vindex.get([photo_id]).get(photo_id)
        if own is None:
            continue
        allowed = None if allowed_ids is None else set(allowed_ids) - {photo_id}
        found = vindex.search(np.asarray(own), k + 1, allowed=allowed)
        return [(pid, 1.0 - dist) for pid, dist in found if pid != photo_id][:k]
    return []
