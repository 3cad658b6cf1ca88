"""Which HTTP stacks the library finds (httpx, httpx2) and what installing it pulls in."""

from __future__ import annotations

import importlib.metadata
import os
import re

import httpx
import pytest

from resilient_transport import _stack


def test_a_process_with_neither_stack_is_told_what_to_install() -> None:
    with pytest.raises(ImportError, match=r"needs nohttp or nohttp2: pip install 'resilient-"):
        _stack.installed((("nohttp", "nocore"), ("nohttp2", "nocore2")))


def test_a_stack_missing_its_core_package_does_not_count() -> None:
    assert _stack.installed((("httpx", "nocore"), ("httpx", "httpcore"))) == (
        (httpx, pytest.importorskip("httpcore")),
    )


def test_a_package_found_under_two_names_is_one_stack() -> None:
    # Under httpx2.alias_httpx(), "httpx" and "httpx2" are one module.
    found = _stack.installed((("httpx", "httpcore"), ("httpx", "httpcore")))
    assert len(found) == 1
    assert found[0][0] is httpx


def test_the_primary_stack_is_the_one_import_httpx_gives() -> None:
    assert _stack.httpx is httpx
    assert _stack.STACKS[0][0] is httpx
    assert len({id(package) for package, _ in _stack.STACKS}) == len(_stack.STACKS)


def test_a_request_of_an_unknown_package_belongs_to_the_primary_stack() -> None:
    assert _stack.stack_of(object()) is _stack.STACKS[0]
    assert _stack.stack_of(httpx.Request("GET", "http://a.test/")) is _stack.STACKS[0]


def test_one_installed_stack_makes_no_new_class() -> None:
    if len(_stack.STACKS) == 1:
        assert _stack.combined("TimeoutException") is httpx.TimeoutException
    else:
        merged = _stack.combined("TimeoutException")
        assert merged.__mro__[1:3] == (httpx.TimeoutException, merged.__mro__[2])
        assert all(issubclass(merged, stack[0].TimeoutException) for stack in _stack.STACKS)
    assert _stack.combined("ConnectError", core=True).__name__ == "ConnectError"


@pytest.mark.skipif(
    "RT_TEST_STACK" not in os.environ, reason="only when CI says which stack it runs on"
)
def test_the_suite_runs_on_the_stack_ci_asked_for() -> None:
    expected = os.environ["RT_TEST_STACK"]
    assert httpx.__name__ == expected
    assert [package.__name__ for package, _ in _stack.STACKS] == [expected]
    # That run's environment was installed without httpx: the library imports
    # without it.
    if expected == "httpx2":
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution("httpx")


def test_installing_the_library_pulls_in_no_http_stack_unless_an_extra_asks() -> None:
    requirements = importlib.metadata.requires("resilient-transport") or []
    stacks = {"httpx", "httpcore", "httpx2", "httpcore2"}
    by_extra: dict[str, set[str]] = {}
    for requirement in requirements:
        name = re.split(r"[ ;<>=!~\[]", requirement, maxsplit=1)[0].lower()
        extra = re.search(r"extra == ['\"]([^'\"]+)", requirement)
        if name in stacks:
            assert extra is not None, f"{requirement!r} is installed by default"
            by_extra.setdefault(extra.group(1), set()).add(name)
    assert by_extra == {"httpx": {"httpx", "httpcore"}, "httpx2": {"httpx2", "httpcore2"}}
