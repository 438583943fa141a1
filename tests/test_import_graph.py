"""Module shape: no import cycles inside qbnn, and no imports hidden inside functions to dodge one.

The graph is read with ``ast`` from the source (nothing is imported). Function-local imports are
allowed for two reasons only:

* a heavy package: one of :data:`HEAVY`, or a qbnn module that imports one at module level
  (directly or through other qbnn modules), imported lazily from a module that does not, so that
  light commands (``qbnn compile``, ``evaluate``, ``aggregate``) never load torch; or a
  platform-optional module (:data:`OPTIONAL`);
* inside the ``qbnn.cli`` package, because every command starts by building the parser from every
  command module: a command's library (h5py, scipy, the compiler) loads only when that command
  runs, so ``qbnn --help`` and the light commands start in a fraction of a second.

Every import of a qbnn module, function-local or not, is an edge of the cycle check, so a lazy
import can never hide a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: third-party packages that are slow to import or absent from some of the workflow's environments
HEAVY = {"torch", "matplotlib", "snakemake", "dimod", "highspy", "sklearn", "pandas", "scipy.stats"}
#: platform-optional modules, imported where they are used inside ``try`` (absent: a fallback)
OPTIONAL = {"psutil", "resource"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted((SRC / "qbnn").rglob("*.py"))}


def _targets(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> list[str]:
    """Fully qualified names an import statement refers to (a ``from X import Y`` names X, and
    X.Y too when Y is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = module.split(".")[: len(module.split(".")) - (0 if is_package else 1)]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    return [source] + [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES]


def _imports(module: str, text: str, is_package: bool):
    """Yield (target, enclosing top-level function or method name, or None) for every import."""

    def walk(node, func):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                continue  # annotations only: never imported at run time
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, child, is_package):
                    yield target, func
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and func is None else func
            yield from walk(child, inner)

    yield from walk(ast.parse(text), None)


def _file_imports(module: str, path: Path):
    return _imports(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")


def _is_cli(module: str) -> bool:
    return module == "qbnn.cli" or module.startswith("qbnn.cli.")


def _is_heavy_package(target: str) -> bool:
    return any(target == h or target.startswith(h + ".") for h in HEAVY)


def import_graph(module_level_only: bool = False) -> dict[str, set[str]]:
    """qbnn module -> qbnn modules it imports (all imports, or only module-level ones)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, func in _file_imports(module, path):
            if target in MODULES and target != module and (func is None or not module_level_only):
                graph[module].add(target)
    return graph


def heavy_modules() -> set[str]:
    """qbnn modules whose import loads a :data:`HEAVY` package (importing a module imports its
    parent packages too)."""
    heavy = {m for m, path in MODULES.items()
             if any(func is None and _is_heavy_package(t) for t, func in _file_imports(m, path))}
    graph = import_graph(module_level_only=True)
    for m in MODULES:
        parts = m.split(".")
        graph[m] |= {".".join(parts[:i]) for i in range(1, len(parts))}
    while True:
        more = {m for m in MODULES if m not in heavy and graph[m] & heavy}
        if not more:
            return heavy
        heavy |= more


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def test_the_source_tree_is_found():
    assert {"qbnn", "qbnn.compiler", "qbnn.compiler.build", "qbnn.solvers.sa", "qbnn.memory"} <= set(MODULES)


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None


def test_no_function_local_imports_but_heavy_packages():
    heavy = heavy_modules()
    assert {"qbnn.solvers.sa", "qbnn.mip.model"} <= heavy and not {"qbnn.compiler", "qbnn.memory"} & heavy
    offenders = []
    for module, path in MODULES.items():
        for target, func in _file_imports(module, path):
            if func is None or _is_cli(module) or _is_heavy_package(target) or target in OPTIONAL:
                continue
            if target in heavy and module not in heavy:  # lazy, so that `module` stays light
                continue
            offenders.append(f"{module}.{func}: import {target}")
    assert offenders == []


@pytest.mark.parametrize("graph, cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"a2"}, "a2": set(), "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
])
def test_the_cycle_finder_finds_cycles(graph, cycle):
    assert find_cycle(graph) == cycle


def test_the_scanner_sees_local_and_relative_imports():
    """The checks above can fail: a function-local qbnn import and a relative import are both seen."""
    text = "from . import store\n\ndef f():\n    from qbnn.memory import check_fits\n    import torch\n"
    found = list(_imports("qbnn.data", text, is_package=True))
    assert ("qbnn.data", None) in found and ("qbnn.data.store", None) in found
    assert ("qbnn.memory", "f") in found and ("torch", "f") in found
