"""Commands that read the catalog: `show`, `search` and `export`."""

from __future__ import annotations

import json
from typing import Any

import click

from photoshelf.cli.common import State, echo_json
from photoshelf.errors import NotFound


@click.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show(state: State, ref: str, as_json: bool) -> None:
    """Everything the catalog knows about one photo (by path, id or uid)."""
    from photoshelf.db.schema import File
    from photoshelf.filenames import path_hash
    from photoshelf.records import file_record, find_photo, records

    config = state.config
    state.db()
    originals = str(config.originals_path)
    try:
        data = records([find_photo(ref, originals)])[0]
    except NotFound:
        rel = ref[len(originals) + 1:] if ref.startswith(originals + "/") else ref
        f = File.get_or_none(File.path_hash == path_hash(rel))
        if f is None or f.photo_id is not None:
            raise
        data = file_record(f)
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        if value in (None, [], ""):
            continue
        if isinstance(value, (list, dict)):
            value = json.dumps(value, ensure_ascii=False)
        click.echo(f"{key:18} {value}")


@click.command()
@click.option("--json", "as_json", is_flag=True, default=True, help="JSON lines (the default and only format).")
@click.option("--output", "-o", type=click.File("w"), default="-", help="Write to a file instead of stdout.")
@click.option("--include-missing/--present-only", default=True, help="Include photos whose files are missing.")
@click.pass_obj
def export(state: State, as_json: bool, output: Any, include_missing: bool) -> None:
    """Every photo as JSON lines, with the same fields as `show --json`."""
    from photoshelf.records import iter_records

    state.db()
    for record in iter_records(include_missing=include_missing):
        output.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")


@click.command()
@click.argument("query", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one photo each.")
@click.option("--limit", default=50, show_default=True, help="How many photos to list.")
@click.option("--offset", default=0, help="Skip this many photos.")
@click.pass_obj
def search(state: State, query: tuple[str, ...], as_json: bool, limit: int, offset: int) -> None:
    """Search the catalog: free text and filters like year:2019 month:7 camera:canon type:video path:Holiday
    after:2019-01-01 before:2020-01-01 taken:2019-06..2019-08, with "quotes", a|b for OR and !x for NOT."""
    from photoshelf import search as search_mod
    from photoshelf.records import records

    state.db()
    text = " ".join(query)
    photos, total = search_mod.search(text, limit=limit, offset=offset, config=state.config)
    rows = records(photos)
    if as_json:
        for row in rows:
            echo_json(row)
        return
    for row in rows:
        when = (row["taken_at_local"] or "")[:19].replace("T", " ")
        click.echo(f"{row['id']:>7}  {when:19}  {row['type']:5}  {row['path']}")
    click.echo(f"{len(rows)} of {total} photos", err=True)

