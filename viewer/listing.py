"""Pages of photos for the grid: the shared search syntax, the viewer's visibility rules, cursor pagination."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from photoshelf import ids, search
from photoshelf import ranking as ranking_mod
from photoshelf.db.backends import is_sqlite
from photoshelf.db.rows import tuples
from photoshelf.db.schema import AlbumPhoto, File, Photo, PhotoEdit, Stack
from photoshelf.errors import QueryError
from photoshelf.records import GUESSED_DATE_SOURCES
from photoshelf.visibility import NOBODY, Audience, visible

MAX_LIMIT = 500
# Rankings kept per process (see ranking()): a ranked search's pages, and previous/next on its photo pages,
# reuse the list instead of ranking again; a few hundred ints to a few thousand each.
RANKINGS_KEPT = 32
# Listing counts kept per process (see listing_count()).
COUNTS_KEPT = 64
# A page cursor is a few dozen characters (Cursor.encode); a longer one is not ours.
CURSOR_MAX = 200


@dataclass(frozen=True)
class Scope:
    """Where a listing looks besides the query: everything, one album, or one originals folder.

    The timeline shows a stack (RAW+JPEG, Live Photo) as its primary photo and hides private photos; an
    album or a folder shows exactly what is in it. `rank` is the configuration to rank free text by meaning
    with (when a semantic index exists); without it, or in an album or folder, free text is matched literally
    and the listing keeps its own order. `audience` is whom the listing is for (photoshelf.visibility): the
    default sees nothing, so a caller that forgets it shows no one's photos."""

    album_id: int | None = None
    folder_id: int | None = None
    rank: Any = field(default=None, compare=False)
    audience: Audience = NOBODY
    # The timeline's two parts (views/timeline.py): "known", photos whose date is a capture time (dated()), or
    # "unknown", the others (a file's date, none, or impossibly far ahead); None: all of them.
    dates: str | None = None

    @property
    def exact(self) -> bool:
        return self.album_id is not None or self.folder_id is not None


EVERYTHING = Scope()


@dataclass
class Page:
    photos: list[Photo]
    next: str | None
    count: int | None
    rotations: dict[int, int] = field(default_factory=dict)
    # How free text was matched: "meaning" (ranked by a semantic index, best first), "text" (literally, in
    # the listing's order), None when the query has no free text.
    match: str | None = None
    index: str | None = None  # the semantic index that ranked it: "clip" or "text"
    # A ranked listing (photoshelf/ranking.py): how many photos are good matches (the rest only mention the
    # words), and why each photo on the page matched ("label:dog", "meaning", "person", "file name" ...).
    good: int | None = None
    mentions: int | None = None
    why: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after (taken_at_local, id) in timeline order, at an album offset, or at a
    rank in a list ranked by meaning (with the digest of the query that ranked it: a ranked list has no key to
    continue after, so the cursor holds its place and is refused for any other query)."""

    taken: dt.datetime | None = None
    photo_id: int = 0
    offset: int | None = None
    digest: str | None = None

    def encode(self) -> str:
        if self.digest is not None:
            raw = f"r:{self.offset or 0}:{self.digest}"
        elif self.offset is not None:
            raw = f"o:{self.offset}"
        else:
            raw = f"k:{self.taken.isoformat() if self.taken else '-'}:{self.photo_id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor encode() wrote; anything else (cut, edited, a number out of range) is a QueryError."""
        cursor = cls._read(text) if len(text) <= CURSOR_MAX else None
        if cursor is not None:
            return cursor
        raise QueryError("the page cursor is not valid (start again from the first page)", 0)

    @classmethod
    def _read(cls, text: str) -> Cursor | None:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        except (ValueError, binascii.Error):  # not base64 (or not ASCII), not UTF-8
            return None
        kind, _, rest = raw.partition(":")
        if kind == "o":
            offset = ids.parse_int(rest)
            return None if offset is None else cls(offset=offset)
        if kind == "r":
            offset_text, _, digest = rest.partition(":")
            offset = ids.parse_int(offset_text)
            return None if offset is None or not digest else cls(offset=offset, digest=digest)
        if kind == "k":
            taken_text, _, pid_text = rest.rpartition(":")
            photo_id = ids.parse_id(pid_text)
            try:
                taken = None if taken_text == "-" else dt.datetime.fromisoformat(taken_text)
            except ValueError:
                return None
            return None if photo_id is None else cls(taken=taken, photo_id=photo_id)
        return None


def query_keys(query: search.Query) -> set[str | None]:
    return {t.key for t in query.terms}


def base_select(text: str, scope: Scope = EVERYTHING) -> pw.ModelSelect:
    """Photos matching `text` (the shared search syntax) within `scope`, without ordering or paging."""
    return _visible(search.parse(text), scope)


def _visible(query: search.Query, scope: Scope) -> pw.ModelSelect:
    keys = query_keys(query)
    # Who may see what is decided in photoshelf.visibility; a listing that names `archived:` is the archive view.
    select = visible(search.build(query), scope.audience, archive_view="archived" in keys)
    if scope.album_id is not None:
        select = select.join(AlbumPhoto, on=(AlbumPhoto.photo == Photo.id)).where(AlbumPhoto.album == scope.album_id)
    elif scope.folder_id is not None:
        in_folder = File.select(File.photo).where(
            (File.folder == scope.folder_id) & (File.role == "media") & File.missing_since.is_null())
        select = select.where(Photo.id.in_(in_folder))
    else:
        if "private" not in keys:
            select = select.where(Photo.private == False)  # noqa: E712 - peewee expression
        if "stack" not in keys:
            primaries = Stack.select(Stack.primary_photo_id).where(Stack.primary_photo_id.is_null(False))
            select = select.where(Photo.stack.is_null() | Photo.id.in_(primaries))
    if scope.dates is not None:
        select = select.where(dated() if scope.dates == "known" else ~dated())
    return select


# Where a capture time came from when it is only a guess: the file's modification time, or nothing recorded.
FUTURE_SLACK = dt.timedelta(days=1)  # a camera clock a time zone ahead is not "the future"


def dated(now: dt.datetime | None = None) -> Any:
    """Photos with a capture time the timeline can trust: read from the file (not its modification time), and
    not after tomorrow (a camera clock set to 2099)."""
    limit = (now or dt.datetime.now()) + FUTURE_SLACK
    return (Photo.taken_at_local.is_null(False) & Photo.taken_src.not_in(sorted(GUESSED_DATE_SOURCES))
            & (Photo.taken_at_local <= limit))


def _after(cursor: Cursor) -> Any:
    """Rows after the cursor in (taken_at_local DESC, id DESC) order; NULL times sort last on both backends.

    For a dated cursor this is only the dated rows: written as a range on taken_at_local (`t <= X` first) so
    both databases walk the index from the cursor on, where `... OR t IS NULL` would make them scan from the
    top. The undated rows that follow come from _undated()."""
    t = Photo.taken_at_local
    if cursor.taken is None:
        return t.is_null() & (Photo.id < cursor.photo_id)
    return (t <= cursor.taken) & ((t < cursor.taken) | (Photo.id < cursor.photo_id))


def _before(photo: Photo) -> Any:
    """Dated rows before `photo` (newer) in timeline order, as a range on taken_at_local (see _after)."""
    t = Photo.taken_at_local
    return (t >= photo.taken_at_local) & ((t > photo.taken_at_local) | (Photo.id > photo.id))


def _undated(select: pw.ModelSelect) -> pw.ModelSelect:
    return select.where(Photo.taken_at_local.is_null()).order_by(Photo.id.desc())


def timeline_order(select: pw.ModelSelect) -> pw.ModelSelect:
    # Plain DESC puts NULLs last on SQLite and MariaDB alike, and lets both walk the taken_at_local index
    # (which carries the row id) instead of sorting; peewee's nulls="LAST" would emulate it with a CASE.
    return select.order_by(Photo.taken_at_local.desc(), Photo.id.desc())


@dataclass(frozen=True)
class Ranking:
    """A query's photos ranked by meaning, best first, and the digest its cursors carry."""

    ids: list[int]
    digest: str
    index: str
    good: int = 0
    why: dict[int, list[str]] = field(default_factory=dict)


def _has_free_text(query: search.Query) -> bool:
    return any(t.key is None and not t.negate for t in query.terms)


_rankings: OrderedDict[tuple[Any, ...], Ranking | None] = OrderedDict()  # least recently used first
_rankings_lock = threading.Lock()  # also guards _counts
_counts: OrderedDict[tuple[Any, ...], int] = OrderedDict()


def forget_rankings() -> None:
    """Drop the rankings and counts this process keeps (the benchmark's "new query"; nothing else needs to)."""
    with _rankings_lock:
        _rankings.clear()
        _counts.clear()
    try:
        from photoshelf.models import textsearch
    except ImportError:  # no ML installed: no query vectors kept either
        return
    textsearch.forget_queries()


def _catalog_state(db: Any) -> tuple[Any, ...]:
    """A value that changes whenever anything in the catalog may have changed since it was last read, read
    before the ranking is computed (a write in between only makes the next request rank again).

    SQLite: `PRAGMA data_version` (it changes when another connection, in any process, commits) and this
    connection's `total_changes` (its own writes), held with the connection itself, so that a later
    connection, which counts afresh, never matches. MariaDB has no such value per database; the server's
    counters of COMMITs and of rows inserted, updated and deleted by any statement (temporary tables count
    apart, in Handler_tmp_*) change with every write to it: a row written in a transaction counts when it is
    written and the transaction when it commits. Writes to other databases on the server only cost a new
    ranking."""
    real = getattr(db, "obj", None) or db
    if is_sqlite(real):
        conn = real.connection()
        (version,) = real.execute_sql("PRAGMA data_version").fetchone()
        return ("sqlite", conn, version, conn.total_changes)
    rows = real.execute_sql(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_commit', 'Com_truncate', 'Handler_write', "
        "'Handler_update', 'Handler_delete')"
    ).fetchall()
    return ("mariadb", real.database, tuple(sorted((str(k), str(v)) for k, v in rows)))


def ranking(text: str, scope: Scope = EVERYTHING) -> Ranking | None:
    """The listing's photos ranked by meaning, or None when it is not ranked: no free text, no `scope.rank`,
    an album or folder (they keep their own order), or no semantic index (nothing enriched, no ML installed).

    Ranking costs 100-250 ms at 100k photos (the query's encoding, the vector search, and the literal match, a
    substring LIKE over every photo and path), and every page of a ranked search and every previous/next of
    its photo pages needs the same list: it is kept per (query, catalog state), see _catalog_state, so a page
    after the first costs what a timeline page does. Any write to the catalog makes the next request rank
    again, so what is shown is never older than the catalog."""
    if scope.rank is None or scope.exact:
        return None
    query = search.parse(text)
    if not _has_free_text(query):
        return None
    db = Photo._meta.database
    # Asked every time (two index probes): the configuration can turn the index off, or to CLIP, at any time.
    index = search.semantic_index(scope.rank, db)
    if index is None:
        return None
    key = (id(db), id(scope.rank), index, " ".join(text.split()), scope.audience, _catalog_state(db))

    def rank() -> Ranking | None:
        found = ranking_mod.rank(query, config=scope.rank, base=lambda q: _visible(q, scope), index=index)
        return None if found is None else Ranking(ids=found.ids, digest=query_digest(text, index), index=index,
                                                  good=found.good, why=found.why)

    return _kept(_rankings, key, rank, RANKINGS_KEPT)


def _kept(cache: OrderedDict[tuple[Any, ...], Any], key: tuple[Any, ...], compute: Any, size: int) -> Any:
    """The value kept under `key` (its catalog state included), or compute() kept there; least recently used
    values beyond `size` are dropped."""
    with _rankings_lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = compute()
    with _rankings_lock:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)
    return value


def listing_count(select: pw.ModelSelect, text: str, scope: Scope) -> int:
    """How many photos a listing has. The first page of the timeline asks every time, and a count of 100k
    visible photos costs about 20 ms inside MariaDB: it is kept per (listing, catalog state) like rankings, so
    coming back to a listing nothing has changed in costs a status probe."""
    db = Photo._meta.database
    key = (id(db), " ".join(text.split()), scope.album_id, scope.folder_id, scope.dates, scope.audience,
           _catalog_state(db))
    return int(_kept(_counts, key, select.count, COUNTS_KEPT))


def query_digest(text: str, index: str) -> str:
    """What a ranked cursor is tied to: the query (spacing aside) and the index that ranked it."""
    return hashlib.sha256(f"{index}\0{' '.join(text.split())}".encode()).hexdigest()[:12]


def _ranked_page(ranked: Ranking, at: Cursor | None, limit: int, with_count: bool) -> Page:
    if at is not None and (at.digest is None or at.offset is None):
        raise QueryError("the page cursor is not valid for a search ranked by meaning (start again from the "
                         "first page)", 0)
    if at is not None and at.digest != ranked.digest:
        raise QueryError("the page cursor belongs to another search (start again from the first page)", 0)
    offset = at.offset if at is not None and at.offset is not None else 0
    ids = ranked.ids[offset:offset + limit]
    found = {p.id: p for p in Photo.select().where(Photo.id.in_(ids))} if ids else {}
    photos = [found[pid] for pid in ids if pid in found]
    more = offset + limit < len(ranked.ids)
    nxt = Cursor(offset=offset + limit, digest=ranked.digest).encode() if more else None
    # The count is of good matches: photos that only mention the words (a person called Snow) follow them.
    return Page(photos=photos, next=nxt, count=ranked.good if with_count else None,
                rotations=rotations(p.id for p in photos), match="meaning", index=ranked.index,
                good=ranked.good, mentions=len(ranked.ids) - ranked.good,
                why={p.id: ranked.why.get(p.id, []) for p in photos})


def page(text: str = "", *, cursor: str | None = None, limit: int = 100, scope: Scope = EVERYTHING,
         with_count: bool = True) -> Page:
    """One page of a listing, newest first (albums: in the album's order; free text with `scope.rank` and a
    semantic index: best match first), and the cursor of the next."""
    limit = max(1, min(limit, MAX_LIMIT))
    at = Cursor.decode(cursor) if cursor else None
    ranked = ranking(text, scope)
    if ranked is not None:
        return _ranked_page(ranked, at, limit, with_count)
    if at is not None and at.digest is not None:
        raise QueryError("the page cursor belongs to a search ranked by meaning (start again from the first "
                         "page)", 0)
    select = base_select(text, scope)
    count = listing_count(select, text, scope) if with_count else None
    rows: list[Any]
    if scope.album_id is not None:
        offset = at.offset if at is not None and at.offset is not None else 0
        rows = list(select.order_by(AlbumPhoto.position, AlbumPhoto.id).limit(limit + 1).offset(offset))
        more = len(rows) > limit
        photos = rows[:limit]
        nxt = Cursor(offset=offset + limit).encode() if more else None
    else:
        if at is not None:
            if at.offset is not None:
                raise QueryError("the page cursor is not valid (start again from the first page)", 0)
            rows = _rows(timeline_order(select.where(_after(at))), limit + 1)
            if at.taken is not None and len(rows) <= limit:
                # The dated photos ran out after the cursor: the undated ones follow them.
                rows += _rows(_undated(select), limit + 1 - len(rows))
        else:
            rows = _rows(timeline_order(select), limit + 1)
        more = len(rows) > limit
        photos = rows[:limit]
        nxt = Cursor(taken=photos[-1].taken_at_local, photo_id=photos[-1].id).encode() if more else None
    match = "text" if _has_free_text(search.parse(text)) else None
    return Page(photos=photos, next=nxt, count=count, rotations=rotations(p.id for p in photos), match=match)


def _rows(ordered: pw.ModelSelect, limit: int) -> list[Photo]:
    """The first `limit` photos of an ordered listing: their ids first, then the rows by primary key.

    The ids come from the timeline index alone (migration 6), in its order; asked for whole rows at once, the
    databases weigh the row lookups against a sort and may leave that index for a worse plan."""
    ids = [pid for (pid,) in tuples(ordered.select(Photo.id).limit(limit))]
    if not ids:
        return []
    found = {p.id: p for p in Photo.select().where(Photo.id.in_(ids))}
    return [found[pid] for pid in ids if pid in found]


def rotations(ids: Iterable[int]) -> dict[int, int]:
    """The user's rotation (degrees clockwise) of each photo that has one."""
    ids = list(ids)
    if not ids:
        return {}
    return dict(tuples(PhotoEdit.select(PhotoEdit.photo, PhotoEdit.rotation)
                       .where(PhotoEdit.photo.in_(ids) & (PhotoEdit.rotation != 0))))


def neighbours(photo: Photo, text: str = "", scope: Scope = EVERYTHING) -> tuple[int | None, int | None]:
    """The photos before (newer, or better ranked) and after (older, or less well ranked) `photo` in the
    listing it was opened from."""
    ranked = ranking(text, scope)
    if ranked is not None:
        return _next_to(ranked.ids, photo.id)
    select = base_select(text, scope)
    if scope.album_id is not None:
        ids = [pid for (pid,) in tuples(select.select(Photo.id).order_by(AlbumPhoto.position, AlbumPhoto.id))]
        return _next_to(ids, photo.id)
    t, pid = Photo.taken_at_local, Photo.id
    here = Cursor(taken=photo.taken_at_local, photo_id=photo.id)
    by_id = select.select(Photo.id)
    older = timeline_order(by_id.where(_after(here))).limit(1).scalar()
    if older is None and photo.taken_at_local is not None:
        older = _undated(by_id).limit(1).scalar()
    if photo.taken_at_local is None:
        newer = by_id.where(t.is_null() & (pid > photo.id)).order_by(pid).limit(1).scalar()
        if newer is None:
            newer = by_id.where(t.is_null(False)).order_by(t, pid).limit(1).scalar()
    else:
        newer = by_id.where(_before(photo)).order_by(t, pid).limit(1).scalar()
    return newer, older


def _next_to(ids: list[int], photo_id: int) -> tuple[int | None, int | None]:
    if photo_id not in ids:
        return None, None
    i = ids.index(photo_id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)
