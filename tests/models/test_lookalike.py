"""Near-duplicate hints from CLIP embeddings (models/lookalike.py), with the tiny CLIP export built in the test: a
resized, re-encoded copy of a corpus photo pairs with it, other photos do not; pairs are stored once, replaced on
re-embedding, cascaded with the photo, grouped on the duplicates page and found by `lookalike:`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from logins import viewer_client
from PIL import Image

from photoshelf.db.schema import File, Lookalike, Photo
from photoshelf.library import index_library
from photoshelf.models import clip, enrich, lookalike
from photoshelf.models.vectors import VectorIndex

from conftest import Library, indexed_subset

sys.path.insert(0, str(Path(__file__).parent))
import tinyclip  # noqa: E402

NAME = "Tiny-CLIP__test"
ORIGINAL = "2016/Pets/cat_brown.jpg"
COPY = "Shared/whatsapp/received_0042.jpg"  # another name and folder: not stacked with the original
SUBSET = [ORIGINAL, "2019/Pets/dog_orange.jpg", "2004/Fiji/smallFiji.JPG", "Misc/Formats/norway-kjetil-moe.webp"]


def _index(lib: Library) -> None:
    index_library(lib.config, lib.db)


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    library = indexed_subset(tmp_path, database_url, SUBSET, path=str(tmp_path / "models"), clip_model=NAME,
                             batch_size=2)
    # The same picture as a messenger would pass it on: half the size, re-encoded at a lower quality.
    copy = library.originals / COPY
    with library.user_changes(), Image.open(library.originals / ORIGINAL) as im:
        copy.parent.mkdir(parents=True)
        im.convert("RGB").resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS).save(copy, quality=70)
    _index(library)
    tinyclip.build(library.config.models_path / NAME)
    yield library
    clip.loader(library.config, NAME).unload()
    library.db.close()


def _photo(lib: Library, rel: str) -> Photo:
    return Photo.get_by_id(File.get(File.path == rel).photo_id)


def _pairs() -> set[tuple[int, int]]:
    return {(r.lo_id, r.hi_id) for r in Lookalike.select()}


def _enrich(lib: Library) -> None:
    report = enrich.Enricher(lib.config, lib.db, stages=[clip.ClipStage(lib.config, lib.db)]).run()
    assert report.stages[0].errors == 0


def test_copy_pairs_with_its_original(lib: Library) -> None:
    original, copy = _photo(lib, ORIGINAL), _photo(lib, COPY)
    assert original.id != copy.id and original.sha1 != copy.sha1
    _enrich(lib)
    ids = sorted(p.id for p in Photo.select())
    space = clip.space_for(lib.config, NAME)
    assert space is not None
    stored = VectorIndex(lib.db, space).get(ids)
    sims = {(a, b): float(stored[a] @ stored[b]) for a in ids for b in ids if a < b}
    threshold = lib.config.models.duplicate_similarity
    pair = (min(original.id, copy.id), max(original.id, copy.id))
    # What the stage stored is exactly the pairs at or above the threshold (brute force over the embeddings).
    assert sims[pair] >= threshold, sims
    assert _pairs() == {p for p, s in sims.items() if s >= threshold} == {pair}, sims
    row = Lookalike.get()
    assert row.similarity == pytest.approx(sims[pair], abs=1e-4) and row.model == f"clip:{NAME}"

    # Running again does nothing new; re-embedding (reindex) replaces the pairs, never doubles them.
    _enrich(lib)
    assert Lookalike.select().count() == 1
    stage = clip.ClipStage(lib.config, lib.db)
    enrich.Enricher(lib.config, lib.db, stages=[stage]).forget(stage, [copy.id])
    assert _pairs() == set()
    _enrich(lib)
    assert _pairs() == {pair} and Lookalike.select().count() == 1
    enrich.Enricher(lib.config, lib.db, stages=[stage]).forget(stage)
    _enrich(lib)
    assert _pairs() == {pair}

    # Turned off: a re-embedded photo keeps no pairs.
    runner = enrich.Enricher(lib.config, lib.db, stages=[stage])
    lib.config.models.duplicate_similarity = 0
    runner.forget(stage, [original.id])
    _enrich(lib)
    assert _pairs() == set()
    lib.config.models.duplicate_similarity = 0.97
    runner.forget(stage, [original.id])
    _enrich(lib)
    assert _pairs() == {pair}


def test_page_filter_and_delete(lib: Library) -> None:
    original, copy = _photo(lib, ORIGINAL), _photo(lib, COPY)
    _enrich(lib)
    assert _pairs() == {(min(original.id, copy.id), max(original.id, copy.id))}
    groups = lookalike.groups()
    assert [(g["ids"], g["size"]) for g in groups] == [(sorted([original.id, copy.id]), 2)]

    with viewer_client(lib.config, lib.db) as client:
        page = client.get("/duplicates")
        assert page.status_code == 200
        assert "Look alike (by meaning)" in page.text
        assert f"/photos/{original.id}\"" in page.text and f"/photos/{copy.id}\"" in page.text
        hub = Photo.get_by_id(groups[0]["hub"])
        assert f"/search?q=lookalike%3A{hub.uid}" in page.text
        api = client.get("/api/v1/duplicates").json()
        kinds = {g["kind"]: g for g in api["groups"]}
        assert {p["id"] for p in kinds["lookalike"]["photos"]} == {original.id, copy.id}

        everyone = {p.id for p in Photo.select()}

        def found(q: str) -> set[int]:
            r = client.get("/api/v1/search", params={"q": q, "limit": "100"})
            assert r.status_code == 200, r.text
            return {p["id"] for p in r.json()["photos"]}

        assert found("lookalike:yes") == {original.id, copy.id}
        assert found("lookalike:no") == everyone - {original.id, copy.id}
        assert found(f"lookalike:{hub.uid}") == {original.id, copy.id}
        other = _photo(lib, SUBSET[1])
        assert found(f"lookalike:{other.uid}") == {other.id}
        assert client.get("/api/v1/search", params={"q": "lookalike:maybe"}).status_code == 400

    # The copy is deleted from the originals and purged from the catalog: its pairs go with it.
    with lib.user_changes():
        (lib.originals / COPY).unlink()
    lib.config.index.purge_missing_after_days = 0
    _index(lib)
    _index(lib)
    assert not Photo.select().where(Photo.id == copy.id).exists()
    assert _pairs() == set() and lookalike.groups() == []
    # Re-embedding the original finds no copy: the purged photo's vector is swept or, until then, left out.
    stage = clip.ClipStage(lib.config, lib.db)
    enrich.Enricher(lib.config, lib.db, stages=[stage]).forget(stage, [original.id])
    _enrich(lib)
    assert _pairs() == set()


def test_groups_are_connected_components(lib: Library) -> None:
    ids = sorted(p.id for p in Photo.select())
    a, b, c, d = ids[:4]
    rows = [{"lo": a, "hi": b, "similarity": 0.98, "model": "m"}, {"lo": b, "hi": c, "similarity": 0.99,
                                                                   "model": "m"}]
    Lookalike.insert_many(rows).execute()
    groups = lookalike.groups()
    assert [(g["ids"], g["size"], g["hub"]) for g in groups] == [([a, b, c], 3, b)]
    assert groups[0]["similarity"] == pytest.approx(0.99)
    Photo.update(missing_since=Photo.created_at).where(Photo.id == b).execute()
    assert lookalike.groups() == []  # a missing photo's pairs are not shown
    assert d not in {i for g in groups for i in g["ids"]}


def test_migration_8_is_idempotent(empty_library: Library) -> None:
    from photoshelf.db.migrations import migrate
    from photoshelf.db.schema import SchemaVersion

    db = empty_library.db
    db.drop_tables([Lookalike])  # a catalog from before migration 8
    SchemaVersion.delete().where(SchemaVersion.version == 8).execute()
    assert migrate(db) == [8] and db.table_exists("lookalike")
    assert migrate(db) == []
    SchemaVersion.delete().where(SchemaVersion.version == 8).execute()
    assert migrate(db) == [8]  # the table is there already: nothing breaks
