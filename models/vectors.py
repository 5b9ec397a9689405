"""Vector index per embedding space: sqlite-vec vec0 tables on SQLite (float32 + binary-quantised candidates
rescored exactly), an in-process numpy matrix over the `vector` table's BLOBs on MariaDB."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import peewee as pw

from photoshelf.db.backends import is_sqlite
from photoshelf.db.schema import Setting, Vector

log = logging.getLogger(__name__)

# The most candidates one binary-table query returns (a filter that passes few widens up to this).
MAX_CANDIDATES = 4096
# Candidates taken from the binary table per wanted result, then rescored exactly (recall@10 >= 0.95
# on 512-d vectors, measured by bench/ml.py).
OVERSAMPLE = 20
# A filter allowing at most this many items is searched exactly over just those items (pre-filter).
PREFILTER_MAX = 50_000
_CHUNK = 500


@dataclass(frozen=True)
class Space:
    """An embedding space: its name, dimension and metric ("cosine" on unit vectors, or "l2")."""

    name: str
    dim: int
    metric: str = "cosine"
    quantise: bool = True


def _as_f32(vec: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(vec, dtype=np.float32).reshape(-1))


class VectorIndex:
    """Add, remove and search vectors of one space; the `vector` table is the truth, vec0 tables a mirror."""

    _cache_lock = threading.Lock()
    _matrix_cache: dict[tuple[int, str], tuple[str, np.ndarray, np.ndarray]] = {}

    def __init__(self, db: pw.Database, space: Space) -> None:
        self.db = db
        self.space = space
        self.sqlite = is_sqlite(db)
        tag = hashlib.sha1(space.name.encode()).hexdigest()[:10]
        self.float_table = f"vec_{tag}_f"
        self.bin_table = f"vec_{tag}_b"
        if self.sqlite:
            self._ensure_tables()

    # --- writing ---

    def add(self, items: Iterable[tuple[int, Any]]) -> None:
        """Insert or replace the vectors of these item ids."""
        rows = [(int(i), _as_f32(v)) for i, v in items]
        if not rows:
            return
        for _, v in rows:
            if v.shape[0] != self.space.dim:
                raise ValueError(f"{self.space.name}: expected {self.space.dim} dimensions, got {v.shape[0]}")
        with self.db.atomic():
            self.remove([i for i, _ in rows])
            Vector.insert_many(
                [{"space": self.space.name, "item_id": i, "vector": v.tobytes()} for i, v in rows]
            ).execute()
            if self.sqlite:
                self._mirror_insert(rows)
            self._touch()

    def remove(self, item_ids: Collection[int]) -> None:
        ids = list(item_ids)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            Vector.delete().where((Vector.space == self.space.name) & Vector.item_id.in_(chunk)).execute()
            if self.sqlite:
                marks = ",".join("?" * len(chunk))
                self.db.execute_sql(f"DELETE FROM {self.float_table} WHERE rowid IN ({marks})", chunk)
                if self.space.quantise:
                    self.db.execute_sql(f"DELETE FROM {self.bin_table} WHERE rowid IN ({marks})", chunk)
        if ids:
            self._touch()

    def clear(self) -> None:
        Vector.delete().where(Vector.space == self.space.name).execute()
        if self.sqlite:
            self.db.execute_sql(f"DELETE FROM {self.float_table}")
            if self.space.quantise:
                self.db.execute_sql(f"DELETE FROM {self.bin_table}")
        self._touch()

    def _touch(self) -> None:
        """A new generation for the space, so other processes' matrix caches reload (one row read per query)."""
        if self.sqlite:
            return
        import secrets

        value = secrets.token_hex(8)
        Setting.insert(key=f"vectors:{self.space.name}"[:64], value=value).on_conflict(
            update={Setting.value: value}).execute()

    # --- reading ---

    def count(self) -> int:
        return int(Vector.select().where(Vector.space == self.space.name).count())

    def get(self, item_ids: Collection[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        ids = list(item_ids)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            query = Vector.select(Vector.item_id, Vector.vector).where(
                (Vector.space == self.space.name) & Vector.item_id.in_(chunk)
            )
            for item_id, blob in query.tuples():
                out[item_id] = np.frombuffer(bytes(blob), dtype=np.float32)
        return out

    def search(self, query: Any, k: int = 10, allowed: Collection[int] | None = None,
               exact: bool = False) -> list[tuple[int, float]]:
        """The k nearest items as (item id, distance), nearest first. `allowed` restricts the result to those
        ids (a search filter): small sets are searched exactly, large ones through the index with oversampling."""
        q = _as_f32(query)
        if self.space.metric == "cosine":
            q = q / (np.linalg.norm(q) or 1.0)
        if allowed is not None:
            allowed = allowed if isinstance(allowed, (set, frozenset)) else set(allowed)
            if not allowed:
                return []
            if len(allowed) <= PREFILTER_MAX:
                return self._exact_over(q, k, allowed)
        if not self.sqlite:
            return self._matrix_search(q, k, allowed)
        if allowed is None and (exact or not self.space.quantise):
            return self._vec0_exact(q, k)
        return self._quantised(q, k, allowed)

    # --- SQLite (sqlite-vec) ---

    def _ensure_tables(self) -> None:
        metric = "cosine" if self.space.metric == "cosine" else "l2"
        self.db.execute_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.float_table} USING "
            f"vec0(embedding float[{self.space.dim}] distance_metric={metric})"
        )
        if self.space.quantise:
            self.db.execute_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.bin_table} USING vec0(embedding bit[{self.space.dim}])"
            )

    def _mirror_insert(self, rows: Sequence[tuple[int, np.ndarray]]) -> None:
        cursor = self.db.cursor()
        cursor.executemany(f"INSERT INTO {self.float_table}(rowid, embedding) VALUES (?, ?)",
                           [(i, v.tobytes()) for i, v in rows])
        if self.space.quantise:
            cursor.executemany(f"INSERT INTO {self.bin_table}(rowid, embedding) VALUES (?, vec_quantize_binary(?))",
                               [(i, v.tobytes()) for i, v in rows])

    def sync_mirror(self) -> int:
        """Rebuild the sqlite-vec tables from the `vector` table when they disagree (a restored catalog, a crash
        between the two writes); returns the number of vectors mirrored, 0 when nothing was needed."""
        if not self.sqlite:
            return 0
        (mirrored,) = self.db.execute_sql(f"SELECT COUNT(*) FROM {self.float_table}").fetchone()
        total = self.count()
        if mirrored == total:
            return 0
        log.info("rebuilding the vector index %s (%s of %s mirrored)", self.space.name, mirrored, total)
        with self.db.atomic():
            self.db.execute_sql(f"DELETE FROM {self.float_table}")
            if self.space.quantise:
                self.db.execute_sql(f"DELETE FROM {self.bin_table}")
            last = -1
            while True:
                batch = list(Vector.select(Vector.item_id, Vector.vector)
                             .where((Vector.space == self.space.name) & (Vector.item_id > last))
                             .order_by(Vector.item_id).limit(5000).tuples())
                if not batch:
                    break
                self._mirror_insert([(i, np.frombuffer(bytes(b), dtype=np.float32)) for i, b in batch])
                last = batch[-1][0]
        return total

    def _vec0_exact(self, q: np.ndarray, k: int) -> list[tuple[int, float]]:
        rows = self.db.execute_sql(
            f"SELECT rowid, distance FROM {self.float_table} WHERE embedding MATCH ? AND k = ? ORDER BY distance",
            (q.tobytes(), k),
        ).fetchall()
        return [(int(i), float(d)) for i, d in rows]

    def _quantised(self, q: np.ndarray, k: int, allowed: set[int] | None) -> list[tuple[int, float]]:
        """Hamming-nearest candidates from the binary table, rescored exactly; with a filter, widen until k pass."""
        want = k * OVERSAMPLE
        while True:
            asked = min(want, MAX_CANDIDATES)
            rows = self.db.execute_sql(
                f"SELECT rowid FROM {self.bin_table} WHERE embedding MATCH vec_quantize_binary(?) AND k = ?",
                (q.tobytes(), asked),
            ).fetchall()
            candidates = [int(r[0]) for r in rows]
            exhausted = len(rows) < asked or asked == MAX_CANDIDATES
            if allowed is not None:
                candidates = [c for c in candidates if c in allowed]
            if allowed is None or len(candidates) >= k * OVERSAMPLE // 2 or exhausted:
                break
            want *= 4
        return self._rescore(q, k, candidates)

    def _rescore(self, q: np.ndarray, k: int, candidates: list[int]) -> list[tuple[int, float]]:
        vectors = self.get(candidates)
        if not vectors:
            return []
        ids = np.fromiter(vectors.keys(), dtype=np.int64, count=len(vectors))
        matrix = np.vstack(list(vectors.values()))
        return self._top(q, k, ids, matrix)

    def _exact_over(self, q: np.ndarray, k: int, allowed: set[int]) -> list[tuple[int, float]]:
        if not self.sqlite:
            ids, matrix = self._matrix()
            mask = np.isin(ids, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
            return self._top(q, k, ids[mask], matrix[mask])
        if len(allowed) <= 4 * _CHUNK:
            return self._rescore(q, k, list(allowed))
        # sqlite-vec applies the rowid filter inside its scan.
        rows = self.db.execute_sql(
            f"SELECT rowid, distance FROM {self.float_table} WHERE embedding MATCH ? AND k = ? "
            f"AND rowid IN (SELECT value FROM json_each(?)) ORDER BY distance",
            (q.tobytes(), k, "[" + ",".join(str(int(a)) for a in allowed) + "]"),
        ).fetchall()
        return [(int(i), float(d)) for i, d in rows]

    # --- numpy (MariaDB, rescoring) ---

    def _top(self, q: np.ndarray, k: int, ids: np.ndarray, matrix: np.ndarray) -> list[tuple[int, float]]:
        if len(ids) == 0:
            return []
        if self.space.metric == "cosine":
            norms = np.linalg.norm(matrix, axis=1)
            norms[norms == 0] = 1.0
            dist = 1.0 - (matrix @ q) / norms
        else:
            diff = matrix - q
            dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        k = min(k, len(ids))
        part = np.argpartition(dist, k - 1)[:k]
        order = part[np.argsort(dist[part], kind="stable")]
        return [(int(ids[i]), float(dist[i])) for i in order]

    def _matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """All vectors of the space as one matrix, cached per process until the rows change."""
        row = Setting.get_or_none(Setting.key == f"vectors:{self.space.name}"[:64])
        stamp = row.value if row is not None else ""
        key = (id(self.db), self.space.name)
        with self._cache_lock:
            cached = self._matrix_cache.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1], cached[2]
        ids: list[int] = []
        blobs: list[bytes] = []
        for item_id, blob in Vector.select(Vector.item_id, Vector.vector).where(
                Vector.space == self.space.name).order_by(Vector.item_id).tuples().iterator():
            ids.append(item_id)
            blobs.append(bytes(blob))
        matrix = (np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), self.space.dim)
                  if ids else np.zeros((0, self.space.dim), dtype=np.float32))
        if self.space.metric == "cosine" and len(ids):
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            matrix = matrix / norms
        id_array = np.asarray(ids, dtype=np.int64)
        with self._cache_lock:
            self._matrix_cache[key] = (stamp, id_array, matrix)
        return id_array, matrix

    def _matrix_search(self, q: np.ndarray, k: int, allowed: set[int] | None) -> list[tuple[int, float]]:
        ids, matrix = self._matrix()
        if allowed is not None:
            mask = np.isin(ids, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
            ids, matrix = ids[mask], matrix[mask]
        return self._top(q, k, ids, matrix)
