"""Pairs of 64-bit perceptual hashes within a Hamming radius, by multi-index hashing (never all pairs)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import combinations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

BLOCKS = 4  # the 64 bits as four 16-bit blocks: buckets of 65,536 values
_BLOCK_BITS = 16
_CHUNK = 2048  # query hashes per vectorised step: bounds the memory of one step to a few tens of MB


def parse(hexes: Iterable[str | None]) -> tuple[U64, npt.NDArray[np.bool_]]:
    """Hex hashes (imagehash's str(), 16 digits) as uint64, and which of them were valid (None or junk: False)."""
    values: list[int] = []
    valid: list[bool] = []
    for h in hexes:
        try:
            v = int(h, 16) if h and len(h) == 16 else -1
        except ValueError:
            v = -1
        valid.append(v >= 0)
        values.append(max(v, 0))
    return np.array(values, dtype=np.uint64), np.array(valid, dtype=bool)


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(x: U64) -> npt.NDArray[np.uint8]:
    """Set bits per element: numpy's bitwise_count (numpy 2), else a byte table (numpy 1.26 has no popcount)."""
    count = getattr(np, "bitwise_count", None)
    if count is not None:
        return count(x)
    x = np.ascontiguousarray(x, dtype=np.uint64)
    return _BYTE_BITS[x.view(np.uint8).reshape(-1, 8)].sum(axis=1, dtype=np.uint8)


def distance(a: U64, b: U64) -> npt.NDArray[np.uint8]:
    """Hamming distances between two arrays of hashes, element-wise."""
    return popcount(np.bitwise_xor(a, b))


def _masks(radius: int) -> npt.NDArray[np.uint16]:
    """Every 16-bit mask with at most `radius` bits set (the block values to probe around each query's)."""
    out = [0]
    for r in range(1, radius + 1):
        out.extend(sum(1 << b for b in bits) for bits in combinations(range(_BLOCK_BITS), r))
    return np.array(out, dtype=np.uint16)


def _ranges(starts: I64, counts: I64) -> I64:
    """The concatenation of range(s, s + c) for each pair, without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    offsets = np.repeat(ends - counts, counts)
    return np.repeat(starts, counts) + (np.arange(total, dtype=np.int64) - offsets)


def pairs(hashes: U64, radius: int) -> Iterator[tuple[I64, I64, npt.NDArray[np.uint8]]]:
    """Chunks of (i, j, distance) with i < j for every pair of `hashes` within `radius` bits, each pair once.

    Pigeonhole (Norouzi et al., multi-index hashing): with radius = BLOCKS·r + a (0 ≤ a < BLOCKS), two hashes
    within `radius` bits agree to within r bits on one of the first a + 1 blocks, or to within r - 1 bits on
    one of the others (else they would differ in at least radius + 1 bits). Probing each block's bucket table
    with every value that close finds every such pair; only the (few) hashes in those buckets are compared.
    Exact, not approximate: recall is 1 by construction."""
    n = len(hashes)
    if n < 2:
        return
    per_block, extra = divmod(radius, BLOCKS)
    tables = []
    for b in range(BLOCKS):
        block_radius = per_block if b <= extra else per_block - 1
        if block_radius < 0:
            continue
        masks = _masks(block_radius).astype(np.int64)
        values = ((hashes >> np.uint64(b * _BLOCK_BITS)) & np.uint64(0xFFFF)).astype(np.int64)
        order = np.argsort(values, kind="stable").astype(np.int64)
        counts = np.bincount(values, minlength=1 << _BLOCK_BITS).astype(np.int64)
        starts = np.cumsum(counts) - counts
        tables.append((values, order, counts, starts, masks))
    for lo in range(0, n, _CHUNK):
        query = np.arange(lo, min(lo + _CHUNK, n), dtype=np.int64)
        found_i: list[I64] = []
        found_j: list[I64] = []
        for values, order, counts, starts, masks in tables:
            probes = values[query][:, None] ^ masks[None, :]  # (queries, masks) block values
            c = counts[probes].ravel()
            s = starts[probes].ravel()
            j = order[_ranges(s, c)]
            i = np.repeat(np.repeat(query, len(masks)), c)
            keep = j > i
            found_i.append(i[keep])
            found_j.append(j[keep])
        i = np.concatenate(found_i)
        j = np.concatenate(found_j)
        if not len(i):
            continue
        d = distance(hashes[i], hashes[j])
        keep = d <= radius
        i, j, d = i[keep], j[keep], d[keep]
        # A pair close on several blocks was found once per block: keep it once.
        key = np.unique(i * n + j, return_index=True)[1]
        yield i[key], j[key], d[key]


def neighbours(hashes: U64, query: int, radius: int) -> tuple[I64, npt.NDArray[np.uint8]]:
    """Indexes and distances of the hashes within `radius` of one hash (a linear scan: one photo against the
    index, as a new photo is checked; 100k hashes take about a millisecond)."""
    d = distance(hashes, np.full(len(hashes), query, dtype=np.uint64))
    idx = np.nonzero(d <= radius)[0].astype(np.int64)
    return idx, d[idx]
