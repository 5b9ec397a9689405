"""Vector index per embedding space: sqlite-vec vec0 tables on SQLite (float32 for exact scans, and binary-quantised
codes that an in-process Hamming scan turns into candidates, rescored exactly); on MariaDB the `vector` table's
BLOBs, held in process as a float matrix for small spaces and as the same binary codes (candidates rescored from
the BLOBs) for large ones. The process caches carry a per-space stamp from `setting`, which every write renews:
another process's writes are seen on the next query, and a MariaDB writer updates its own cache in place."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import peewee as pw

from photoshelf.db import settings
from photoshelf.db.backends import is_sqlite
from photoshelf.db.rows import chunks, tuples
from photoshelf.db.schema import Setting, Vector
from photoshelf.db.transactions import write_transaction
from photoshelf.models import halfrows
from photoshelf.models.halfrows import HalfRows

log = logging.getLogger(__name__)

# Candidates rescored exactly per wanted result at 100k items; larger sets get more (x n^0.4: 50 at 1M), since
# more items crowd the quantised neighbourhood (bench/vectors.py: recall@10 >= 0.95 on clustered vectors).
OVERSAMPLE = 20
MAX_OVERSAMPLE = 50
# Hamming shortlist per rescored candidate, re-ranked asymmetrically (query in float, items as sign bits).
SHORTLIST = 10
TAIL_SHORTLIST = 3
_CHUNK = 500
# MariaDB: a space whose floats fit in this many bytes is searched exactly over a float matrix in memory (a
# family's faces: 50k x 128-d = 25 MB, 1 ms a query; 16k CLIP vectors); a larger one keeps only sign codes (64 B
# per 512-d vector: 2 GB -> 64 MB at 1M) and rescores the candidates' BLOBs, as on SQLite (3-20 ms a query).
MATRIX_BYTES = 32 * 2**20
_LOAD_BATCH = 5000
# A query whose k-th nearest sign code is not this many standard deviations nearer than chance would put it (the
# k-th best of n independent draws) finds no structure in the data (i.i.d. random vectors; bench/vectors.py: 3.3-3.9
# where chance says 3.3-3.7, clustered ones 6-10): the sign codes cannot tell its neighbours apart from the rest
# (recall@10 0.57-0.76): it gets WIDEN times the candidates rescored, or an exact scan where that is cheaper.
STRUCTURE_MARGIN = 1.5
WIDEN = 15
_MIN_FOR_TEST = 2000  # fewer items than this are rescored in full anyway, or cheap to scan
_CHUNK_SIZE = 1024  # sqlite-vec's default vectors per chunk in its shadow tables


@dataclass(frozen=True)
class Space:
    """An embedding space: its name, dimension and metric ("cosine" on unit vectors, or "l2")."""

    name: str
    dim: int
    metric: str = "cosine"
    quantise: bool = True


def _as_f32(vec: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(vec, dtype=np.float32).reshape(-1))


# Row b: the 8 bits of the byte value b, least significant first, as floats.
_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(np.float32)


def oversample(n: int) -> int:
    """Rescored candidates per result (for the top 10) when searching n items."""
    return int(min(max(OVERSAMPLE, MAX_OVERSAMPLE), max(OVERSAMPLE, OVERSAMPLE * (n / 100_000) ** 0.4)))


def candidates(k: int, n: int) -> int:
    """How many candidates to rescore exactly for the top k of n items: the top 10 gets the full oversampling
    (that is where recall is measured and seen); a long list (search asks for up to 1,000) only twice its
    length more, so a page of results costs milliseconds, not a rescoring of 50,000 vectors."""
    return 2 * max(0, k - 10) + min(k, 10) * oversample(n)


def _smallest(dist: np.ndarray, count: int, dim: int) -> np.ndarray:
    """Positions of the `count` smallest Hamming distances: a histogram finds the cut-off distance, so only the
    few items at it are sorted (3 ms for 1M items against 11 ms for argpartition)."""
    cut = int(np.searchsorted(np.cumsum(np.bincount(dist, minlength=dim + 1)), count))
    pos = np.flatnonzero(dist <= cut)
    if len(pos) > count:
        pos = pos[np.argpartition(dist[pos], count - 1)[:count]]
    return pos


def _words64(blob: bytes, count: int, width: int) -> np.ndarray:
    """`count` bit codes of `width` bytes each as rows of 64-bit words (zero-padded: the padding never differs,
    so Hamming distances are unchanged)."""
    raw = np.frombuffer(blob, dtype=np.uint8).reshape(count, width)
    words = (width + 7) // 8
    if width != words * 8:
        raw = np.concatenate([raw, np.zeros((count, words * 8 - width), dtype=np.uint8)], axis=1)
    return np.ascontiguousarray(raw).view(np.uint64).reshape(count, words)


def _sign_words(vectors: np.ndarray) -> np.ndarray:
    """Sign codes of float rows as 64-bit words, laid out as sqlite-vec's vec_quantize_binary packs them (dimension
    j in bit j % 8 of byte j // 8, set when > 0)."""
    bits = np.packbits(vectors > 0, axis=1, bitorder="little")
    return _words64(bits.tobytes(), len(vectors), bits.shape[1])


def structured(dist: np.ndarray, k: int, dim: int) -> bool:
    """Whether the Hamming distances of a query to n items show neighbours nearer than chance: the k-th smallest
    lies more than STRUCTURE_MARGIN standard deviations beyond where the k-th best of n independent draws would
    (NormalDist's quantile of 1 - k/n). The centre is the median; the spread is the smaller of the MAD (scaled to
    a standard deviation) and that of independent fair bits (sqrt(dim) / 2). Clusters widen the spread of the
    data's distances: with the mean and standard deviation, a query inside a cluster ("beach" among 4,000 beach
    photos of 100k, the k-th nearest code 76 bits off where the median is 179) looked like chance (z 4.3), and
    every such query fell back to an exact scan (600 ms at 100k, bench/viewer.py). On i.i.d. random vectors both
    spreads are that of fair bits, as before."""
    n = len(dist)
    if n < _MIN_FOR_TEST or k >= n:
        return True
    counts = np.bincount(dist, minlength=dim + 1)
    cumulative = np.cumsum(counts)
    median = int(np.searchsorted(cumulative, (n + 1) // 2))
    spread = np.bincount(np.abs(np.arange(len(counts)) - median), weights=counts)
    mad = int(np.searchsorted(np.cumsum(spread), (n + 1) // 2))
    std = max(min(1.4826 * mad, np.sqrt(dim) / 2), 0.5)  # a normal's MAD is 0.6745 of its standard deviation
    kth = int(np.searchsorted(cumulative, k))
    return (median - kth) / std > NormalDist().inv_cdf(1.0 - k / n) + STRUCTURE_MARGIN


def _shortlist(q: np.ndarray, k: int, ids: np.ndarray, codes: np.ndarray,
               allowed: set[int] | None) -> np.ndarray | None:
    """The item ids to rescore exactly for the top k, in id order (one forward walk of the index), from sorted ids
    and their sign codes (word-major, (W, n)), only the allowed ones when filtered: a Hamming shortlist,
    re-ranked by the asymmetric estimate, then the best k * oversample(n). Shared by both backends.
    More candidates when the codes show no structure around the query (see `structured`), None when so many
    that the caller had better scan exactly."""
    if allowed is not None and len(ids):
        pos = halfrows.positions(ids, allowed)
        ids, codes = ids[pos], codes[:, pos]
    want = candidates(k, len(ids))
    if want >= len(ids):
        return ids
    dim = len(q)
    qcode = _sign_words(q[None, :])[0]
    dist = np.zeros(len(ids), dtype=np.uint16)
    for word in range(codes.shape[0]):
        dist += np.bitwise_count(codes[word] ^ qcode[word])
    head = min(want, min(k, 10) * oversample(len(ids)))  # the top 10's own candidates
    if not structured(dist, min(k, 10), dim):
        # Near-ties everywhere: WIDEN times the candidates (MiniLM texts at 20k: recall@10 0.92 -> 1.0),
        # or, where that is a good part of the items anyway, an exact scan.
        want, head = want * WIDEN, head * WIDEN
        if want * 4 >= len(ids):
            return None
        log.debug("no structure around the query: %d candidates of %d", want, len(ids))
    # The top 10's candidates come from SHORTLIST times as many codes, as for k = 10; a long list's rest from
    # TAIL_SHORTLIST times (a ranking's k = 1,000 re-ranked 21,800 codes, 3x the work, for places 11-1000).
    short = min(len(ids), head * SHORTLIST + (want - head) * TAIL_SHORTLIST)
    pos = _smallest(dist, short, dim) if short < len(ids) else np.arange(len(ids))
    # Re-rank the shortlist by q . sign(x): the query keeps its float values, which ranks far better than
    # Hamming between two sign codes (random vectors: recall@10 0.30 -> 0.57 at the same rescoring cost).
    # Per byte position, the sum of q over each of the 256 bit patterns (sqlite-vec packs dimension j into
    # bit j % 8 of byte j // 8): the estimate is then one table lookup per code byte (0.5 ms for 2,000).
    nbytes = dim // 8
    rows = np.ascontiguousarray(codes[:, pos].T).view(np.uint8)[:, :nbytes]
    table = _BYTE_BITS @ q[: nbytes * 8].reshape(nbytes, 8).T
    score = table[rows, np.arange(nbytes)].sum(axis=1)
    best = pos[np.argpartition(-score, want - 1)[:want]]
    return np.sort(ids[best])


class _Rows:
    """One process's copy of a MariaDB space at one stamp: sorted ids and, per id, a unit float row (`codes` False)
    or its sign code (word-major words). Buffers keep spare room, so rows appended past the largest id (new faces,
    new photos) cost no copy; a reader's views of the first n rows never change under it."""

    __slots__ = ("stamp", "codes", "n", "_ids", "_data")

    def __init__(self, stamp: str, ids: np.ndarray, data: np.ndarray, codes: bool) -> None:
        self.stamp, self.codes, self.n = stamp, codes, len(ids)
        self._ids, self._data = ids, data

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self._ids[: self.n], (self._data[:, : self.n] if self.codes else self._data[: self.n])

    def drop(self, gone: np.ndarray) -> None:
        ids, data = self.view()
        pos = np.searchsorted(ids, gone)
        pos = pos[pos < len(ids)]
        pos = pos[np.isin(ids[pos], gone)]
        if len(pos):
            keep = np.ones(len(ids), dtype=bool)
            keep[pos] = False
            self._ids, self._data = ids[keep], (data[:, keep] if self.codes else data[keep])
            self.n = len(self._ids)

    def put(self, new_ids: np.ndarray, rows: np.ndarray) -> None:
        """Add rows (unit floats, or codes (m, W)) for ids not held yet."""
        order = np.argsort(new_ids, kind="stable")
        new_ids, rows = new_ids[order], rows[order]
        ids, data = self.view()
        if self.codes:
            rows = rows.T
        if self.n and new_ids[0] <= ids[-1]:  # inside the id range: merge (one copy)
            merged = np.concatenate([ids, new_ids])
            order = np.argsort(merged, kind="stable")
            both = np.concatenate([data, rows], axis=1 if self.codes else 0)
            self._ids, self._data = merged[order], (both[:, order] if self.codes else both[order])
            self.n = len(self._ids)
            return
        end = self.n + len(new_ids)
        if end > len(self._ids):  # grow by half, so appends are amortised O(1) per row
            cap = max(end, int(len(self._ids) * 1.5) + 64)
            grown_ids = np.zeros(cap, dtype=np.int64)
            grown_ids[: self.n] = ids
            if self.codes:
                grown = np.zeros((data.shape[0], cap), dtype=data.dtype)
                grown[:, : self.n] = data
            else:
                grown = np.zeros((cap, data.shape[1]), dtype=data.dtype)
                grown[: self.n] = data
            self._ids, self._data = grown_ids, grown
        self._ids[self.n : end] = new_ids
        if self.codes:
            self._data[:, self.n : end] = rows
        else:
            self._data[self.n : end] = rows
        self.n = end


class VectorIndex:
    """Add, remove and search vectors of one space; the `vector` table is the truth, vec0 tables a mirror."""

    _cache_lock = threading.Lock()
    _rows_cache: dict[tuple[int, str], _Rows] = {}
    _codes_cache: dict[tuple[int, str, str], tuple[str, np.ndarray, np.ndarray]] = {}
    _half_cache: dict[tuple[int, str, str], HalfRows] = {}
    _half_loading: set[tuple[int, str, str]] = set()

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

    def add(self, items: Iterable[tuple[int, Any]], *, replace: bool = True) -> None:
        """Insert or replace the vectors of these item ids (`replace=False`: the caller knows they are new, as in a
        bulk load, and the deletes are skipped)."""
        rows = [(int(i), _as_f32(v)) for i, v in items]
        if not rows:
            return
        for _, v in rows:
            if v.shape[0] != self.space.dim:
                raise ValueError(f"{self.space.name}: expected {self.space.dim} dimensions, got {v.shape[0]}")
        with write_transaction(self.db):
            if replace:
                self._delete([i for i, _ in rows])
            for chunk in chunks(rows):  # MariaDB's max_allowed_packet bounds one statement
                Vector.insert_many([{"space": self.space.name, "item_id": i, "vector": v.tobytes()}
                                    for i, v in chunk]).execute()
            if self.sqlite:
                self._mirror_insert(rows)
            self._touch(gone=[i for i, _ in rows] if replace else None, new=rows)

    def remove(self, item_ids: Collection[int]) -> None:
        ids = list(item_ids)
        if ids:
            with write_transaction(self.db):
                self._delete(ids)
                self._touch(gone=ids)

    def _delete(self, ids: list[int]) -> None:
        for chunk in chunks(ids):
            Vector.delete().where((Vector.space == self.space.name) & Vector.item_id.in_(chunk)).execute()
            if self.sqlite:
                marks = ",".join("?" * len(chunk))
                self.db.execute_sql(f"DELETE FROM {self.float_table} WHERE rowid IN ({marks})", chunk)
                if self.space.quantise:
                    self.db.execute_sql(f"DELETE FROM {self.bin_table} WHERE rowid IN ({marks})", chunk)

    def clear(self) -> None:
        Vector.delete().where(Vector.space == self.space.name).execute()
        if self.sqlite:
            self.db.execute_sql(f"DELETE FROM {self.float_table}")
            if self.space.quantise:
                self.db.execute_sql(f"DELETE FROM {self.bin_table}")
        self._touch()

    def _touch(self, gone: Collection[int] | None = None,
               new: Sequence[tuple[int, np.ndarray]] | None = None) -> None:
        """A new generation for the space, so every process's caches reload (one row read per query). On MariaDB
        this process's cache takes the change in place and the new stamp, when it held the generation just
        replaced (read under a row lock, so no other writer slipped in between); otherwise it is dropped. A
        rolled-back write leaves the cache on a stamp the database never commits, so it reloads."""
        value = secrets.token_hex(8)
        if self.sqlite:
            settings.put_text(self._stamp_key, value)
            return
        with write_transaction(self.db):
            row = (Setting.select(Setting.value).where(Setting.key == self._stamp_key)
                   .for_update().tuples().first())
            settings.put_text(self._stamp_key, value)
            self._advance(row[0] if row is not None else "", value, gone, new)

    def _advance(self, previous: str, stamp: str, gone: Collection[int] | None,
                 new: Sequence[tuple[int, np.ndarray]] | None) -> None:
        key = (id(self.db), self.space.name)
        with self._cache_lock:
            half = self._half_cache.get(self._half_key)
            if half is not None:
                if half.stamp != previous or (gone is None and new is None):
                    del self._half_cache[self._half_key]
                else:
                    half.update(stamp, gone, None if not new else np.fromiter((i for i, _ in new), np.int64, len(new)),
                                None if not new else np.vstack([v for _, v in new]))
            rows = self._rows_cache.get(key)
            if rows is None:
                return
            if rows.stamp != previous or (gone is None and new is None):  # another writer's change, or clear()
                del self._rows_cache[key]
                return
            if gone:
                rows.drop(np.fromiter(gone, dtype=np.int64, count=len(gone)))
            if new:
                new_ids = np.fromiter((i for i, _ in new), dtype=np.int64, count=len(new))
                matrix = np.vstack([v for _, v in new])
                if not rows.codes and self._codes_pay(rows.n + len(new)):
                    ids, data = rows.view()
                    rows = _Rows(rows.stamp, ids.copy(), np.ascontiguousarray(_sign_words(data).T), True)
                    self._rows_cache[key] = rows
                rows.put(new_ids, _sign_words(matrix) if rows.codes else self._unit_rows(matrix))
            rows.stamp = stamp

    def _codes_pay(self, count: int) -> bool:
        """Whether a MariaDB space of `count` vectors keeps sign codes in memory rather than its float matrix."""
        return self.space.quantise and self.space.dim % 8 == 0 and count * self.space.dim * 4 > MATRIX_BYTES

    def _unit_rows(self, matrix: np.ndarray) -> np.ndarray:
        if self.space.metric != "cosine":
            return matrix
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (matrix / norms).astype(np.float32)

    @property
    def _stamp_key(self) -> str:
        return f"vectors:{self.space.name}"[:64]

    def _stamp(self) -> str:
        return settings.get_text(self._stamp_key) or ""

    # --- reading ---

    def count(self) -> int:
        return int(Vector.select().where(Vector.space == self.space.name).count())

    def get(self, item_ids: Collection[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        ids = list(item_ids)
        if self.sqlite and ids:
            # One statement with the ids as a JSON array: ~3x faster than peewee's IN chunks (rescoring hot path).
            rows = self.db.execute_sql(
                "SELECT item_id, vector FROM vector WHERE space = ? AND item_id IN (SELECT value FROM json_each(?))",
                (self.space.name, "[" + ",".join(str(int(i)) for i in ids) + "]"),
            )
            return {int(i): np.frombuffer(b, dtype=np.float32) for i, b in rows}
        for chunk in chunks(ids):
            query = Vector.select(Vector.item_id, Vector.vector).where(
                (Vector.space == self.space.name) & Vector.item_id.in_(chunk)
            )
            for item_id, blob in tuples(query):
                out[item_id] = np.frombuffer(bytes(blob), dtype=np.float32)
        return out

    def search(self, query: Any, k: int = 10, allowed: Collection[int] | None = None,
               exact: bool = False) -> list[tuple[int, float]]:
        """The k nearest items as (item id, distance), nearest first. `allowed` restricts the result to those
        ids (a search filter), applied before ranking so a filter never loses results. `exact`: a full float scan
        (the reference the quantised search is measured against)."""
        q = _as_f32(query)
        if q.shape[0] != self.space.dim:
            raise ValueError(f"{self.space.name}: expected {self.space.dim} dimensions, got {q.shape[0]}")
        if self.space.metric == "cosine":
            q = q / (np.linalg.norm(q) or 1.0)
        only: set[int] | None = None
        if allowed is not None:
            only = allowed if isinstance(allowed, set) else set(allowed)
            if not only:
                return []
            if len(only) <= candidates(k, len(only)):  # as many as the quantised search would rescore
                return self._rescore(q, k, list(only))
        if not self.sqlite:
            return self._mariadb_search(q, k, only, exact)
        if exact or not self.space.quantise:
            return self._vec0_exact(q, k) if only is None else self._exact_over(q, k, only)
        return self._quantised(q, k, only)

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
        with write_transaction(self.db):
            self.db.execute_sql(f"DELETE FROM {self.float_table}")
            if self.space.quantise:
                self.db.execute_sql(f"DELETE FROM {self.bin_table}")
            last = -1
            while True:
                batch = list(tuples(Vector.select(Vector.item_id, Vector.vector)
                                    .where((Vector.space == self.space.name) & (Vector.item_id > last))
                                    .order_by(Vector.item_id).limit(5000)))
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
        """Candidates from the in-process binary codes (only the allowed ones, when filtered): a Hamming
        shortlist, re-ranked by the asymmetric estimate, then the best k * oversample(n) rescored exactly.
        sqlite-vec's own bit KNN costs O(n*k) (25 ms at 100k for k=200); this scan is O(n)."""
        stamp = self._stamp()
        ids, codes = self._codes(stamp)
        half = self._half(stamp, len(ids))
        short = _shortlist(q, k, ids, codes, allowed)
        if short is None:
            log.debug("vector index %s: no structure around the query, exact scan", self.space.name)
            if half is not None:
                return half.scan(q, k, allowed)
            return self._vec0_exact(q, k) if allowed is None else self._exact_over(q, k, allowed)
        return self._rescore(q, k, short.tolist(), half)

    @property
    def _half_key(self) -> tuple[int, str, str]:
        return (id(self.db), str(self.db.database), self.space.name)

    def _half(self, stamp: str, count: int, wait: bool = False) -> HalfRows | None:
        """The space's 16-bit copy (halfrows.py) at this stamp, or None: it would not fit in halfrows.HALF_BYTES,
        or it is being loaded (from sqlite-vec's float chunks, or the `vector` table's BLOBs on MariaDB; a
        second or more at 100k) by a background thread, started here, while this query reads its candidates
        from the database as before. `wait`: load it now (preload())."""
        if not halfrows.fits(count, self.space.dim):
            return None
        key = self._half_key
        with self._cache_lock:
            cached = self._half_cache.get(key)
            if cached is not None and cached.stamp == stamp:
                return cached
            if not wait:
                if key not in self._half_loading:
                    self._half_loading.add(key)
                    threading.Thread(target=self._load_half, args=(stamp, True), daemon=True,
                                     name=f"vectors-{self.space.name}"[:40]).start()
                return None
        return self._load_half(stamp)

    def preload(self) -> None:
        """Load this process's caches of the space now (the first query would otherwise start them)."""
        if not self.space.quantise or not self.space.dim % 8 == 0:
            return
        stamp = self._stamp()
        if self.sqlite:
            ids, _ = self._codes(stamp)
        else:
            ids, _, codes = self._rows(stamp)
            if not codes:
                return
        self._half(stamp, len(ids), wait=True)

    def _load_half(self, stamp: str, background: bool = False) -> HalfRows | None:
        key = self._half_key
        try:
            return self._read_half(stamp)
        except pw.DatabaseError as exc:  # the catalog went away meanwhile: queries read the database as before
            if not background:
                raise
            log.debug("vector index %s: the 16-bit copy was not loaded (%s)", self.space.name, exc)
            return None
        finally:
            with self._cache_lock:
                self._half_loading.discard(key)
            if background:
                self.db.close()  # the loader thread's own connection

    def _read_half(self, stamp: str) -> HalfRows | None:
        if self.sqlite:
            try:
                ids, raw = self._chunk_rows(self.float_table, self.space.dim * 4)
            except (pw.DatabaseError, ValueError) as exc:
                log.debug("vector index %s: no 16-bit copy (%s)", self.space.name, exc)
                return None
            matrix = raw.view(np.float32)
        else:
            parts = list(self._batches())
            if not parts:
                return None
            ids = np.concatenate([i for i, _ in parts])
            matrix = np.concatenate([m for _, m in parts])
        half = HalfRows(stamp, ids, matrix, self.space.metric == "cosine")
        with self._cache_lock:
            self._half_cache[self._half_key] = half
        return half

    def _codes(self, stamp: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The binary codes of the space: sorted ids and the codes as 64-bit words, word-major (W, n), cached per
        process until the stamp changes. Read from sqlite-vec's shadow tables (0.6 s for 1M), or through the vec0
        table (10x slower) when their layout is not the one this code knows."""
        stamp = self._stamp() if stamp is None else stamp
        key = (id(self.db), str(self.db.database), self.space.name)
        with self._cache_lock:
            cached = self._codes_cache.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1], cached[2]
        words = (self.space.dim + 63) // 64
        try:
            ids, raw = self._chunk_rows(self.bin_table, self.space.dim // 8)
            codes = _words64(raw.tobytes(), len(ids), self.space.dim // 8) if len(ids) else np.zeros((0, words), np.uint64)
        except (pw.DatabaseError, ValueError) as exc:
            log.debug("vector index %s: reading the codes through vec0 (%s)", self.space.name, exc)
            rows = self.db.execute_sql(f"SELECT rowid, embedding FROM {self.bin_table}").fetchall()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            codes = _words64(b"".join(bytes(r[1]) for r in rows), len(rows), self.space.dim // 8)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        codes_t = np.ascontiguousarray(codes[order].T)
        with self._cache_lock:
            self._codes_cache[key] = (stamp, ids, codes_t)
        return ids, codes_t

    def _chunk_rows(self, table: str, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids and raw rows (n, width bytes) of a vec0 table, read from its shadow tables' chunks."""
        ids_parts: list[np.ndarray] = []
        row_parts: list[np.ndarray] = []
        vectors = dict(self.db.execute_sql(f"SELECT rowid, vectors FROM {table}_vector_chunks00").fetchall())
        for chunk_id, size, validity, rowids in self.db.execute_sql(
                f"SELECT chunk_id, size, validity, rowids FROM {table}_chunks").fetchall():
            blob = vectors.get(chunk_id)
            if blob is None or len(rowids) != size * 8 or len(blob) != size * width or len(validity) * 8 < size:
                raise ValueError(f"unexpected sqlite-vec chunk layout in {table}")
            valid = np.unpackbits(np.frombuffer(bytes(validity), dtype=np.uint8), bitorder="little")[:size] == 1
            ids_parts.append(np.frombuffer(bytes(rowids), dtype=np.int64)[valid])
            row_parts.append(np.frombuffer(bytes(blob), dtype=np.uint8).reshape(size, width)[valid])
        if not ids_parts:
            return np.zeros(0, dtype=np.int64), np.zeros((0, width), dtype=np.uint8)
        ids = np.concatenate(ids_parts)
        (total,) = self.db.execute_sql(f"SELECT COUNT(*) FROM {table}_rowids").fetchone()
        if len(ids) != total:
            raise ValueError(f"{table}: {len(ids)} valid slots for {total} rows")
        return ids, np.ascontiguousarray(np.concatenate(row_parts))

    def _rescore(self, q: np.ndarray, k: int, candidates: list[int],
                 half: HalfRows | None = None) -> list[tuple[int, float]]:
        if half is not None:
            found = half.rescore(q, k, np.asarray(candidates, dtype=np.int64))
            if found is not None:
                return found
        vectors = self.get(candidates)
        if not vectors:
            return []
        ids = np.fromiter(vectors.keys(), dtype=np.int64, count=len(vectors))
        matrix = np.vstack(list(vectors.values()))
        return self._top(q, k, ids, matrix)

    def _exact_over(self, q: np.ndarray, k: int, allowed: set[int]) -> list[tuple[int, float]]:
        if not self.sqlite:
            return self._mariadb_search(q, k, allowed, exact=True)
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

    def _top(self, q: np.ndarray, k: int, ids: np.ndarray, matrix: np.ndarray,
             unit_rows: bool = False) -> list[tuple[int, float]]:
        if len(ids) == 0:
            return []
        if self.space.metric == "cosine" and unit_rows:  # the MariaDB matrix, normalised once at load
            dist = 1.0 - matrix @ q
        elif self.space.metric == "cosine":
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

    # --- MariaDB ---

    def _rows(self, stamp: str | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
        """Sorted ids and their unit float rows, or their sign codes (word-major) when codes is True, cached per
        process until the stamp changes (writes of this process update the cache in place, see _advance)."""
        stamp = self._stamp() if stamp is None else stamp
        key = (id(self.db), self.space.name)
        with self._cache_lock:
            cached = self._rows_cache.get(key)
            if cached is not None and cached.stamp == stamp:
                return (*cached.view(), cached.codes)
        rows = self._load(stamp)
        with self._cache_lock:
            self._rows_cache[key] = rows
            return (*rows.view(), rows.codes)

    def _load(self, stamp: str) -> _Rows:
        """Read the space in id-ordered batches (the driver would otherwise buffer every BLOB at once), keeping
        floats for a small space and only sign codes for a large one."""
        codes = self._codes_pay(self.count())
        id_parts: list[np.ndarray] = []
        parts: list[np.ndarray] = []
        for ids, matrix in self._batches():
            id_parts.append(ids)
            parts.append(_sign_words(matrix) if codes else self._unit_rows(matrix))
        words = (self.space.dim + 63) // 64
        if not id_parts:
            empty = np.zeros((0, words), np.uint64) if codes else np.zeros((0, self.space.dim), np.float32)
            return _Rows(stamp, np.zeros(0, np.int64), np.ascontiguousarray(empty.T) if codes else empty, codes)
        data = np.concatenate(parts)
        return _Rows(stamp, np.concatenate(id_parts), np.ascontiguousarray(data.T) if codes else data, codes)

    def _batches(self) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        last = -(2**63)
        while True:
            batch: list[tuple[int, bytes]] = list(
                Vector.select(Vector.item_id, Vector.vector)
                .where((Vector.space == self.space.name) & (Vector.item_id > last))
                .order_by(Vector.item_id).limit(_LOAD_BATCH).tuples())  # type: ignore[arg-type]
            if not batch:
                return
            last = batch[-1][0]
            yield (np.fromiter((i for i, _ in batch), dtype=np.int64, count=len(batch)),
                   np.frombuffer(b"".join(bytes(b) for _, b in batch), dtype=np.float32).reshape(len(batch), -1))

    def _mariadb_search(self, q: np.ndarray, k: int, allowed: set[int] | None,
                        exact: bool) -> list[tuple[int, float]]:
        stamp = self._stamp()
        ids, data, codes = self._rows(stamp)
        if not codes:
            if allowed is not None:
                mask = np.isin(ids, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
                ids, data = ids[mask], data[mask]
            return self._top(q, k, ids, data, unit_rows=True)
        short = None if exact else _shortlist(q, k, ids, data, allowed)
        half = None if exact else self._half(stamp, len(ids))
        if short is not None:
            return self._rescore(q, k, short.tolist(), half)
        if not exact:
            log.debug("vector index %s: no structure around the query, exact scan", self.space.name)
            if half is not None:
                return half.scan(q, k, allowed)
        # The exact reference over a large space: stream the floats, keeping the best k so far.
        best: list[tuple[int, float]] = []
        wanted = None if allowed is None else np.fromiter(allowed, dtype=np.int64, count=len(allowed))
        for batch_ids, matrix in self._batches():
            if wanted is not None:
                mask = np.isin(batch_ids, wanted)
                batch_ids, matrix = batch_ids[mask], matrix[mask]
            best = sorted(best + self._top(q, k, batch_ids, matrix), key=lambda hit: hit[1])[:k]
        return best
