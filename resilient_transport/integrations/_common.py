"""What the integrations and the transports share: optional imports, OpenTelemetry attributes.

Package-internal: the sinks of ``resilient_transport.integrations`` and
the transports of ``resilient_transport.transports`` import an optional
dependency only through ``require``, and describe requests, events and
errors with the same values (those of the OpenTelemetry HTTP conventions).
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Any, Protocol

from resilient_transport._events import AsyncEvent, EventType
from resilient_transport._stack import every_stack, httpx

__all__ = [
    "OPENTELEMETRY_SCOPE",
    "EventTarget",
    "attach",
    "error_text",
    "error_type",
    "metric_method",
    "qualified_name",
    "require",
    "server_of",
]

# RFC 9110 methods and PATCH: the "known" methods of the OpenTelemetry HTTP
# conventions. Any other method is reported as "_OTHER", so that a client
# sending odd methods cannot blow up the cardinality of a metric.
KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: The instrumentation scope of the library's meters and tracers.
OPENTELEMETRY_SCOPE = "resilient_transport"


class EventTarget(Protocol):
    """What an integration plugs into: an ``EventMonitor``, a ``SyncEventMonitor`` or a client."""

    def add_event_callback(self, event_type: EventType | None, callback: Any, /) -> None: ...


def attach(target: EventTarget, callback: Any) -> None:
    """Register ``callback`` for every event type on a monitor or a resilient client.

    Raises:
        TypeError: ``target`` has no ``add_event_callback``.
    """
    add = getattr(target, "add_event_callback", None)
    if not callable(add):
        raise TypeError(
            "target must be an EventMonitor or an AsyncResilientClient "
            f"(anything with add_event_callback), got {target!r}"
        )
    add(None, callback)


def require(module: str, extra: str, needed_by: str) -> ModuleType:
    """Import an optional dependency, or fail with the install command that provides it.

    Args:
        module: The module to import (``"opentelemetry.trace"``).
        extra: The extra of resilient-transport that installs it.
        needed_by: The public module that needs it, named in the error.

    Raises:
        ImportError: ``module`` is not installed; the message names the extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is not installed; {needed_by} needs it: "
            f"pip install 'resilient-transport[{extra}]'"
        ) from exc


def metric_method(method: str) -> str:
    """The method as a low-cardinality attribute: itself if known, else ``"_OTHER"``."""
    return method if method in KNOWN_METHODS else "_OTHER"


@functools.lru_cache(maxsize=512)
def server_of(url: str) -> tuple[str, int | None]:
    """``(host, port)`` of an event's URL; the port is the scheme's default if absent."""
    try:
        parsed = httpx.URL(url)
    except Exception:  # an event from a hand-made transport may carry anything
        return "", None
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS.get(parsed.scheme)
    return parsed.host, port


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class; just the name for a builtin."""
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


# Errors about the request the client built rather than about the network or
# the server: h11 refuses a malformed header value (say, a token read from a
# file with its trailing newline) with one of these, quoting the value.
_QUOTES_THE_REQUEST = every_stack("LocalProtocolError")


def error_text(error: BaseException) -> str:
    """The text of ``error`` to log or export; ``""`` when it may quote a header value.

    The error object itself is never changed (the caller gets it as httpx
    raised it); only what an integration renders is held back. Its type still
    says what happened.
    """
    if isinstance(error, _QUOTES_THE_REQUEST):
        return ""
    return str(error)


def error_type(event: AsyncEvent) -> str | None:
    """The OpenTelemetry ``error.type`` of an event, or ``None`` if it reports no error.

    The exception's fully qualified class name (``"httpx.ConnectError"``) when
    an exception is involved, else an error status code as a string (``"503"``).
    """
    if event.error is not None:
        return qualified_name(type(event.error))
    if event.status_code is not None and event.status_code >= 400:
        return str(event.status_code)
    return None
