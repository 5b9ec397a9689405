"""Run mypy over photoshelf as installed: a tree of links makes the package-dir mapping visible to mypy.

pyproject.toml installs the top-level folders indexer/, viewer/, sidecars/, models/ as photoshelf.indexer etc.
mypy cannot follow that mapping (an editable install resolves it through an import hook), so this builds
build/typecheck/photoshelf/ from links — the core's files plus one link per mapped folder — and checks the
package from there, then tests/ and bench/ with that tree on the search path. Exit status is mypy's.

    python scripts/typecheck.py            # package, tests and bench
    python scripts/typecheck.py --package  # the package only
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TREE = REPO / "build" / "typecheck"


def build_tree() -> Path:
    """Make build/typecheck/photoshelf/ mirror the installed package, with links (made afresh each run)."""
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    root = REPO / mapping["photoshelf"]
    shutil.rmtree(TREE, ignore_errors=True)
    pkg = TREE / "photoshelf"
    pkg.mkdir(parents=True)
    mapped = {name.split(".", 1)[1]: REPO / folder for name, folder in mapping.items() if name != "photoshelf"}
    for entry in root.iterdir():
        if entry.name not in mapped and entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    for sub, folder in mapped.items():
        (pkg / sub).symlink_to(folder)
    return TREE


def mypy(*args: str, cwd: Path) -> int:
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
           "--cache-dir", str(REPO / ".mypy_cache"), *args]
    env = {**os.environ, "MYPYPATH": str(TREE)}
    return subprocess.run(cmd, cwd=cwd, env=env).returncode


def main(argv: list[str]) -> int:
    build_tree()
    status = mypy("-p", "photoshelf", cwd=TREE)
    if "--package" in argv:
        return status
    # tests/ and bench/ are scripts and pytest modules, not packages: each folder is checked as its own base.
    extra = mypy("--explicit-package-bases", "tests", "bench", cwd=REPO)
    return status or extra


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
