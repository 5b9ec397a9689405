"""Near-duplicate hints from CLIP image embeddings (as Immich finds duplicates): each newly embedded photo asks the
vector index for its nearest neighbours, and those within `models.duplicate_similarity` become `lookalike` pairs,
grouped on the duplicates page and found by the `lookalike:` search filter."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Any

from photoshelf.db.rows import chunks, tuples, tuples_in
from photoshelf.db.schema import Lookalike, Photo

log = logging.getLogger(__name__)

# Neighbours asked for per new photo: one KNN query of this size, whatever the library's size. More copies of
# one picture than this still join up, through the pairs among themselves (the page shows connected groups).
K = 10
# The duplicates page reads at most this many pairs (the most similar first) and shows at most this many photos
# of one group: a burst of 300 frames is one group, not a wall.
MAX_PAIRS = 5000
MAX_GROUP = 24


def update(vindex: Any, embedded: Iterable[tuple[int, Any]], threshold: float, model: str) -> int:
    """Replace the look-alike pairs of these (photo id, embedding) with those found now: one search of `vindex`
    (the photos' CLIP space, the new embeddings already in it) for the K nearest of each. Pairs within a stack
    (a RAW and its JPEG look alike on purpose) and with photos gone from the catalog are left out. Returns the
    number of pairs stored; runs in the caller's transaction."""
    items = [(int(pid), vec) for pid, vec in embedded]
    forget([pid for pid, _ in items])
    if threshold <= 0 or not items:
        return 0
    found: dict[tuple[int, int], float] = {}
    for pid, vec in items:
        for other, distance in vindex.search(vec, K + 1):
            similarity = 1.0 - distance
            if other == pid or similarity < threshold:
                continue
            pair = (min(pid, other), max(pid, other))
            found[pair] = max(found.get(pair, -1.0), similarity)
    if not found:
        return 0
    ids = sorted({i for pair in found for i in pair})
    stacks: dict[int, int | None] = {}
    stacks.update(tuples_in(Photo.select(Photo.id, Photo.stack), Photo.id, ids))
    rows = [{"lo": lo, "hi": hi, "similarity": round(sim, 5), "model": model[:48]}
            for (lo, hi), sim in sorted(found.items())
            if lo in stacks and hi in stacks and not (stacks[lo] is not None and stacks[lo] == stacks[hi])]
    for chunk in chunks(rows):
        Lookalike.insert_many(chunk).on_conflict_ignore().execute()
    return len(rows)


def forget(photo_ids: Collection[int]) -> None:
    """Drop every pair these photos are in (they are re-embedded, or their embeddings forgotten)."""
    for chunk in chunks(photo_ids):
        Lookalike.delete().where(Lookalike.lo.in_(chunk) | Lookalike.hi.in_(chunk)).execute()


def groups(limit: int = 200) -> list[dict[str, Any]]:
    """Connected groups of look-alike photos that are not missing, the most similar first: {"ids" (sorted, at
    most MAX_GROUP), "size" (the whole group's), "similarity" (its closest pair), "hub" (the photo paired with
    most others: `lookalike:<hub>` finds it and those it looks like)}. Reads at most MAX_PAIRS pairs."""
    lo, hi = Photo.alias(), Photo.alias()
    pairs: list[tuple[int, int, float]] = list(tuples(Lookalike.select(Lookalike.lo, Lookalike.hi, Lookalike.similarity)
             .join(lo, on=(Lookalike.lo == lo.id)).switch(Lookalike).join(hi, on=(Lookalike.hi == hi.id))
             .where(lo.missing_since.is_null() & hi.missing_since.is_null())
             .order_by(Lookalike.similarity.desc(), Lookalike.id).limit(MAX_PAIRS)))
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    degree: dict[int, int] = defaultdict(int)
    for a, b, _ in pairs:
        degree[a] += 1
        degree[b] += 1
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    best: dict[int, float] = {}
    for a, _, sim in pairs:
        best[root(a)] = max(best.get(root(a), -1.0), sim)
    members: dict[int, list[int]] = defaultdict(list)
    for x in list(parent):
        members[root(x)].append(x)
    out: list[dict[str, Any]] = []
    for r, ids in members.items():
        ids.sort()
        out.append({"ids": ids[:MAX_GROUP], "size": len(ids), "similarity": best[r],
                    "hub": max(ids, key=lambda i: (degree[i], -i))})
    out.sort(key=lambda g: (-g["similarity"], g["ids"][0]))
    return out[:limit]
