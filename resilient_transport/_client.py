"""Conveniences: a client with the transport, the event stream and the monitor wired."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any

import anyio
import httpx

from ._events import AsyncEvent, EventType
from ._monitor import DEFAULT_MAX_RESULTS, EventCallback, EventMonitor
from ._results import RequestResult
from ._transport import RetryingAsyncTransport

__all__ = ["AsyncResilientClient", "create_async_resilient_client", "simple_async_request"]

#: Keywords of :class:`RetryingAsyncTransport` that the conveniences accept
#: (the inner transport and the event stream are theirs to wire).
RETRY_KEYWORDS = frozenset(
    name
    for name, parameter in inspect.signature(RetryingAsyncTransport).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "events"
)

#: Events buffered between the transports and the monitor before new ones are
#: dropped (and counted).
DEFAULT_MAX_BUFFER_SIZE = 1000

# Keywords of httpx.request() that configure the client rather than the request.
_CLIENT_KEYWORDS = frozenset({"verify", "cert", "trust_env", "proxy", "http1", "http2"})


def _checked(retry: dict[str, Any]) -> dict[str, Any]:
    """``retry``, once a transport accepts it: bad values fail before httpx builds anything."""
    RetryingAsyncTransport(httpx.AsyncBaseTransport(), **retry)
    return retry


def _split(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the retry keywords, checked; everything else)."""
    retry = {k: v for k, v in kwargs.items() if k in RETRY_KEYWORDS}
    rest = {k: v for k, v in kwargs.items() if k not in RETRY_KEYWORDS}
    return _checked(retry), rest


def _wrap_transports(
    client: httpx.AsyncClient,
    make: Callable[[httpx.AsyncBaseTransport], RetryingAsyncTransport],
) -> list[RetryingAsyncTransport]:
    """Wrap every transport ``client`` uses; return the wrappers made."""
    made: list[RetryingAsyncTransport] = []

    def wrap(transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        if isinstance(transport, RetryingAsyncTransport):
            return transport
        made.append(make(transport))
        return made[-1]

    # httpx keeps the transport it built (or was given) and those of mounts=
    # and of proxies in these two attributes, stable since httpx 0.18.
    client._transport = wrap(client._transport)
    client._mounts = {
        pattern: None if transport is None else wrap(transport)
        for pattern, transport in client._mounts.items()
    }
    return made


class AsyncResilientClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose every transport retries and reports to a monitor.

    Takes the retry keywords of :class:`RetryingAsyncTransport` (``max_retries``,
    ``base_delay``, ...) beside the usual ``httpx.AsyncClient`` ones. The
    default transport, any ``transport=``, and every transport of ``mounts=``
    or built by httpx for ``proxy=`` (or proxy environment variables) is
    wrapped in a :class:`RetryingAsyncTransport`; all of them feed one event
    stream, consumed by an :class:`EventMonitor` that ``async with`` starts
    and stops::

        async with AsyncResilientClient(max_retries=3) as client:
            client.add_event_callback(EventType.RETRY, print)
            await client.get(url, extensions={"retry": RequestContext(request_id="x")})
            await client.wait_for_all_requests()
            client.get_result("x").attempts

    A transport passed in that already is a :class:`RetryingAsyncTransport` is
    used as it is (its own events, if any, do not reach this client's monitor).

    Args:
        max_buffer_size: Events buffered for the monitor; beyond it, events
            are dropped and counted in :attr:`dropped_events`.
        max_results: Results the monitor keeps.
        **kwargs: Retry keywords, then ``httpx.AsyncClient`` keywords.
    """

    def __init__(
        self,
        *,
        max_buffer_size: int = DEFAULT_MAX_BUFFER_SIZE,
        max_results: int = DEFAULT_MAX_RESULTS,
        **kwargs: Any,
    ) -> None:
        retry, client_kwargs = _split(kwargs)
        if isinstance(max_buffer_size, bool) or not isinstance(max_buffer_size, int):
            raise TypeError(f"max_buffer_size must be an int, got {max_buffer_size!r}")
        if max_buffer_size < 0:
            raise ValueError(f"max_buffer_size must be >= 0, got {max_buffer_size!r}")
        send, receive = anyio.create_memory_object_stream[AsyncEvent](max_buffer_size)
        try:
            self._monitor = EventMonitor(receive, max_results=max_results)
            super().__init__(**client_kwargs)
        except BaseException:
            send.close()
            receive.close()
            raise
        self._retrying = _wrap_transports(
            self, lambda inner: RetryingAsyncTransport(inner, events=send.clone(), **retry)
        )
        send.close()  # each transport owns a clone; the monitor ends when all close

    @property
    def monitor(self) -> EventMonitor:
        """The client's :class:`EventMonitor`."""
        return self._monitor

    @property
    def dropped_events(self) -> int:
        """Events dropped by this client's transports because the stream was full."""
        return sum(t.dropped_events for t in self._retrying)

    def add_event_callback(self, event_type: EventType | None, callback: EventCallback) -> None:
        """Call ``callback(event)`` for events of ``event_type`` (``None``: all types)."""
        self._monitor.add_event_callback(event_type, callback)

    def get_result(self, request_id: str) -> RequestResult | None:
        """The monitor's result for ``request_id``, or ``None``."""
        return self._monitor.get_result(request_id)

    async def wait_for_all_requests(self) -> dict[str, RequestResult]:
        """Wait until the monitor has processed every event sent so far; return the results."""
        return await self._monitor.wait_for_all_requests()

    async def aclose(self) -> None:
        """Close the client's transports (and the monitor's stream, if it never ran)."""
        try:
            await super().aclose()
        finally:
            self._monitor._close_if_unstarted()

    async def __aenter__(self) -> AsyncResilientClient:
        await super().__aenter__()
        try:
            await self._monitor.__aenter__()
        except BaseException:
            await super().__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc_value, traceback)
        finally:
            await self._monitor.__aexit__(exc_type, exc_value, traceback)


def create_async_resilient_client(**kwargs: Any) -> AsyncResilientClient:
    """Return an :class:`AsyncResilientClient`; takes the same keywords."""
    return AsyncResilientClient(**kwargs)


async def simple_async_request(
    method: str,
    url: httpx.URL | str,
    *,
    max_retries: int = 2,
    timeout: float | httpx.Timeout | None = 10.0,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request through a retrying transport; return the response, body read.

    Takes the retry keywords of :class:`RetryingAsyncTransport`, the client
    keywords of ``httpx.request()`` (``verify``, ``cert``, ``trust_env``,
    ``proxy``, ``http1``, ``http2``) and the request keywords of
    ``httpx.AsyncClient.request()`` (``params``, ``headers``, ``json``, ...).
    Errors propagate as they would from httpx itself.
    """
    retry, rest = _split({"max_retries": max_retries, **kwargs})
    client_kwargs = {k: v for k, v in rest.items() if k in _CLIENT_KEYWORDS}
    request_kwargs = {k: v for k, v in rest.items() if k not in _CLIENT_KEYWORDS}
    client = httpx.AsyncClient(timeout=timeout, **client_kwargs)
    _wrap_transports(client, lambda inner: RetryingAsyncTransport(inner, **retry))
    async with client:
        return await client.request(method, url, **request_kwargs)
