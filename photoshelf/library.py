"""The library: the one place that knows the order of work (scan → catalog → sidecars → enrich) and says what changed.

The CLI, `restore` and the watcher drive a `Library`; none of them strings the stages together itself. The order:

    catalog         scan the originals, read new and changed files, commit (indexer/pipeline.py)
    sidecars in     hand edits to the YAML sidecars since the last pass (sidecars/sync.py)
    sidecars out    the sidecars of photos that changed
    reread          metadata read again where a person unlocked a field (indexer/reread.py)
    places          place names of geotagged photos that have none (indexer/places.py)
    near-duplicates the signatures of photos indexed before they existed (photoshelf/dupsig.py)
    enrich          faces, labels, search index (models/enrich.py), when ML is on
    sidecars out    what enrichment added goes into the sidecars too

After the catalog stage the library sends its events (photoshelf/events.py): photos added, changed, moved,
removed. Stages that live in other packages are imported when they run, so this module stays light.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import peewee as pw

from photoshelf.config import Config
from photoshelf.events import Events

if TYPE_CHECKING:
    from photoshelf.indexer.pipeline import Indexer, IndexReport, ProgressFn
    from photoshelf.models.enrich import Enricher, EnrichReport
    from photoshelf.sidecars.sync import SyncReport

log = logging.getLogger(__name__)


@dataclass
class UpdateReport:
    """What `Library.update` did: the index run (with its sidecar and place counts) and the enrichment, if it ran."""

    index: IndexReport
    enrich: EnrichReport | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.index.as_dict(), "enrich": self.enrich.as_dict() if self.enrich is not None else None}


@dataclass
class RestoreReport:
    """What `Library.restore` did: the index run, the user data from the sidecars, the share links from users.yaml."""

    index: IndexReport
    sidecars: SyncReport
    share_links: int

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index.as_dict(), "sidecars": self.sidecars.as_dict(), "share_links": self.share_links}


class Library:
    """The catalog of one originals folder, kept up to date in one declared order. One per process (or thread)."""

    def __init__(self, config: Config, db: pw.Database, *, progress: ProgressFn | None = None,
                 stages: Sequence[Any] | None = None, enrich_batch: int | None = None) -> None:
        from photoshelf.indexer.pipeline import Indexer

        self.config = config
        self.db = db
        self.progress = progress
        self.events = Events()
        self.indexer: Indexer = Indexer(config, db, progress=progress)
        self.phase = ""  # the stage running now ("index", "enrich"), for a shell that reports an interruption
        self._stages = stages  # enrichment stages to use (default: the installed ones)
        self._enrich_batch = enrich_batch
        self._enricher: Enricher | None = None
        self._enriching: Enricher | None = None  # the one running now (stop() reaches a one-off one too)

    # -- the order of work ------------------------------------------------------------------------------

    def update(self, paths: Iterable[str | os.PathLike[str]] | None = None, *, force: bool = False,
               allow_empty: bool = False, record: bool = True, ml: bool | None = None,
               settle_seconds: float = 0.0) -> UpdateReport:
        """Bring the catalog in line with the originals (all of them, or only `paths`), then run every stage after
        it in order. `ml`: run the enrichment stages too (None: when models.enabled). `record`: keep a run record
        and run the library-wide passes (sidecars, places, near-duplicate signatures); the watcher's small runs
        don't, its own timers do that work. `force`, `allow_empty`, `settle_seconds`: see Indexer.run.
        Raises OriginalsUnavailable, having changed nothing, when the originals cannot be read as a whole."""
        self.phase = "index"  # left as it is when the run is interrupted, for the shell's message
        index = self.indexer.run(paths, force=force, settle_seconds=settle_seconds, record=record,
                                 allow_empty=allow_empty, then=lambda report: self._after_catalog(report, record))
        self.phase = ""
        enriched = None
        if self.config.models.enabled if ml is None else ml:
            enriched = self.enrich()  # and what it added goes into the sidecars
        return UpdateReport(index, enriched)

    def _after_catalog(self, report: IndexReport, record: bool) -> None:
        """The stages after the catalog, inside the index run's record."""
        self.indexer.changes.send(self.events)
        if record and self.config.sidecars.enabled:
            from photoshelf.sidecars.sync import after_index

            sidecars = after_index(self.config)
            report.sidecars_written, report.sidecars_applied = sidecars.written, sidecars.applied
        self._reread_requested()
        if record:
            from photoshelf import dupsig
            from photoshelf.indexer import places

            # Geotagged photos without a place: a catalog from before places, or positions a sidecar set.
            report.places = places.backfill()
            # Photos indexed before the near-duplicate second look: from their fit thumbnail, once each.
            dupsig.backfill(self.db, lambda sha1: self.indexer.thumbs.path(sha1, "fit"))

    def _reread_requested(self) -> None:
        """Read the metadata again of photos a person unlocked a field of (in a sidecar): the file's value comes
        back. Their sidecars are then rewritten to say so."""
        from photoshelf.indexer.reread import reread_metadata, stale_ids

        ids = stale_ids(requested_only=True)
        if not ids:
            return
        reread_metadata(self.config, self.db, ids, exiftool=self.indexer.exiftool)
        if self.config.sidecars.enabled:
            self.sync_sidecars()

    def enrich(self, stages: Sequence[str] | None = None, limit: int | None = None, *, reindex: bool = False,
               max_seconds: float | None = None, record: bool = True, sidecars: bool = True) -> EnrichReport:
        """Run the enrichment stages (all, or those named) over what they have pending: at most `limit` photos per
        stage, stopping after the batch that passes `max_seconds`. `reindex`: make every photo pending for them
        again first (their results stay until the run replaces them). `sidecars`: then write the sidecars of what
        changed (the watcher leaves that to its own sync pass). `record`: keep a run record."""
        from photoshelf.models.enrich import Enricher, load_stages

        if stages is None:
            enricher = self.enricher
        else:  # a one-off choice of stages: its models are unloaded when it ends
            enricher = Enricher(self.config, self.db, stages=load_stages(self.config, self.db, stages),
                                progress=self.progress, batch_size=self._enrich_batch)
        self.phase, self._enriching = "enrich", enricher
        try:
            if reindex:
                for stage in enricher.stages:
                    again = enricher.redo(stage)
                    log.info("reindex: %s runs again on %d photos", stage.name, again)
            report = enricher.run(limit, record=record, max_seconds=max_seconds)
            self.phase = ""  # left as it is when the run is interrupted, for the shell's message
        finally:
            self._enriching = None
            if enricher is not self._enricher:
                enricher.close()
        if sidecars and self.config.sidecars.enabled:
            self.sync_sidecars()  # faces and labels go into the sidecars too
        return report

    @property
    def enricher(self) -> Enricher:
        """The enrichment runner of this library (built at first use; its models stay loaded until unloaded)."""
        if self._enricher is None:
            from photoshelf.models.enrich import Enricher

            self._enricher = Enricher(self.config, self.db, stages=self._stages, progress=self.progress,
                                      batch_size=self._enrich_batch)
        return self._enricher

    def unload_models(self, idle_seconds: float) -> bool:
        """Unload the enrichment models when no batch ran for `idle_seconds`; whether they were unloaded."""
        import time

        enricher = self._enricher
        if enricher is None or not enricher.loaded or time.monotonic() - enricher.last_used <= idle_seconds:
            return False
        enricher.close()
        return True

    def sync_sidecars(self, edited: Iterable[Path] = (), *, everything: bool = False, stop: Any = None) -> SyncReport:
        """Apply these hand-edited sidecar files, then write the sidecars of photos changed since the last pass
        (or of every photo). `stop` (a threading.Event) ends the pass early; the next one picks up the rest.
        report.applied counts the edited files applied."""
        from photoshelf.db.schema import Photo
        from photoshelf.sidecars.sync import apply_file, sync_changed, write_sidecars

        applied = sum(1 for path in sorted(edited) if path.is_file() and apply_file(self.config, path) == "applied")
        report = write_sidecars(self.config, Photo.select()) if everything else sync_changed(self.config, stop=stop)
        report.applied += applied
        return report

    def apply_edited_sidecars(self) -> int:
        """Apply the sidecars edited by hand since the last sync, found by their time (the polling watcher's way)."""
        from photoshelf.sidecars.sync import apply_changed_files

        return apply_changed_files(self.config)

    def edit(self, photo_ids: Iterable[int], **fields: Any) -> int:
        """A person's change to photos (flags, texts...): written with the changed stamp, then "user_edit" is sent.
        Returns how many photos matched. (The viewer, in its own process, writes through photoshelf/db/changes.py:
        the stamp is what other processes see.)"""
        from photoshelf.db.changes import change_photos
        from photoshelf.db.schema import Photo

        ids = sorted(set(photo_ids))
        if not ids:
            return 0
        changed = change_photos(Photo.id.in_(ids), **fields)
        self.events.send("user_edit", ids)
        return changed

    def restore(self) -> RestoreReport:
        """Rebuild the catalog after a database loss: index the originals, then bring back every user edit from the
        sidecars, then the share links from users.yaml (after the sidecars: the links' albums are back then)."""
        from photoshelf import accounts
        from photoshelf.sidecars.sync import restore as restore_sidecars

        index = self.update(record=True, ml=False).index
        sidecars = restore_sidecars(self.config, self.db)
        links = accounts.restore_shares()
        return RestoreReport(index, sidecars, links)

    # -- control --------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask a running update or enrichment to finish its current batch and return."""
        self.indexer.stop()
        for enricher in (self._enricher, self._enriching):
            if enricher is not None:
                enricher.stop()

    def close(self) -> None:
        """End the exiftool process and unload the models."""
        self.indexer.close()
        if self._enricher is not None:
            self._enricher.close()


def index_library(config: Config, db: pw.Database, paths: Iterable[str | os.PathLike[str]] | None = None, *,
                  progress: ProgressFn | None = None, force: bool = False) -> IndexReport:
    """Index the configured originals (or some paths in them) once, without enrichment: `update(ml=False)`."""
    library = Library(config, db, progress=progress)
    try:
        return library.update(paths, force=force, ml=False).index
    finally:
        library.close()
