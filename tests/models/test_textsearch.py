"""Search by meaning without CLIP: each photo's catalog text embedded with MiniLM (ONNX, no torch), run through
the enrichment runner, queried through models/semantic.py."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np
import pytest

from photoshelf.db.schema import Face, File, Person, Photo, PhotoLabel, PhotoStage
from photoshelf.models import enrich, semantic, textsearch
from photoshelf.models.textembed import TextEncoder

from conftest import Library, indexed_subset

SUBSET = ["2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg", "2004/Fiji/smallFiji.JPG",
          "Misc/Formats/norway-kjetil-moe.webp", "Screenshots/Screenshot 2019-05-21 at 10.45.52.png"]
# What the image stages would have written (the ImageNet rules map a retriever to dog -> animal, pet).
LABELS = {"dog_orange.jpg": [("dog", "animal", ",animal,pet,")],
          "cat_brown.jpg": [("cat", "animal", ",animal,pet,")],
          "smallFiji.JPG": [("beach", "nature", ",nature,water,")],
          "norway-kjetil-moe.webp": [("mountain", "nature", ",nature,landscape,")]}


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    library = indexed_subset(tmp_path, database_url, SUBSET)
    yield library
    library.db.close()


def photo_id(name: str) -> int:
    return int(File.select(File.photo).where(File.name == name).scalar())


def test_encoder_is_minilm_without_torch() -> None:
    onnx, reference = TextEncoder(), TextEncoder(backend="numpy")
    sentences = ["a puppy playing in the grass", "a young dog running on a lawn", "quarterly tax report",
                 "a kitten asleep on the sofa", "a cat sleeping on a couch"]
    got, want = onnx.encode(sentences), reference.encode(sentences)
    assert got.shape == (5, 384)
    np.testing.assert_allclose(got, want, atol=1e-5)  # the ONNX graph computes the plain forward pass
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    sim = got @ got.T
    # Paraphrases rank above unrelated sentences (MiniLM puts them near 0.6-0.7, unrelated near 0).
    assert sim[0, 1] > 0.5 and sim[3, 4] > 0.5
    assert max(sim[0, 2], sim[1, 2], sim[3, 2], sim[0, 4]) < 0.3
    # BERT uncased WordPiece, as sentence-transformers tokenizes.
    enc = onnx.tokenizer.encode("Hello, Puppies!")
    assert enc.tokens == ["[CLS]", "hello", ",", "pup", "##pies", "!", "[SEP]"]
    assert enc.ids[:2] == [101, 7592]


def test_puppy_finds_the_dog(lib: Library) -> None:
    for name, labels in LABELS.items():
        for label, category, categories in labels:
            PhotoLabel.create(photo=photo_id(name), name=label, category=category, categories=categories,
                              confidence=0.9, source="imagenet", model="test")
    Photo.update(title="Holiday in Fiji").where(Photo.id == photo_id("smallFiji.JPG")).execute()
    anna = Person.create(uid="p1", name="Anna")
    Face.create(photo=photo_id("cat_brown.jpg"), x=0.1, y=0.1, w=0.2, h=0.2, person=anna, model="test")

    texts = textsearch.photo_texts([photo_id(n) for n in LABELS])
    assert texts[photo_id("dog_orange.jpg")] == "dog, animal, pet. 2019 / Pets"
    # The reverse-geocoded place of its GPS position.
    assert texts[photo_id("cat_brown.jpg")] == "cat, animal, pet. Anna. Tuebingen, Germany. 2016 / Pets"
    assert "Holiday in Fiji" in texts[photo_id("smallFiji.JPG")]

    stage = textsearch.TextStage(lib.config, lib.db)
    assert stage.unavailable() is None
    report = enrich.Enricher(lib.config, lib.db, stages=[stage]).run()
    assert report.stages[0].done == len(SUBSET) and report.stages[0].errors == 0
    assert semantic.backend(lib.config, lib.db) == "text"

    def top(query: str, allowed_ids: Collection[int] | None = None) -> int:
        return semantic.search(lib.config, lib.db, query, k=3, allowed_ids=allowed_ids)[0][0]

    assert top("puppy") == photo_id("dog_orange.jpg")
    assert top("kitten") == photo_id("cat_brown.jpg")
    assert top("seaside vacation") == photo_id("smallFiji.JPG")
    assert top("alps hiking") == photo_id("norway-kjetil-moe.webp")
    assert top("photos of anna") == photo_id("cat_brown.jpg")
    # A filter narrows the ranking: without the dog, the other pet comes first.
    others = {photo_id(n) for n in LABELS} - {photo_id("dog_orange.jpg")}
    assert top("puppy", allowed_ids=others) == photo_id("cat_brown.jpg")
    scores = semantic.search(lib.config, lib.db, "puppy", k=10)
    assert len(scores) == len(SUBSET) and scores == sorted(scores, key=lambda s: -s[1])
    similar = semantic.similar(lib.config, lib.db, photo_id("dog_orange.jpg"), k=2)
    assert [p for p, _ in similar][0] == photo_id("cat_brown.jpg")

    # An edited title re-runs the stage on that photo only (the digest of its text changed).
    dog = photo_id("dog_orange.jpg")
    Photo.update(title="Rex at the beach").where(Photo.id == dog).execute()
    before = {r.photo_id: r.digest for r in PhotoStage.select().where(PhotoStage.stage == "text")}
    report = enrich.Enricher(lib.config, lib.db, stages=[textsearch.TextStage(lib.config, lib.db)]).run()
    assert report.stages[0].done == 1
    after = {r.photo_id: r.digest for r in PhotoStage.select().where(PhotoStage.stage == "text")}
    assert {p for p in after if after[p] != before[p]} == {dog}
    stage.forget([dog])
    assert dog not in {p for p, _ in semantic.search(lib.config, lib.db, "puppy", k=10)}
