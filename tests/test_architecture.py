"""The library's shape: no import cycles, and files and functions that only shrink to their limits.

Imports anywhere in a module count (a function's deferred import is still a dependency), except
under ``if TYPE_CHECKING:`` (annotations only). An import of a package's names counts as an import
of the submodule the package takes them from.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: import name -> folder (pyproject.toml's package-dir)
PACKAGES = {
    "babyworld": "babyworld",
    "babyworld.agents": "agents",
    "babyworld.rewards": "rewards",
    "babyworld.curricula": "curricula",
    "babyworld.experiments": "experiments",
}
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
#: What is still over the limits (issue "One house", item 7), at its size when the check was
#: written: an entry may shrink, never grow, and goes once it fits.
OVERSIZE: dict[str, int] = {}


def modules() -> dict[str, Path]:
    """Every library module by its import name."""
    out = {}
    for pkg, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([pkg, *parts])
            if name in out or (
                pkg == "babyworld" and parts and f"babyworld.{parts[0]}" in PACKAGES
            ):
                continue
            out[name] = path
    return out


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:``."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the library modules it imports (anywhere in its body)."""
    mods = modules()
    trees = {name: ast.parse(path.read_text()) for name, path in mods.items()}

    def source_of(pkg: str, name: str) -> str:
        """The module ``from pkg import name`` depends on."""
        if f"{pkg}.{name}" in mods:
            return f"{pkg}.{name}"
        if mods.get(pkg, Path()).name == "__init__.py":  # a package's face: where it takes name
            for node in ast.walk(trees[pkg]):
                if isinstance(node, ast.ImportFrom) and node.module in mods:
                    if any((a.asname or a.name) == name for a in node.names):
                        return source_of(node.module, name) if node.module != pkg else pkg
        return pkg

    graph: dict[str, set[str]] = {}
    for name, tree in trees.items():
        deps = set()
        for node in runtime_nodes(tree):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.ImportFrom) and node.module in mods and node.level == 0:
                deps |= {source_of(node.module, a.name) for a in node.names}
        graph[name] = deps - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_deferred_and_package_imports():
    graph = import_graph()
    assert "babyworld.parent.store" in graph["babyworld.parent.base"]
    # `from babyworld.envs import level_class` inside a function: the registration module
    assert "babyworld.envs.registration" in graph["babyworld.agents.trained"]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, f"import cycles (break them by moving the shared piece down): {found}"


def sizes() -> dict[str, int]:
    """Lines of every library file, and of every function, by ``path`` / ``path::name``."""
    out = {}
    for folder in PACKAGES.values():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("babyworld/") and rel.split("/")[1] in PACKAGES.values():
                continue
            text = path.read_text()
            out[rel] = len(text.splitlines())
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    out[f"{rel}::{node.name}"] = max(
                        out.get(f"{rel}::{node.name}", 0), node.end_lineno - node.lineno + 1
                    )
    return out


def test_files_and_functions_stay_within_their_limits():
    over = {}
    for key, n in sizes().items():
        limit = MAX_FUNCTION_LINES if "::" in key else MAX_FILE_LINES
        if n > limit:
            over[key] = n
    grown = {k: (n, OVERSIZE.get(k)) for k, n in over.items() if n > OVERSIZE.get(k, 0)}
    assert not grown, (
        f"over {MAX_FILE_LINES} lines a file or {MAX_FUNCTION_LINES} a function, or grown past "
        f"its recorded size (now, recorded): {grown}"
    )
    fits = sorted(set(OVERSIZE) - set(over))
    assert not fits, f"these fit their limit now: remove them from OVERSIZE: {fits}"


def test_modes_touch_the_trainer_only_through_their_context():
    from babyworld.agents.mode_base import ModeContext

    door = set(ModeContext.__annotations__) | {
        n for n in vars(ModeContext) if not n.startswith("_")
    }
    used = {}
    for path in (ROOT / "agents").glob("mode*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "trainer":
                used.setdefault(node.attr, path.name)
    assert used, "no mode reads the trainer: the check reads the wrong files"
    outside = {k: v for k, v in used.items() if k not in door}
    assert not outside, f"modes reach past ModeContext: {outside}"
