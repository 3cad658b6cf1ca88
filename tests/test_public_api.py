"""The public namespace: every public name exported, sorted, and nothing private."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing

import resilient_transport


def test_all_is_sorted() -> None:
    assert resilient_transport.__all__ == sorted(resilient_transport.__all__)


def test_all_has_no_duplicates_and_every_name_exists() -> None:
    assert len(set(resilient_transport.__all__)) == len(resilient_transport.__all__)
    for name in resilient_transport.__all__:
        assert hasattr(resilient_transport, name), name


def test_every_public_name_of_the_package_is_in_all() -> None:
    public = {
        name
        for name, value in vars(resilient_transport).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public <= set(resilient_transport.__all__)


def test_the_contract_names_are_exported() -> None:
    contract = {
        "AsyncEvent",
        "AsyncResilientClient",
        "EventMonitor",
        "EventType",
        "RequestContext",
        "RequestResult",
        "RetryingAsyncTransport",
        "create_async_resilient_client",
        "simple_async_request",
    }
    assert contract <= set(resilient_transport.__all__)


def test_the_url_redaction_api_is_exported() -> None:
    # One rule for every URL the library shows, configurable process-wide.
    redaction = {
        "DEFAULT_REDACTED_QUERY_KEYS",
        "redact_url",
        "redacted_query_keys",
        "set_redacted_query_keys",
    }
    assert redaction <= set(resilient_transport.__all__)
    assert isinstance(resilient_transport.DEFAULT_REDACTED_QUERY_KEYS, frozenset)


def test_public_objects_claim_the_public_module() -> None:
    # Users see resilient_transport.X in reprs and docs, never the private module.
    for name in resilient_transport.__all__:
        value = getattr(resilient_transport, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == "resilient_transport", name


def test_implementation_modules_are_private() -> None:
    public_submodules = {"testing", "integrations", "transports"}
    for module in pkgutil.iter_modules(resilient_transport.__path__):
        assert module.name.startswith("_") or module.name in public_submodules, module.name


def test_every_public_object_has_a_docstring() -> None:
    for name in resilient_transport.__all__:
        value = getattr(resilient_transport, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
    testing = importlib.import_module("resilient_transport.testing")
    for name in testing.__all__:
        value = getattr(testing, name)
        # A type alias (a class to inspect on Python 3.10) is documented by
        # the "#:" comment above it, which the docs read.
        if typing.get_origin(value) is None and (
            inspect.isclass(value) or inspect.isfunction(value)
        ):
            assert inspect.getdoc(value), name
        else:
            source = inspect.getsource(testing)
            assert "#: " in source.split(f"\n{name} = ", 1)[0].rsplit("\n\n", 1)[-1], name


def test_the_package_ships_py_typed() -> None:
    assert resilient_transport.__file__ is not None
    from pathlib import Path

    assert (Path(resilient_transport.__file__).parent / "py.typed").is_file()
