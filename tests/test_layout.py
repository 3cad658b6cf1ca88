"""The package's shape: no import cycles, no reading of another module's privates, small modules.

These read the source with ``ast``; nothing is imported or run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "resilient_transport"
MODULES = sorted(PACKAGE.rglob("*.py"))

#: Lines a module may have: past about 300 it holds two concepts (style.md).
MAX_LINES = 300

#: Reads of a private attribute of an object that is not ``self``/``cls``,
#: each on purpose: (module, attribute) -> why.
KNOWN_PRIVATE_READS = {
    ("_httpx_client.py", "_transport"): "httpx keeps a client's transport there (pinned)",
    ("_httpx_client.py", "_mounts"): "httpx keeps a client's mounts there (pinned)",
    ("transports/aiohttp.py", "_retry_connection"): "aiohttp's own retry, turned off",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """The package's modules that ``path`` imports at run time (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - child.level + 1]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                if target.startswith("resilient_transport"):
                    found.add(target)
                    for alias in child.names:  # "from . import _sleep" imports a module
                        found.add(f"{target}.{alias.name}")
            elif isinstance(child, ast.Import):
                found.update(
                    alias.name for alias in child.names if alias.name.startswith("resilient")
                )
            visit(child)

    visit(tree)
    return found


def test_the_import_graph_has_no_cycles() -> None:
    names = {module_name(path) for path in MODULES}
    graph = {
        module_name(path): {name for name in imported_modules(path) if name in names}
        for path in MODULES
    }
    # The package imports its modules, and they it (for public names): the
    # package's __init__ is the root, not a participant.
    for edges in graph.values():
        edges.discard("resilient_transport")
    assert "resilient_transport._decision" in graph["resilient_transport._loop"]
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    assert cycles == []


def private_reads(path: Path) -> list[tuple[str, int]]:
    """``x._name`` where ``x`` is not ``self`` or ``cls``: (attribute, line)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
        ):
            found.append((node.attr, node.lineno))
        if isinstance(node, ast.ImportFrom) and node.level:
            found.extend(
                (alias.name, node.lineno)
                for alias in node.names
                if alias.name.startswith("_")
                and not alias.name.startswith("__")
                and node.module is not None  # "from . import _sleep": a module
            )
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_reads_the_private_attributes_of_another(path: Path) -> None:
    relative = path.relative_to(PACKAGE).as_posix()
    unexpected = [
        f"{relative}:{line}: {attribute}"
        for attribute, line in private_reads(path)
        if (relative, attribute) not in KNOWN_PRIVATE_READS
    ]
    assert unexpected == []


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_every_module_holds_one_concept(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines"
