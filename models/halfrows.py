"""An in-process 16-bit copy of a large vector space: the quantised search rescores its candidates from it, and
scans it when the sign codes show no structure, instead of reading thousands of BLOBs per query (2,180 of them
for a ranking's 1,000 hits cost 25-75 ms on SQLite at 100k, and sqlite-vec's exact scan 200-600 ms)."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

# A space is copied while the copy fits in this many bytes: 100k MiniLM vectors (384-d) take 77 MB, 100k CLIP
# vectors (512-d) 102 MB; larger spaces rescore from the database as before. Each row is kept as int16 with its
# own scale (its largest component is 32767): a cosine similarity of unit vectors stays within about 1e-5 of
# float32's (float16 was 5e-5 off, and numpy converts it 8x slower than int16).
HALF_BYTES = 112 * 2**20
_SCAN_ROWS = 16384  # rows converted to float32 at a time by a full scan (25 MB for 384-d)


def fits(count: int, dim: int) -> bool:
    return count * dim * 2 <= HALF_BYTES


def positions(ids: np.ndarray, allowed: Collection[int]) -> np.ndarray:
    """Positions in sorted `ids` of the allowed ones."""
    wanted = np.fromiter(allowed, dtype=np.int64, count=len(allowed))
    if not len(ids) or not len(wanted):
        return np.zeros(0, dtype=np.int64)
    top = int(ids[-1])
    if top <= 64 * len(ids) + 1_000_000:
        # A bitmap over the id range: O(n) and cache-friendly (searchsorted of 100k unsorted ids into 1M took
        # 17 ms, this 3 ms).
        mask = np.zeros(top + 1, dtype=bool)
        mask[wanted[(wanted >= 0) & (wanted <= top)]] = True
        return np.flatnonzero(mask[ids])
    wanted.sort()
    pos = np.searchsorted(ids, wanted)
    inside = pos < len(ids)
    pos, wanted = pos[inside], wanted[inside]
    return pos[ids[pos] == wanted]


class HalfRows:
    """Sorted ids and their rows as int16 times a per-row scale (unit rows for the cosine metric), at one stamp
    of the space."""

    __slots__ = ("stamp", "ids", "rows", "scale", "cosine")

    def __init__(self, stamp: str, ids: np.ndarray, matrix: np.ndarray, cosine: bool) -> None:
        order = np.argsort(ids, kind="stable")
        self.stamp, self.cosine = stamp, cosine
        self.ids = np.ascontiguousarray(ids[order], dtype=np.int64)
        self.rows, self.scale = self._fixed(matrix[order])

    def _fixed(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        matrix = np.asarray(matrix, dtype=np.float32)
        if self.cosine and len(matrix):
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            matrix = matrix / norms
        scale = np.abs(matrix).max(axis=1) / 32767.0 if len(matrix) else np.zeros(0, np.float32)
        scale[scale == 0] = 1.0
        rows = np.rint(matrix / scale[:, None]).astype(np.int16)
        return np.ascontiguousarray(rows), scale.astype(np.float32)

    def update(self, stamp: str, gone: Collection[int] | None, new_ids: np.ndarray | None,
               matrix: np.ndarray | None) -> None:
        """This process's own write (MariaDB keeps its caches in step instead of reloading them)."""
        ids, rows, scale = self.ids, self.rows, self.scale
        drop = set(gone or ()) | set((new_ids if new_ids is not None else np.zeros(0, np.int64)).tolist())
        if drop:
            keep = np.ones(len(ids), dtype=bool)
            keep[positions(ids, drop)] = False
            ids, rows, scale = ids[keep], rows[keep], scale[keep]
        if new_ids is not None and matrix is not None and len(new_ids):
            added, added_scale = self._fixed(matrix)
            ids = np.concatenate([ids, new_ids.astype(np.int64)])
            rows, scale = np.concatenate([rows, added]), np.concatenate([scale, added_scale])
            order = np.argsort(ids, kind="stable")
            ids, rows, scale = ids[order], rows[order], scale[order]
        self.ids, self.rows, self.scale, self.stamp = ids, rows, scale, stamp

    def distances(self, q: np.ndarray, pos: np.ndarray | None) -> np.ndarray:
        """Distances (1 - cosine, or L2) of q to the rows at these positions (None: all rows)."""
        count = len(self.ids) if pos is None else len(pos)
        out = np.empty(count, dtype=np.float32)
        for start in range(0, count, _SCAN_ROWS):
            end = start + _SCAN_ROWS
            which = slice(start, end) if pos is None else pos[start:end]
            part, scale = self.rows[which].astype(np.float32), self.scale[which]
            if self.cosine:
                out[start : start + len(part)] = 1.0 - (part @ q) * scale
                continue
            diff = part * scale[:, None] - q
            out[start : start + len(part)] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        return out

    def top(self, q: np.ndarray, k: int, pos: np.ndarray | None) -> list[tuple[int, float]]:
        """The k nearest of the rows at these positions (None: of all), as (id, distance), nearest first."""
        dist = self.distances(q, pos)
        if not len(dist) or k <= 0:
            return []
        k = min(k, len(dist))
        part = np.argpartition(dist, k - 1)[:k]
        order = part[np.argsort(dist[part], kind="stable")]
        ids = self.ids if pos is None else self.ids[pos]
        return [(int(ids[i]), float(dist[i])) for i in order]

    def rescore(self, q: np.ndarray, k: int, candidates: np.ndarray) -> list[tuple[int, float]] | None:
        """The k nearest of these candidate ids (sorted), or None when one is not held (the caller reads them)."""
        pos = np.searchsorted(self.ids, candidates)
        if len(pos) and (int(pos.max()) >= len(self.ids) or not np.array_equal(self.ids[pos], candidates)):
            return None
        return self.top(q, k, pos)

    def scan(self, q: np.ndarray, k: int, allowed: Collection[int] | None) -> list[tuple[int, float]]:
        """The k nearest of all rows (or of the allowed ones)."""
        return self.top(q, k, None if allowed is None else positions(self.ids, allowed))
