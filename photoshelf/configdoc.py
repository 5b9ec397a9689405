"""docs/configuration.md, generated from config.example.toml: `python -m photoshelf.configdoc` writes it,
`--check` says whether it is out of date (a test runs that)."""

from __future__ import annotations

import argparse
import logging
import sys
import tomllib
from pathlib import Path

from photoshelf.config import ENV_ALIASES

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "config.example.toml"
TARGET = REPO / "docs" / "configuration.md"

_PIPE = "\\|"  # a | inside a table cell, code spans too (GitHub's tables)
_ALIAS_OF = {dotted: name for name, dotted in ENV_ALIASES.items()}


def _text(text: str) -> str:
    """Comment text for Markdown: <storage> and the like shown, not taken for HTML tags."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    return _text(text).replace("|", _PIPE).strip()


def render(source: str) -> str:
    """The Markdown page for the text of config.example.toml: its opening comment, then one table per section
    (key, default, environment variable, what it does: the comment above the key)."""
    tomllib.loads(source)  # a broken example file is an error here too, not a half page
    intro: list[str] = []
    sections: list[tuple[str, list[tuple[str, str, str]]]] = []
    comment: list[str] = []
    previous = ""
    for raw in source.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            continue
        if not line:
            if not sections and comment:
                intro, comment = comment, []
            continue
        if line.startswith("["):
            sections.append((line.strip("[]"), []))
            previous = ""
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        text = " ".join(comment) if comment else (f"See `{previous}` above." if previous else "")
        sections[-1][1].append((key, value.strip(), text))
        comment = []
        previous = key
    out = ["# Configuration reference", "",
           "<!-- Generated from config.example.toml by `python -m photoshelf.configdoc`; do not edit by hand "
           "(a test fails when this page is out of date). -->", "",
           _text(" ".join(intro)), "",
           "`photoshelf config` prints the effective configuration. The sections:", "",
           ", ".join(f"[`[{name}]`](#{name})" for name, _ in sections), ""]
    for name, rows in sections:
        out += [f"## {name}", "", "| key | default | environment | what it does |", "|---|---|---|---|"]
        for key, value, text in rows:
            dotted = f"{name}.{key}"
            env = f"`PHOTOSHELF_{name.upper()}_{key.upper()}`"
            if dotted in _ALIAS_OF:
                env = f"`{_ALIAS_OF[dotted]}`, {env}"
            out.append(f"| `{key}` | `{value.replace('|', _PIPE)}` | {env} | {_cell(text)} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m photoshelf.configdoc", description=__doc__)
    parser.add_argument("--check", action="store_true", help="Exit 1 if docs/configuration.md is out of date.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not SOURCE.is_file():
        log.error("%s is not there: run this in a photoshelf source checkout", SOURCE)
        return 1
    page = render(SOURCE.read_text("utf-8"))
    current = TARGET.read_text("utf-8") if TARGET.is_file() else ""
    if args.check:
        if current != page:
            log.error("%s is out of date: run `python -m photoshelf.configdoc`", TARGET)
            return 1
        return 0
    if current != page:
        TARGET.write_text(page, "utf-8")
        log.info("wrote %s", TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
