"""The import graph of src/archrisk, read with `ast`: no module imports itself through others
(imports inside functions count: a deferred import only hides a circle), and packages import
only what DESIGN.md's one-way flow allows (data -> arch -> train -> attacks/metrics -> runner -> report).

Edges: `import a.b` -> a.b; `from a import b` -> a.b when b is a submodule, else a (its
`__init__`). Parent packages are not edges (every submodule would otherwise circle with its
package's `__init__`). Imports under `if TYPE_CHECKING:` never run and are skipped.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = "archrisk"

# Top-level modules that import no archrisk package (a test below checks it).
LEAVES = {"archrisk", "archrisk.analysis", "archrisk.vocab", "archrisk.errors", "archrisk.paths", "archrisk.jsonsafe", "archrisk.meaning",
          "archrisk.protocol", "archrisk.registry", "archrisk.validate"}
# package -> the archrisk packages it may import besides itself and LEAVES (DESIGN.md). score,
# search and cli sit outside the flow and are not constrained here.
ALLOWED = {
    "perturb": set(),  # the functional attack cores (torch only): adversarial training and attacks share them
    "data": set(),
    "arch": {"data"},
    "train": {"data", "arch", "perturb"},
    "attacks": {"data", "arch", "train", "perturb"},  # never metrics (and vice versa), runner or report
    "metrics": {"data", "arch", "train", "perturb"},
    "store": set(),  # torch-free, read by runner, report and score alike
    "stats": set(),  # pure statistics (numpy/scipy only), below the report and the score
    "runner": {"data", "arch", "train", "attacks", "metrics", "store", "perturb"},
    "report": {"store", "score", "stats"},  # reads the store, never trains
}


def _modules() -> dict[str, Path]:
    out = {}
    for f in (SRC / PKG).rglob("*.py"):
        parts = f.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _imports(tree: ast.AST):
    """Import nodes anywhere (functions included), except under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in _imports_of(child))
            continue
        yield from _imports_of(node)


def _imports_of(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    yield from _imports(node)


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported archrisk module: line of the first such import}."""
    mods = _modules()
    graph: dict[str, dict[str, int]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from .x import y / from .. import y
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                if t in mods and t != name:
                    edges.setdefault(t, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One circle per strongly connected component of more than one module (Tarjan), as the
    list of modules along it, first module repeated at the end."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_circle(graph, comp) for comp in comps]


def _circle(graph: dict[str, dict[str, int]], comp: set[str]) -> list[str]:
    """The shortest path from the component's first module back to itself (breadth first)."""
    start = min(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w not in comp:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no circle in component {sorted(comp)}")


def describe(graph: dict[str, dict[str, int]], circle: list[str]) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(circle, circle[1:])) + f" -> {circle[-1]}"


GRAPH = import_graph()


def test_the_graph_sees_deferred_and_submodule_imports() -> None:
    # runner.config imports the arch package and runner.matching only inside functions
    assert {"archrisk.arch", "archrisk.runner.matching"} <= set(GRAPH["archrisk.runner.config"])
    assert "archrisk.data.registry" in GRAPH["archrisk.data.load"]  # module level
    assert "archrisk.arch.remedies" in GRAPH["archrisk.arch.zoo"]  # `from archrisk.arch import remedies`
    code = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\n"
            "def f():\n    if x:\n        from c import d\n")
    assert [ast.unparse(n) for n in _imports(ast.parse(code))] == [
        "from typing import TYPE_CHECKING", "import b", "from c import d"]
    toy = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}}
    assert cycles(toy) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


def test_no_import_cycles() -> None:
    found = cycles(GRAPH)
    assert not found, "import circles:\n" + "\n".join(describe(GRAPH, c) for c in found)


def test_arch_has_no_import_circle() -> None:
    # the grammar (spec) sits above the transforms (remedies); zoo uses both
    assert "archrisk.arch.zoo" not in GRAPH["archrisk.arch.remedies"]
    assert "archrisk.arch.spec" not in GRAPH["archrisk.arch.remedies"]
    assert "archrisk.arch.zoo" not in GRAPH["archrisk.arch.spec"]
    mine = ("archrisk.arch", "archrisk.data", "archrisk.train")
    assert not [c for c in cycles(GRAPH) if any(m == p or m.startswith(p + ".") for m in c for p in mine)]


def _package(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layering(package: str) -> None:
    allowed = ALLOWED[package] | {package}
    bad = [f"{m} (line {line}) imports {t}" for m, edges in sorted(GRAPH.items())
           if m.startswith(f"{PKG}.{package}.") or m == f"{PKG}.{package}"
           for t, line in sorted(edges.items()) if t not in LEAVES and _package(t) not in allowed]
    assert not bad, f"{package} may import only {sorted(ALLOWED[package])} and leaf modules:\n" + "\n".join(bad)


def test_leaves_import_only_leaves() -> None:
    bad = [f"{m} imports {t}" for m in sorted(LEAVES) for t in GRAPH[m] if t not in LEAVES]
    assert not bad, "\n".join(bad)


def test_every_package_is_known() -> None:
    packages = {_package(m) for m in GRAPH if m not in LEAVES}
    assert packages - set(ALLOWED) == {"score", "search", "cli"}, "place a new package in ALLOWED"


def _package_graph() -> dict[str, dict[str, str]]:
    """package -> {package it imports: one module-level witness 'module (line) -> target'}."""
    out: dict[str, dict[str, str]] = {}
    for m, edges in GRAPH.items():
        if m in LEAVES or m == PKG:
            continue
        for t, line in edges.items():
            if t in LEAVES or _package(t) == _package(m):
                continue
            out.setdefault(_package(m), {}).setdefault(_package(t), f"{m} (line {line}) -> {t}")
    return out


def test_no_packages_import_each_other() -> None:
    """Packages form no circle either, deferred imports included: a package's modules never import a
    package that imports it back (the report reads the score; the score never reads the report)."""
    pg = _package_graph()
    graph = {p: dict.fromkeys(targets, 0) for p, targets in pg.items()}
    for targets in pg.values():
        for t in targets:
            graph.setdefault(t, {})
    found = cycles(graph)
    assert not found, "package circles:\n" + "\n".join(
        " / ".join(pg[a][b] for a, b in zip(c, c[1:])) for c in found)
