"""`photoshelf duplicates …`: a thin shell over photoshelf.duplicates (groups) and photoshelf.dupresolve."""

from __future__ import annotations

from typing import Any

import click

from photoshelf import duplicates as dup
from photoshelf import dupresolve, dupsig
from photoshelf.cli.common import echo_json
from photoshelf.errors import NotFound


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def _prepare(state: Any) -> Any:
    """The catalog, with the second hash computed for photos indexed before it existed (from their thumbnails)."""
    from photoshelf.media.thumbs import ThumbCache

    db = state.db()
    thumbs = ThumbCache(state.config.thumbs_path, state.config.thumbnails)
    dupsig.backfill(db, lambda sha1: thumbs.path(sha1, "fit"))
    return db


def _sync_sidecars(state: Any, photo_ids: list[int]) -> None:
    """Write the decision into the sidecars now (the watcher would on its next pass)."""
    if not photo_ids:
        return
    from photoshelf.db.schema import Photo
    from photoshelf.sidecars.sync import write_sidecars

    write_sidecars(state.config, Photo.select().where(Photo.id.in_(photo_ids)))


@click.group(invoke_without_command=True)
@click.option("--kind", "kinds", multiple=True, type=click.Choice(dup.KINDS),
              help="Only groups of this kind (repeatable; default: all).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per group, one per line.")
@click.pass_context
def duplicates(ctx: click.Context, kinds: tuple[str, ...], as_json: bool) -> None:
    """Exact copies, near-duplicates (resized, recompressed, re-encoded, cropped a little), bursts and edits, each
    with the photo to keep and why, and the space that deleting the others yourself would free. photoshelf never
    deletes or moves an original: `resolve` archives the others."""
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.obj
    _prepare(state)
    groups = dup.find(kinds=kinds or dup.KINDS)
    if as_json:
        for g in groups:
            echo_json(g.as_dict())
        return
    for g in groups:
        head = f"{g.id}  {g.kind}" + (f", distance {g.distance}" if g.distance is not None else "")
        if g.resolved:
            head += ", resolved"
        click.echo(head)
        for row in g.as_dict()["photos"]:
            mark = "keep" if row["keep"] else "    "
            click.echo(f"  {mark}  {row['path']}  ({row['reason']})")
    total = dup.summary(groups)
    kinds_text = ", ".join(f"{n} {k}" for k, n in total.by_kind.items()) or "none"
    click.echo(f"{total.groups} groups ({kinds_text}); deleting the others of the exact and near groups yourself "
               f"would free {_size(total.freeable)}")


@duplicates.command("resolve")
@click.argument("group", required=False)
@click.option("--all-suggested", is_flag=True, help="Every near-duplicate group not resolved yet, as suggested.")
@click.option("--keep", "keep_uid", help="Keep this photo (uid) instead of the suggested one.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_obj
def resolve(state: Any, group: str | None, all_suggested: bool, keep_uid: str | None, as_json: bool) -> None:
    """Archive the others of GROUP (its id, e.g. near:<uid>, or any photo uid in it) as copies of the keeper.
    The files stay where they are."""
    if bool(group) == all_suggested:
        raise click.UsageError("name a GROUP or pass --all-suggested (not both)")
    db = _prepare(state)
    if all_suggested:
        groups = [g for g in dup.find(kinds=("near",)) if not g.resolved]
    else:
        groups = [dup.find_group(group or "")]
    keeper = None
    if keep_uid:
        match = [m.photo.id for g in groups for m in g.members if m.photo.uid == keep_uid]
        if not match:
            raise NotFound(f"photo {keep_uid} is not in group {group}")
        keeper = match[0]
    outcome = dupresolve.resolve(db, groups, keeper)
    _sync_sidecars(state, outcome.archived + ([keeper] if keeper else []))
    if as_json:
        echo_json(outcome.as_dict())
        return
    click.echo(f"archived {len(outcome.archived)} photos as copies in {outcome.groups} groups (files untouched)")
    for why in outcome.skipped:
        click.echo(f"skipped: {why}")


@duplicates.command("unresolve")
@click.argument("refs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_obj
def unresolve(state: Any, refs: tuple[str, ...], as_json: bool) -> None:
    """Take back a decision: REFS are groups or photo uids; their copies are shown again (unarchived)."""
    from photoshelf.db.schema import Photo

    db = state.db()
    ids: list[int] = []
    for ref in refs:
        uid = ref.rpartition(":")[2]
        photo = Photo.get_or_none(Photo.uid == uid)
        if photo is None:
            raise NotFound(f"no photo {uid!r}")
        ids.append(photo.id)
    outcome = dupresolve.unresolve(db, ids)
    _sync_sidecars(state, outcome.restored)
    if as_json:
        echo_json(outcome.as_dict())
        return
    click.echo(f"{len(outcome.restored)} photos are no longer copies (shown again)")
