"""label:, person: and face: filters, ML fields in records, and the semantic ranking hook with pre-filtering."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from photoshelf import search
from photoshelf.db.schema import Face, File, Person, Photo, PhotoLabel
from photoshelf.errors import QueryError
from photoshelf.models.vectors import Space, VectorIndex
from photoshelf.records import records

from conftest import Library, indexed_subset

FILES = {"cat": "2016/Pets/cat_brown.jpg", "dog": "2019/Pets/dog_orange.jpg", "fiji": "2004/Fiji/smallFiji.JPG",
         "png": "Misc/Formats/example.png", "obama": "Family/Barack/obama2.jpg"}


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    library = indexed_subset(tmp_path, database_url, FILES.values())
    yield library
    library.db.close()


def _ids() -> dict[str, int]:
    by_path = {f.path: f.photo_id for f in File.select().where(File.role == "media")}
    return {key: by_path[rel] for key, rel in FILES.items()}


def _found(text: str) -> set[str]:
    names = {v: k for k, v in _ids().items()}
    photos, total = search.search(text, limit=50)
    assert total == len(photos)
    return {names[p.id] for p in photos}


def _face(photo: int, x: float, person: Person | None) -> None:
    Face.create(photo=photo, x=x, y=0.2, w=0.1, h=0.1, score=1.5, person=person.id if person else None,
                assigned_by="auto" if person else None, model="test")


def _people_and_labels() -> dict[str, Person]:
    ids = _ids()
    for key, name, cats, conf in (("dog", "dog", ",animal,pet,", 0.91), ("cat", "cat", ",animal,pet,", 0.8),
                                  ("fiji", "beach", ",nature,", 0.4), ("dog", "grass", ",nature,", 0.2)):
        PhotoLabel.create(photo=ids[key], name=name, category=cats.split(",")[1], categories=cats, confidence=conf,
                          source="imagenet", model="m1")
    anna = Person.create(uid="pAnna0000000000001", name="Anna Berg")
    ben = Person.create(uid="pBen00000000000001", name="Ben")
    barack = Person.create(uid="pObama000000000001", name=None)  # an unnamed cluster, found by its uid
    _face(ids["fiji"], 0.1, anna)
    _face(ids["fiji"], 0.5, None)
    _face(ids["dog"], 0.2, anna)
    _face(ids["dog"], 0.6, ben)
    _face(ids["obama"], 0.3, barack)
    return {"anna": anna, "ben": ben, "barack": barack}


def test_label_person_face_filters_and_records(lib: Library) -> None:
    people = _people_and_labels()
    assert _found("label:animal") == {"cat", "dog"}
    assert _found("label:Dog") == {"dog"}
    assert _found("label:nature") == {"fiji", "dog"}
    assert _found("!label:animal") == {"fiji", "png", "obama"}
    assert _found("label:pe") == set()  # a category is matched whole, not as a substring
    assert _found("person:anna") == {"fiji", "dog"}
    assert _found("person:anna person:ben") == {"dog"}  # both in the photo
    assert _found("person:ben|pObama000000000001") == {"dog", "obama"}
    assert _found(f"person:{people['barack'].id}") == {"obama"}
    assert _found("face:yes") == {"fiji", "dog", "obama"}
    assert _found("face:no") == _found("face:0") == {"cat", "png"}
    assert _found("face:new") == {"fiji"}
    assert _found("face:2") == {"fiji", "dog"}
    assert _found("face:1 label:animal") == set()
    assert _found("year:2019 person:anna label:pet") == {"dog"}
    with pytest.raises(QueryError, match="face:maybe"):
        search.parse("face:maybe")

    ids = _ids()
    rec = {r["id"]: r for r in records(Photo.select().where(Photo.id.in_(list(ids.values()))))}
    dog = rec[ids["dog"]]
    assert dog["labels"] == [
        {"name": "dog", "category": "animal", "confidence": 0.91, "source": "imagenet"},
        {"name": "grass", "category": "nature", "confidence": 0.2, "source": "imagenet"}]
    assert [(f["person"], f["cluster"]) for f in dog["faces"]] == [("Anna Berg", "pAnna0000000000001"),
                                                                    ("Ben", "pBen00000000000001")]
    assert dog["faces"][0]["box"] == [0.2, 0.2, 0.1, 0.1] and dog["faces"][0]["score"] == 1.5
    assert rec[ids["fiji"]]["faces"][1]["person"] is None and rec[ids["fiji"]]["faces"][1]["cluster"] is None
    assert rec[ids["png"]]["labels"] == [] and rec[ids["png"]]["faces"] == []


def test_semantic_ranking_is_prefiltered_and_falls_back(lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook's contract with models/semantic.py: search(db, text, allowed=ids, limit=n) returns the nearest
    allowed photos as [(id, score)], or None when there is no semantic index. Driven here by a real vector index."""
    _people_and_labels()
    ids = _ids()
    space = Space("test:semantic", 3, quantise=False)
    index = VectorIndex(lib.db, space)
    vectors: dict[str, list[float]] = {"dog": [1, 0.1, 0], "cat": [0.8, 0.6, 0], "fiji": [0, 1, 0], "png": [0, 0, 1],
                                       "obama": [0, 0.2, 1]}
    index.add((ids[k], np.asarray(v) / np.linalg.norm(v)) for k, v in vectors.items())
    queries = {"puppy": [1, 0, 0], "sea": [0, 1, 0.1]}
    calls: list[Collection[int] | None] = []
    have_index = {"yes": True}

    def semantic(db: Any, text: str, *, allowed: Collection[int] | None, limit: int, which: str | None = None
                 ) -> list[tuple[int, float]] | None:
        if not have_index["yes"]:
            return None
        calls.append(set(allowed) if allowed is not None else None)
        q = np.asarray(queries[text], dtype=np.float32)
        # Similarities, as models/semantic.py gives them (1 - the cosine distance).
        return [(pid, 1.0 - dist) for pid, dist in index.search(q / np.linalg.norm(q), k=min(limit, 3),
                                                                allowed=allowed)]

    monkeypatch.setattr(search, "_semantic_backend", lambda config: semantic)
    names = {v: k for k, v in ids.items()}

    def ranked(text: str) -> list[str]:
        photos, total = search.search(text, limit=10, config=lib.config)
        assert total == len(photos)
        return [names[p.id] for p in photos]

    assert ranked("puppy")[:2] == ["dog", "cat"]
    # No filter of the user's: everything is ranked and the standing rules (not archived) drop photos after.
    assert calls[-1] is None
    Photo.update(archived=True).where(Photo.id == ids["dog"]).execute()
    assert ranked("puppy")[:1] == ["cat"]
    Photo.update(archived=False).where(Photo.id == ids["dog"]).execute()
    # Filters narrow first: only what they allow is ranked, and top-k is not lost to photos they exclude.
    assert ranked("puppy face:no") == ["cat"]  # the png is among the nearest, but not near: left out
    assert calls[-1] == {ids["cat"], ids["png"]}
    assert ranked("sea label:animal") == ["cat"]
    # A literal match (title, path...) comes first, whatever the vectors say.
    Photo.update(title="puppy love").where(Photo.id == ids["png"]).execute()
    assert ranked("puppy")[:3] == ["png", "dog", "cat"]
    # Filters alone never call the semantic search; an empty filter result is not searched at all.
    calls.clear()
    assert ranked("label:animal") in (["dog", "cat"], ["cat", "dog"])
    assert ranked("puppy person:nobody") == [] and calls == []
    # No semantic index: today's literal search.
    have_index["yes"] = False
    assert ranked("puppy") == ["png"]
