"""The contract between the enrichment runner (models/enrich.py) and each ML stage (faces, labels, clip, text).

A stage reads the thumbnails the indexer already made (never the original), writes its results for a batch of
photos in one transaction, and is recorded per photo in `PhotoStage` with its `version()`: a new model or a
changed setting that alters results gives a new version, and only that stage re-runs on those photos.

A batch is two steps: `compute()` runs the model outside any transaction, `store()` writes what it found in the
batch's one short write transaction. On SQLite a write transaction holds the catalog's only writer lock from its
start: a model running inside one would make the viewer's edits (a favorite, an album) wait for the whole batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import peewee as pw

from photoshelf.config import Config


@dataclass(frozen=True)
class Item:
    """One photo to enrich: its id, content hash and the index-time thumbnails (paths in the thumbnail cache)."""

    photo_id: int
    sha1: str
    fit: Path  # the ~720 px "fit" rendition, upright
    tile: Path  # the square ~224 px tile cut from it
    kind: str  # image | raw | video | live


class Stage(ABC):
    """One enrichment step. Subclasses set `name` and `order` and implement the abstract methods; the runner
    (models/enrich.py) calls only what is declared here."""

    name: ClassVar[str]  # "faces" | "labels" | "clip" | "text"
    order: ClassVar[int]  # lower runs first; "text" reads what the others wrote, so it runs last
    kinds: ClassVar[tuple[str, ...] | None] = None  # the photo kinds it runs on (None: every kind)
    # Image stages read the fit rendition and run only on photos with thumbnails; a stage that reads the catalog
    # (text) or the original (transcode) sets False and runs on every photo.
    needs_thumbnail: ClassVar[bool] = True

    def __init__(self, config: Config, db: pw.Database) -> None:
        self.config = config
        self.db = db

    @abstractmethod
    def unavailable(self) -> str | None:
        """Why this stage cannot run here (turned off in config, a package or model file missing), or None."""

    @abstractmethod
    def version(self) -> str:
        """Model id plus the settings that change results (max 48 chars), stored on every PhotoStage row."""

    def digest(self, photo_ids: Sequence[int]) -> dict[int, str]:
        """For stages whose input is catalog text (the text index): a digest per photo of what they would read,
        so an edited title re-runs them. Image stages return {} (their input changes only with the content)."""
        return {}

    def compute(self, items: Sequence[Item]) -> Any:
        """The batch's slow part (decoding thumbnails, the model, a transcode), with no catalog writes: the runner
        calls it outside any transaction, on a worker thread when stages compute side by side. It may read the
        catalog. What it returns goes to store(); raising fails the batch. The default hands the items on, so a
        stage that overrides only store() does all its work there, inside the transaction."""
        return list(items)

    @abstractmethod
    def store(self, computed: Any) -> dict[int, str | None]:
        """Write what compute() returned, replacing this stage's earlier results for those photos; the runner calls
        it inside the batch's write transaction (with the PhotoStage rows), so it must be quick.

        Returns {photo_id: None} for success or an error text (recorded, the photo is not retried until the
        stage version changes). Raising means the whole batch failed (the runner records it on each photo)."""

    def process(self, items: Sequence[Item]) -> dict[int, str | None]:
        """One batch as the runner does it, in one call for callers outside the runner: compute(), store(),
        after_batch() (without the runner's transaction and PhotoStage rows)."""
        results = self.store(self.compute(items))
        self.after_batch()
        return results

    def after_batch(self) -> None:  # noqa: B027 - optional hook
        """Called once a batch's transaction has committed, outside it: follow-up work over what the batches
        stored that computes (faces clusters the unassigned faces once enough have gathered)."""

    def finish(self) -> None:  # noqa: B027 - optional hook
        """Called once the stage has done everything that was pending, if it processed photos since the last
        time (faces re-clusters what stayed unassigned)."""

    def forget(self, photo_ids: Sequence[int]) -> None:  # noqa: B027 - optional hook
        """Drop this stage's results for these photos (a `reindex --stage` or a deleted photo)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Unload models (the runner calls it when a run ends, or when idle in the daemon)."""
