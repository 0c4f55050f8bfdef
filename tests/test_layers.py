"""The package's layers: imports point down only, and no two modules import each other in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "envoice_mock"

# Top to bottom. A module may import its own layer or any layer below it. `x.*` is a package and
# everything in it; other names are single modules.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "entry",
        (
            "envoice_mock",
            "envoice_mock.__main__",
            "envoice_mock.cli.*",
            "envoice_mock.pytest_plugin",
            "envoice_mock.sink",
        ),
    ),
    ("api", ("envoice_mock.api.*",)),
    ("scenarios", ("envoice_mock.scenarios.*",)),
    ("runtime", ("envoice_mock.runtime.*",)),
    ("delivery", ("envoice_mock.delivery.*",)),
    ("domain", ("envoice_mock.domain.*",)),
    ("base", ("envoice_mock.*",)),
]


def module_name(path: Path) -> str:
    """The dotted name of a file of the package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The index of the layer a module belongs to (0 is the top)."""
    for index, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            package = pattern.removesuffix(".*")
            if module == package or (pattern.endswith(".*") and module.startswith(package + ".")):
                return index
    raise AssertionError(f"{module} is in no layer")


def imports() -> dict[str, set[str]]:
    """Each module's imports of other package modules, at run time (TYPE_CHECKING blocks left out)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for child in node.body
            for n in ast.walk(child)
        }
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only or not isinstance(node, ast.ImportFrom | ast.Import):
                continue
            targets = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
            )
            assert not (isinstance(node, ast.ImportFrom) and node.level), f"{name}: relative import"
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("envoice_mock"):
                    found.add(target)
        graph[name] = found
    return graph


def test_imports_point_down_the_layers() -> None:
    upward = sorted(
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in imports().items()
        for target in targets
        if layer_of(target) < layer_of(module)
    )
    assert not upward, "\n".join(upward)


def test_no_import_cycles() -> None:
    graph = imports()
    for module in graph:  # a package's __init__ re-exporting its own modules is not a cycle
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)
