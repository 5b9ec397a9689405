"""What every command shares: the State (configuration and catalog, opened on first use), logging, JSON output,
the progress bar, and the one place that maps domain errors to messages and exit codes."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from photoshelf.config import Config, load_config
from photoshelf.errors import ConfigError, NotFound, PhotoshelfError, PortInUse

log = logging.getLogger(__name__)

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_NOT_FOUND = 3
EXIT_PORT_IN_USE = 4
# Errors with their own exit code; any other PhotoshelfError (a bad query, a database that fails) exits 1.
_EXIT_CODES: tuple[tuple[type[PhotoshelfError], int], ...] = (
    (ConfigError, EXIT_CONFIG), (NotFound, EXIT_NOT_FOUND), (PortInUse, EXIT_PORT_IN_USE),
)


class State:
    def __init__(self, config_path: str | None, overrides: dict[str, Any], verbose: int) -> None:
        self.config_path = config_path
        self.overrides = overrides
        self.verbose = verbose
        self._config: Config | None = None
        self._db: Any = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, overrides=self.overrides)
        return self._config

    def db(self) -> Any:
        if self._db is None:
            from photoshelf.db.catalog import open_catalog

            self._db = open_catalog(self.config)
        return self._db


def setup_logging(verbose: int, level: str = "info") -> None:
    from rich.logging import RichHandler

    lvl = logging.DEBUG if verbose > 0 else getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=lvl, format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(show_path=False, console=stderr_console())])
    logging.getLogger("peewee").setLevel(logging.INFO if verbose < 2 else logging.DEBUG)


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def errors_mapped() -> Iterator[None]:
    """The CLI's one place that turns domain errors into messages and exit codes (the group runs every command
    inside it)."""
    try:
        yield
    except PhotoshelfError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(next((code for kind, code in _EXIT_CODES if isinstance(exc, kind)), EXIT_ERROR))
    except Exception as exc:
        import peewee

        if not isinstance(exc, peewee.PeeweeException):
            raise
        log.debug("database error", exc_info=True)
        click.echo(f"Error: the catalog database failed: {exc} (run with -v for details)", err=True)
        sys.exit(EXIT_ERROR)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


def progress_bar() -> tuple[Any, Callable[[str, int, int], None]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        # The indexer's phases count files; the enrichment stages (faces, labels, ...) count photos.
        label = {"scan": "Scanning", "index": "Indexing", "audit": "Auditing"}.get(phase, phase)
        unit = "files" if phase in ("scan", "index", "audit") else "photos"
        if phase not in tasks:
            tasks[phase] = progress.add_task(label, total=total or None, rate="")
        task = tasks[phase]
        elapsed = progress.tasks[task].elapsed or 0
        rate = f"{done / elapsed:,.1f} {unit}/s" if elapsed > 0.5 and done else ""
        progress.update(task, completed=done, total=total or None, rate=rate)

    return progress, update

