"""Duplicate groups of the library: exact copies, near-duplicates, bursts and edits, each with a suggested keeper.

Groups are computed on demand from the hashes the indexer stores (a 100k library in a few seconds, see
bench/duplicates.py), so a photo is checked against the whole index as soon as it is indexed and the watcher
keeps groups current without a table to maintain; only a person's decisions are stored (`Photo.duplicate_of`,
photoshelf/dupresolve.py). The plan is pure (`plan_pairs`, `choose_keeper`): testable without a database.

- exact: the same bytes at several paths (one photo with several files);
- near: the same picture in another encoding, size or format: pHash of the tile within NEAR_PHASH bits, found by
  multi-index hashing (photoshelf/hashindex.py), then confirmed by the second look (photoshelf/dupsig.py: dHash
  of the whole frame, aspect ratio, colour layout) and, when both photos have one, their CLIP embeddings;
- burst: a confirmed pair from one camera taken a few seconds apart (different moments: distinct photos);
- edit: stacks of an original and its edits (indexer/stacks.py), shown for reference, never resolved here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import peewee as pw

from photoshelf import dupsig, hashindex
from photoshelf.db.rows import chunks
from photoshelf.db.schema import File, Photo, Stack, Vector
from photoshelf.visibility import EVERYONE, Audience, visible

KINDS = ("exact", "near", "burst", "edit")
NEAR_PHASH = 10  # bits of 64: re-encodes and resizes are 0–2, a 5% crop 4–10, different pictures 18+ (corpus)
NEAR_DHASH = 14  # the whole-frame dHash of a confirmed pair
STRICT_PHASH = 4  # without a second look (photos indexed before it, not yet backfilled), only this close
MAX_ASPECT = 0.06  # |log(aspect a / aspect b)|: a re-encode keeps the shape; a 5% crop on one side stays within
MAX_COLOUR = 22.0  # mean channel difference (of 255) of the 3×3 colour layout
MIN_CLIP = 0.88  # cosine similarity of CLIP embeddings, when both photos have one
BURST_SECONDS = 10.0
BLANK = 0  # the pHash of a flat picture: every flat picture shares it, so it pairs nothing
_PAIR_CACHE: dict[str, list[tuple[int, int, int]]] = {}  # by a digest of the pHashes searched (hash_pairs)
_CACHE_LOCK = threading.Lock()
# Formats by how original they are: what a camera or phone writes first, then re-encodes made for the web.
_FORMAT_RANK = {"raw": 4, "dng": 4, "heic": 3, "heif": 3, "tiff": 3, "jpeg": 2, "jpg": 2, "png": 2, "avif": 2,
                "webp": 1, "gif": 0, "bmp": 0}


@dataclass
class Candidate:
    """The columns of one photo that grouping and the keeper choice read."""

    id: int
    uid: str
    sha1: str
    kind: str
    format: str
    size: int
    width: int | None
    height: int | None
    taken_at: dt.datetime | None
    camera: str | None
    favorite: bool
    archived: bool
    duplicate_of: int | None
    stack_id: int | None
    phash: str | None
    dhash: str | None
    colors: str | None
    metadata: int  # how many descriptive fields are filled (camera, lens, place, date from the file, title…)


@dataclass
class Member:
    photo: Candidate
    paths: list[str]
    keep: bool = False
    reason: str = ""


@dataclass
class Group:
    kind: str
    members: list[Member]
    distance: int | None = None  # the largest pHash distance of the pairs that made the group (near, burst)
    path_keep: str | None = None  # exact groups: the path suggested to keep (the others are the same bytes)

    @property
    def keeper(self) -> Member:
        return next(m for m in self.members if m.keep)

    @property
    def id(self) -> str:
        """A name for the group on the command line and in forms: its kind and its keeper's photo uid."""
        return f"{self.kind}:{self.keeper.photo.uid}"

    @property
    def resolved(self) -> bool:
        """Whether a person already archived the others as copies of the keeper."""
        others = [m for m in self.members if not m.keep]
        return bool(others) and all(m.photo.duplicate_of == self.keeper.photo.id for m in others)

    @property
    def freeable(self) -> int:
        """Bytes that deleting the others (by hand: photoshelf never deletes) would free."""
        if self.kind == "exact":
            return self.members[0].photo.size * (len(self.members[0].paths) - 1)
        return sum(m.photo.size for m in self.members if not m.keep)

    def as_dict(self) -> dict[str, Any]:
        """The CLI's and the API's JSON: {"kind", "photos": [{"id", "path", "keep", "reason"}], "distance"}."""
        photos = []
        for m in self.members:
            paths = m.paths or [""]
            if self.kind == "exact":
                for path in paths:
                    keep = path == self.path_keep
                    photos.append({"id": m.photo.id, "uid": m.photo.uid, "path": path, "keep": keep,
                                   "reason": m.reason if keep else "the same bytes as the kept path"})
            else:
                photos.append({"id": m.photo.id, "uid": m.photo.uid, "path": paths[0], "keep": m.keep,
                               "reason": m.reason, "size": m.photo.size, "format": m.photo.format,
                               "width": m.photo.width, "height": m.photo.height,
                               "taken_at": m.photo.taken_at.isoformat() if m.photo.taken_at else None,
                               "duplicate_of": m.photo.duplicate_of})
        return {"group": self.id, "kind": self.kind, "photos": photos, "distance": self.distance,
                "resolved": self.resolved, "freeable": self.freeable}


# --- the plan: pure functions over candidates --------------------------------------------------------------


@dataclass
class Pair:
    a: int  # indexes into the candidate list
    b: int
    kind: str  # near | burst
    distance: int


def _aspect(c: Candidate) -> float | None:
    if not c.width or not c.height:
        return None
    return c.width / c.height


def confirm(a: Candidate, b: Candidate, distance: int, clip: float | None = None) -> str | None:
    """Whether two photos whose pHashes are `distance` bits apart are the same picture: "near", "burst" (the
    same scene shot twice, seconds apart, by one camera), or None (different pictures)."""
    if a.stack_id is not None and a.stack_id == b.stack_id:
        return None  # a RAW and its JPEG, an original and its edit: a stack already shows them as one
    ra, rb = _aspect(a), _aspect(b)
    if ra and rb and abs(math.log(ra / rb)) > MAX_ASPECT:
        return None
    if a.dhash and b.dhash:
        da, valid = hashindex.parse([a.dhash, b.dhash])
        if not valid.all() or int(hashindex.distance(da[:1], da[1:])[0]) > NEAR_DHASH:
            return None
    elif distance > STRICT_PHASH:
        return None  # no second look to confirm a looser match
    colour = dupsig.colour_distance(a.colors, b.colors)
    if colour is not None and colour > MAX_COLOUR:
        return None
    if clip is not None and clip < MIN_CLIP:
        return None
    if _burst(a, b):
        return "burst"
    return "near"


def _burst(a: Candidate, b: Candidate) -> bool:
    """Two shots of one camera at different moments a few seconds apart. A re-encoded copy keeps the moment (or
    loses the date and camera with the rest of its metadata), so it is never a burst."""
    if not (a.camera and a.camera == b.camera and a.taken_at and b.taken_at):
        return False
    apart = abs((a.taken_at - b.taken_at).total_seconds())
    return 0 < apart <= BURST_SECONDS


def plan_pairs(cands: Sequence[Candidate], clip: dict[tuple[int, int], float] | None = None,
               raw: Iterable[tuple[int, int, int]] | None = None) -> list[Pair]:
    """The confirmed pairs among the candidates. `raw` are (a, b, distance) pHash pairs when already found (else
    they are searched here); `clip` the CLIP similarity by (photo id, photo id), lower id first."""
    if raw is None:
        raw = candidate_pairs(cands)
    out = []
    for a, b, d in raw:
        ca, cb = cands[a], cands[b]
        key = (min(ca.id, cb.id), max(ca.id, cb.id))
        kind = confirm(ca, cb, d, (clip or {}).get(key))
        if kind is not None:
            out.append(Pair(a, b, kind, d))
    return out


def candidate_pairs(cands: Sequence[Candidate]) -> list[tuple[int, int, int]]:
    """(a, b, distance) for the candidates whose pHashes are within NEAR_PHASH bits (indexes into `cands`)."""
    return hash_pairs([c.phash for c in cands])


def hash_pairs(phashes: Sequence[str | None]) -> list[tuple[int, int, int]]:
    """(a, b, distance) for the hex pHashes within NEAR_PHASH bits (indexes into `phashes`; blank ones left out).

    The last few answers are remembered by a digest of the hashes: the duplicates page asks again on every visit,
    and the search is most of the work (seconds at 100k photos), while the hashes change only when photos do."""
    key = hashlib.sha1("\n".join(h or "" for h in phashes).encode()).hexdigest()
    with _CACHE_LOCK:
        if key in _PAIR_CACHE:
            return _PAIR_CACHE[key]
    found = _hash_pairs(phashes)
    with _CACHE_LOCK:
        _PAIR_CACHE[key] = found
        while len(_PAIR_CACHE) > 4:
            _PAIR_CACHE.pop(next(iter(_PAIR_CACHE)))
    return found


def _hash_pairs(phashes: Sequence[str | None]) -> list[tuple[int, int, int]]:
    hashes, valid = hashindex.parse(phashes)
    valid &= hashes != np.uint64(BLANK)
    where = np.nonzero(valid)[0]
    out: list[tuple[int, int, int]] = []
    for i, j, d in hashindex.pairs(hashes[where], NEAR_PHASH):
        out.extend(zip(where[i].tolist(), where[j].tolist(), d.tolist(), strict=True))
    return out


def components(n: int, edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components (of two or more) of a graph on 0..n-1."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = defaultdict(list)
    for x in range(n):
        groups[root(x)].append(x)
    return [g for g in groups.values() if len(g) > 1]


def _originality(c: Candidate) -> int:
    """A file that still names its camera is the camera's (or a faithful copy); among those, and among the
    others, a RAW or HEIC beats a JPEG, which beats a web format."""
    return (10 if c.camera else 0) + _format_rank(c)


def _format_rank(c: Candidate) -> int:
    if c.kind == "raw":
        return 4
    return _FORMAT_RANK.get((c.format or "").lower(), 1)


def choose_keeper(members: Sequence[Candidate]) -> tuple[int, str]:
    """The index of the photo to keep and why: a photo a person already kept (resolved), then favorites first,
    the camera's original format over a derived one, the most pixels, the earliest date, the most metadata."""
    ids = {c.id for c in members}
    kept = {c.duplicate_of for c in members if c.duplicate_of in ids}
    if len(kept) == 1:
        k = kept.pop()
        return next(i for i, c in enumerate(members) if c.id == k), "kept when this group was resolved"
    criteria: list[tuple[str, Any]] = [
        ("a favorite", lambda c: c.favorite),
        ("the camera's original ({fmt}) over derived copies", _originality),
        ("most pixels ({px})", lambda c: (c.width or 0) * (c.height or 0)),
        ("earliest date", _earliness),
        ("most metadata", lambda c: c.metadata),
    ]
    order = sorted(range(len(members)), key=lambda i: tuple(
        [-_score(fn, members[i]) for _, fn in criteria] + [members[i].id]))
    best, runner = members[order[0]], members[order[1]]
    reason = "indexed first (otherwise alike)"
    for text, fn in criteria:
        if _score(fn, best) != _score(fn, runner):
            reason = text.format(fmt=best.format or best.kind, px=f"{best.width}×{best.height}")
            break
    return order[0], reason


_EPOCH = dt.datetime(1970, 1, 1)


def _earliness(c: Candidate) -> float:
    """Higher for an earlier capture time; a photo without one comes last."""
    return -(c.taken_at - _EPOCH).total_seconds() if c.taken_at else -math.inf


def _score(fn: Any, c: Candidate) -> float:
    value = fn(c)
    return float(value) if not isinstance(value, bool) else float(int(value))


# --- reading the catalog ------------------------------------------------------------------------------------


def _rows(query: Any) -> list[Any]:
    """A query's rows (peewee's stubs type them as model instances, whatever .tuples() or .dicts() says)."""
    return list(query)


def _metadata(row: dict[str, Any]) -> int:
    fields = ("camera_make", "camera_model", "lens", "lat", "iso", "exposure", "title", "description", "keywords")
    return sum(1 for f in fields if row.get(f) not in (None, "")) + (row.get("taken_src") not in ("", "mtime", None))


def _present(query: Any, audience: Audience, *, videos: bool = True) -> Any:
    """`query` narrowed to the present photos `audience` may see (archived ones too, for those who see the
    archive: a resolved copy is archived); without videos for the pHash (theirs is one frame's)."""
    query = visible(query, audience, archive_view=True).where(Photo.missing_since.is_null())
    return query if videos else query.where(Photo.kind != "video")


def _hashes(audience: Audience) -> tuple[list[int], list[str | None]]:
    """Every candidate photo's id and pHash: the one read of the whole library, as raw rows (no per-value
    conversion: at 100k photos that is most of the time)."""
    query = _present(Photo.select(Photo.id, Photo.phash), audience, videos=False).order_by(Photo.id)
    cursor = Photo._meta.database.execute(query)
    rows = cursor.fetchall()
    return [int(r[0]) for r in rows], [r[1] for r in rows]


def load(audience: Audience = EVERYONE, ids: Sequence[int] | None = None) -> list[Candidate]:
    """The candidates among the present photos `audience` may see (all, or these ids), by id."""
    columns = (Photo.id, Photo.uid, Photo.sha1, Photo.kind, Photo.format, Photo.size, Photo.width, Photo.height,
               Photo.taken_at, Photo.taken_src, Photo.camera_make, Photo.camera_model, Photo.lens, Photo.lat,
               Photo.iso, Photo.exposure, Photo.title, Photo.description, Photo.keywords, Photo.favorite,
               Photo.archived, Photo.duplicate_of, Photo.stack, Photo.phash, Photo.dhash, Photo.colors)
    if ids is None:
        queries = [_present(Photo.select(*columns), audience, videos=False).order_by(Photo.id)]
    else:
        queries = [_present(Photo.select(*columns), audience).where(Photo.id.in_(chunk)).order_by(Photo.id)
                   for chunk in chunks(sorted(set(ids)))]
    out = []
    for query in queries:
        for row in _rows(query.dicts()):
            camera = " ".join(x for x in (row["camera_make"], row["camera_model"]) if x) or None
            out.append(Candidate(
                id=row["id"], uid=row["uid"], sha1=row["sha1"], kind=row["kind"], format=row["format"] or "",
                size=int(row["size"] or 0), width=row["width"], height=row["height"], taken_at=row["taken_at"],
                camera=camera, favorite=bool(row["favorite"]), archived=bool(row["archived"]),
                duplicate_of=row["duplicate_of"], stack_id=row["stack"], phash=row["phash"],
                dhash=row["dhash"] or None, colors=row["colors"] or None, metadata=_metadata(row)))
    return out


def _clip_similarities(cands: Sequence[Candidate], raw: Sequence[tuple[int, int, int]]) -> dict[tuple[int, int], float]:
    """CLIP cosine similarity of the candidate pairs whose photos both have an embedding (any clip: space)."""
    ids = sorted({cands[i].id for a, b, _ in raw for i in (a, b)})
    if not ids:
        return {}
    vectors: dict[tuple[str, int], Any] = {}
    for chunk in chunks(ids):
        rows = (Vector.select(Vector.space, Vector.item_id, Vector.vector)
                .where(Vector.space.startswith("clip:") & Vector.item_id.in_(chunk)).tuples())
        for space, item, blob in _rows(rows):
            v = np.frombuffer(bytes(blob), dtype=np.float32)
            norm = float(np.linalg.norm(v))
            if norm > 0:
                vectors[(space, int(item))] = v / norm
    out = {}
    spaces = {s for s, _ in vectors}
    for a, b, _ in raw:
        x, y = cands[a].id, cands[b].id
        for space in spaces:
            va, vb = vectors.get((space, x)), vectors.get((space, y))
            if va is not None and vb is not None and len(va) == len(vb):
                out[(min(x, y), max(x, y))] = float(np.dot(va, vb))
                break
    return out


def _paths(ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    for chunk in chunks(ids):
        for pid, path in _rows(File.select(File.photo, File.path).where(
                File.photo.in_(chunk) & (File.role == "media") & File.missing_since.is_null())
                .order_by(File.id).tuples()):
            out[pid].append(path)
    return out


def find(audience: Audience = EVERYONE, kinds: Iterable[str] = KINDS) -> list[Group]:
    """The duplicate groups among the photos `audience` sees: exact, then near, burst and edit groups, the
    largest savings first within each kind."""
    wanted = [k for k in KINDS if k in set(kinds)]
    # One cheap read of every id and pHash finds the candidates; only they are read in full.
    all_ids, phashes = _hashes(audience)
    exact: list[int] = []
    if "exact" in wanted:
        rows = (_present(File.select(File.photo).join(Photo, on=(File.photo == Photo.id)), audience)
                .where((File.role == "media") & File.missing_since.is_null())
                .group_by(File.photo).having(pw.fn.COUNT(File.id) > 1).tuples())
        exact = [pid for (pid,) in _rows(rows)]
    near_pairs = hash_pairs(phashes) if ("near" in wanted or "burst" in wanted) else []
    edits: dict[int, list[int]] = defaultdict(list)
    if "edit" in wanted:
        stacks = Stack.select(Stack.id).where(Stack.kind == "edit")
        for pid, stack in _rows(_present(Photo.select(Photo.id, Photo.stack), audience)
                                .where(Photo.stack.in_(stacks)).tuples()):
            edits[stack].append(pid)
    need = set(exact) | {all_ids[i] for a, b, _ in near_pairs for i in (a, b)}
    need |= {pid for members in edits.values() if len(members) > 1 for pid in members}
    cands = load(audience, sorted(need))
    by_id = {c.id: i for i, c in enumerate(cands)}
    index_groups: list[tuple[str, list[int], int | None]] = [("exact", [by_id[pid]], None) for pid in exact
                                                             if pid in by_id]
    if near_pairs:
        raw = [(by_id[all_ids[a]], by_id[all_ids[b]], d) for a, b, d in near_pairs
               if all_ids[a] in by_id and all_ids[b] in by_id]
        pairs = plan_pairs(cands, _clip_similarities(cands, raw), raw)
        for kind in ("near", "burst"):
            if kind not in wanted:
                continue
            mine = [p for p in pairs if p.kind == kind]
            dist: dict[int, int] = {}
            for p in mine:
                dist[p.a] = max(dist.get(p.a, 0), p.distance)
            for comp in components(len(cands), ((p.a, p.b) for p in mine)):
                index_groups.append((kind, comp, max(dist.get(i, 0) for i in comp)))
    for members in edits.values():
        idx = [by_id[pid] for pid in sorted(members) if pid in by_id]
        if len(idx) > 1:
            index_groups.append(("edit", idx, None))
    paths = _paths(sorted({cands[i].id for _, m, _ in index_groups for i in m}))
    groups = []
    for kind, idx, distance in index_groups:
        photos = [cands[i] for i in idx]
        members_ = [Member(photo=c, paths=paths.get(c.id, [])) for c in photos]
        if kind == "exact":
            m = members_[0]
            m.keep = True
            m.reason = "the first path indexed; the others hold the same bytes"
            group = Group(kind, members_, 0, path_keep=m.paths[0] if m.paths else None)
        else:
            k, reason = choose_keeper(photos)
            members_[k].keep, members_[k].reason = True, reason
            keeper_id = photos[k].id
            for m in members_:
                if m.keep:
                    continue
                if m.photo.duplicate_of == keeper_id:
                    m.reason = "archived as a copy of the kept photo"
                else:
                    m.reason = "a copy of the kept photo" if kind == "near" else (
                        "another shot of the burst" if kind == "burst" else "in the kept photo's stack")
            group = Group(kind, members_, distance)
        if group.members and any(m.paths for m in group.members):
            groups.append(group)
    groups.sort(key=lambda g: (KINDS.index(g.kind), -g.freeable, g.keeper.photo.id))
    return groups


def find_group(ref: str, audience: Audience = EVERYONE) -> Group:
    """The group a reference names: its id ("near:<uid>"), or the uid of any photo in it (a near group first)."""
    from photoshelf.errors import NotFound

    kind, _, uid = ref.rpartition(":")
    kinds = [kind] if kind else ["near", "burst", "exact", "edit"]
    groups = find(audience, kinds)
    for k in kinds:
        for g in groups:
            if g.kind == k and any(m.photo.uid == uid for m in g.members):
                return g
    raise NotFound(f"no duplicate group {ref!r} (see `photoshelf duplicates`)")


@dataclass
class Summary:
    groups: int = 0
    photos: int = 0
    freeable: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def summary(groups: Sequence[Group]) -> Summary:
    """How many groups of each kind, and the bytes that deleting the suggested others would free (exact and near
    groups: a burst's shots and an edit are distinct pictures, not counted)."""
    out = Summary(groups=len(groups))
    for g in groups:
        out.by_kind[g.kind] = out.by_kind.get(g.kind, 0) + 1
        out.photos += len(g.members)
        if g.kind in ("exact", "near"):
            out.freeable += g.freeable
    return out
