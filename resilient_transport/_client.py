"""`AsyncResilientClient`: an httpx client with its transports, events and monitor wired."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from ._breaker import CircuitBreaker
from ._budget import RetryBudget
from ._client_events import ClientEvents
from ._events import AsyncEvent, EventType
from ._keywords import NOT_GIVEN, NotGiven, RetryKeywords, given
from ._monitor import EventCallback, EventMonitor
from ._results import RequestResult
from ._stack import httpx

if TYPE_CHECKING:
    import ssl

    # httpx's names for the types of its keywords; it does not export them.
    # Type checking is all they are imported for.
    from httpx._client import UseClientDefault
    from httpx._types import (
        AuthTypes,
        CertTypes,
        CookieTypes,
        HeaderTypes,
        ProxyTypes,
        QueryParamTypes,
        TimeoutTypes,
    )

__all__ = ["AsyncResilientClient", "create_async_resilient_client"]


class AsyncResilientClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose every transport retries and reports to a monitor.

    Takes the retry keywords of
    [`RetryingAsyncTransport`][resilient_transport.RetryingAsyncTransport]
    (``max_retries``, ``base_delay``, ...) beside the keywords of ``httpx.AsyncClient``; a
    keyword not given takes the transport's (or httpx's) own default. The
    default transport, any ``transport=``, and every transport of ``mounts=``
    or built by httpx for ``proxy=`` (or proxy environment variables) is
    wrapped in a [`RetryingAsyncTransport`][resilient_transport.RetryingAsyncTransport];
    all of them feed one event stream, consumed by an [`EventMonitor`][] that
    ``async with`` starts and stops:

    ```python
    async with AsyncResilientClient(max_retries=3) as client:
        client.add_event_callback(EventType.RETRY, print)
        await client.get(url, extensions={"retry": RequestContext(request_id="x")})
        await client.wait_for_all_requests()
        client.get_result("x").attempts
    ```

    Used the plain httpx way instead (created, used, then ``await
    client.aclose()``), the client has no task to run the monitor in: it
    processes the events itself, with [`EventMonitor.process_queued`][], in the
    task of each request as it ends (after its response head, before
    [`send()`][send] returns) — callbacks run and results are kept just the same,
    and a callback that raises still does not fail the request. A request
    never waits for another request's callbacks: one that ends while an
    async callback runs in another request's task leaves its events to the
    next request to end; [`wait_for_all_requests`][] and [`aclose`][] process
    whatever is left. Enter the client to keep callbacks off the requests'
    own path.

    A transport passed in that already is a
    [`RetryingAsyncTransport`][resilient_transport.RetryingAsyncTransport] is used
    as it is (its own events, if any, do not reach this client's monitor).

    Args:
        max_buffer_size: Events buffered for the monitor; beyond it, events
            are dropped and counted in [`dropped_events`][].
        max_results: Results the monitor keeps (see [`EventMonitor`][]).

    The other keywords are those of
    [`RetryingAsyncTransport`][resilient_transport.RetryingAsyncTransport] (except
    ``events``, the client's own) and of ``httpx.AsyncClient``.

    Raises:
        TypeError: A keyword is unknown or has the wrong type.
        ValueError: A keyword has a wrong value.
    """

    def __init__(
        self,
        *,
        max_retries: int | NotGiven = NOT_GIVEN,
        base_delay: float | NotGiven = NOT_GIVEN,
        max_delay: float | NotGiven | None = NOT_GIVEN,
        jitter: float | NotGiven = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
        retry_connect_timeouts: bool | NotGiven = NOT_GIVEN,
        retry_idempotent_errors: bool | NotGiven = NOT_GIVEN,
        retry_statuses: Collection[int] | NotGiven = NOT_GIVEN,
        max_retry_after: float | NotGiven = NOT_GIVEN,
        hedge_delay: float | NotGiven | None = NOT_GIVEN,
        max_hedges: int | NotGiven = NOT_GIVEN,
        budget: RetryBudget | NotGiven | None = NOT_GIVEN,
        breaker: CircuitBreaker | NotGiven | None = NOT_GIVEN,
        sleep: Callable[[float], Awaitable[Any]] | NotGiven | None = NOT_GIVEN,
        clock: Callable[[], float] | NotGiven = NOT_GIVEN,
        random: Callable[[], float] | NotGiven = NOT_GIVEN,
        max_buffer_size: int = 1000,
        max_results: int = 10_000,
        auth: AuthTypes | NotGiven | None = NOT_GIVEN,
        params: QueryParamTypes | NotGiven | None = NOT_GIVEN,
        headers: HeaderTypes | NotGiven | None = NOT_GIVEN,
        cookies: CookieTypes | NotGiven | None = NOT_GIVEN,
        verify: ssl.SSLContext | str | bool | NotGiven = NOT_GIVEN,
        cert: CertTypes | NotGiven | None = NOT_GIVEN,
        http1: bool | NotGiven = NOT_GIVEN,
        http2: bool | NotGiven = NOT_GIVEN,
        proxy: ProxyTypes | NotGiven | None = NOT_GIVEN,
        mounts: Mapping[str, httpx.AsyncBaseTransport | None] | NotGiven | None = NOT_GIVEN,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        follow_redirects: bool | NotGiven = NOT_GIVEN,
        limits: httpx.Limits | NotGiven = NOT_GIVEN,
        max_redirects: int | NotGiven = NOT_GIVEN,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | NotGiven | None = NOT_GIVEN,
        base_url: httpx.URL | str | NotGiven = NOT_GIVEN,
        transport: httpx.AsyncBaseTransport | NotGiven | None = NOT_GIVEN,
        trust_env: bool | NotGiven = NOT_GIVEN,
        default_encoding: str | Callable[[bytes], str] | NotGiven = NOT_GIVEN,
    ) -> None:
        retry = RetryKeywords(
            max_retries=max_retries,
            base_delay=base_delay,
            max_delay=max_delay,
            jitter=jitter,
            deadline=deadline,
            retry_connect_timeouts=retry_connect_timeouts,
            retry_idempotent_errors=retry_idempotent_errors,
            retry_statuses=retry_statuses,
            max_retry_after=max_retry_after,
            hedge_delay=hedge_delay,
            max_hedges=max_hedges,
            budget=budget,
            breaker=breaker,
            sleep=sleep,
            clock=clock,
            random=random,
        )
        client_kwargs = given(
            auth=auth,
            params=params,
            headers=headers,
            cookies=cookies,
            verify=verify,
            cert=cert,
            http1=http1,
            http2=http2,
            proxy=proxy,
            mounts=mounts,
            timeout=timeout,
            follow_redirects=follow_redirects,
            limits=limits,
            max_redirects=max_redirects,
            event_hooks=event_hooks,
            base_url=base_url,
            transport=transport,
            trust_env=trust_env,
            default_encoding=default_encoding,
        )
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
        self._retrying = retry.wrap_client(self, events=send)
        send.close()  # each transport owns a clone; the monitor ends when all close
        self._events = ClientEvents(self._monitor)

    @property
    def monitor(self) -> EventMonitor:
        """The client's [`EventMonitor`][]."""
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
        return await self._events.wait_for_all_requests()

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: AuthTypes | UseClientDefault | None = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        """Send ``request`` as ``httpx.AsyncClient.send`` does.

        On a client used without ``async with``, the events queued when the
        request ends are processed before this returns (see the class).
        """
        return await self._events.after(
            super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        )

    async def aclose(self) -> None:
        """Close the client's transports; then, if no loop ran, process the events left."""
        try:
            await super().aclose()
        finally:
            await self._events.close()

    async def __aenter__(self) -> AsyncResilientClient:
        await super().__aenter__()
        try:
            await self._events.start()
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
            await self._events.stop(exc_type, exc_value, traceback)


def create_async_resilient_client(
    *,
    max_retries: int | NotGiven = NOT_GIVEN,
    base_delay: float | NotGiven = NOT_GIVEN,
    max_delay: float | NotGiven | None = NOT_GIVEN,
    jitter: float | NotGiven = NOT_GIVEN,
    deadline: float | NotGiven | None = NOT_GIVEN,
    retry_connect_timeouts: bool | NotGiven = NOT_GIVEN,
    retry_idempotent_errors: bool | NotGiven = NOT_GIVEN,
    retry_statuses: Collection[int] | NotGiven = NOT_GIVEN,
    max_retry_after: float | NotGiven = NOT_GIVEN,
    hedge_delay: float | NotGiven | None = NOT_GIVEN,
    max_hedges: int | NotGiven = NOT_GIVEN,
    budget: RetryBudget | NotGiven | None = NOT_GIVEN,
    breaker: CircuitBreaker | NotGiven | None = NOT_GIVEN,
    sleep: Callable[[float], Awaitable[Any]] | NotGiven | None = NOT_GIVEN,
    clock: Callable[[], float] | NotGiven = NOT_GIVEN,
    random: Callable[[], float] | NotGiven = NOT_GIVEN,
    max_buffer_size: int = 1000,
    max_results: int = 10_000,
    auth: AuthTypes | NotGiven | None = NOT_GIVEN,
    params: QueryParamTypes | NotGiven | None = NOT_GIVEN,
    headers: HeaderTypes | NotGiven | None = NOT_GIVEN,
    cookies: CookieTypes | NotGiven | None = NOT_GIVEN,
    verify: ssl.SSLContext | str | bool | NotGiven = NOT_GIVEN,
    cert: CertTypes | NotGiven | None = NOT_GIVEN,
    http1: bool | NotGiven = NOT_GIVEN,
    http2: bool | NotGiven = NOT_GIVEN,
    proxy: ProxyTypes | NotGiven | None = NOT_GIVEN,
    mounts: Mapping[str, httpx.AsyncBaseTransport | None] | NotGiven | None = NOT_GIVEN,
    timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    follow_redirects: bool | NotGiven = NOT_GIVEN,
    limits: httpx.Limits | NotGiven = NOT_GIVEN,
    max_redirects: int | NotGiven = NOT_GIVEN,
    event_hooks: Mapping[str, list[Callable[..., Any]]] | NotGiven | None = NOT_GIVEN,
    base_url: httpx.URL | str | NotGiven = NOT_GIVEN,
    transport: httpx.AsyncBaseTransport | NotGiven | None = NOT_GIVEN,
    trust_env: bool | NotGiven = NOT_GIVEN,
    default_encoding: str | Callable[[bytes], str] | NotGiven = NOT_GIVEN,
) -> AsyncResilientClient:
    """Return an [`AsyncResilientClient`][]: the same keywords, the same thing.

    The spelling of the contract and of the original design, kept for the
    code written against it; ``AsyncResilientClient(...)`` is equivalent.
    """
    # Every parameter, as given: forwarded by construction, never by a
    # hand-kept list that could miss one (the signatures are equal, tested).
    return AsyncResilientClient(**locals())
