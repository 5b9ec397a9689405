"""README's command table lists every command of the real CLI (subcommands of groups included) and nothing else,
says where the viewer answers, and its links (and the docs pages' links) lead to files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from photoshelf.cli import cli
from photoshelf.config import Config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def cli_commands() -> dict[str, set[str]]:
    """Top-level command -> its subcommands (empty for a plain command), from click itself."""
    ctx = click.Context(cli)
    out: dict[str, set[str]] = {}
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        subs = set(command.list_commands(click.Context(command, parent=ctx))) if isinstance(command, click.Group) else set()
        out[name] = subs
    return out


def documented_commands(text: str) -> dict[str, set[str]]:
    """The same shape, from the first column of the table under "## Command line": every `photoshelf …` code span;
    a group's subcommands are the word after its name (`a|b|c` for several, `[create]` for a default one)."""
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    for row in section.splitlines():
        if not row.startswith("| `photoshelf"):
            continue
        first = row.replace("\\|", "\x00").split("|")[1].replace("\x00", "|")
        for span in re.findall(r"`(photoshelf [^`]+)`", first):
            tokens = span.split()
            subs = out.setdefault(tokens[1], set())
            if len(tokens) > 2 and not tokens[2].startswith(("-", "[-")) and tokens[2].strip("[]").islower():
                subs.update(tokens[2].strip("[]").split("|"))
    return out


def test_command_table_matches_the_cli() -> None:
    real = cli_commands()
    documented = documented_commands(README.read_text("utf-8"))
    assert sorted(set(real) - set(documented)) == [], "commands missing from README's table"
    assert sorted(set(documented) - set(real)) == [], "README's table names commands that do not exist"
    for name, subs in real.items():
        if subs:
            assert documented[name] == subs, f"photoshelf {name}: README has {sorted(documented[name])}"
        else:
            assert not documented[name], name


def test_the_table_check_can_fail() -> None:
    text = README.read_text("utf-8").replace("| `photoshelf stats [--json]` |", "| `photoshelf statz` |")
    text = text.replace("`photoshelf users add\\|list\\|passwd\\|role\\|remove`", "`photoshelf users add\\|list`")
    documented = documented_commands(text)
    assert "stats" not in documented and "statz" in documented
    assert documented["users"] == {"add", "list"} != cli_commands()["users"]


def test_readme_says_where_the_viewer_answers() -> None:
    text = README.read_text("utf-8")
    config = Config()
    assert f"http://{config.server.host}:{config.server.port}/" in text
    assert "`photoshelf serve" in text and "packaging/photoshelf.service" in text and "packaging/Dockerfile" in text
    assert "photoshelf models install" in text


@pytest.mark.parametrize("page", [README, ROOT / "packaging" / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_links_lead_somewhere(page: Path) -> None:
    text = page.read_text("utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.relative_to(ROOT)} links {target}, which does not exist"
