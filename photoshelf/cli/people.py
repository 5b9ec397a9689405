"""`photoshelf people`: list, name, merge, move, reject, hide and re-cluster people (a thin shell over
photoshelf/people.py, and models/people.py for what needs the clustering)."""

from __future__ import annotations

from typing import Any

import click

from photoshelf.cli.common import State, echo_json
from photoshelf.errors import PhotoshelfError


def _cover(face: dict[str, Any] | None) -> dict[str, Any] | None:
    """The cover face as the listing shows it: its id, photo and box (for a thumbnail crop)."""
    if face is None:
        return None
    return {"face": face["id"], "photo": face["photo"],
            "box": [round(face[k], 4) for k in ("x", "y", "w", "h")]}


def _show_list(state: State, as_json: bool, show_all: bool) -> None:
    from photoshelf import people

    state.db()
    rows = [{**row, "cover": _cover(row["cover"])} for row in people.list_people(include_hidden=show_all)]
    unassigned = people.unassigned_count()
    if as_json:
        echo_json({"people": rows, "unassigned_faces": unassigned})
        return
    if not rows:
        click.echo("no people or clusters yet (run `photoshelf enrich`, then `photoshelf people cluster`)")
    for row in rows:
        name = row["name"] or "(unnamed)"
        flags = " hidden" if row["hidden"] else ""
        click.echo(f"{row['id']:>6}  {row['uid']:<18} {name:<28} {row['faces']:>6} faces {row['photos']:>6} photos"
                   f"{flags}")
    click.echo(f"{unassigned} faces belong to no one")


@click.group("people", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--all", "show_all", is_flag=True, help="Include hidden people.")
@click.pass_context
def people(ctx: click.Context, as_json: bool, show_all: bool) -> None:
    """People and face clusters: list them (the default), name, merge, move faces, "not this person", hide."""
    if ctx.invoked_subcommand is None:
        _show_list(ctx.obj, as_json, show_all)


@people.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--all", "show_all", is_flag=True, help="Include hidden people.")
@click.pass_obj
def list_cmd(state: State, as_json: bool, show_all: bool) -> None:
    """People and unnamed clusters with face and photo counts, named first."""
    _show_list(state, as_json, show_all)


def _person_json(person: Any) -> dict[str, Any]:
    return {"id": person.id, "uid": person.uid, "name": person.name, "hidden": person.hidden}


@people.command("name")
@click.argument("ref")
@click.argument("name")
@click.pass_obj
def name_cmd(state: State, ref: str, name: str) -> None:
    """Name a person or cluster (by id, uid or name); the name of an existing person merges the two."""
    from photoshelf import people as ops

    person = ops.name_person(state.db(), ref, name)
    click.echo(f"{person.uid} is now {person.name}")


@people.command("merge")
@click.argument("into")
@click.argument("other")
@click.pass_obj
def merge_cmd(state: State, into: str, other: str) -> None:
    """Merge OTHER into INTO: every face of OTHER becomes INTO's, OTHER goes away."""
    from photoshelf import people as ops

    person = ops.merge_people(state.db(), into, other)
    click.echo(f"merged into {person.name or person.uid}")


def _face_ids(values: tuple[str, ...]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise PhotoshelfError(f"face ids are numbers, got {' '.join(values)}") from None


@people.command("move")
@click.argument("faces", nargs=-1, required=True)
@click.option("--to", "to", help="The person (id, uid or name); without it, a new person.")
@click.pass_obj
def move_cmd(state: State, faces: tuple[str, ...], to: str | None) -> None:
    """Move faces to a person (a split, when --to is left out); clustering never moves them again."""
    from photoshelf import people as ops

    person = ops.move_faces(state.db(), _face_ids(faces), to)
    click.echo(f"moved {len(faces)} face(s) to {person.name or person.uid}")


@people.command("reject")
@click.argument("face")
@click.option("--person", "person", help="The person the face is not (default: the one it is in).")
@click.pass_obj
def reject_cmd(state: State, face: str, person: str | None) -> None:
    """"Not this person": the face leaves the person and never joins it again."""
    from photoshelf.models import people as ops

    (face_id,) = _face_ids((face,))
    result = ops.reject_face(state.db(), face_id, person, state.config.models.face_distance)
    now = (result.person.name or result.person.uid) if result.person is not None else "no one"
    click.echo(f"face {face_id} now belongs to {now}")


@people.command("hide")
@click.argument("ref")
@click.pass_obj
def hide_cmd(state: State, ref: str) -> None:
    """Hide a person from lists (their faces stay)."""
    from photoshelf import people as ops

    state.db()
    person = ops.set_hidden(ref, True)
    click.echo(f"{person.name or person.uid} is hidden")


@people.command("unhide")
@click.argument("ref")
@click.pass_obj
def unhide_cmd(state: State, ref: str) -> None:
    """Show a hidden person again."""
    from photoshelf import people as ops

    state.db()
    person = ops.set_hidden(ref, False)
    click.echo(f"{person.name or person.uid} is shown")


@people.command("cluster")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_obj
def cluster_cmd(state: State, as_json: bool) -> None:
    """Put unassigned faces with their nearest person, and cluster the rest into new people, now."""
    from photoshelf.models import people as ops

    models = state.config.models
    report = ops.recluster(state.db(), models.face_distance, models.face_cluster_min)
    data = {"assigned": report.assigned, "new_people": report.new_people, "clustered": report.clustered,
            "unassigned": report.unassigned}
    if as_json:
        echo_json(data)
        return
    click.echo(f"{report.assigned} faces joined a person, {report.new_people} new people from "
               f"{report.clustered} faces, {report.unassigned} faces left unassigned")
