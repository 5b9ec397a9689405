"""The vector index against numpy brute force: exact vec0 KNN, quantised candidates + rescoring, filters, and the
in-process caches (MariaDB float matrix or sign codes, SQLite binary codes) seeing writes from this and other
connections, a MariaDB writer's own cache updated in place."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import peewee as pw
import pytest

from photoshelf.db.backends import make_database
from photoshelf.db.schema import Vector, database_proxy
from photoshelf.models import vectors
from photoshelf.models.vectors import Space, VectorIndex

from conftest import Library

N, DIM, K = 10_000, 512, 10


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def loaded(empty_library: Library) -> Iterator[tuple[VectorIndex, np.ndarray]]:
    data = unit(np.random.default_rng(42).standard_normal((N, DIM), dtype=np.float32))
    index = VectorIndex(empty_library.db, Space("test:random", DIM))
    for start in range(0, N, 2500):
        index.add(((start + i + 1, data[start + i]) for i in range(2500)), replace=False)
    yield index, data


def brute(data: np.ndarray, q: np.ndarray, allowed: np.ndarray | None = None) -> tuple[list[int], np.ndarray]:
    dist = 1.0 - data @ q
    ids = np.arange(1, len(data) + 1)
    if allowed is not None:
        dist, ids = dist[allowed - 1], allowed
    order = np.argsort(dist, kind="stable")[:K]
    return ids[order].tolist(), dist[order]


def same_ranking(got: list[tuple[int, float]], want_ids: list[int], want_dist: np.ndarray) -> None:
    """Same ids in the same order, except where two true distances tie (within float32 noise)."""
    assert len(got) == len(want_ids)
    np.testing.assert_allclose([d for _, d in got], want_dist, atol=2e-5)
    for pos, ((got_id, _), want_id) in enumerate(zip(got, want_ids, strict=True)):
        if got_id != want_id:
            neighbours = want_dist[max(0, pos - 1): pos + 2]
            assert np.ptp(neighbours) < 2e-5, f"rank {pos}: {got_id} instead of {want_id}"


def queries(count: int, seed: int = 7) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((count, DIM), dtype=np.float32))


def test_knn_and_filtered_knn_equal_numpy(loaded: tuple[VectorIndex, np.ndarray],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    index, data = loaded
    monkeypatch.setattr(vectors, "MATRIX_BYTES", 1000 * DIM * 4)  # MariaDB: a large space, sign codes in memory
    assert index.count() == N
    full_set = np.arange(1, N + 1)
    for q in queries(3):
        want_ids, want_dist = brute(data, q)
        same_ranking(index.search(q, K, exact=True), want_ids, want_dist)
        # The quantised path rescoring every item must give the exact answer: candidates, ids and distances.
        monkeypatch.setattr(vectors, "OVERSAMPLE", N // K)
        same_ranking(index.search(q, K), want_ids, want_dist)
        monkeypatch.setattr(vectors, "OVERSAMPLE", 20)
        got = index.search(q, K)
        full = 1.0 - data @ q
        for item, dist in got:  # rescored exactly, nearest first
            assert dist == pytest.approx(full[item - 1], abs=2e-5)
        assert [d for _, d in got] == sorted(d for _, d in got)
    assert brute(data, queries(1)[0], full_set)[0] == brute(data, queries(1)[0])[0]
    # Random vectors are the worst case for sign codes; the asymmetric re-ranking of the Hamming shortlist
    # (query in float) must still find most true neighbours, far more than Hamming alone (0.53 measured).
    qs = queries(30, seed=99)
    recall = sum(len(set(brute(data, q)[0]) & {i for i, _ in index.search(q, K)}) for q in qs) / (K * 30)
    assert recall >= 0.75

    # Filters: the true top k within the allowed set, for a set small enough to rescore whole and for larger
    # ones ranked through the codes of the allowed items only.
    rng = np.random.default_rng(3)
    for size in (37, 1500, 6000):
        allowed = np.sort(rng.choice(N, size, replace=False) + 1)
        q = queries(1, seed=size)[0]
        want_ids, want_dist = brute(data, q, allowed)
        monkeypatch.setattr(vectors, "OVERSAMPLE", N)
        same_ranking(index.search(q, K, allowed=set(allowed.tolist())), want_ids, want_dist)
        same_ranking(index._exact_over(q, K, set(allowed.tolist())), want_ids, want_dist)
        monkeypatch.setattr(vectors, "OVERSAMPLE", 20)
        got = index.search(q, K, allowed=allowed.tolist())
        assert len(got) == min(K, size)
        assert {i for i, _ in got} <= set(allowed.tolist())
    assert index.search(queries(1)[0], K, allowed=set()) == []
    assert index.search(queries(1)[0], K, allowed={N + 5}) == []

    if index.sqlite:
        # The binary codes read from sqlite-vec's shadow tables equal what vec0 itself returns, holes included.
        index.remove(range(100, 400))
        ids, codes = index._codes()
        rows = index.db.execute_sql(f"SELECT rowid, embedding FROM {index.bin_table} ORDER BY rowid").fetchall()
        assert ids.tolist() == [r[0] for r in rows]
        want = np.frombuffer(b"".join(bytes(r[1]) for r in rows), dtype=np.uint64).reshape(len(rows), -1)
        assert np.array_equal(codes.T, want)
        assert Vector.select().where(Vector.space == index.space.name).count() == N - 300
    else:
        # MariaDB keeps the same sign codes, computed from the BLOBs, and its own removal updates them in place.
        index.remove(range(100, 400))
        ids, codes, is_codes = index._rows()
        kept = np.array([i for i in range(1, N + 1) if not 100 <= i < 400])
        assert is_codes and ids.tolist() == kept.tolist()
        assert np.array_equal(codes.T, vectors._sign_words(data[kept - 1]))

    # Sparse ids far beyond the item count: the filter takes its sorted-search path instead of a bitmap.
    far = 2_000_000_000
    q = queries(1, seed=5)[0]
    index.add([(far, q)])
    sparse = set(range(1, 3000)) | {far}
    got = index.search(q, K, allowed=sparse)
    assert got[0][0] == far and {i for i, _ in got} <= sparse
    want_ids, _ = brute(data, q, np.array(sorted(sparse - {far} - set(range(100, 400)))))
    assert len({i for i, _ in got[1:]} & set(want_ids[:K - 1])) >= 5


def test_quantised_recall_on_clustered_vectors(empty_library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real embeddings cluster; there the default oversampling must keep recall@10 >= 0.95 (random vectors,
    the worst case, are measured in bench/vectors.py). MariaDB as a large space would: sign codes in memory."""
    monkeypatch.setattr(vectors, "MATRIX_BYTES", 1000 * DIM * 4)
    n = 5000
    rng = np.random.default_rng(5)
    centres = unit(rng.standard_normal((100, DIM), dtype=np.float32))
    data = unit(centres[rng.integers(0, 100, n)] + 0.8 * rng.standard_normal((n, DIM), dtype=np.float32) / np.sqrt(DIM))
    index = VectorIndex(empty_library.db, Space("test:clustered", DIM))
    index.add(((i + 1, v) for i, v in enumerate(data)), replace=False)
    qs = unit(centres[rng.integers(0, 100, 20)] + 0.9 * rng.standard_normal((20, DIM), dtype=np.float32) / np.sqrt(DIM))
    hits = sum(len(set(brute(data, q)[0]) & {i for i, _ in index.search(q, K)}) for q in qs)
    assert hits / (K * len(qs)) >= 0.95


def test_writes_are_seen_by_cached_searches_here_and_in_other_connections(
        empty_library: Library) -> None:
    rng = np.random.default_rng(11)
    data = unit(rng.standard_normal((3000, DIM), dtype=np.float32))
    space = Space("test:cache", DIM)
    writer = VectorIndex(empty_library.db, space)
    writer.add((i + 1, v) for i, v in enumerate(data))
    # "Another process": its own database object and connection, so its own cache entry.
    other_db = make_database(empty_library.database_url)
    other_db.connect()
    try:
        reader = VectorIndex(other_db, space)
        q = unit(rng.standard_normal(DIM, dtype=np.float32))
        with _bound(other_db):
            before = reader.search(q, K)
        assert before[0][0] != 99_999
        writer.add([(99_999, q)])
        with _bound(other_db):
            after = reader.search(q, K)
        assert after[0] == (99_999, pytest.approx(0.0, abs=1e-5))
        writer.remove([99_999, after[1][0]])
        with _bound(other_db):
            again = reader.search(q, K)
        assert 99_999 not in {i for i, _ in again} and after[1][0] not in {i for i, _ in again}
        assert [i for i, _ in again[:K - 2]] == [i for i, _ in after[2:K]]
        # The writer's own cache too.
        assert [i for i, _ in writer.search(q, K)] == [i for i, _ in again]
    finally:
        other_db.close()


@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
@pytest.mark.parametrize("limit", [20_000, 2010, 0], ids=["matrix", "grows-to-codes", "codes"])
def test_mariadb_writer_keeps_its_cache_warm(empty_library: Library, monkeypatch: pytest.MonkeyPatch,
                                             limit: int) -> None:
    """A MariaDB writer's own adds and removes update its cached rows in place (no reload; the faces stage adds
    a few faces and searches at once), matching numpy and a fresh reader; a rolled-back write is not kept."""
    rng = np.random.default_rng(13)
    dim = 128
    monkeypatch.setattr(vectors, "MATRIX_BYTES", limit * dim * 4)  # limit: vectors kept as floats
    truth = {i + 1: v for i, v in enumerate(unit(rng.standard_normal((2000, dim), dtype=np.float32)))}
    space = Space("test:faces", dim)
    index = VectorIndex(empty_library.db, space)
    index.add(truth.items(), replace=False)
    loads = 0
    real_load = VectorIndex._load

    def counting(self: VectorIndex, stamp: str) -> object:
        nonlocal loads
        loads += 1
        return real_load(self, stamp)

    monkeypatch.setattr(VectorIndex, "_load", counting)
    other_db = make_database(empty_library.database_url)
    other_db.connect()

    def check() -> None:
        ids = np.array(sorted(truth))
        matrix = np.vstack([truth[i] for i in ids])
        for q in unit(rng.standard_normal((3, dim), dtype=np.float32)):
            dist = 1.0 - matrix @ q
            order = np.argsort(dist, kind="stable")[:K]
            monkeypatch.setattr(vectors, "OVERSAMPLE", len(ids))  # codes: every item rescored, so exact
            same_ranking(index.search(q, K), ids[order].tolist(), dist[order])
            monkeypatch.setattr(vectors, "OVERSAMPLE", 20)
            with _bound(other_db):
                fresh = VectorIndex(other_db, space).search(q, K)
            assert [i for i, _ in fresh] == [i for i, _ in index.search(q, K)]

    try:
        check()
        assert loads == 2  # this process's cache and the "other process's"
        new = {2000 + j + 1: v for j, v in enumerate(unit(rng.standard_normal((16, dim), dtype=np.float32)))}
        index.add(new.items())  # appended past the largest id
        truth.update(new)
        check()
        index.remove([5, 17, 2003])
        for gone in (5, 17, 2003):
            del truth[gone]
        moved = {17: truth[1], 3: unit(rng.standard_normal(dim, dtype=np.float32))}
        index.add(moved.items())  # inside the id range: a replaced row and a new one
        truth.update(moved)
        check()
        assert loads == 4  # only the other connection reloaded, once per search after a change
        cached = VectorIndex._rows_cache[(id(empty_library.db), space.name)]
        assert cached.codes == (limit < len(truth)) and cached.stamp == index._stamp()
        with empty_library.db.atomic() as txn:
            index.add([(9_999, unit(rng.standard_normal(dim, dtype=np.float32)))])
            txn.rollback()
        check()
        assert 9_999 not in {i for i, _ in index.search(np.zeros(dim, dtype=np.float32) + 1, 3000)}
        index.clear()
        assert index.search(truth[1], K) == []
    finally:
        other_db.close()


class _bound:
    """Run the peewee models on another database object for a while (as another process would)."""

    def __init__(self, db: pw.Database) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.saved = database_proxy.obj
        database_proxy.initialize(self.db)

    def __exit__(self, *exc: object) -> None:
        database_proxy.initialize(self.saved)


def test_dimension_is_checked(empty_library: Library) -> None:
    index = VectorIndex(empty_library.db, Space("test:dim", 4))
    with pytest.raises(ValueError, match="expected 4"):
        index.add([(1, [1.0, 0.0])])
    with pytest.raises(ValueError, match="expected 4"):
        index.search([1.0, 0.0])


def test_no_structure_falls_back_to_an_exact_scan(loaded: tuple[VectorIndex, np.ndarray], empty_library: Library,
                                                  caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """i.i.d. random vectors: the sign codes cannot tell a query's neighbours from the rest (recall@10 ~0.6), so
    the index detects it and scans exactly; clustered vectors keep the quantised path."""
    index, data = loaded
    monkeypatch.setattr(vectors, "MATRIX_BYTES", 1000 * DIM * 4)  # MariaDB: a large space, sign codes in memory
    rng = np.random.default_rng(11)
    codes = vectors._sign_words(data).T
    centres = unit(rng.standard_normal((100, DIM), dtype=np.float32))
    clustered = unit(centres[rng.integers(0, 100, N)] + 0.8 * rng.standard_normal((N, DIM), dtype=np.float32)
                     / np.sqrt(DIM))
    near = unit(centres[:5] + 0.9 * rng.standard_normal((5, DIM), dtype=np.float32) / np.sqrt(DIM))

    def hamming(codes: np.ndarray, q: np.ndarray) -> np.ndarray:
        qcode = vectors._sign_words(q[None, :])[0]
        dist = np.zeros(codes.shape[1], dtype=np.uint16)
        for w in range(codes.shape[0]):
            dist += np.bitwise_count(codes[w] ^ qcode[w])
        return dist

    assert not any(vectors.structured(hamming(codes, q), K, DIM) for q in queries(10, seed=21))
    clustered_codes = vectors._sign_words(clustered).T
    assert all(vectors.structured(hamming(clustered_codes, q), K, DIM) for q in near)
    assert vectors.structured(hamming(codes, queries(1)[0])[:500], K, DIM)  # too few items to judge: no test

    with caplog.at_level("DEBUG", logger="photoshelf.models.vectors"):
        monkeypatch.setattr(vectors, "WIDEN", 5)  # 1,000 candidates of 10k: the wider set, not yet a scan
        hits = 0
        for q in queries(10, seed=21):
            want_ids, _ = brute(data, q)
            hits += len(set(want_ids) & {i for i, _ in index.search(q, K)})
        assert hits >= 0.95 * 10 * K  # 0.75 without the wider candidate set (the recall test above)
        assert caplog.text.count("no structure around the query") == 10
        assert caplog.text.count("1000 candidates of 10000") == 10
        monkeypatch.setattr(vectors, "WIDEN", 15)
        caplog.clear()
        for q in queries(3, seed=22):  # 1,500 allowed items: the wider set would be most of them: exact
            allowed = set(range(1, 1501)) | set(range(5001, 6001))
            want_ids, want_dist = brute(data, q, np.array(sorted(allowed)))
            same_ranking(index.search(q, K, allowed=allowed), want_ids, want_dist)
        assert caplog.text.count("exact scan") == 3
        caplog.clear()
        other = VectorIndex(empty_library.db, Space("test:clustered2", DIM))
        other.add(((i + 1, v) for i, v in enumerate(clustered)), replace=False)
        for q in near:
            assert other.search(q, K)[0][0] == brute(clustered, q)[0][0]
        assert "no structure" not in caplog.text


def test_sixteen_bit_copy_rescores_as_the_floats_do(empty_library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large space's 16-bit copy (models/halfrows.py) gives the candidates' distances within 2e-5 of the
    floats', scans exactly when the codes show no structure, and follows a MariaDB writer's own writes."""
    rng = np.random.default_rng(5)
    dim, n = 384, 3000
    monkeypatch.setattr(vectors, "MATRIX_BYTES", 0)  # MariaDB: sign codes in memory, as for a large space
    centres = unit(rng.standard_normal((30, dim), dtype=np.float32))
    data = unit(centres[rng.integers(0, 30, n)] + 0.05 * rng.standard_normal((n, dim), dtype=np.float32))
    index = VectorIndex(empty_library.db, Space("test:half", dim))
    index.add(((i + 1, v) for i, v in enumerate(data)), replace=False)
    index.preload()
    half = VectorIndex._half_cache[index._half_key]
    assert half.stamp == index._stamp() and len(half.ids) == n and half.rows.dtype == np.int16
    near, noise = centres[:3], unit(rng.standard_normal((3, dim), dtype=np.float32))
    for q in [*near, *noise]:  # the noise queries have no structure around them: a scan of the copy
        got = index.search(q, 200)
        dist = 1.0 - data @ q
        np.testing.assert_allclose([d for _, d in got], [dist[i - 1] for i, _ in got], atol=2e-5)
        if any(q is x for x in noise):
            order = np.argsort(dist, kind="stable")[:K]
            same_ranking(got[:K], (order + 1).tolist(), dist[order])
        with monkeypatch.context() as m:
            m.setattr(vectors.halfrows, "HALF_BYTES", 0)  # the floats, read from the database
            floats = index.search(q, 200)
        assert len({i for i, _ in got} & {i for i, _ in floats}) >= 195
    if not index.sqlite:  # this process's own write follows into the copy, without a reload
        index.add([(n + 1, near[0])])
        assert VectorIndex._half_cache[index._half_key] is half and half.stamp == index._stamp()
        assert index.search(near[0], 1)[0][0] == n + 1
        index.remove([n + 1])
        assert n + 1 not in half.ids.tolist()
