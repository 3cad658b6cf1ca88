"""Conveniences: a client with the transport, the event stream and the monitor wired."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Collection, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import anyio
import httpx

from ._budget import RetryBudget
from ._events import AsyncEvent, EventType
from ._monitor import EventCallback, EventMonitor
from ._results import RequestResult
from ._transport import RetryingAsyncTransport

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
        RequestContent,
        RequestData,
        RequestExtensions,
        RequestFiles,
        TimeoutTypes,
    )

__all__ = ["AsyncResilientClient", "create_async_resilient_client", "simple_async_request"]


class _NotGiven(enum.Enum):
    """The type of `NOT_GIVEN`."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: The default of the keywords that the conveniences pass on only when they
#: are given, so that the default of the transport (or of httpx) applies,
#: whatever it is.
NOT_GIVEN: Final = _NotGiven.NOT_GIVEN


def _given(**keywords: Any) -> dict[str, Any]:
    """The keywords given a value (other than `NOT_GIVEN`)."""
    return {name: value for name, value in keywords.items() if value is not NOT_GIVEN}


def _checked(retry: dict[str, Any]) -> dict[str, Any]:
    """``retry``, once a transport accepts it: bad values fail before httpx builds anything."""
    RetryingAsyncTransport(httpx.AsyncBaseTransport(), **retry)
    return retry


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

    Takes the retry keywords of `RetryingAsyncTransport` (``max_retries``,
    ``base_delay``, ...) beside the keywords of ``httpx.AsyncClient``; a
    keyword not given takes the transport's (or httpx's) own default. The
    default transport, any ``transport=``, and every transport of ``mounts=``
    or built by httpx for ``proxy=`` (or proxy environment variables) is
    wrapped in a `RetryingAsyncTransport`; all of them feed one event
    stream, consumed by an `EventMonitor` that ``async with`` starts and
    stops:

    ```python
    async with AsyncResilientClient(max_retries=3) as client:
        client.add_event_callback(EventType.RETRY, print)
        await client.get(url, extensions={"retry": RequestContext(request_id="x")})
        await client.wait_for_all_requests()
        client.get_result("x").attempts
    ```

    Used the plain httpx way instead (created, used, then ``await
    client.aclose()``), the client has no task to run the monitor in: it
    processes the events itself, with `EventMonitor.process_queued`, in the
    task of each request as it ends (after its response head, before
    ``send()`` returns) — callbacks run and results are kept just the same,
    and a callback that raises still does not fail the request. A request
    never waits for another request's callbacks: one that ends while an
    async callback runs in another request's task leaves its events to the
    next request to end; `wait_for_all_requests` and `aclose` process
    whatever is left. Enter the client to keep callbacks off the requests'
    own path.

    A transport passed in that already is a `RetryingAsyncTransport` is
    used as it is (its own events, if any, do not reach this client's monitor).

    Args:
        max_buffer_size: Events buffered for the monitor; beyond it, events
            are dropped and counted in `dropped_events`.
        max_results: Results the monitor keeps (see `EventMonitor`).

    The other keywords are those of `RetryingAsyncTransport` (except
    ``events``, the client's own) and of ``httpx.AsyncClient``.

    Raises:
        TypeError: A keyword is unknown or has the wrong type.
        ValueError: A keyword has a wrong value.
    """

    def __init__(
        self,
        *,
        max_retries: int | _NotGiven = NOT_GIVEN,
        base_delay: float | _NotGiven = NOT_GIVEN,
        max_delay: float | _NotGiven | None = NOT_GIVEN,
        jitter: float | _NotGiven = NOT_GIVEN,
        deadline: float | _NotGiven | None = NOT_GIVEN,
        retry_connect_timeouts: bool | _NotGiven = NOT_GIVEN,
        retry_idempotent_errors: bool | _NotGiven = NOT_GIVEN,
        retry_statuses: Collection[int] | _NotGiven = NOT_GIVEN,
        max_retry_after: float | _NotGiven = NOT_GIVEN,
        budget: RetryBudget | _NotGiven | None = NOT_GIVEN,
        sleep: Callable[[float], Awaitable[Any]] | _NotGiven | None = NOT_GIVEN,
        clock: Callable[[], float] | _NotGiven = NOT_GIVEN,
        random: Callable[[], float] | _NotGiven = NOT_GIVEN,
        max_buffer_size: int = 1000,
        max_results: int = 10_000,
        auth: AuthTypes | _NotGiven | None = NOT_GIVEN,
        params: QueryParamTypes | _NotGiven | None = NOT_GIVEN,
        headers: HeaderTypes | _NotGiven | None = NOT_GIVEN,
        cookies: CookieTypes | _NotGiven | None = NOT_GIVEN,
        verify: ssl.SSLContext | str | bool | _NotGiven = NOT_GIVEN,
        cert: CertTypes | _NotGiven | None = NOT_GIVEN,
        http1: bool | _NotGiven = NOT_GIVEN,
        http2: bool | _NotGiven = NOT_GIVEN,
        proxy: ProxyTypes | _NotGiven | None = NOT_GIVEN,
        mounts: Mapping[str, httpx.AsyncBaseTransport | None] | _NotGiven | None = NOT_GIVEN,
        timeout: TimeoutTypes | _NotGiven = NOT_GIVEN,
        follow_redirects: bool | _NotGiven = NOT_GIVEN,
        limits: httpx.Limits | _NotGiven = NOT_GIVEN,
        max_redirects: int | _NotGiven = NOT_GIVEN,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | _NotGiven | None = NOT_GIVEN,
        base_url: httpx.URL | str | _NotGiven = NOT_GIVEN,
        transport: httpx.AsyncBaseTransport | _NotGiven | None = NOT_GIVEN,
        trust_env: bool | _NotGiven = NOT_GIVEN,
        default_encoding: str | Callable[[bytes], str] | _NotGiven = NOT_GIVEN,
    ) -> None:
        retry = _checked(
            _given(
                max_retries=max_retries,
                base_delay=base_delay,
                max_delay=max_delay,
                jitter=jitter,
                deadline=deadline,
                retry_connect_timeouts=retry_connect_timeouts,
                retry_idempotent_errors=retry_idempotent_errors,
                retry_statuses=retry_statuses,
                max_retry_after=max_retry_after,
                budget=budget,
                sleep=sleep,
                clock=clock,
                random=random,
            )
        )
        client_kwargs = _given(
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
        self._retrying = _wrap_transports(
            self, lambda inner: RetryingAsyncTransport(inner, events=send.clone(), **retry)
        )
        send.close()  # each transport owns a clone; the monitor ends when all close
        # Whether `async with` started the monitor's loop; if not, the client
        # processes the events itself.
        self._entered = False

    @property
    def monitor(self) -> EventMonitor:
        """The client's `EventMonitor`."""
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
        if not self._entered:
            await self._monitor.process_queued()  # no loop: the monitor is the client's to run
        return await self._monitor.wait_for_all_requests()

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
        if self._entered:
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        try:
            response = await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        except Exception:
            await self._monitor.process_queued()
            raise
        try:
            await self._monitor.process_queued()
        except BaseException:  # cancelled in an async callback: as httpx's own send()
            await response.aclose()
            raise
        return response

    async def aclose(self) -> None:
        """Close the client's transports; then, if no loop ran, process the events left."""
        try:
            await super().aclose()
        finally:
            await self._monitor._close_without_loop()

    async def __aenter__(self) -> AsyncResilientClient:
        await super().__aenter__()
        try:
            await self._monitor.__aenter__()
        except BaseException:
            await super().__aexit__(None, None, None)
            raise
        self._entered = True
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


def create_async_resilient_client(
    *,
    max_retries: int | _NotGiven = NOT_GIVEN,
    base_delay: float | _NotGiven = NOT_GIVEN,
    max_delay: float | _NotGiven | None = NOT_GIVEN,
    jitter: float | _NotGiven = NOT_GIVEN,
    deadline: float | _NotGiven | None = NOT_GIVEN,
    retry_connect_timeouts: bool | _NotGiven = NOT_GIVEN,
    retry_idempotent_errors: bool | _NotGiven = NOT_GIVEN,
    retry_statuses: Collection[int] | _NotGiven = NOT_GIVEN,
    max_retry_after: float | _NotGiven = NOT_GIVEN,
    budget: RetryBudget | _NotGiven | None = NOT_GIVEN,
    sleep: Callable[[float], Awaitable[Any]] | _NotGiven | None = NOT_GIVEN,
    clock: Callable[[], float] | _NotGiven = NOT_GIVEN,
    random: Callable[[], float] | _NotGiven = NOT_GIVEN,
    max_buffer_size: int = 1000,
    max_results: int = 10_000,
    auth: AuthTypes | _NotGiven | None = NOT_GIVEN,
    params: QueryParamTypes | _NotGiven | None = NOT_GIVEN,
    headers: HeaderTypes | _NotGiven | None = NOT_GIVEN,
    cookies: CookieTypes | _NotGiven | None = NOT_GIVEN,
    verify: ssl.SSLContext | str | bool | _NotGiven = NOT_GIVEN,
    cert: CertTypes | _NotGiven | None = NOT_GIVEN,
    http1: bool | _NotGiven = NOT_GIVEN,
    http2: bool | _NotGiven = NOT_GIVEN,
    proxy: ProxyTypes | _NotGiven | None = NOT_GIVEN,
    mounts: Mapping[str, httpx.AsyncBaseTransport | None] | _NotGiven | None = NOT_GIVEN,
    timeout: TimeoutTypes | _NotGiven = NOT_GIVEN,
    follow_redirects: bool | _NotGiven = NOT_GIVEN,
    limits: httpx.Limits | _NotGiven = NOT_GIVEN,
    max_redirects: int | _NotGiven = NOT_GIVEN,
    event_hooks: Mapping[str, list[Callable[..., Any]]] | _NotGiven | None = NOT_GIVEN,
    base_url: httpx.URL | str | _NotGiven = NOT_GIVEN,
    transport: httpx.AsyncBaseTransport | _NotGiven | None = NOT_GIVEN,
    trust_env: bool | _NotGiven = NOT_GIVEN,
    default_encoding: str | Callable[[bytes], str] | _NotGiven = NOT_GIVEN,
) -> AsyncResilientClient:
    """Return an `AsyncResilientClient`: the same keywords, the same thing.

    The spelling of the contract and of the original design, kept for the
    code written against it; ``AsyncResilientClient(...)`` is equivalent.
    """
    return AsyncResilientClient(
        max_retries=max_retries,
        base_delay=base_delay,
        max_delay=max_delay,
        jitter=jitter,
        deadline=deadline,
        retry_connect_timeouts=retry_connect_timeouts,
        retry_idempotent_errors=retry_idempotent_errors,
        retry_statuses=retry_statuses,
        max_retry_after=max_retry_after,
        budget=budget,
        sleep=sleep,
        clock=clock,
        random=random,
        max_buffer_size=max_buffer_size,
        max_results=max_results,
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


async def simple_async_request(
    method: str,
    url: httpx.URL | str,
    *,
    max_retries: int | _NotGiven = NOT_GIVEN,
    base_delay: float | _NotGiven = NOT_GIVEN,
    max_delay: float | _NotGiven | None = NOT_GIVEN,
    jitter: float | _NotGiven = NOT_GIVEN,
    deadline: float | _NotGiven | None = NOT_GIVEN,
    retry_connect_timeouts: bool | _NotGiven = NOT_GIVEN,
    retry_idempotent_errors: bool | _NotGiven = NOT_GIVEN,
    retry_statuses: Collection[int] | _NotGiven = NOT_GIVEN,
    max_retry_after: float | _NotGiven = NOT_GIVEN,
    budget: RetryBudget | _NotGiven | None = NOT_GIVEN,
    sleep: Callable[[float], Awaitable[Any]] | _NotGiven | None = NOT_GIVEN,
    clock: Callable[[], float] | _NotGiven = NOT_GIVEN,
    random: Callable[[], float] | _NotGiven = NOT_GIVEN,
    verify: ssl.SSLContext | str | bool | _NotGiven = NOT_GIVEN,
    cert: CertTypes | _NotGiven | None = NOT_GIVEN,
    trust_env: bool | _NotGiven = NOT_GIVEN,
    proxy: ProxyTypes | _NotGiven | None = NOT_GIVEN,
    http1: bool | _NotGiven = NOT_GIVEN,
    http2: bool | _NotGiven = NOT_GIVEN,
    timeout: TimeoutTypes = 10.0,
    params: QueryParamTypes | _NotGiven | None = NOT_GIVEN,
    content: RequestContent | _NotGiven | None = NOT_GIVEN,
    data: RequestData | _NotGiven | None = NOT_GIVEN,
    files: RequestFiles | _NotGiven | None = NOT_GIVEN,
    json: Any = NOT_GIVEN,
    headers: HeaderTypes | _NotGiven | None = NOT_GIVEN,
    cookies: CookieTypes | _NotGiven | None = NOT_GIVEN,
    auth: AuthTypes | _NotGiven | None = NOT_GIVEN,
    follow_redirects: bool | _NotGiven = NOT_GIVEN,
    extensions: RequestExtensions | _NotGiven | None = NOT_GIVEN,
) -> httpx.Response:
    """Send one request through a retrying transport; return the response, body read.

    Takes the retry keywords of `RetryingAsyncTransport`, the client
    keywords of ``httpx.request()`` (``verify``, ``cert``, ``trust_env``,
    ``proxy``, ``http1``, ``http2``, ``timeout``) and the request keywords of
    ``httpx.AsyncClient.request()`` (``params``, ``headers``, ``json``, ...).
    A keyword not given takes the transport's (or httpx's) own default;
    ``timeout`` is 10 seconds unless given. Errors propagate as they would
    from httpx itself.

    Raises:
        TypeError: A keyword is unknown or has the wrong type (before any attempt).
        ValueError: A retry keyword has a wrong value (before any attempt).
    """
    retry = _checked(
        _given(
            max_retries=max_retries,
            base_delay=base_delay,
            max_delay=max_delay,
            jitter=jitter,
            deadline=deadline,
            retry_connect_timeouts=retry_connect_timeouts,
            retry_idempotent_errors=retry_idempotent_errors,
            retry_statuses=retry_statuses,
            max_retry_after=max_retry_after,
            budget=budget,
            sleep=sleep,
            clock=clock,
            random=random,
        )
    )
    client = httpx.AsyncClient(
        timeout=timeout,
        **_given(
            verify=verify, cert=cert, trust_env=trust_env, proxy=proxy, http1=http1, http2=http2
        ),
    )
    _wrap_transports(client, lambda inner: RetryingAsyncTransport(inner, **retry))
    async with client:
        return await client.request(
            method,
            url,
            **_given(
                params=params,
                content=content,
                data=data,
                files=files,
                json=json,
                headers=headers,
                cookies=cookies,
                auth=auth,
                follow_redirects=follow_redirects,
                extensions=extensions,
            ),
        )
