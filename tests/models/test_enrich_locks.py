"""Enrichment computes outside the catalog's write transaction: a viewer's edit from another connection goes through
while a stage's model is busy (SQLite has one writer at a time)."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from photoshelf.db.schema import Photo, PhotoLabel, PhotoStage
from photoshelf.db.transactions import write_transaction
from photoshelf.models import enrich
from photoshelf.models.scenes import ScenesStage
from photoshelf.models.stages import Item, Stage
from photoshelf.models.textsearch import TextStage

from conftest import Library, catalog_url, indexed_subset

SUBSET = ["2016/Pets/cat_brown.jpg", "2019/Pets/dog_orange.jpg", "2004/Fiji/smallFiji.JPG"]
WAIT = 60.0  # seconds a test waits for the runner to reach a point; only a broken runner takes that long


class Gate:
    """Holds a stage's compute() until the test opens it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def hold(self) -> None:
        self.entered.set()
        if not self.opened.wait(WAIT):
            raise TimeoutError("the test never opened the gate")


def gated(cls: type[Stage], gate: Gate) -> type[Stage]:
    """The real stage, its compute() held at the gate before it starts."""

    class Gated(cls):  # type: ignore[misc, valid-type]
        def compute(self, items: Sequence[Item]) -> Any:
            gate.hold()
            return super().compute(items)

    return Gated


class Tone(Stage):
    """A stage of this test whose compute() and store() are its own (two of them run side by side)."""

    order = 20

    def __init__(self, config: Any, db: Any, gate: Gate | None = None) -> None:
        super().__init__(config, db)
        self.gate = gate

    def unavailable(self) -> str | None:
        return None

    def version(self) -> str:
        return "t1"

    def compute(self, items: Sequence[Item]) -> list[int]:
        if self.gate is not None:
            self.gate.hold()
        return [item.photo_id for item in items if item.tile.is_file()]

    def store(self, computed: list[int]) -> dict[int, str | None]:
        for photo_id in computed:
            PhotoLabel.create(photo=photo_id, name=self.name, category="tone", categories=",tone,", confidence=1.0,
                              source="test", model="t1")
        return dict.fromkeys(computed)


class Warm(Tone):
    name = "warm"


class Cool(Tone):
    name = "cool"


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    library = indexed_subset(tmp_path, catalog_url("sqlite", tmp_path, "locks"), SUBSET, batch_size=2)
    yield library
    library.db.close()


def favorite_meanwhile(lib: Library, runner: enrich.Enricher, gate: Gate) -> enrich.EnrichReport:
    """Run enrichment on a thread; while the gate holds a stage's compute(), toggle a favorite from this thread's
    own connection with a short busy timeout (a writer lock held by the runner would make it fail, not wait).
    Returns the run's report."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["report"] = runner.run(record=False)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            out["error"] = exc
        finally:
            gate.opened.set()
            lib.db.close()  # the runner thread's connection

    thread = threading.Thread(target=run, name="enrich-under-test")
    thread.start()
    try:
        assert gate.entered.wait(WAIT), out.get("error") or "the stage's compute() never ran"
        photo_id = int(Photo.select(Photo.id).order_by(Photo.id).limit(1).scalar())
        lib.db.execute_sql("PRAGMA busy_timeout = 1000")  # this thread's connection: fail fast if locked
        try:
            with write_transaction(lib.db):
                Photo.update(favorite=True).where(Photo.id == photo_id).execute()
        finally:
            lib.db.execute_sql("PRAGMA busy_timeout = 30000")
        assert gate.entered.is_set() and not gate.opened.is_set(), "the edit went in while the model was held"
    finally:
        gate.opened.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    if "error" in out:
        raise out["error"]
    assert Photo.get_by_id(photo_id).favorite
    return out["report"]


@pytest.mark.parametrize("stage_cls", [ScenesStage, TextStage], ids=lambda c: c.name)
def test_an_edit_goes_in_while_a_real_stage_computes(lib: Library, stage_cls: type[Stage]) -> None:
    gate = Gate()
    stage = gated(stage_cls, gate)(lib.config, lib.db)
    if stage.unavailable():
        pytest.skip(f"{stage.name}: {stage.unavailable()}")
    report = favorite_meanwhile(lib, enrich.Enricher(lib.config, lib.db, stages=[stage]), gate)
    assert (report.stages[0].done, report.stages[0].errors) == (len(SUBSET), 0)
    assert PhotoStage.select().where(PhotoStage.stage == stage.name).count() == len(SUBSET)


def test_an_edit_goes_in_while_stages_compute_side_by_side(lib: Library) -> None:
    gate = Gate()
    stages: list[Stage] = [Warm(lib.config, lib.db, gate), Cool(lib.config, lib.db)]
    runner = enrich.Enricher(lib.config, lib.db, stages=stages, parallel=True)
    assert runner._groups(stages) == [stages]  # one group: the runner stores what two worker threads compute
    report = favorite_meanwhile(lib, runner, gate)
    assert [(s.done, s.errors) for s in report.stages] == [(len(SUBSET), 0)] * 2
    assert PhotoLabel.select().where(PhotoLabel.source == "test").count() == 2 * len(SUBSET)


def test_every_installed_stage_computes_outside_the_transaction() -> None:
    """A stage that overrides only store() does its work inside the batch's write transaction (Stage.compute's
    default hands it the items): none of ours may."""
    for cls in enrich.stage_classes():
        assert cls.compute is not Stage.compute, f"{cls.name} computes inside the write transaction"
        assert not inspect.isabstract(cls), f"{cls.name} does not implement the whole Stage contract"
