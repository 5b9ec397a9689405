"""Doctor's install checks: which extras, model packages and models are missing, and the exact command that adds
each (for this interpreter: a venv's pip, not whichever one is first on PATH)."""

from __future__ import annotations

import shlex
import shutil
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from photoshelf.config import Config
from photoshelf.doctor import Check

# The extras doctor looks at (all = these; tensorflow and dev are not part of a normal install).
EXTRAS = ("viewer", "watch", "mariadb", "ml")


def pip_command() -> str:
    """`<this python> -m pip`, quoted for a shell."""
    return f"{shlex.quote(sys.executable)} -m pip"


def photoshelf_command() -> str:
    """How to run this photoshelf: its name when PATH finds this one, else the script beside this interpreter."""
    script = Path(sys.executable).parent / "photoshelf"
    found = shutil.which("photoshelf")
    if found and script.exists() and Path(found).resolve() == script.resolve():
        return "photoshelf"
    if script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m photoshelf.cli"


def missing_of_extra(extra: str) -> list[str]:
    """The requirements of photoshelf's `extra` that this interpreter does not satisfy (installed metadata)."""
    try:
        declared = metadata.requires("photoshelf") or []
    except metadata.PackageNotFoundError:
        return [f"photoshelf[{extra}] (photoshelf itself is not installed as a package)"]
    missing = []
    for text in declared:
        req = Requirement(text)
        if req.marker is None or not req.marker.evaluate({"extra": extra}) or req.marker.evaluate({"extra": ""}):
            continue
        if canonicalize_name(req.name) == "photoshelf":
            continue
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(req.name)
            continue
        if not req.specifier.contains(have, prereleases=True):
            missing.append(f"{req.name} {have} (needs {req.specifier})")
    return missing


def _extra_check(name: str, extra: str, needed: bool, what: str, without: str) -> Check:
    missing = missing_of_extra(extra)
    if not missing:
        return Check(name, True, f"photoshelf[{extra}] installed: {what}")
    hint = f"{pip_command()} install 'photoshelf[{extra}]'"
    detail = f"missing {', '.join(missing)}: {without}"
    return Check(name, not needed, detail, hint)


def extras(config: Config) -> list[Check]:
    mysql = config.library.database.startswith(("mysql:", "mariadb:"))
    checks = [
        _extra_check("viewer", "viewer", True, "`photoshelf serve` and WebDAV",
                     "`photoshelf serve` (the web viewer and WebDAV) cannot start"),
        _extra_check("watch", "watch", False, "inotify through watchdog",
                     "the watcher polls (a stat-only rescan every watch.poll_interval) instead of using inotify"),
        _extra_check("mariadb", "mariadb", mysql, "the MariaDB driver",
                     "a MariaDB catalog cannot be opened" if mysql else "only needed for a MariaDB catalog"),
    ]
    if mysql:
        checks.append(_dump_tool())
    return checks


def _dump_tool() -> Check:
    """A MariaDB catalog is backed up (`photoshelf backup`, and before every migration) with mariadb-dump."""
    from photoshelf.db.snapshots import DUMP_TOOLS, find_tool

    found = find_tool(DUMP_TOOLS)
    if found:
        return Check("mariadb-dump", True, f"{found}: backups of the MariaDB catalog")
    return Check("mariadb-dump", False, f"neither {' nor '.join(DUMP_TOOLS)} is on PATH: `photoshelf backup` and the "
                 "copy made before each schema migration cannot be made",
                 "sudo apt-get install mariadb-client (Debian, Ubuntu)")


def models(config: Config) -> list[Check]:
    """The model runtimes and packages (`photoshelf models install` adds both), and the CLIP model (a download)."""
    from photoshelf.models import install, registry

    wanted = config.models.enabled and (config.models.faces or config.models.labels or config.models.text_search
                                        or config.models.ocr)
    plan = install.current_plan()
    checks = []
    if plan.empty:
        checks.append(Check("models", True, "runtimes and shipped models installed: "
                            + ", ".join(plan.satisfied)))
    else:
        missing = [Requirement(r).name for r in plan.runtimes + plan.models]
        effect = ("faces, labels, text in photos or the text search index are not computed" if wanted
                  else "turned off anyway (models.enabled / faces / labels / text_search / ocr)")
        checks.append(Check("models", not wanted, f"missing {', '.join(missing)}: {effect}",
                            f"{photoshelf_command()} models install"))
    name = config.models.clip_model
    if not config.models.enabled or not name:
        checks.append(Check("clip", True, "search by meaning on images is turned off (models.clip_model)"))
        return checks
    from photoshelf.models import clip

    folder = clip.model_dir(config, name)
    missing_files = clip.missing_files(folder)
    if not missing_files:
        checks.append(Check("clip", True, f"{name} in {folder}"))
        return checks
    info = registry.known(name)
    if info is not None:
        hint = (f"{photoshelf_command()} models pull {name} (downloads ~{info.approx_mb} MB from the Hugging Face "
                f"hub; offline: copy the folder from another machine into {folder.parent})")
    else:
        hint = f"copy the CLIP export {name} into {folder} (it is not one photoshelf can download)"
    checks.append(Check("clip", True, f"{name} is not in {folder} (optional: search by meaning on images; "
                        "the text index works without it)", hint))
    return checks

