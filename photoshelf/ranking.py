"""Relevance of free text: good matches (what a photo shows, by its labels or by meaning, and the words people
wrote on it) above a calibrated cut-off, then mentions (a person, place or file named so), each with why."""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import peewee as pw

from photoshelf.db.rows import chunks
from photoshelf.db.schema import Face, File, Person, Photo, PhotoLabel, PhotoText

# The ML models sit above the core (tests/test_layers.py): photoshelf.models is imported lazily, inside the
# functions that use the text model or the label rules, and ranking works on exact matches without it.

log = logging.getLogger(__name__)

# The cut-offs, calibrated on bench/data/search_queries.yaml with bench/search_quality.py (docs/labels.md,
# "Ranking" has the measurements). A label counts as a good match from this confidence on:
LABEL_MIN = 0.3
# The query is taken to mean a label (or a label's category) when its MiniLM embedding is this similar to the
# label's name ("puppy" -> dog 0.74, "kids" -> people 0.39, "birthday" -> candle 0.36):
CONCEPT_MIN = 0.6
# ... and when it is no further than this from the query's nearest label (or the word itself, 1.0).
CONCEPT_MARGIN = 0.1
# A photo is a good match by meaning (the text index, or CLIP) from this similarity on.
MEANING_MIN = {"text": 0.55, "clip": 0.27}
# At most this many photos are looked at per part (labels, meaning, mentions).
CANDIDATES = 1000
# Photo ids per `IN (...)` list (written into the SQL): few statements for the thousands a ranking checks.
CHUNK = 5000

# Why a photo matched, as the API's `why` list and the page's chips say it.
LABEL, MEANING, TITLE, PERSON, PLACE, FILE_NAME, CAMERA, TEXT = (
    "label", "meaning", "title", "person", "place", "file name", "camera", "text in photo")
GOOD_REASONS = (LABEL, MEANING, TITLE, TEXT)
NAME_REASONS = (PERSON, PLACE, FILE_NAME, CAMERA)


@dataclass
class Ranked:
    """A ranked search: good matches first (best first), then mentions; `why` gives each photo's reasons
    ("label:dog", "meaning", "person", "file name" ...)."""

    ids: list[int]
    good: int
    why: dict[int, list[str]] = field(default_factory=dict)

    @property
    def mentions(self) -> int:
        return len(self.ids) - self.good


def stem(word: str) -> str:
    """A word without its plural ending, so "kids" finds "kid" and "beaches" "beach" (and nothing shorter)."""
    w = word.lower()
    for end, keep in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("xes", "x")):
        if w.endswith(end) and len(w) > len(end) + 2:
            return w[: -len(end)] + keep
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def word_pattern(phrase: str) -> re.Pattern[str]:
    """Whole words (their plurals too), in any case: "kids" matches "Kid" and "kids", never "Kit" or "skids";
    "_", "-" and "." separate words as spaces do ("beach" is in beach_sand.jpg)."""
    found = re.findall(r"[^\W_]+", phrase)
    words = [w.lower() for w in found[:-1]] + [stem(w) for w in found[-1:]]  # a plural ends the phrase
    body = r"[\W_]+".join(re.escape(w) + r"(?:s|es)?" if i == len(words) - 1 else re.escape(w)
                          for i, w in enumerate(words))
    return re.compile(r"(?<![^\W_])" + body + r"(?![^\W_])", re.IGNORECASE)


def _rows(query: Any) -> Iterator[Any]:
    """A select's rows as tuples. On SQLite straight from the cursor: peewee's per-value conversion cost more
    than the queries for the few thousand rows a ranking reads, and SQLite gives the ints, floats and strs
    ranking uses as they are (MariaDB's driver may give bytes, which peewee decodes)."""
    db = getattr(query, "_database", None) or Photo._meta.database
    if isinstance(getattr(db, "obj", db), pw.SqliteDatabase):  # the catalog's models are bound to a proxy
        return iter(db.execute(query))
    return iter(query.tuples())


def _in(column: Any, ids: Iterable[int] | str) -> Any:
    """`column IN (1,2,3)` with the numbers written into the SQL: peewee builds a parameter object per value,
    which cost more than the query itself for the thousand ids a ranking checks. `ids` may be _id_list's text."""
    return pw.NodeList((column, pw.SQL("IN (" + (ids if isinstance(ids, str) else _id_list(ids)) + ")")))


def _id_list(ids: Iterable[int]) -> str:
    """Photo ids as SQL text ("1,2,3"), for _in (one list serves several statements)."""
    return ",".join(str(int(i)) for i in ids)


def _words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[^\W_]+", text)]


# -- concepts: the query as labels --------------------------------------------------------------------------

_vocab_lock = threading.Lock()
_vocab: dict[str, np.ndarray] = {}  # label or category name -> its MiniLM embedding


_names_lock = threading.Lock()
_names: dict[str, Any] = {}  # the catalog's label names, kept until a label row is added


def _label_names(config: Any) -> set[str]:
    """Every label and category name a photo has or the rules file can give: a query that names one the
    library lacks ("horse") must not fall back to a broader one it has ("animal"). The catalog's names are read
    again only when a label was added since (the newest row's id; a removed name costs nothing but a miss)."""
    newest = PhotoLabel.select(pw.fn.MAX(PhotoLabel.id)).scalar()
    key = (id(Photo._meta.database), newest)
    with _names_lock:
        if _names.get("key") == key:
            catalog = _names["names"]
        else:
            catalog = None
    if catalog is None:
        catalog = set()
        for name, categories in _rows(PhotoLabel.select(PhotoLabel.name, PhotoLabel.categories).distinct()):
            catalog.add(str(name).lower())
            catalog.update(c for c in str(categories or "").lower().split(",") if c)
        with _names_lock:
            _names.update(key=key, names=catalog)
    return catalog | _rule_names(getattr(getattr(config, "models", None), "label_rules", None) or None)


@functools.lru_cache(maxsize=4)
def _rule_names(path: str | None) -> frozenset[str]:
    try:
        from photoshelf.models import labels

        rules, _ = labels.load_rules(path)
    except Exception as exc:  # noqa: BLE001 - no ML installed, or a bad rules file (the labels stage says so)
        log.debug("no label rules for concepts: %s", exc)
        return frozenset()
    return frozenset({r.name for r in rules} | {c for r in rules for c in r.categories})


def _embed(config: Any, texts: list[str]) -> np.ndarray | None:
    """MiniLM embeddings, or None when the text model is not installed or turned off."""
    if config is None or not getattr(config.models, "enabled", False) or not config.models.text_search:
        return None
    try:
        from photoshelf.models import textsearch

        return np.asarray(textsearch.encoder(config).get().encode(texts), dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - no model (ImportError, ToolMissing): exact names only
        log.debug("no text model for concepts: %s", exc)
        return None


def _query_vector(config: Any, text: str) -> np.ndarray | None:
    """The query's MiniLM vector (textsearch keeps the last few: the semantic search encoded it already)."""
    if config is None or not getattr(config.models, "enabled", False) or not config.models.text_search:
        return None
    try:
        from photoshelf.models import textsearch

        return textsearch.query_vector(config, text)
    except Exception as exc:  # noqa: BLE001 - no model (ImportError, ToolMissing): exact names only
        log.debug("no text model for concepts: %s", exc)
        return None


def concepts(config: Any, text: str) -> dict[str, float]:
    """The labels (names or categories in the catalog) the query means, with how surely (1.0 for the word
    itself or its plural, else the MiniLM similarity when it reaches CONCEPT_MIN)."""
    names = _label_names(config)
    if not names:
        return {}
    phrase = " ".join(_words(text))
    wanted = {phrase, stem(phrase), " ".join(stem(w) for w in phrase.split())}
    out = {n: 1.0 for n in names if n in wanted}
    missing = sorted(n for n in names if n not in _vocab)
    if missing:
        found = _embed(config, missing)
        if found is None:
            return out
        with _vocab_lock:
            _vocab.update(zip(missing, found, strict=True))
    q = _query_vector(config, phrase)
    if q is None:
        return out
    with _vocab_lock:
        vectors = {n: _vocab[n] for n in names if n in _vocab}
    sims = {name: float(np.dot(q, vec)) for name, vec in vectors.items()}
    best = max([*out.values(), *sims.values()])
    for name, sim in sims.items():
        # The nearest concepts only: "dog" is near "animal" too, but it means dogs.
        if sim >= CONCEPT_MIN and sim >= best - CONCEPT_MARGIN and name not in out:
            out[name] = round(sim, 4)
    return out


def label_hits(meant: dict[str, float], allowed: set[int] | None) -> dict[int, tuple[float, str]]:
    """Photos with a label the query means, confidently enough: photo -> (score, label name)."""
    if not meant:
        return {}
    which: Any = pw.fn.LOWER(PhotoLabel.name).in_(list(meant))
    for name in meant:
        which |= PhotoLabel.categories.contains(f",{name},")
    rows = (PhotoLabel.select(PhotoLabel.photo, PhotoLabel.name, PhotoLabel.categories, PhotoLabel.confidence)
            .where(which & (PhotoLabel.confidence >= LABEL_MIN)))
    out: dict[int, tuple[float, str]] = {}
    for pid, name, categories, confidence in _rows(rows):
        if allowed is not None and pid not in allowed:
            continue
        cats = [c for c in str(categories or "").lower().split(",") if c]
        sure = max([meant.get(str(name).lower(), 0.0)] + [meant.get(c, 0.0) for c in cats])
        score = float(confidence) * sure
        if score > out.get(pid, (0.0, ""))[0]:
            out[pid] = (score, str(name).lower())
    return out


# -- mentions: the words themselves -----------------------------------------------------------------------


def _mentions(words: list[str], candidates: Iterable[int]) -> dict[int, list[str]]:
    """Of these photos, those where every word is written somewhere (whole words), and where: title,
    description or keywords, a person's name, the place, a file or folder name, the camera."""
    patterns = [word_pattern(w) for w in words]
    ocr = [_ocr_pattern(w) for w in words]
    ids = list(dict.fromkeys(candidates))
    fields: dict[int, dict[str, list[str]]] = {}

    def add(rows: Iterable[Any], whys: tuple[str, ...]) -> None:
        for pid, *values in rows:
            by_field = fields.setdefault(pid, {})
            for why, value in zip(whys, values, strict=True):
                if value:
                    by_field.setdefault(why, []).append(str(value))

    for part in chunks(ids, CHUNK):
        chunk = _id_list(part)
        add(_rows(Photo.select(Photo.id, Photo.title, Photo.description, Photo.keywords, Photo.camera_model,
                               Photo.city, Photo.state, Photo.country).where(_in(Photo.id, chunk))),
            (TITLE, TITLE, TITLE, CAMERA, PLACE, PLACE, PLACE))
        add(_rows(File.select(File.photo, File.path).where(_in(File.photo, chunk) & (File.role == "media"))),
            (FILE_NAME,))
        add(_rows(Face.select(Face.photo, Person.name).join(Person)
                  .where(_in(Face.photo, chunk) & Person.name.is_null(False)
                         & (Person.hidden == False))),  # noqa: E712 - peewee expression
            (PERSON,))
        add(_rows(PhotoText.select(PhotoText.photo, PhotoText.text).where(_in(PhotoText.photo, chunk))), (TEXT,))
    out: dict[int, list[str]] = {}
    for pid in ids:
        by_field = fields.get(pid)
        if not by_field:
            continue
        # One word never spans a line break, so each field's values are searched as one text.
        texts = {why: "\n".join(values) for why, values in by_field.items()}
        reasons: list[str] = []
        for pattern, in_text in zip(patterns, ocr, strict=True):
            found = [why for why, text in texts.items() if pattern.search(text)
                     or (why == TEXT and in_text is not None and in_text.search(text))]
            if not found:
                reasons = []
                break
            reasons += [w for w in found if w not in reasons]
        if reasons:
            out[pid] = reasons
    return out


def _ocr_pattern(word: str) -> re.Pattern[str] | None:
    """A word in a photo's OCR text, where a number may follow it without a space (PP-OCR often reads
    "Total 12.50" as "Total12.50"), but not another letter: "car" is not in "Carpe Diem"."""
    w = stem(word)
    return re.compile(r"(?<![^\W_])" + re.escape(w) + r"(?:s|es)?(?![^\W\d_])", re.IGNORECASE) if w else None


def _people_named(words: list[str]) -> set[int]:
    """Photos of a person whose name has every word (candidates; _mentions checks whole words)."""
    cond: Any = Person.name.is_null(False)
    for w in words:
        cond &= pw.fn.LOWER(Person.name).contains(stem(w))
    # The people first (a few hundred rows), then their faces by index: joined, SQLite walked every face
    # (8 ms at 100k photos, for no one named so).
    people = [pid for (pid,) in _rows(Person.select(Person.id).where(cond))]
    if not people:
        return set()
    return {pid for (pid,) in _rows(Face.select(Face.photo).where(_in(Face.person, people)).distinct())}


# -- the ranking ------------------------------------------------------------------------------------------


def _encode_early(config: Any, text: str) -> threading.Thread | None:
    """The query's text-index vector computed in the background while the literal part reads the catalog
    (onnxruntime and SQLite both release the GIL): the encoder's one call (about 14 ms) is the largest single
    cost of a new query. textsearch keeps the vector; the vector search and the concepts find it there."""
    if config is None or not getattr(config.models, "enabled", False) or not config.models.text_search:
        return None
    try:
        from photoshelf.models import textsearch
    except ImportError:  # no ML installed: exact names only
        return None

    def encode() -> None:
        try:
            textsearch.query_vector(config, " ".join(text.split()))
        except Exception as exc:  # noqa: BLE001 - no model here: the search's own call raises it again
            log.debug("query encoder: %s", exc)

    thread = threading.Thread(target=encode, name="photoshelf-query-encoder", daemon=True)
    thread.start()
    return thread


def rank(query: Any, *, config: Any = None, base: Callable[[Any], Any] | None = None, index: str | None = None,
         **kwargs: Any) -> Ranked | None:
    """The photos for a query with free text, good matches first, or None when it has no free text or there is
    no semantic index (then the plain literal match applies, in the listing's order).

    Good: a label the query means (confidence >= LABEL_MIN), similar in meaning (>= MEANING_MIN), or the words
    in the title, description or keywords. Mentions, after them: the words in a person's name, the place, a
    file or folder name, the camera. Everything else, however near in meaning, is left out. The user's filters
    apply first (only what they allow is ranked); `base` turns a query into its select (the viewer's
    visibility rules), default search.build(query, **kwargs). `index`: the semantic index the caller found
    (search.semantic_index), so it is not probed again."""
    from photoshelf import search

    free = [t for t in query.terms if t.key is None and not t.negate]
    backend = search._semantic_backend(config) if free and config is not None else None
    if backend is None:
        return None
    select = base if base is not None else (lambda q: search.build(q, **kwargs))
    text = " ".join(v for t in free for v in t.values)
    words = _words(text)
    filters = search.Query(terms=[t for t in query.terms if t not in free])
    db = Photo._meta.database
    if index is None:
        index = search.semantic_index(config, db)
    encoding = _encode_early(config, text) if index == "text" else None
    allowed: set[int] | None = None
    if filters.terms:
        allowed = {pid for (pid,) in _rows(select(filters).select(Photo.id))}
        if not allowed:
            return Ranked(ids=[], good=0)
    # Without an index found, the backend says first whether there is anything to rank by.
    hits = None if index is not None else backend(db, text, allowed=allowed, limit=CANDIDATES)
    if index is None and hits is None:
        return None
    # The literal part: the query itself (every word somewhere: title, place, path ...), and people's names.
    # The most recently added CANDIDATES (mentions are listed by id, newest first): in id order the databases
    # walk the full-text matches by primary key and stop at the limit, where the listing's date order looked
    # up and sorted all of them (9,848 photos with "dog" in a folder name at 100k).
    literal = {pid for (pid,) in _rows(select(query).select(Photo.id).order_by(Photo.id.desc())
                                       .limit(CANDIDATES))}
    literal |= _people_named(words) if words else set()
    mentions = _mentions(words, literal) if words else {}
    if encoding is not None:
        encoding.join()
    if hits is None:
        hits = backend(db, text, allowed=allowed, limit=CANDIDATES, which=index)
    if hits is None:
        return None
    floor = MEANING_MIN.get(index or "text", MEANING_MIN["text"])
    meaning = {int(pid): float(score) for pid, score in hits if score >= floor}
    labels = label_hits(concepts(config, text), allowed)
    # The standing rules (not archived, the viewer's visibility) over what the parts found.
    found = set(meaning) | set(labels) | set(mentions)
    if allowed is None:
        allowed = set()
        todo = list(found)
        for chunk in chunks(todo, CHUNK):
            # In id order: SQLite then looks each id up by primary key; unordered, it walked the whole timeline
            # index for them (17 -> 3 ms for 1,850 ids at 100k).
            allowed.update(pid for (pid,) in _rows(select(filters).select(Photo.id).where(_in(Photo.id, chunk))
                                                   .order_by(Photo.id)))
    why: dict[int, list[str]] = {}
    score: dict[int, float] = {}
    for pid in found & allowed:
        reasons: list[str] = []
        s = 0.0
        if pid in labels:
            s += labels[pid][0]
            reasons.append(f"{LABEL}:{labels[pid][1]}")
        named = mentions.get(pid, [])
        # Near in meaning because a name has the word (a person called Snow, a folder called Beach): a mention,
        # not a photo of it; the text index embeds names with the labels.
        if pid in meaning and (pid in labels or not any(r in NAME_REASONS for r in named)):
            s += meaning[pid]
            reasons.append(MEANING)
        reasons += named
        if TITLE in reasons:
            s += 2.0  # the words people wrote on the photo come first (labels and meaning add up to 2 at most)
        why[pid] = reasons
        score[pid] = s
    good = sorted((pid for pid in why if any(r.split(":")[0] in GOOD_REASONS for r in why[pid])),
                  key=lambda pid: (-score[pid], -pid))
    good_ids = set(good)
    rest = sorted((pid for pid in why if pid not in good_ids), key=lambda pid: -pid)
    return Ranked(ids=good + rest, good=len(good), why=why)
