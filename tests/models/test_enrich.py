"""The enrichment runner with small real stages: pending, batches, errors, resume, reindex, progress."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from photoshelf.db.schema import Job, Photo, PhotoLabel, PhotoStage
from photoshelf.library import index_library
from photoshelf.models import enrich
from photoshelf.models.stages import Item, Stage

from conftest import SMALL_CORPUS, Library, indexed_subset, make_library

SUBSET = ["2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg", "2004/Fiji/smallFiji.JPG",
          "Misc/Formats/example.png", "Family/Barack/obama2.jpg"]


class Brightness(Stage):
    """Stores the tile's mean brightness as a label: a real stage that reads real thumbnails."""

    name = "brightness"
    order = 10
    calls: list[list[int]]

    def __init__(self, config, db, version: str = "b1", fail_on: Sequence[int] = (), crash_after: int | None = None):
        super().__init__(config, db)
        self._version = version
        self.fail_on = set(fail_on)
        self.crash_after = crash_after
        self.calls = []
        self.closed = False
        self.closes = 0

    def unavailable(self) -> str | None:
        return None

    def version(self) -> str:
        return self._version

    def store(self, items: Sequence[Item]) -> dict[int, str | None]:
        if self.crash_after is not None and len(self.calls) >= self.crash_after:
            raise KeyboardInterrupt  # as if the process were killed mid-batch
        self.calls.append([i.photo_id for i in items])
        out: dict[int, str | None] = {}
        for item in items:
            if item.photo_id in self.fail_on:
                out[item.photo_id] = "cannot read this one"
                continue
            with Image.open(item.tile) as im:
                mean = float(np.asarray(im.convert("L")).mean()) / 255
            PhotoLabel.delete().where((PhotoLabel.photo == item.photo_id) & (PhotoLabel.source == "test")).execute()
            PhotoLabel.create(photo=item.photo_id, name="bright" if mean > 0.5 else "dark", category="tone",
                              categories=",tone,", confidence=round(mean, 3), source="test", model=self._version)
            out[item.photo_id] = None
        return out

    def forget(self, photo_ids: Sequence[int]) -> None:
        PhotoLabel.delete().where(PhotoLabel.photo.in_(list(photo_ids)) & (PhotoLabel.source == "test")).execute()

    def close(self) -> None:
        self.closed = True
        self.closes += 1


class TitleDigest(Stage):
    """A text stage: its input is the title, so an edited title re-runs it (digest)."""

    name = "titles"
    order = 90
    needs_thumbnail = False

    def __init__(self, config, db, broken: bool = False):
        super().__init__(config, db)
        self.seen: list[int] = []
        self.broken = broken

    def unavailable(self) -> str | None:
        return None

    def version(self) -> str:
        return "t1"

    def digest(self, photo_ids: Sequence[int]) -> dict[int, str]:
        rows: Any = Photo.select(Photo.id, Photo.title).where(Photo.id.in_(list(photo_ids))).tuples()
        return {pid: hashlib.sha1((title or "").encode()).hexdigest() for pid, title in rows}

    def store(self, items: Sequence[Item]) -> dict[int, str | None]:
        if self.broken:
            raise RuntimeError("model file is corrupt")
        self.seen.extend(i.photo_id for i in items)
        return {i.photo_id: None for i in items}


class Off(Stage):
    name = "off"
    order = 5

    def unavailable(self) -> str | None:
        return "the off model is not installed"

    def version(self) -> str:
        return "x"

    def store(self, items: Sequence[Item]) -> dict[int, str | None]:
        raise AssertionError("an unavailable stage must not run")


class SplitTone(Stage):
    """A stage that splits compute (pixels, any thread) from store (catalog writes, the runner's thread)."""

    order = 20

    def __init__(self, config, db, fail_batch: int | None = None):
        super().__init__(config, db)
        self.fail_batch = fail_batch
        self.compute_threads: set[str] = set()
        self.store_threads: set[str] = set()
        self.batches = 0

    def unavailable(self) -> str | None:
        return None

    def version(self) -> str:
        return "s1"

    def compute(self, items: Sequence[Item]) -> list[tuple[int, float]]:
        import threading

        self.compute_threads.add(threading.current_thread().name)
        self.batches += 1
        if self.batches == self.fail_batch:
            raise ValueError("bad pixels")
        out = []
        for item in items:
            with Image.open(item.tile) as im:
                out.append((item.photo_id, float(np.asarray(im.convert("L")).mean()) / 255))
        return out

    def store(self, value: list[tuple[int, float]]) -> dict[int, str | None]:
        import threading

        self.store_threads.add(threading.current_thread().name)
        for photo_id, mean in value:
            PhotoLabel.create(photo=photo_id, name=self.name, category="tone", categories=",tone,",
                              confidence=round(mean, 3), source="test", model="s1")
        return {pid: None for pid, _ in value}


class Warm(SplitTone):
    name = "warm"


class Cool(SplitTone):
    name = "cool"


@pytest.fixture
def lib(tmp_path: Path, database_url: str) -> Iterator[Library]:
    library = indexed_subset(tmp_path, database_url, SUBSET, batch_size=2)
    yield library
    library.db.close()


def _rows(stage: str) -> dict[int, tuple[str, str | None]]:
    return {r.photo_id: (r.version, r.error) for r in PhotoStage.select().where(PhotoStage.stage == stage)}


def test_runs_pending_in_batches_records_versions_and_errors(lib: Library, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="photoshelf.models.enrich")
    ids = sorted(p.id for p in Photo.select())
    assert len(ids) == len(SUBSET)
    failing = ids[1]
    stage = Brightness(lib.config, lib.db, fail_on=[failing])
    runner = enrich.Enricher(lib.config, lib.db, stages=[TitleDigest(lib.config, lib.db), stage,
                                                           Off(lib.config, lib.db)])
    seen: list[tuple[str, int, int]] = []
    runner.progress = lambda phase, done, total: seen.append((phase, done, total))
    report = runner.run()
    runner.close()
    assert stage.closed
    # Batches of models.batch_size, in id order; stages in `order` (brightness 10 before titles 90).
    assert [len(c) for c in stage.calls] == [2, 2, 1]
    assert [pid for c in stage.calls for pid in c] == ids
    assert [p for p, _, _ in seen][0] == "brightness" and seen[-1][0] == "titles"
    assert seen[-1][1:] == (len(ids), len(ids))
    rows = _rows("brightness")
    assert rows[failing] == ("b1", "cannot read this one")
    assert all(rows[i] == ("b1", None) for i in ids if i != failing)
    labels = {lab.photo_id: lab for lab in PhotoLabel.select().where(PhotoLabel.source == "test")}
    assert set(labels) == set(ids) - {failing}
    assert all(0 < lab.confidence < 1 for lab in labels.values())
    by = {s.name: s for s in report.stages}
    assert (by["brightness"].done, by["brightness"].errors) == (len(ids) - 1, 1)
    assert by["off"].unavailable == "the off model is not installed"
    assert sum("off model is not installed" in r.message for r in caplog.records) == 1
    # The run is recorded as a job with progress counts, and progress() reads the catalog alone.
    job = Job.select().where(Job.kind == "enrich").order_by(Job.id.desc()).get()
    assert job.state == "done"
    status = enrich.progress(lib.db)
    assert status["stages"]["brightness"] == {"version": "b1", "unavailable": None, "done": len(ids) - 1,
                                              "errors": 1, "pending": 0}
    assert status["stages"]["off"]["unavailable"]
    assert enrich.progress_line(status) == "enrichment: off off · brightness 5/5 (1 errors) · titles 5/5"

    # Nothing is pending now: a failed photo is not retried at the same version.
    again = Brightness(lib.config, lib.db)
    titles = TitleDigest(lib.config, lib.db)
    report = enrich.Enricher(lib.config, lib.db, stages=[again, titles]).run()
    assert again.calls == [] and titles.seen == [] and report.processed == 0
    # An edited title re-runs only the text-like stage, on that photo.
    Photo.update(title="Grandma's cat").where(Photo.id == ids[0]).execute()
    enrich.Enricher(lib.config, lib.db, stages=[again, titles]).run()
    assert again.calls == [] and titles.seen == [ids[0]]
    # A new version re-runs everything, the failed photo included.
    v2 = Brightness(lib.config, lib.db, version="b2")
    enrich.Enricher(lib.config, lib.db, stages=[v2]).run()
    assert sorted(p for c in v2.calls for p in c) == ids
    assert all(v == ("b2", None) for v in _rows("brightness").values())


def test_resume_after_kill_missing_thumbnail_deleted_photo_and_reindex(lib: Library) -> None:
    ids = sorted(p.id for p in Photo.select())
    # Killed during the third batch: the first two batches (4 photos) are committed, the third is not.
    stage = Brightness(lib.config, lib.db, crash_after=2)
    with pytest.raises(KeyboardInterrupt):
        enrich.Enricher(lib.config, lib.db, stages=[stage]).run()
    assert sorted(_rows("brightness")) == ids[:4]
    assert Job.select().where((Job.kind == "enrich") & (Job.state == "failed")).count() == 1
    # The next run does only the rest. Its fit thumbnail has gone from the cache: a clear error, no crash.
    last = Photo.get_by_id(ids[4])
    lib_thumbs = enrich.ThumbCache(lib.config.thumbs_path, lib.config.thumbnails)
    lib_thumbs.path(last.sha1, "fit").unlink()
    resumed = Brightness(lib.config, lib.db)
    report = enrich.Enricher(lib.config, lib.db, stages=[resumed]).run()
    assert resumed.calls == []  # the only pending photo had no thumbnail: the stage was not even called
    assert _rows("brightness")[ids[4]] == ("b1", enrich.NO_THUMBNAIL)
    assert report.stages[0].errors == 1
    assert enrich.Enricher(lib.config, lib.db, stages=[resumed]).run().processed == 0  # not retried as it is
    with Image.open(lib_thumbs.path(last.sha1, "tile")) as tile:  # the thumbnail is made again
        tile.save(lib_thumbs.path(last.sha1, "fit"))
    enrich.Enricher(lib.config, lib.db, stages=[resumed]).run()
    assert resumed.calls == [[ids[4]]] and _rows("brightness")[ids[4]] == ("b1", None)

    # A batch that raises is recorded on each of its photos, and the run goes on.
    broken = TitleDigest(lib.config, lib.db, broken=True)
    report = enrich.Enricher(lib.config, lib.db, stages=[broken]).run()
    assert {e for _, e in _rows("titles").values()} == {"RuntimeError: model file is corrupt"}
    assert report.stages[0].errors == len(ids)

    # A deleted photo's results and stage rows go with it (the database cascades); its embeddings (no foreign
    # key) are swept at the end of the next full run.
    from photoshelf.db.schema import Vector
    from photoshelf.models.vectors import Space, VectorIndex

    space = VectorIndex(lib.db, Space("test:tiles", 8))
    space.add([(ids[0], np.ones(8)), (ids[1], np.arange(8) + 1.0)])
    Photo.get_by_id(ids[0]).delete_instance()
    assert ids[0] not in _rows("brightness")
    assert not PhotoLabel.select().where(PhotoLabel.photo == ids[0]).exists()
    enrich.Enricher(lib.config, lib.db, stages=[]).run()
    assert [v.item_id for v in Vector.select().where(Vector.space == "test:tiles")] == [ids[1]]
    assert [i for i, _ in space.search(np.ones(8), k=5)] == [ids[1]]

    # reindex --stage: forget the stage's results and rows, then everything runs again.
    runner = enrich.Enricher(lib.config, lib.db, stages=[Brightness(lib.config, lib.db)])
    assert runner.forget(runner.stages[0]) == len(ids) - 1
    assert _rows("brightness") == {} and not PhotoLabel.select().where(PhotoLabel.source == "test").exists()
    report = runner.run(limit=3)
    assert report.stages[0].done == 3

    # `photoshelf reindex` redoes instead: every photo is pending again, its results stay until replaced.
    runner.run()
    labels = PhotoLabel.select().where(PhotoLabel.source == "test").count()
    assert runner.redo(runner.stages[0]) == len(ids) - 1
    assert _rows("brightness") == {}
    assert PhotoLabel.select().where(PhotoLabel.source == "test").count() == labels
    assert runner.run().stages[0].done == len(ids) - 1
    assert PhotoLabel.select().where(PhotoLabel.source == "test").count() == labels


def test_registry_skips_missing_modules_and_sorts_by_order(lib: Library, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    plug = tmp_path / "plug"
    plug.mkdir()
    (plug / "enrich_plug_a.py").write_text(
        "from photoshelf.models.stages import Stage\n"
        "class Late(Stage):\n    name = 'late'\n    order = 80\n"
        "    def unavailable(self): return None\n    def version(self): return 'l1'\n"
        "    def store(self, items): return {i.photo_id: None for i in items}\n"
        "class Early(Late):\n    name = 'early'\n    order = 1\n")
    monkeypatch.syspath_prepend(str(plug))
    monkeypatch.setattr(enrich, "STAGE_MODULES", (
        ("enrich_plug_a", "Late"), ("photoshelf.models.not_written_yet", "Nope"), ("enrich_plug_a", "Early"),
        ("enrich_plug_a", "Missing")))
    assert [c.name for c in enrich.stage_classes()] == ["early", "late"]
    stages = enrich.load_stages(lib.config, lib.db, ["late"])
    assert [s.name for s in stages] == ["late"]
    with pytest.raises(Exception, match="no enrichment stage nosuch"):
        enrich.load_stages(lib.config, lib.db, ["nosuch"])
    report = enrich.Enricher(lib.config, lib.db).run()
    assert {s.name: s.done for s in report.stages} == {"early": len(SUBSET), "late": len(SUBSET)}


def test_the_daemon_enriches_after_the_metadata_pass_and_unloads_when_idle(tmp_path: Path, database_url: str) -> None:
    import threading
    import time

    from photoshelf.db.schema import File
    from photoshelf.indexer.watcher import Watcher

    from conftest import make_config

    library = make_library(tmp_path, database_url, None)
    config = make_config(library.originals, library.storage, database_url, PHOTOSHELF_WATCH_MODE="inotify",
                         PHOTOSHELF_WATCH_SETTLE_SECONDS="0.3", PHOTOSHELF_MODELS_IDLE_UNLOAD_SECONDS="1")
    stage = Brightness(config, library.db)
    watcher = Watcher(config, library.db, stages=[stage])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            watcher.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def wait_for(what: str, predicate, timeout: float = 30.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if predicate():
                return time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for("the watcher", watcher.ready.is_set)
        for i, rel in enumerate(SUBSET[:2]):
            with library.user_changes():
                (library.originals / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(SMALL_CORPUS / rel, library.originals / rel)
            indexed = wait_for("the metadata pass", lambda r=rel: File.select().where(
                (File.path == r) & File.photo.is_null(False)).exists())
            photo_id = File.get(File.path == rel).photo_id
            enriched = wait_for("the enrichment", lambda p=photo_id: PhotoStage.select().where(
                (PhotoStage.photo == p) & (PhotoStage.stage == "brightness")).exists())
            assert enriched >= indexed
            assert PhotoLabel.select().where(PhotoLabel.photo == photo_id).count() == 1
            # No work for models.idle_unload_seconds: the models are unloaded (and loaded again when needed).
            wait_for("the idle unload", lambda n=i + 1: stage.closes >= n)
        assert errors == []
        assert watcher.stats.enriched == 2
    finally:
        watcher.stop()
        thread.join(30)
        library.db.close()
    assert not thread.is_alive() and errors == []
    assert stage.closes == 3  # twice when idle, once at the end


def test_real_pipeline_on_the_small_corpus(tmp_path: Path) -> None:
    """The installed stages (dlib faces, EfficientNet labels, the MiniLM text index...) through the runner, the
    filters, the records and the semantic search, on the photos of tests/data that have faces, pets or a place
    (SQLite; the stages' own tests cover MariaDB)."""
    from photoshelf import search
    from photoshelf.db.schema import File
    from photoshelf.records import records

    source = tmp_path / "source"
    for folder in ("2016/Pets", "2019/Pets", "Family", "2004/Fiji"):
        shutil.copytree(SMALL_CORPUS / folder, source / folder)
    library = make_library(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", source)
    try:
        config, db = library.config, library.db
        index_library(config, db)
        runner = enrich.Enricher(config, db)
        names = {s.name for s in runner.available()}
        if not names & {"faces", "labels", "text"}:
            pytest.skip("no enrichment stage is installed here")
        report = runner.run()
        runner.close()
        by = {s.name: s for s in report.stages}
        for name in names:
            assert by[name].errors == 0, (name, PhotoStage.select(PhotoStage.photo, PhotoStage.error).where(
                (PhotoStage.stage == name) & PhotoStage.error.is_null(False)).tuples()[:])
        present = Photo.select().where(Photo.missing_since.is_null())
        with_thumbs = present.where(Photo.has_thumbs == True).count()  # noqa: E712
        for stage in runner.available():
            expected = with_thumbs if stage.needs_thumbnail else present.count()
            if stage.kinds is not None:  # a stage for some kinds only (transcode: videos)
                eligible = present.where(Photo.kind.in_(list(stage.kinds)))
                expected = (eligible.where(Photo.has_thumbs == True) if stage.needs_thumbnail  # noqa: E712
                            else eligible).count()
            assert by[stage.name].done == expected, stage.name
        assert enrich.progress(db)["pending"] == 0

        def paths(query: str) -> set[str]:
            photos, _ = search.search(query, limit=100, config=config)
            return {r["path"] for r in records(photos)}

        if "faces" in names:
            family = {f.path for f in File.select().where(File.path.startswith("Family/"))}
            assert paths("face:yes") >= family
            assert "2016/Pets/cat_brown.jpg" in paths("face:no")
            both = records([Photo.get_by_id(File.get(File.path == "Family/obama_and_biden.jpg").photo_id)])[0]
            assert len({f["cluster"] for f in both["faces"] if f["cluster"]}) >= 2  # Obama and Biden
        if "labels" in names:
            assert {"2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg"} <= paths("label:animal")
            assert "2019/Pets/dog_orange.jpg" in paths("label:dog")
            assert "2016/Pets/cat_brown.jpg" in paths("label:cat")
        if "text" in names:
            photos, _ = search.search("puppy", limit=3, config=config)
            assert records(photos[:1])[0]["path"] == "2019/Pets/dog_orange.jpg"
        # Nothing is left: a second run does no work.
        assert enrich.Enricher(config, db).run().processed == 0
    finally:
        library.db.close()


def test_stages_that_split_compute_from_store_run_side_by_side(lib: Library) -> None:
    import threading

    ids = sorted(p.id for p in Photo.select())
    warm, cool = Warm(lib.config, lib.db), Cool(lib.config, lib.db, fail_batch=2)
    titles = TitleDigest(lib.config, lib.db)
    runner = enrich.Enricher(lib.config, lib.db, stages=[titles, cool, warm], parallel=True)
    assert [[s.name for s in g] for g in runner._groups(runner.available())] == [["cool", "warm"], ["titles"]]
    report = runner.run()
    main = threading.current_thread().name
    assert warm.compute_threads == {"enrich-warm"} and cool.compute_threads == {"enrich-cool"}
    assert warm.store_threads == cool.store_threads == {main}  # one writer
    by = {s.name: s for s in report.stages}
    assert (by["warm"].done, by["warm"].errors) == (len(ids), 0)
    assert (by["cool"].done, by["cool"].errors) == (len(ids) - 2, 2)  # its second batch (2 photos) failed
    assert {e for _, e in _rows("cool").values()} == {None, "ValueError: bad pixels"}
    assert sorted(titles.seen) == ids  # the text-like stage ran after the group
    warm_labels = {lab.photo_id: lab.confidence for lab in PhotoLabel.select().where(PhotoLabel.name == "warm")}
    assert sorted(warm_labels) == ids and all(0 < c < 1 for c in warm_labels.values())
    # The same stages one after the other (parallel off) store the same results.
    PhotoLabel.delete().execute()
    PhotoStage.delete().execute()
    serial = enrich.Enricher(lib.config, lib.db, stages=[Warm(lib.config, lib.db)], parallel=False)
    serial.run()
    assert {lab.photo_id: lab.confidence for lab in PhotoLabel.select()} == warm_labels


def test_cli_index_enrich_status_reindex(tmp_path: Path) -> None:
    """The commands as a user runs them (SQLite, two photos, only the labels stage switched on)."""
    import json
    import os
    import subprocess
    import sys

    source = tmp_path / "source"
    for rel in SUBSET[:2]:
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SMALL_CORPUS / rel, source / rel)
    env = dict(os.environ, PHOTOSHELF_ORIGINALS=str(source), PHOTOSHELF_STORAGE=str(tmp_path / "storage"),
               PHOTOSHELF_MODELS_FACES="false", PHOTOSHELF_MODELS_TEXT_SEARCH="false")

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "photoshelf.cli", *args], env=env, capture_output=True,
                              text=True, timeout=300)
        assert not check or proc.returncode == 0, proc.stderr
        return proc

    plain = json.loads(cli("index", "--no-ml", "--json").stdout)
    assert plain["new"] == 2 and plain["enrich"] is None
    status = json.loads(cli("enrich", "--status", "--json").stdout)
    assert status["stages"] == {} and status["photos"] == 2
    report = json.loads(cli("index", "--json").stdout)["enrich"]["stages"]
    assert report["labels"]["done"] == 2 and report["faces"]["unavailable"]
    status = json.loads(cli("enrich", "--status", "--json").stdout)
    assert status["stages"]["labels"]["done"] == 2 and status["pending"] == 0
    assert "labels 2/2" in cli("enrich", "--status").stdout
    assert "labels     up to date" in cli("enrich").stdout
    again = json.loads(cli("reindex", "--stage", "labels", "--json").stdout)["stages"]
    assert again["labels"]["done"] == 2 and set(again) == {"labels"}
    shown = json.loads(cli("show", "--json", SUBSET[1]).stdout)
    assert "dog" in {lab["name"] for lab in shown["labels"]}
    found = cli("search", "label:dog").stdout
    assert SUBSET[1] in found and SUBSET[0] not in found
    bad = cli("reindex", "--stage", "nosuch", check=False)
    assert bad.returncode == 3 and "no enrichment stage nosuch" in bad.stderr
