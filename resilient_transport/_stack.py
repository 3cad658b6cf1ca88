"""The HTTP stacks this library serves: httpx (over httpcore) and httpx2 (over httpcore2).

httpx2 is Pydantic's continuation of httpx: the same API under new package
names. A process may have either installed, or both (an application on
httpx2 whose dependencies still pull in httpx). Every stack that is
installed is imported once, here, and the library serves them all at once:

- ``httpx`` and ``httpcore`` below are the *primary* stack, the one the
  library's own defaults are built on: httpx if it can be imported, which is
  httpx2 itself in a process that called ``httpx2.alias_httpx()`` first;
  else httpx2. The rest of the package imports them from here, never
  directly, so that it imports without httpx.
- `combined` makes a class that derives from a class of every installed
  stack (``TimeoutException``, ``AsyncByteStream``, ``AsyncBaseTransport``,
  ...): what the library raises or hands to a transport is then an instance
  of httpx's class and of httpx2's, whichever stack the request came from.
- `stack_of` tells which stack a request belongs to, for the one thing that
  must match it: the inner transport the library creates by default.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

__all__ = [
    "ASYNC_TRANSPORTS",
    "BYTE_STREAMS",
    "REQUEST_ERRORS",
    "RESPONSES",
    "STACKS",
    "SYNC_TRANSPORTS",
    "AsyncBaseTransport",
    "AsyncByteStream",
    "BaseTransport",
    "InvalidURL",
    "OwnTransports",
    "SyncByteStream",
    "TimeoutException",
    "TransportError",
    "combined",
    "inner_transport",
    "every_stack",
    "of_every_stack",
    "httpcore",
    "httpx",
    "installed",
    "stack_of",
]

#: (HTTP package, its core package), in order of preference.
CANDIDATES = (("httpx", "httpcore"), ("httpx2", "httpcore2"))


def installed(
    candidates: Sequence[tuple[str, str]] = CANDIDATES,
) -> tuple[tuple[ModuleType, ModuleType], ...]:
    """Import every installed stack of ``candidates``, each module once.

    Raises:
        ImportError: None is installed; the message says what to install.
    """
    found: list[tuple[ModuleType, ModuleType]] = []
    for http_name, core_name in candidates:
        try:
            http = importlib.import_module(http_name)
            core = importlib.import_module(core_name)
        except ImportError:
            continue
        # Under httpx2.alias_httpx(), "httpx" already was httpx2.
        if all(http is not seen for seen, _ in found):
            found.append((http, core))
    if not found:
        names = " or ".join(http_name for http_name, _ in candidates)
        raise ImportError(
            f"resilient_transport needs {names}: pip install 'resilient-transport[httpx]' "
            "(or [httpx2])"
        )
    return tuple(found)


#: Every installed stack, as (HTTP package, core package); the primary first.
STACKS = installed()

if TYPE_CHECKING:
    import httpcore as httpcore
    import httpx as httpx
else:
    httpx, httpcore = STACKS[0]


def combined(name: str, *, core: bool = False) -> type[Any]:
    """The class ``name`` of every installed stack's HTTP package (or core package), as one.

    With one stack installed, that stack's class itself; with more, a new
    class that derives from each, in the order of `STACKS`.
    """
    bases: tuple[type[Any], ...] = tuple(
        getattr(stack[1] if core else stack[0], name) for stack in STACKS
    )
    if len(bases) == 1:
        return bases[0]
    return type(name, bases, {"__module__": __name__})


def of_every_stack(name: str) -> tuple[type[Any], ...]:
    """The class ``name`` of every installed stack's HTTP package (httpx, httpx2)."""
    return tuple(getattr(stack[0], name) for stack in STACKS)


def every_stack(*names: str) -> tuple[type[BaseException], ...]:
    """The exception classes ``names`` of every installed stack, the HTTP and the core package's.

    httpx maps httpcore's errors to its own; an inner transport that talks to
    httpcore directly raises the raw ones, so both are listed, and with
    httpx2 installed, httpx2's and httpcore2's too.
    """
    return tuple(getattr(module, name) for stack in STACKS for module in stack for name in names)


#: For isinstance: a transport, or a replayable request body, of any stack.
ASYNC_TRANSPORTS: tuple[type[httpx.AsyncBaseTransport], ...] = of_every_stack("AsyncBaseTransport")
SYNC_TRANSPORTS: tuple[type[httpx.BaseTransport], ...] = of_every_stack("BaseTransport")
BYTE_STREAMS: tuple[type[httpx.ByteStream], ...] = of_every_stack("ByteStream")
RESPONSES: tuple[type[httpx.Response], ...] = of_every_stack("Response")
REQUEST_ERRORS: tuple[type[httpx.RequestError], ...] = of_every_stack("RequestError")

# The library's own transports, streams and exceptions derive from these:
# each is an instance of every stack's class (typed as httpx's).
if TYPE_CHECKING:
    AsyncBaseTransport = httpx.AsyncBaseTransport
    BaseTransport = httpx.BaseTransport
    AsyncByteStream = httpx.AsyncByteStream
    SyncByteStream = httpx.SyncByteStream
    TimeoutException = httpx.TimeoutException
    TransportError = httpx.TransportError
    InvalidURL = httpx.InvalidURL
else:
    AsyncBaseTransport = combined("AsyncBaseTransport")
    BaseTransport = combined("BaseTransport")
    AsyncByteStream = combined("AsyncByteStream")
    SyncByteStream = combined("SyncByteStream")
    TimeoutException = combined("TimeoutException")
    TransportError = combined("TransportError")
    InvalidURL = combined("InvalidURL")

_BY_PACKAGE = {stack[0].__name__: stack for stack in STACKS}


def stack_of(request: object) -> tuple[ModuleType, ModuleType]:
    """The stack ``request`` (an ``httpx.Request`` of either stack) comes from."""
    package = type(request).__module__.partition(".")[0]
    return _BY_PACKAGE.get(package, STACKS[0])


class OwnTransports:
    """The inner transports a retrying transport made itself: one per stack, on first use.

    A transport given no inner one sends through its stack's own
    (``AsyncHTTPTransport`` or ``HTTPTransport``), and a request must go
    through one of its own stack: with httpx and httpx2 both installed, an
    ``httpx2.AsyncClient`` over ``RetryingAsyncTransport()`` gets httpx2's.
    The primary stack's is made at once (it is the ``transport`` property).
    """

    __slots__ = ("_name", "made", "primary")

    def __init__(self, name: str) -> None:
        self._name = name
        self.primary: Any = getattr(httpx, name)()
        self.made: dict[str, Any] = {httpx.__name__: self.primary}

    def for_request(self, request: object) -> Any:
        """The inner transport for ``request``'s stack (made now if it is the first)."""
        package = stack_of(request)[0]
        made = self.made.get(package.__name__)
        if made is None:
            # setdefault: of two threads that race here, both use one transport.
            made = self.made.setdefault(package.__name__, getattr(package, self._name)())
        return made

    def others(self) -> list[Any]:
        """Those made for a stack other than the primary one, to close with it."""
        return [made for made in self.made.values() if made is not self.primary]


def inner_transport(transport: Any, name: str) -> tuple[Any, OwnTransports | None]:
    """A retrying transport's inner transport, and the `OwnTransports` it makes, if any.

    ``transport`` when given; else the primary stack's ``name``
    (``AsyncHTTPTransport`` or ``HTTPTransport``), one per stack when more
    than one is installed: each request must go through its own stack's.
    """
    if transport is not None:
        return transport, None
    if len(STACKS) == 1:
        return getattr(httpx, name)(), None
    own = OwnTransports(name)
    return own.primary, own
