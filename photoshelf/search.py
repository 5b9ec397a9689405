"""Search syntax (PhotoPrism-style filters, free text, quotes, `|` for OR, `!` for NOT) and its catalog query."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from photoshelf import ids
from photoshelf.db.schema import File, Lookalike, Photo
from photoshelf.db.uids import PHOTO_UID
from photoshelf.errors import QueryError

# Search by meaning is a plug point: photoshelf.models (above the core, tests/test_layers.py) is imported lazily in
# _semantic_backend and semantic_index; without ML installed a query matches exactly.

TYPES = ("image", "raw", "video", "live")
BOOL_FILTERS = ("favorite", "private", "archived", "missing", "stack", "duplicate", "lookalike", "geo", "error")
FILTERS = ("path", "year", "month", "day", "camera", "lens", "type", "after", "before", "taken", "name",
           "title", "keywords", "album", "label", "person", "face", "country", "state", "city", "place",
           "text", *BOOL_FILTERS)
FACE_VALUES = ("yes", "no", "true", "false", "new")
# Semantic ranking looks at most this many nearest photos (then the page is cut from them).
SEMANTIC_MAX = 1000
# Below this similarity a photo is not a match, only a distant neighbour (per index: CLIP text-to-image
# similarities run lower than MiniLM text-to-text ones).
SEMANTIC_MIN = {"clip": 0.2, "text": 0.25}
# A query is typed by a person: past this many characters it is refused before any SQL is built (a 60 KB
# query made SQLite answer "LIKE or GLOB pattern too complex" after seconds of work).
QUERY_MAX = 1000
# Words and filter values (each alternative of a|b counts): each becomes a few SQL conditions, and peewee
# builds them recursively (about 450 plain words reached Python's recursion limit).
VALUES_MAX = 100
FACES_MAX = 1000  # face:N
# Free text of this many characters or more uses the full-text index where there is one (its trigrams need 3).
FULLTEXT_MIN = 3


@dataclass
class Term:
    key: str | None  # None for free text
    values: list[str]  # alternatives (OR)
    negate: bool = False
    position: int = 0


@dataclass
class Query:
    terms: list[Term] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(v for t in self.terms if t.key is None for v in t.values)


_TOKEN = re.compile(r'\s*(!?)(?:([A-Za-z_]+):)?("(?:[^"\\]|\\.)*"?|[^\s"]+|)')


def parse(query: str) -> Query:
    """Parse a search string; raises QueryError with the character position of the problem."""
    out = Query()
    pos = 0
    query = query.strip()
    if len(query) > QUERY_MAX:
        raise QueryError(f"the query is {len(query):,} characters long: at most {QUERY_MAX:,}", QUERY_MAX)
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None or m.end() == pos:
            raise QueryError(f"cannot read the query at character {pos + 1}", pos)
        negate, key, raw = m.group(1) == "!", m.group(2), m.group(3)
        start = m.start(3) if key is None else m.start(2)
        if negate:
            start = m.start(1)
        pos = m.end()
        if raw.startswith('"'):
            if len(raw) < 2 or not raw.endswith('"') or raw.endswith('\\"'):
                raise QueryError(f"unclosed quote starting at character {m.start(3) + 1}", m.start(3))
            values = [raw[1:-1].replace('\\"', '"')]
        else:
            values = [v for v in raw.split("|")]
        if key is not None:
            key = key.lower()
            if key not in FILTERS:
                raise QueryError(f"unknown filter '{key}:' at character {start + 1} (known: {', '.join(FILTERS)})",
                                 start)
            if not raw or any(v == "" for v in values):
                raise QueryError(f"filter '{key}:' at character {start + 1} needs a value", start)
        elif not raw:
            if negate:
                raise QueryError(f"'!' at character {start + 1} must be followed by a word or filter", start)
            continue
        out.terms.append(Term(key=key, values=values, negate=negate, position=start))
        if sum(len(t.values) for t in out.terms) > VALUES_MAX:
            raise QueryError(f"too many words and values at character {start + 1}: at most {VALUES_MAX}", start)
    for term in out.terms:
        _validate(term)
    return out


def _parse_day(value: str, term: Term) -> dt.datetime:
    for fmt in ("%Y-%m-%d", "%Y-%m", "%Y"):
        try:
            return dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise QueryError(f"'{term.key}:{value}' at character {term.position + 1}: expected a date like 2019-07-04", term.position)


def _int_in(value: str, low: int, high: int, term: Term) -> int:
    number = ids.parse_int(value, low, high)
    if number is None:
        raise QueryError(
            f"'{term.key}:{value}' at character {term.position + 1}: expected a number from {low} to {high}", term.position
        )
    return number


def _bool(value: str, term: Term) -> bool:
    v = value.lower()
    if v in ("true", "yes", "1", "y"):
        return True
    if v in ("false", "no", "0", "n"):
        return False
    raise QueryError(f"'{term.key}:{value}' at character {term.position + 1}: expected true or false", term.position)


def _validate(term: Term) -> None:
    for v in term.values:
        if term.key == "year":
            _int_in(v, 1800, 2200, term)
        elif term.key == "month":
            _int_in(v, 1, 12, term)
        elif term.key == "day":
            _int_in(v, 1, 31, term)
        elif term.key == "type" and v.lower() not in TYPES:
            raise QueryError(f"'type:{v}' at character {term.position + 1}: expected one of {', '.join(TYPES)}",
                             term.position)
        elif term.key in ("after", "before"):
            _parse_day(v, term)
        elif term.key == "taken":
            lo, sep, hi = v.partition("..")
            if not sep:
                _parse_day(v, term)
            else:
                if lo:
                    _parse_day(lo, term)
                if hi:
                    _parse_day(hi, term)
        elif term.key == "lookalike" and PHOTO_UID.fullmatch(v):
            pass  # lookalike:<photo uid>: that photo and those that look like it
        elif term.key in BOOL_FILTERS:
            _bool(v, term)
        elif term.key == "face" and v.lower() not in FACE_VALUES and ids.parse_int(v, 0, FACES_MAX) is None:
            raise QueryError(f"'face:{v}' at character {term.position + 1}: expected yes, no, new or a number of "
                             "faces", term.position)


def _like(value: str) -> str:
    # '!' is the escape character: it means the same in SQLite and MariaDB string literals (a backslash does not).
    return "%" + value.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def _contains(column: Any, value: str) -> Any:
    """Case-insensitive substring match (LIKE ... ESCAPE '!'; peewee would turn a bare LIKE into GLOB on SQLite).

    On SQLite without LOWER(): its LIKE folds ASCII case itself, and its LOWER() folds nothing else, so the
    result is the same, and a free-text scan of 100k photos and paths takes a third less time."""
    subject = pw.fn.COALESCE(column, "")  # NULL is "": `!word` keeps photos without a title
    if not _on_sqlite():
        subject = pw.fn.LOWER(subject)
    return pw.NodeList((subject, pw.SQL("LIKE"), _like(value.lower()), pw.SQL("ESCAPE '!'")))


def _on_sqlite() -> bool:
    db = Photo._meta.database
    return isinstance(db.obj if hasattr(db, "obj") else db, pw.SqliteDatabase)


def _fulltext() -> bool:
    from photoshelf.db.migrations import m0013_fulltext

    return m0013_fulltext.available(Photo._meta.database)


def _fulltext_match(value: str) -> Any:
    """Free text through the full-text index (migration 13: SQLite FTS5, trigram): the same photos as the LIKE
    scans of title, description, keywords, camera, place, path and the photo's text find, without reading every
    row. One compound subquery (FTS5 rows UNION photo_text's): with `IN (...) OR IN (...)` SQLite walked every
    photo row to test both lists (25-50 ms at 100k), with the UNION it looks up only the rows found."""
    from photoshelf.db.migrations.m0013_fulltext import TABLE

    phrase = '"' + value.replace('"', '""') + '"'
    fts = pw.Table(TABLE).select(pw.SQL("rowid")).where(pw.SQL(f"{TABLE} MATCH ?", (phrase,)))
    return Photo.id.in_(fts | _text_ids(value))


def _mariadb_fulltext(value: str) -> Any | None:
    """Free text through MariaDB's FULLTEXT indexes (migration 15), or None where they cannot answer: SQLite, no
    index, or a word shorter than innodb_ft_min_token_size (never indexed; the LIKE scans find it). InnoDB
    matches whole tokens, so each word is asked as a word start (`+beach*`: "beaches", "beach_sand.jpg"), where
    the LIKE scans found any substring ("sandbeach" too); the ranking keeps only whole words anyway."""
    from photoshelf.db.migrations import m0015_mariadb_fulltext as ft

    if _on_sqlite():
        return None
    size = ft.min_token(Photo._meta.database)
    boolean = ft.boolean_query(value, size) if size is not None else None
    if boolean is None:
        return None
    photos = Photo.select(Photo.id).where(_match([getattr(Photo, c) for c in ft.PHOTO_COLUMNS], boolean))
    files = File.select(File.photo).where(_match([File.path], boolean) & (File.role == "media"))
    # One derived table of the three: MariaDB materialises it and looks up only those photos. As `IN (...) OR
    # IN (...) OR IN (...)` it walked half the photo table (514 ms at 100k), `IN (... UNION ...)` it ran
    # the union once per photo row (minutes).
    found = (photos | files | _text_ids(value)).alias("found")
    return Photo.id.in_(pw.Select(from_list=[found], columns=[pw.SQL("*")]))


def _match(columns: list[Any], boolean: str) -> Any:
    """MATCH (columns) AGAINST (boolean IN BOOLEAN MODE), MariaDB's full-text condition."""
    against = pw.NodeList((pw.Value(boolean), pw.SQL("IN BOOLEAN MODE")))
    return pw.NodeList((pw.SQL("MATCH"), pw.EnclosedNodeList(columns), pw.SQL("AGAINST"),
                        pw.EnclosedNodeList([against])))


def _path_match(value: str) -> Any:
    files = File.select(File.photo).where(_contains(File.path, value) & (File.role == "media"))
    return Photo.id.in_(files)


def _end_of(day: dt.datetime, value: str) -> dt.datetime:
    if len(value) == 4:
        return dt.datetime(day.year + 1, 1, 1)
    if len(value) == 7:
        return dt.datetime(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return day + dt.timedelta(days=1)


def _condition(term: Term, value: str) -> Any:
    key = term.key
    local = Photo.taken_at_local
    if key is None or key in ("title", "keywords", "name"):
        if key == "title":
            return _contains(Photo.title, value)
        if key == "keywords":
            return _contains(Photo.keywords, value)
        if key == "name":
            return _path_match(value)
        if len(value) >= FULLTEXT_MIN and "\x00" not in value and _fulltext():  # FTS5 strings end at a NUL
            return _fulltext_match(value)
        indexed = _mariadb_fulltext(value)
        if indexed is not None:
            return indexed
        return (
            _contains(Photo.title, value)
            | _contains(Photo.description, value)
            | _contains(Photo.keywords, value)
            | _contains(Photo.camera_model, value)
            | _place_match(value)
            | _path_match(value)
            | _text_match(value)
        )
    if key == "text":
        return _text_match(value)
    if key == "path":
        return _path_match(value)
    if key == "country":
        return _country_match(value)
    if key in ("state", "city"):
        # The whole name (city:paris is not Parisot), in any case; MariaDB's collation ignores case already.
        return pw.fn.LOWER(getattr(Photo, key)) == value.strip().lower()
    if key == "place":
        return _place_match(value)
    if key == "album":
        return _album_match(value)
    if key == "label":
        return _label_match(value)
    if key == "person":
        return _person_match(value)
    if key == "face":
        return _face_match(value)
    if key == "year":
        y = int(value)
        return (local >= dt.datetime(y, 1, 1)) & (local < dt.datetime(y + 1, 1, 1))
    if key == "month":
        return _month(int(value))
    if key == "day":
        return _day(int(value))
    if key == "camera":
        return _contains(Photo.camera_make, value) | _contains(Photo.camera_model, value)
    if key == "lens":
        return _contains(Photo.lens, value)
    if key == "type":
        return Photo.kind == value.lower()
    if key == "after":
        return local >= _parse_day(value, term)
    if key == "before":
        return local < _parse_day(value, term)
    if key == "taken":
        lo, sep, hi = value.partition("..")
        if not sep:
            day = _parse_day(value, term)
            return (local >= day) & (local < _end_of(day, value))
        cond = Photo.id.is_null(False)
        if lo:
            cond &= local >= _parse_day(lo, term)
        if hi:
            end = _parse_day(hi, term)
            cond &= local < _end_of(end, hi)
        return cond
    if key == "lookalike":
        return _lookalike_match(value, term)
    flag = _bool(value, term)
    if key in ("favorite", "private", "archived"):
        return getattr(Photo, key) == flag
    if key == "missing":
        return Photo.missing_since.is_null(not flag)
    if key == "stack":
        return Photo.stack.is_null(not flag)
    if key == "geo":
        return Photo.lat.is_null(not flag)
    if key == "duplicate":
        dup = File.select(File.photo).where((File.role == "media") & File.missing_since.is_null()).group_by(
            File.photo).having(pw.fn.COUNT(File.id) > 1)
        return Photo.id.in_(dup) if flag else Photo.id.not_in(dup)
    if key == "error":
        from photoshelf.db.schema import IndexIssue

        bad = File.select(File.photo).join(IndexIssue).where(File.photo.is_null(False))
        return Photo.id.in_(bad) if flag else Photo.id.not_in(bad)
    raise QueryError(f"unsupported filter {key}", term.position)  # pragma: no cover - FILTERS guards this


def _lookalike_match(value: str, term: Term) -> Any:
    """lookalike:yes|no (photos in a near-duplicate pair, models/lookalike.py), or lookalike:<photo uid> (that
    photo and the photos paired with it)."""
    if PHOTO_UID.fullmatch(value):
        ref = Photo.select(Photo.id).where(Photo.uid == value)
        return (Photo.id.in_(ref) | Photo.id.in_(Lookalike.select(Lookalike.hi).where(Lookalike.lo.in_(ref)))
                | Photo.id.in_(Lookalike.select(Lookalike.lo).where(Lookalike.hi.in_(ref))))
    paired = Photo.id.in_(Lookalike.select(Lookalike.lo)) | Photo.id.in_(Lookalike.select(Lookalike.hi))
    return paired if _bool(value, term) else ~paired


def _country_match(value: str) -> Any:
    """country:de (the ISO code) or country:germany / country:"united kingdom" (the name, or a part of it)."""
    v = value.strip()
    if len(v) == 2:
        return (Photo.country_code == v.upper()) | (pw.fn.LOWER(Photo.country) == v.lower())
    return _contains(Photo.country, v)


def _place_match(value: str) -> Any:
    """A part of the country, state or city name (place:berlin, place:bavaria, place:"new zealand")."""
    return _contains(Photo.city, value) | _contains(Photo.state, value) | _contains(Photo.country, value)


def _album_match(value: str) -> Any:
    """Photos in albums whose uid or id is `value`, or whose title contains it."""
    from photoshelf.db.schema import Album, AlbumPhoto

    which = _contains(Album.title, value) | (Album.uid == value)
    album_id = ids.parse_id(value)
    if album_id is not None:
        which |= Album.id == album_id
    return Photo.id.in_(AlbumPhoto.select(AlbumPhoto.photo).join(Album).where(which))


def _text_match(value: str) -> Any:
    """Photos whose text (the OCR stage's lines) contains the words, spaces aside: PP-OCR often drops the space
    between words ("Total12.50"), so `text:"total 12.50"` compares both without them (a LIKE scan of photo_text,
    which holds a row only for photos with text in them)."""
    return Photo.id.in_(_text_ids(value))


def _text_ids(value: str) -> Any:
    from photoshelf.db.schema import PhotoText

    squeezed = "".join(value.split())
    if not squeezed:
        return PhotoText.select(PhotoText.photo)
    subject = pw.fn.REPLACE(PhotoText.text, " ", "")
    return PhotoText.select(PhotoText.photo).where(_contains(subject, squeezed))


def _label_match(value: str) -> Any:
    """Photos with a label of that name, or in that category (label:animal finds the dog: categories)."""
    from photoshelf.db.schema import PhotoLabel

    v = value.strip().lower()
    which = (pw.fn.LOWER(PhotoLabel.name) == v) | _contains(PhotoLabel.categories, f",{v},")
    return Photo.id.in_(PhotoLabel.select(PhotoLabel.photo).where(which))


def _person_match(value: str) -> Any:
    """Photos showing a person, by uid, id or name (a part of the name will do: person:anna finds Anna Berg)."""
    from photoshelf.db.schema import Face, Person

    which = (Person.uid == value) | _contains(Person.name, value)
    person_id = ids.parse_id(value)
    if person_id is not None:
        which |= Person.id == person_id
    return Photo.id.in_(Face.select(Face.photo).join(Person).where(which))


def _face_match(value: str) -> Any:
    """face:yes / face:no (any face found), face:new (a face no one has been put on), face:3 (that many)."""
    from photoshelf.db.schema import Face

    v = value.lower()
    if v == "new":
        return Photo.id.in_(Face.select(Face.photo).where(Face.person.is_null()))
    n = ids.parse_int(v, 0, FACES_MAX)
    if n is not None:
        if n == 0:
            return Photo.id.not_in(Face.select(Face.photo))
        return Photo.id.in_(Face.select(Face.photo).group_by(Face.photo).having(pw.fn.COUNT(Face.id) == n))
    with_faces = Photo.id.in_(Face.select(Face.photo))
    return with_faces if v in ("yes", "true") else ~with_faces


def _month(month: int) -> Any:
    return _date_part("month", month)


def _day(day: int) -> Any:
    return _date_part("day", day)


def _date_part(part: str, value: int) -> Any:
    db = Photo._meta.database
    if isinstance(db.obj if hasattr(db, "obj") else db, pw.SqliteDatabase):
        fmt = "%m" if part == "month" else "%d"
        return pw.Cast(pw.fn.strftime(fmt, Photo.taken_at_local), "INTEGER") == value
    func = pw.fn.MONTH if part == "month" else pw.fn.DAYOFMONTH
    return func(Photo.taken_at_local) == value


def build(query: Query, *, include_missing: bool = False, include_archived: bool | None = None) -> Any:
    """A peewee select of photos matching `query`, newest first."""
    select = Photo.select()
    keys = {t.key for t in query.terms}
    if not include_missing and "missing" not in keys:
        select = select.where(Photo.missing_since.is_null())
    if include_archived is False or (include_archived is None and "archived" not in keys):
        select = select.where(Photo.archived == False)  # noqa: E712 - peewee expression
    for term in query.terms:
        cond: Any = None
        for value in term.values:
            c = _condition(term, value)
            cond = c if cond is None else (cond | c)
        select = select.where(~cond if term.negate else cond)
    return select.order_by(Photo.taken_at.desc(nulls="LAST"), Photo.id.desc())


def _semantic_backend(config: Any) -> Any:
    """A function (db, text, *, allowed, limit, which=None) -> [(photo id, similarity)] best first, or None when
    there is no semantic index; None when photoshelf.models.semantic is not installed. `which`: the index
    semantic_index() just named, so it is not probed again."""
    try:
        from photoshelf.models import semantic
    except ImportError as exc:
        if getattr(exc, "name", None) not in ("photoshelf.models.semantic", "photoshelf.models"):
            raise
        return None

    def run(db: Any, text: str, *, allowed: set[int] | None, limit: int,
            which: str | None = None) -> list[tuple[int, float]] | None:
        which = which or semantic.backend(config, db)
        if which is None:
            return None
        hits = semantic.search(config, db, text, k=limit, allowed_ids=allowed, which=which)
        floor = SEMANTIC_MIN.get(which, 0.0)
        return [(pid, score) for pid, score in hits if score >= floor]

    return run


def semantic_index(config: Any, db: Any) -> str | None:
    """Which semantic index free text would be ranked by here ("clip", "text"), or None: no ML installed, or
    nothing embedded yet. Cheap (no model is loaded), so a caller can skip ranked_ids' filter pass without one."""
    try:
        from photoshelf.models import semantic
    except ImportError as exc:
        if getattr(exc, "name", None) not in ("photoshelf.models.semantic", "photoshelf.models"):
            raise
        return None
    return semantic.backend(config, db)


def ranked_ids(query: Query, *, config: Any = None, base: Callable[[Query], Any] | None = None,
               **kwargs: Any) -> list[int] | None:
    """Photo ids for a query with free text, good matches first, then mentions (photoshelf/ranking.py), or None
    when there is no free text or no semantic index (then the plain text match applies).

    The filters are applied first (pre-filter): only photos they allow are ranked. `base` turns a query into its
    select (default: build(query, **kwargs)); the viewer adds its own visibility rules there (no private photos,
    stacks as their primary)."""
    from photoshelf import ranking

    ranked = ranking.rank(query, config=config, base=base, **kwargs)
    return None if ranked is None else ranked.ids


def search(text: str, *, limit: int = 100, offset: int = 0, config: Any = None, **kwargs: Any
           ) -> tuple[list[Photo], int]:
    """Photos matching `text` (a page of them) and the total count. Given the configuration, free text is
    ranked by meaning when a semantic index exists (see ranked_ids); it is matched literally otherwise."""
    query = parse(text)
    ranked = ranked_ids(query, config=config, **kwargs)
    if ranked is not None:
        page = ranked[offset : offset + limit]
        by_id = {p.id: p for p in Photo.select().where(Photo.id.in_(page))} if page else {}
        return [by_id[pid] for pid in page if pid in by_id], len(ranked)
    q = build(query, **kwargs)
    total = q.count()
    return list(q.limit(limit).offset(offset)), total
