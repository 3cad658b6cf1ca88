"""The ```python examples in the package's docstrings: what users copy from the API reference.

A docstring example is a fragment (it may ``await`` at top level and use a
URL it does not serve), so it is not run like the docs pages' programs
(``tests/test_docs.py``). What can be checked without running it is checked:
it compiles, and everything it imports from this package is public and
exists. An example that imports a private module, or a name that moved,
is one that fails for whoever copies it.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "resilient_transport"
_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _examples() -> list[tuple[str, str]]:
    examples = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, _DOCUMENTED):
                continue
            doc = ast.get_docstring(node)
            if doc is None:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'name', 'module')}"
            examples += [(where, match["code"]) for match in _BLOCK.finditer(doc)]
    return examples


EXAMPLES = _examples()


def test_there_are_docstring_examples_to_check() -> None:
    # Guards the collector: a parsing regression must not silently check nothing.
    assert len(EXAMPLES) >= 5


def _imports(tree: ast.AST) -> list[tuple[str, str | None]]:
    """(module, name) for every import of this package; name None for ``import module``."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE.name):
            found += [(node.module or "", alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.startswith(PACKAGE.name)]
    return found


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_a_docstring_example_compiles_and_imports_only_public_names(where: str, code: str) -> None:
    tree = compile(code, where, "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    for module, name in _imports(tree):
        assert not any(part.startswith("_") for part in module.split(".")), (
            f"{where}: imports the private module {module}"
        )
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:  # an optional extra that is not installed
            pytest.skip(f"{where}: {exc}")
        if name is not None:
            assert not name.startswith("_"), f"{where}: imports the private name {name}"
            assert hasattr(imported, name), f"{where}: {module} has no {name}"


def test_the_check_catches_a_private_import() -> None:
    code = "from resilient_transport._stack import httpx\n"
    with pytest.raises(AssertionError, match=r"private module resilient_transport\._stack"):
        test_a_docstring_example_compiles_and_imports_only_public_names("sample", code)
    with pytest.raises(AssertionError, match="has no NoSuchName"):
        test_a_docstring_example_compiles_and_imports_only_public_names(
            "sample", "from resilient_transport import NoSuchName\n"
        )
