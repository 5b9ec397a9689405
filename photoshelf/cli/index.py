"""Commands that bring photos and their data into the catalog: `index`, `enrich`, `reindex`, `restore`,
`import-photoprism`, `sidecars` and `watch`."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from photoshelf.cli.common import State, echo_json, progress_bar
from photoshelf.config import load_config
from photoshelf.errors import ConfigError

if TYPE_CHECKING:
    from photoshelf.library import Library

log = logging.getLogger(__name__)


@contextmanager
def _library(state: State, *, quiet: bool = False) -> Iterator[Library]:
    """The library these commands drive, with a progress bar unless quiet. SIGTERM finishes the current batch and
    Ctrl-C stops; either way what was committed stays."""
    from photoshelf.library import Library

    config = state.config
    db = state.db()
    progress, update = (None, None) if quiet else progress_bar()
    library = Library(config, db, progress=update)

    def stop(signum: int, frame: Any) -> None:
        log.warning("stopping after the current batch (signal %s)", signum)
        library.stop()

    old = signal.signal(signal.SIGTERM, stop)
    try:
        if progress is not None:
            with progress:
                yield library
        else:
            yield library
    except KeyboardInterrupt:
        again = "`photoshelf enrich`" if library.phase == "enrich" else "index again"
        click.echo(f"Interrupted: what was committed stays; run {again} to resume.", err=True)
        sys.exit(130)
    finally:
        library.close()
        signal.signal(signal.SIGTERM, old)


def _print_enrich(report: Any, as_json: bool) -> None:
    if as_json:
        echo_json(report.as_dict())
    else:
        _echo_enrich(report)


def _echo_enrich(report: Any) -> None:
    for s in report.stages:
        if s.unavailable:
            click.echo(f"{s.name:10} skipped: {s.unavailable}")
        elif s.done or s.errors:
            click.echo(f"{s.name:10} {s.done} photos in {s.seconds:.1f}s ({s.rate:.1f} photos/s)"
                       + (f", {s.errors} failed" if s.errors else ""))
        else:
            click.echo(f"{s.name:10} up to date")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--force", is_flag=True, help="Read every file again, even unchanged ones.")
@click.option("--no-ml", is_flag=True, help="Only the metadata pass: no faces, labels or search index.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--allow-empty", is_flag=True,
              help="An empty originals folder means the library is empty now: mark its photos missing. Without "
                   "it an empty folder is taken for a share that is not mounted, and nothing is marked.")
@click.pass_obj
def index(state: State, paths: tuple[str, ...], force: bool, no_ml: bool, as_json: bool, quiet: bool,
          allow_empty: bool) -> None:
    """Index the originals folder (or only PATHS inside it). Unchanged files are not read.
    Then the machine-learning stages run on what is new (unless --no-ml or models.enabled = false)."""
    from photoshelf.indexer.originals import require_listable

    require_listable(state.config.originals_path)  # before the catalog and storage are created
    with _library(state, quiet=quiet or as_json) as library:
        done = library.update(list(paths) or None, force=force, allow_empty=allow_empty, ml=False if no_ml else None)
    if as_json:
        echo_json(done.as_dict())
        return
    r = done.index
    click.echo(
        f"{r.seen} files seen in {r.seconds:.1f}s: {r.new} new, {r.changed} changed, {r.unchanged} unchanged, "
        f"{r.moved} moved, {r.missing} missing, {r.duplicates} duplicates, {r.errors} failed, {r.warnings} warnings"
    )
    if r.places:
        click.echo(f"Named the places of {r.places} geotagged photos from before place names.")
    if r.unreadable:
        click.echo(f"{r.unreadable} folders or files could not be read; nothing in them was marked missing "
                   "(photoshelf doctor lists them).")
    if r.errors:
        click.echo("Files that failed: photoshelf doctor lists them with reasons.")
    if done.enrich is not None:
        _echo_enrich(done.enrich)


@click.command()
@click.option("--stage", "stages", multiple=True, help="Only this stage (faces, labels, clip, text); repeatable.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many photos per stage.")
@click.option("--status", is_flag=True, help="Only print what is done and pending, per stage.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
def enrich(state: State, stages: tuple[str, ...], limit: int | None, status: bool, as_json: bool,
           quiet: bool) -> None:
    """Run the machine-learning stages (faces, labels, search index) on the photos they have not done yet."""
    from photoshelf.models.enrich import progress, progress_line

    if status:
        data = progress(state.db())
        if as_json:
            echo_json(data)
        else:
            click.echo(progress_line(data))
        return
    with _library(state, quiet=quiet or as_json) as library:
        report = library.enrich(list(stages) or None, limit)
    _print_enrich(report, as_json)


@click.command()
@click.option("--stage", "stages", multiple=True,
              help="The stage to redo (faces, labels, clip, text, or thumbs: the RAW files' thumbnails); "
                   "repeatable.")
@click.option("--metadata", is_flag=True,
              help="Read the files' metadata again (dates, places, camera, titles...) for photos an older "
                   "photoshelf read; no thumbnails or ML are redone, and fields a person set are kept.")
@click.option("--all", "all_photos", is_flag=True, help="With --metadata: every photo, not only the stale ones.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
def reindex(state: State, stages: tuple[str, ...], metadata: bool, all_photos: bool, as_json: bool,
            quiet: bool) -> None:
    """Run a stage again on every photo (e.g. after changing face settings); its results are replaced photo by
    photo, and faces keep the people a user named or corrected.
    A new model version re-runs by itself: `photoshelf enrich` is enough for that."""
    if not stages and not metadata:
        raise click.UsageError("say what to redo: --metadata and/or --stage NAME")
    if all_photos and not metadata:
        raise click.UsageError("--all goes with --metadata")
    if metadata:
        from photoshelf.indexer.reread import reread_metadata, stale_ids

        config = state.config
        db = state.db()
        reread = reread_metadata(config, db, stale_ids(everything=all_photos))
        if config.sidecars.enabled:
            from photoshelf.sidecars.sync import sync_changed

            sync_changed(config)  # what was read again goes into the sidecars
        if as_json and not stages:
            echo_json({"metadata": reread.as_dict()})
            return
        if not as_json:
            click.echo(f"metadata   {reread.photos} photos read again, {reread.changed} changed"
                       + (f", {reread.unreadable} not readable (left as they were)" if reread.unreadable else ""))
    ml = [s for s in stages if s != "thumbs"]
    if "thumbs" in stages:
        from photoshelf.indexer.rethumb import redo_thumbnails

        done = redo_thumbnails(state.config, state.db())
        if as_json and not ml:
            echo_json({"thumbs": done.as_dict()})
            return
        if not as_json:
            click.echo(f"thumbs     {done.done} RAW photos rendered again" + (f", {done.failed} failed" if done.failed
                                                                              else ""))
    if ml:
        with _library(state, quiet=quiet or as_json) as library:
            report = library.enrich(ml, reindex=True)
        _print_enrich(report, as_json)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def restore(state: State, as_json: bool) -> None:
    """Rebuild the catalog after a database loss: index the originals, then bring back every user edit
    (titles, favorites, flags, albums, rotations, hand-set dates) from the sidecars, and the share links from
    users.yaml."""
    from photoshelf.indexer.originals import require_listable

    require_listable(state.config.originals_path)  # before the catalog and storage are created
    with _library(state, quiet=True) as library:
        done = library.restore()
    if as_json:
        echo_json(done.as_dict())
        return
    indexed, report, links = done.index, done.sidecars, done.share_links
    click.echo(f"indexed {indexed.seen} files; restored user data of {report.applied} photos from sidecars "
               f"({report.albums_created} albums recreated, {report.faces_restored} faces and "
               f"{report.labels_restored} labels, {report.skipped} sidecars without a photo, "
               f"{report.errors} unreadable); {links} share links restored from users.yaml")
    if state.config.models.enabled:
        click.echo("What the sidecars do not hold (the search index, CLIP embeddings) is rebuilt by "
                   "`photoshelf enrich` (or the watcher).")


@click.command("import-photoprism")
@click.argument("sidecar_dir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--database", "database_url", metavar="URL",
              help="PhotoPrism's database: sqlite:///…/storage/index.db or mysql://user:pass@host/photoprism "
                   "(holds albums, labels and people, which its sidecars do not).")
@click.option("--albums", "albums_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="PhotoPrism's album YAML folder (storage/albums), for albums when there is no database.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def import_photoprism(state: State, sidecar_dir: Path | None, database_url: str | None, albums_dir: Path | None,
                      as_json: bool) -> None:
    """Take what people did in PhotoPrism (titles, descriptions, keywords, favorites, private and archived flags,
    hand-set dates and places, albums, labels they added, people's names) from its database and/or its sidecar
    folder SIDECAR_DIR (storage/sidecar). Run `photoshelf index` on the same originals first (and `photoshelf
    enrich`, for faces to put the names on). See docs/migrating-from-photoprism.md."""
    from photoshelf.sidecars.photoprism import import_library
    from photoshelf.sidecars.sync import sync_changed

    config = state.config
    db = state.db()
    report = import_library(config, db, database_url=database_url, sidecar_dir=sidecar_dir, albums_dir=albums_dir)
    if config.sidecars.enabled:
        sync_changed(config)
    if as_json:
        echo_json(report.as_dict())
        return
    click.echo(f"imported {report.applied} of {report.photos} PhotoPrism photos ({report.albums_created} albums "
               f"created, {report.album_entries} album entries, {report.labels} labels, {report.people_named} faces "
               f"named; {report.unmatched} matched no photo here, {report.people_unmatched} named faces matched no "
               f"face here, {report.errors} unreadable)")
    if report.unmatched:
        click.echo("Photos that matched nothing (index the same originals first): "
                   + ", ".join(report.unmatched_paths), err=True)


@click.command()
@click.option("--all", "write_all", is_flag=True, help="Rewrite every sidecar, not only changed photos.")
@click.pass_obj
def sidecars(state: State, write_all: bool) -> None:
    """Write the YAML sidecars of photos that changed (or all of them)."""
    from photoshelf.library import Library

    library = Library(state.config, state.db())
    try:
        report = library.sync_sidecars(everything=write_all)
    finally:
        library.close()
    click.echo(f"{report.written} sidecars written, {report.unchanged} unchanged")


@click.command()
@click.option("--mode", type=click.Choice(["auto", "inotify", "poll"]), help="Override watch.mode.")
@click.option("--poll-interval", type=int, help="Override watch.poll_interval (seconds).")
@click.pass_obj
def watch(state: State, mode: str | None, poll_interval: int | None) -> None:
    """Run the watcher daemon: rescan what changed while it was down, then follow changes live.

    SIGTERM/SIGINT finish the current batch and exit; SIGHUP reloads the configuration."""
    from photoshelf.indexer.watcher import Watcher

    state.overrides.update({"watch.mode": mode, "watch.poll_interval": poll_interval})
    config = state.config
    watcher = Watcher(config, state.db())

    def stop(signum: int, frame: Any) -> None:
        log.info("watch: signal %s: finishing the current batch, then exiting", signum)
        watcher.stop()

    def reload(signum: int, frame: Any) -> None:
        try:
            watcher.reload(load_config(state.config_path, overrides=state.overrides))
        except ConfigError as exc:
            log.error("watch: not reloading, the new configuration is invalid: %s", exc)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    watcher.run()
    log.info("watch: stopped")

