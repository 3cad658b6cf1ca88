"""What every integration and optional transport promises: opt-in, lazily imported, documented."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import httpx
import pytest

from resilient_transport import AsyncEvent, EventType, RequestContext
from resilient_transport.integrations._common import error_type, metric_method, require, server_of

MODULES = [
    "resilient_transport.integrations.logs",
    "resilient_transport.integrations.opentelemetry",
    "resilient_transport.integrations.prometheus",
]
TRANSPORT_MODULES = [
    "resilient_transport.transports.aiohttp",
    "resilient_transport.transports.opentelemetry",
]


def test_importing_the_library_imports_no_integration_and_no_optional_dependency() -> None:
    code = (
        "import sys, resilient_transport, resilient_transport.testing\n"
        "loaded = [m for m in sys.modules if m.startswith(("
        "'resilient_transport.integrations', 'resilient_transport.transports', "
        "'opentelemetry', 'prometheus_client', 'aiohttp'))]\n"
        "assert loaded == [], loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr


def test_importing_an_integration_does_not_import_its_dependency_yet() -> None:
    code = (
        "import sys\n"
        "import resilient_transport.integrations.opentelemetry\n"
        "import resilient_transport.integrations.prometheus\n"
        "import resilient_transport.transports.opentelemetry\n"
        "assert 'opentelemetry' not in sys.modules\n"
        "assert 'prometheus_client' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", MODULES)
def test_every_exported_name_exists_and_is_documented(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__
    assert len(set(module.__all__)) == len(module.__all__)
    for exported in module.__all__:
        value = getattr(module, exported)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name}.{exported} has no docstring"
    # The one-line entry point, with the same shape everywhere.
    assert "target" in inspect.signature(module.instrument).parameters


@pytest.mark.parametrize("name", TRANSPORT_MODULES)
def test_every_transport_module_exports_documented_httpx_transports(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__
    transports = [getattr(module, exported) for exported in module.__all__]
    transports = [value for value in transports if inspect.isclass(value)]
    assert transports
    for transport in transports:
        assert issubclass(transport, httpx.AsyncBaseTransport), transport
        assert inspect.getdoc(transport), transport


def test_the_integrations_hold_no_transport() -> None:
    # Sinks of events in integrations, inner transports in transports.
    for name in MODULES:
        module = importlib.import_module(name)
        for exported in module.__all__:
            value = getattr(module, exported)
            assert not (inspect.isclass(value) and issubclass(value, httpx.AsyncBaseTransport))


def test_a_missing_dependency_names_the_module_that_needs_it_and_the_extra() -> None:
    with pytest.raises(ImportError) as caught:
        require("resilient_transport_no_such_module", "aiohttp", "resilient_transport.x.y")
    assert str(caught.value) == (
        "resilient_transport_no_such_module is not installed; resilient_transport.x.y "
        "needs it: pip install 'resilient-transport[aiohttp]'"
    )


@pytest.mark.parametrize(
    ("method", "expected"),
    [("GET", "GET"), ("PATCH", "PATCH"), ("PURGE", "_OTHER"), ("get", "_OTHER")],
)
def test_unknown_methods_are_folded_into_other(method: str, expected: str) -> None:
    assert metric_method(method) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.test/x", ("a.test", 80)),
        ("https://a.test/x", ("a.test", 443)),
        ("https://a.test:8443/x", ("a.test", 8443)),
        ("http://[::1", ("", None)),
        ("", ("", None)),
    ],
)
def test_the_server_of_an_event_url(url: str, expected: tuple[str, int | None]) -> None:
    assert server_of(url) == expected


def test_error_type_names_the_exception_or_an_error_status() -> None:
    ctx = RequestContext(request_id="x")
    assert error_type(AsyncEvent(EventType.ERROR, ctx, 0.0, error=KeyError("k"))) == "KeyError"
    assert error_type(AsyncEvent(EventType.RETRY, ctx, 0.0, status_code=503)) == "503"
    assert error_type(AsyncEvent(EventType.SUCCESS, ctx, 0.0, status_code=200)) is None
