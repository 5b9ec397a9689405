"""The `photoshelf` command: a thin shell that parses flags, calls the library and maps errors to exit codes.
One module per family of commands; heavy imports stay inside the command functions, so `--help` is quick."""

from __future__ import annotations

from typing import Any

import click

from photoshelf import __version__
from photoshelf.cli import duplicates, index, models, ops, people, query, serve, users
from photoshelf.cli.common import State, errors_mapped, setup_logging


class _Shell(click.Group):
    """The command group: every command runs inside errors_mapped(), which turns domain errors into a message and
    an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        with errors_mapped():
            return super().invoke(ctx)


@click.group(cls=_Shell, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photoshelf")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="PHOTOSHELF_CONFIG",
              help="TOML configuration file (default: $PHOTOSHELF_CONFIG).")
@click.option("--originals", help="Originals folder to index (library.originals).")
@click.option("--storage", help="Where the catalog, thumbnails and sidecars live (library.storage).")
@click.option("--database", help="sqlite:///path.db or mysql://user:pass@host:port/db (library.database).")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for SQL).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, originals: str | None, storage: str | None,
        database: str | None, verbose: int) -> None:
    """photoshelf: index a photo folder in place and browse it."""
    overrides = {"library.originals": originals, "library.storage": storage, "library.database": database}
    ctx.obj = State(config_path, overrides, verbose)
    setup_logging(verbose)


COMMANDS: tuple[click.Command, ...] = (
    index.index, index.enrich, index.reindex, index.restore, index.import_photoprism, index.sidecars, index.watch,
    query.show, query.search, query.export,
    ops.init, ops.doctor, ops.stats, ops.show_config, ops.backup, ops.migrate, ops.version,
    users.users, users.share, duplicates.duplicates, people.people, models.models, serve.serve,
)
for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli(prog_name="photoshelf")
