"""Imports go downward only (STYLE.md): every module's imports, lazy ones inside functions included, are read with
ast and none may reach a higher layer than its own, except the few allowed below (lazily, each with its reason)."""

from __future__ import annotations

import ast
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Lowest first. A module may import its own layer and the ones before it.
LAYERS = ("base", "db", "core", "work", "viewer", "cli")
# Leaves every layer uses (they import nothing of photoshelf's but each other): the catalog raises their errors.
BASE = frozenset({"photoshelf.errors", "photoshelf.config", "photoshelf.values", "photoshelf.filenames"})
# The folders mapped into the package (pyproject.toml's package-dir), by layer.
MAPPED = {"indexer": "work", "sidecars": "work", "models": "work", "viewer": "viewer"}

# (importing module, imported module or package) -> why it may: lazily only, inside a function. Keep it short.
ALLOWED = {
    ("photoshelf.db.catalog", "photoshelf.accounts"):
        "opening a catalog takes users back from <storage>/users.yaml, which accounts owns",
    ("photoshelf.search", "photoshelf.models"):
        "search by meaning is a plug point: models.semantic when ML is installed, exact matches without it",
    ("photoshelf.ranking", "photoshelf.models"):
        "the same plug point for ranking: the text model's vectors and the label rules' concepts, when installed",
    ("photoshelf.doctor_install", "photoshelf.models"):
        "doctor reports whether the optional model runtimes and files are installed",
    ("photoshelf.library", "photoshelf.indexer"): "the library is the one place that knows the order of work",
    ("photoshelf.library", "photoshelf.sidecars"): "the library is the one place that knows the order of work",
    ("photoshelf.library", "photoshelf.models"): "the library is the one place that knows the order of work",
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (or package)
    line: int
    lazy: bool  # inside a function: runs when called, not when the module loads


def modules() -> dict[str, Path]:
    """Every module of the installed package, by dotted name, from pyproject.toml's package-dir mapping."""
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    mapped = {name.split(".", 1)[1] for name in mapping if name != "photoshelf"}
    found: dict[str, Path] = {}
    for package, folder in mapping.items():
        root = REPO / folder
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if package == "photoshelf" and parts[0] in mapped:
                continue  # a mapped folder that also sits inside photoshelf/ (none today) is found once
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def layer(module: str) -> str:
    """The layer of a photoshelf module: the click commands (photoshelf/cli/) sit on top."""
    parts = module.split(".")
    if module == "photoshelf.cli" or module.startswith("photoshelf.cli."):
        return "cli"
    if module in BASE:
        return "base"
    if len(parts) > 1 and parts[1] == "db":
        return "db"
    if len(parts) > 1 and parts[1] in MAPPED:
        return MAPPED[parts[1]]
    return "core"


def imports(source: str, text: str, known: set[str]) -> list[Import]:
    """The photoshelf modules `text` (module `source`) imports: import statements anywhere, and
    importlib.import_module with a literal name (an f-string counts by its literal start)."""
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from photoshelf.media import thumbs` imports the module photoshelf.media.thumbs
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                       for a in node.names]
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            name = _literal_start(node.args[0])
            targets = [name] if name else []
        found.extend(Import(source, t, getattr(node, "lineno", 0), lazy) for t in dict.fromkeys(targets)
                     if t == "photoshelf" or t.startswith("photoshelf."))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # decorators, defaults and annotations run when the module loads; the body when it is called
            for child in (*node.decorator_list, node.args, *([node.returns] if node.returns else [])):
                visit(child, lazy)
            for child in node.body:
                visit(child, True)
        elif isinstance(node, ast.Lambda):
            visit(node.args, lazy)
            visit(node.body, True)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:  # for the type checker only: never runs, like a lazy import's annotations
                visit(child, True)
            for child in node.orelse:
                visit(child, lazy)
        else:
            for child in ast.iter_child_nodes(node):
                visit(child, lazy)

    visit(ast.parse(text), False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or \
        (isinstance(func, ast.Name) and func.id == "import_module")


def _literal_start(arg: ast.expr) -> str | None:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value).rstrip(".") or None
    return None


def allowance(imp: Import) -> tuple[str, str] | None:
    """The ALLOWED entry that lets `imp` through, if any (only ever for a lazy import)."""
    if not imp.lazy:
        return None
    for source, target in ALLOWED:
        if imp.source == source and (imp.target == target or imp.target.startswith(target + ".")):
            return source, target
    return None


def upward(imp: Import) -> bool:
    return LAYERS.index(layer(imp.target)) > LAYERS.index(layer(imp.source))


@functools.cache
def all_imports() -> list[Import]:
    known = modules()
    names = set(known)
    return [imp for name, path in sorted(known.items()) for imp in imports(name, path.read_text(), names)]


def test_imports_go_downward() -> None:
    wrong = [imp for imp in all_imports() if upward(imp) and allowance(imp) is None]
    assert not wrong, "imports that reach a higher layer (layers, lowest first: " + " < ".join(LAYERS) + "):\n" + \
        "\n".join(f"  {i.source} ({layer(i.source)}) line {i.line}{' (lazy)' if i.lazy else ''} imports "
                  f"{i.target} ({layer(i.target)})" for i in wrong)


def test_every_allowance_is_still_needed() -> None:
    existing = set(modules())
    used = {allowance(imp) for imp in all_imports() if upward(imp)}
    stale = [entry for entry in ALLOWED if entry[0] in existing and entry not in used]
    assert not stale, f"ALLOWED entries no upward import needs any more (remove them): {stale}"


def test_every_mapped_folder_has_a_layer() -> None:
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    assert {name.split(".", 1)[1] for name in mapping if name != "photoshelf"} <= set(MAPPED)


def test_the_check_sees_lazy_and_dynamic_imports() -> None:
    text = (
        "import importlib\n"
        "from photoshelf.db.schema import Photo\n"
        "def thumbs():\n"
        "    from photoshelf.viewer import media\n"
        "    return importlib.import_module(f'photoshelf.models.{media}')\n"
    )
    found = imports("photoshelf.db.example", text, {"photoshelf.viewer.media"})
    assert [(i.target, i.line, i.lazy, upward(i)) for i in found] == [
        ("photoshelf.db.schema", 2, False, False),
        ("photoshelf.viewer.media", 4, True, True),
        ("photoshelf.models", 5, True, True),
    ]
    # An allowance covers lazy imports only: the same import at module level is an error.
    assert allowance(Import("photoshelf.search", "photoshelf.models.semantic", 1, lazy=True))
    assert allowance(Import("photoshelf.search", "photoshelf.models.semantic", 1, lazy=False)) is None
    assert [layer(m) for m in ("photoshelf.errors", "photoshelf.db.settings", "photoshelf.media.thumbs",
                               "photoshelf.indexer.watcher", "photoshelf.viewer.app", "photoshelf.cli.index")] \
        == list(LAYERS)
