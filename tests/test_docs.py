"""Every ```python block in README.md and docs/ runs, so the docs cannot drift from the code.

THE DOCS CONVENTION (every page of README.md and docs/**/*.md follows it)

1. Every fenced block tagged ``python`` is a complete, self-contained
   program. This module runs each one in its own subprocess
   (``sys.executable``, working directory the repository root, 30 s timeout)
   and fails unless it exits with status 0. Blocks indented inside
   admonitions, content tabs or lists count too. An example that shows a
   value also ``assert``\\ s it, so a wrong claim fails the suite.
2. A block talks only to 127.0.0.1 servers it starts itself, or to
   in-process inner transports (``resilient_transport.testing``,
   ``httpx.MockTransport``, respx). Never the internet: the runner refuses
   every connection and name lookup that is not loopback. Never a real long
   sleep: ``base_delay=0``, ``sleep=RecordingSleep()``, or a few milliseconds.
3. Shell commands go in ``console`` or ``bash`` blocks, output in ``text``
   blocks; those are not run. Python code must not hide under another tag:
   ``py``, ``py3``, ``python3``, ``pycon`` and ``ipython`` blocks are errors.
4. A block that needs a package outside the project's ``test`` dependency group starts
   with a comment line ``# requires: tenacity, stamina``; it is skipped
   (with the reason shown) when one of them cannot be imported.
5. A malformed block fails the suite: a fence that is never closed, a
   ``python`` block that does not compile, a forbidden tag.

Run only these tests with ``pytest tests/test_docs.py``; one block with
``pytest "tests/test_docs.py::test_python_block_runs[docs/policy.md:42]"``.
A failing block's traceback points at the Markdown file and line.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import cast

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30.0
# Blocks run a few at a time: each is a subprocess that mostly imports.
WORKERS = max(1, min(4, os.cpu_count() or 1))

#: Tags whose blocks are run.
RUN_TAGS = frozenset({"python"})
#: Tags that would hide Python code from the runner.
FORBIDDEN_TAGS = frozenset({"py", "py3", "python3", "pycon", "ipython"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_REQUIRES = re.compile(r"^#\s*requires:\s*(?P<names>[\w.\-, ]+)$")

# Runs one block: refuses non-loopback network access, then executes the
# block as __main__, compiled so that line numbers are the Markdown file's.
_RUNNER = r"""
import ipaddress, os, socket, sys

if os.environ.get("RT_TEST_STACK") == "httpx2":  # the suite runs on httpx2: so do the docs
    import httpx2
    httpx2.alias_httpx()

def _loopback(host):
    if host in ("localhost", "localhost.", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host if isinstance(host, str) else host.decode()).is_loopback
    except (ValueError, UnicodeDecodeError, AttributeError):
        return False

def _check(address):
    if isinstance(address, tuple) and not _loopback(address[0]):
        raise OSError(f"docs examples must not use the network: tried {address[0]!r}")

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo

def connect(self, address):
    _check(address)
    return _connect(self, address)

def connect_ex(self, address):
    _check(address)
    return _connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _loopback(host):
        raise socket.gaierror(f"docs examples must not use the network: tried to resolve {host!r}")
    return _getaddrinfo(host, *args, **kwargs)

socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.getaddrinfo = getaddrinfo

path, first_line = sys.argv[1], int(sys.argv[2])
source = "\n" * (first_line - 1) + sys.stdin.read()
sys.argv = [path]
code = compile(source, path, "exec")
exec(code, {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__})
"""


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    tag: str  # the first word of the info string, lowercased
    source: str  # the body, dedented by the fence's indentation
    closed: bool = True

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def first_body_line(self) -> int:
        return self.line + 1

    @property
    def requires(self) -> list[str]:
        first = self.source.lstrip("\n").split("\n", 1)[0].strip()
        match = _REQUIRES.match(first)
        if not match:
            return []
        return [name.strip() for name in match["names"].split(",") if name.strip()]


def parse_blocks(text: str, path: str) -> Iterator[Block]:
    """Yield the fenced blocks of a Markdown text (CommonMark fences, indented or not)."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None or (match["fence"][0] == "`" and "`" in match["info"]):
            index += 1
            continue
        indent, fence = match["indent"], match["fence"]
        tag = (match["info"].split() or [""])[0].lower().strip("{}.")
        body: list[str] = []
        end = index + 1
        closed = False
        while end < len(lines):
            stripped = lines[end].strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                closed = True
                break
            line = lines[end]
            # Drop the fence's own indentation (a block inside a tab or an
            # admonition); keep the code's.
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            end += 1
        yield Block(path, index + 1, tag, "\n".join(body) + "\n", closed)
        index = end + 1


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [path for path in files if path.is_file()]


def all_blocks() -> list[Block]:
    return [
        block
        for path in doc_files()
        for block in parse_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]


PYTHON_BLOCKS = [block for block in all_blocks() if block.tag in RUN_TAGS]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # A developer's proxy must not reroute an example's 127.0.0.1 traffic.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        env.pop(name, None)
        env.pop(name.lower(), None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_block(block: Block) -> subprocess.CompletedProcess[str]:
    """Run one block as the convention says; return the finished process."""
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", _RUNNER, block.path, str(block.first_body_line)],
        input=block.source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_environment(),
        timeout=TIMEOUT,
        check=False,
    )


def _runnable(block: Block) -> bool:
    try:
        compile(block.source, block.path, "exec")
    except SyntaxError:
        return False
    return block.closed and all(importlib.util.find_spec(name) for name in block.requires)


@pytest.fixture(scope="module")
def started_runs(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[object]]]:
    """Start every selected block at once, WORKERS at a time; each test awaits its own."""
    selected = [
        cast("Block", item.callspec.params["block"])
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.function is test_python_block_runs
    ]
    assert selected, "the fixture is only used by test_python_block_runs"
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="docs-block")
    try:
        yield {block.id: pool.submit(run_block, block) for block in selected if _runnable(block)}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[block.id for block in PYTHON_BLOCKS])
def test_python_block_runs(block: Block, started_runs: dict[str, Future[object]]) -> None:
    assert block.closed, f"{block.id}: the fence is never closed"
    try:
        compile(block.source, block.path, "exec")
    except SyntaxError as exc:
        pytest.fail(f"{block.id}: not valid Python: {exc}")
    missing = [name for name in block.requires if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{block.id} requires {', '.join(missing)} (not installed)")
    future = started_runs.get(block.id)
    try:
        result = future.result() if future is not None else run_block(block)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.id}: still running after {TIMEOUT:.0f} s")
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 0, (
        f"{block.id} exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def test_no_block_is_malformed() -> None:
    problems = []
    for block in all_blocks():
        if not block.closed:
            problems.append(f"{block.id}: ```{block.tag} fence never closed")
        if block.tag in FORBIDDEN_TAGS:
            problems.append(
                f"{block.id}: ```{block.tag} block: tag runnable code ```python, "
                "shell sessions ```console, output ```text"
            )
    assert problems == []


def test_the_docs_have_python_examples_to_run() -> None:
    # Guards the collector itself: a parsing regression must not silently run nothing.
    assert len(PYTHON_BLOCKS) >= 10
    assert any(block.path.startswith("docs/") for block in PYTHON_BLOCKS)


@pytest.mark.parametrize(
    ("page", "module"),
    [
        ("docs/reference/api.md", "resilient_transport"),
        ("docs/reference/testing.md", "resilient_transport.testing"),
        ("docs/reference/integrations.md", "resilient_transport.integrations.logs"),
        ("docs/reference/integrations.md", "resilient_transport.integrations.opentelemetry"),
        ("docs/reference/integrations.md", "resilient_transport.integrations.prometheus"),
        ("docs/reference/transports.md", "resilient_transport.transports.aiohttp"),
        ("docs/reference/transports.md", "resilient_transport.transports.opentelemetry"),
    ],
)
def test_the_api_reference_shows_every_public_name(page: str, module: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    public = importlib.import_module(module).__all__
    if module == "resilient_transport":
        shown = set(re.findall(r"^::: resilient_transport\.(\w+)$", text, re.MULTILINE))
    else:
        start = text.index(f"::: {module}")
        section = text[start:].split("\n::: ", 1)[0]
        shown = set(re.findall(r"^\s+- (\w+)$", section, re.MULTILINE))
    missing = sorted(set(public) - shown - {"__version__"})
    assert missing == [], f"{page} does not show {missing} from {module}"


# -- the collector and the runner, on fixed inputs ---------------------------

SAMPLE = """\
# Title

```python
print("top level")
```

=== "Tab"

    ```python title="example.py"
    import sys

    if True:
        print("indented")
    ```

````markdown
```python
not a block of its own
```
````

```console
$ echo not run
```

```python
never closed
"""


def test_the_collector_finds_fences_indented_nested_and_unclosed() -> None:
    blocks = list(parse_blocks(SAMPLE, "sample.md"))
    assert [(b.line, b.tag, b.closed) for b in blocks] == [
        (3, "python", True),
        (9, "python", True),
        (16, "markdown", True),
        (22, "console", True),
        (26, "python", False),
    ]
    assert blocks[1].source == 'import sys\n\nif True:\n    print("indented")\n'
    assert "```python" in blocks[2].source


def test_requires_lines_name_the_needed_packages() -> None:
    (block,) = parse_blocks("```python\n# requires: tenacity, stamina\nx = 1\n```\n", "r.md")
    assert block.requires == ["tenacity", "stamina"]
    (plain,) = parse_blocks("```python\nx = 1\n```\n", "p.md")
    assert plain.requires == []


def test_the_runner_reports_the_markdown_line_of_a_failure() -> None:
    block = Block("sample.md", 40, "python", "x = 1\nassert x == 2, 'wrong'\n")
    result = run_block(block)
    assert result.returncode == 1
    assert 'File "sample.md", line 42' in result.stderr
    assert "AssertionError: wrong" in result.stderr


def test_the_runner_refuses_the_network_but_not_loopback() -> None:
    # The refused addresses stay on this machine even if the guard broke:
    # 0.0.0.0 is not loopback to the guard, and a numeric host needs no DNS
    # query, so this test can never send traffic anywhere else.
    source = """\
import socket
try:
    socket.create_connection(("0.0.0.0", 9), timeout=1)
except OSError as exc:
    assert "must not use the network" in str(exc), exc
else:
    raise SystemExit("connected to the internet")
try:
    socket.getaddrinfo("0.0.0.0", 9)
except OSError as exc:
    assert "must not use the network" in str(exc), exc
else:
    raise SystemExit("resolved a public name")
with socket.socket() as server:
    server.bind(("127.0.0.1", 0))
    server.listen()
    socket.create_connection(server.getsockname(), timeout=1).close()
assert __name__ == "__main__"
"""
    result = run_block(Block("net.md", 1, "python", source))
    assert result.returncode == 0, result.stderr
