"""No import cycles among photoshelf's modules at module level: the imports that run when a module loads (read
with ast by test_layers; imports inside functions are lazy on purpose and allowed, those under
`if TYPE_CHECKING:` never run) never lead back to the module."""

from __future__ import annotations

from test_layers import all_imports, imports, modules


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted; sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def graph_of(edges: list[tuple[str, str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        if source != target:
            graph.setdefault(source, set()).add(target)
    return graph


def test_no_import_cycles_at_module_level() -> None:
    edges = [(i.source, i.target) for i in all_imports() if not i.lazy]
    assert {"photoshelf.cli", "photoshelf.models.faces"} <= set(modules())  # the mapped folders were read
    found = cycles(graph_of(edges))
    assert found == [], f"modules that import each other when they load (import one lazily, or move the shared " \
                        f"piece below both): {found}"


def test_the_check_finds_a_cycle() -> None:
    known = {"photoshelf.a", "photoshelf.b", "photoshelf.c"}
    texts = {
        "photoshelf.a": "from photoshelf import b\n",
        "photoshelf.b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import photoshelf.a\n"
                        "def f():\n    import photoshelf.a\nfrom photoshelf.c import thing\n",
        "photoshelf.c": "try:\n    import photoshelf.a\nexcept ImportError:\n    pass\n",
    }

    def found() -> list[list[str]]:
        return cycles(graph_of([(i.source, i.target) for name, text in texts.items()
                                for i in imports(name, text, known) if not i.lazy]))

    assert found() == [["photoshelf.a", "photoshelf.b", "photoshelf.c"]]
    texts["photoshelf.c"] = "def f():\n    import photoshelf.a\n"  # lazily: allowed
    assert found() == []
