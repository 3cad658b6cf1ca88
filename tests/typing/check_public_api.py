"""Pins the public types for mypy; never executed (not collected by pytest).

`mypy --strict resilient_transport tests/typing` in .ci/run fails if a public
signature changes in a way that breaks these uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import httpx
from typing_extensions import assert_type

from resilient_transport import (
    AsyncEvent,
    AsyncResilientClient,
    EventMonitor,
    EventType,
    GiveUpReason,
    RequestContext,
    RequestResult,
    RetryBudget,
    RetryingAsyncTransport,
    create_async_resilient_client,
    simple_async_request,
)
from resilient_transport.testing import EventRecorder, FakeClock, FlakyTransport, RecordingSleep


async def transport_usage(url: str) -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](max_buffer_size=1000)
    transport = RetryingAsyncTransport(
        httpx.AsyncHTTPTransport(http2=True),
        max_retries=2,
        base_delay=1.0,
        max_delay=20.0,
        jitter=1.0,
        deadline=30.0,
        retry_connect_timeouts=True,
        retry_idempotent_errors=True,
        retry_statuses={429, 503},
        max_retry_after=60.0,
        budget=RetryBudget(),
        events=send,
        sleep=anyio.sleep,
    )
    assert_type(transport.dropped_events, int)
    monitor = EventMonitor(receive, max_results=100)

    def on_retry(event: AsyncEvent) -> None:
        assert_type(event.event_type, EventType)
        assert_type(event.context, RequestContext)
        assert_type(event.error, BaseException | None)
        assert_type(event.reason, GiveUpReason | None)

    async def on_any(event: AsyncEvent) -> None: ...

    monitor.add_event_callback(EventType.RETRY, on_retry)
    monitor.add_event_callback(None, on_any)
    async with monitor, httpx.AsyncClient(transport=transport) as client:
        response = await client.get(
            url, extensions={"retry": RequestContext(max_retries=4, request_id="users")}
        )
        final: RequestContext = response.extensions["retry"]
        assert_type(final.current_attempt, int)
        assert_type(final.has_retries_left, bool)
        assert_type(final.calculate_delay(), float)
        assert_type(final.increment_attempt(), RequestContext)
        assert_type(final.clone(), RequestContext)
        assert_type(final.metadata, Mapping[str, Any])
    assert_type(monitor.get_result("users"), RequestResult | None)
    assert_type(await monitor.wait_for_all_requests(), dict[str, RequestResult])


async def client_usage(url: str) -> None:
    async with create_async_resilient_client(max_retries=3, timeout=5.0) as client:
        assert_type(client, AsyncResilientClient)
        client.add_event_callback(EventType.RETRY, print)
        await client.get(url)
        assert_type(client.get_result("x"), RequestResult | None)
        assert_type(await client.wait_for_all_requests(), dict[str, RequestResult])
    response = await simple_async_request("GET", url, max_retries=2, timeout=10.0)
    assert_type(response, httpx.Response)
    client = AsyncResilientClient(
        max_retries=3,
        base_delay=0.5,
        max_delay=None,
        jitter=0.5,
        deadline=None,
        retry_connect_timeouts=True,
        retry_idempotent_errors=True,
        retry_statuses=[429, 503],
        max_retry_after=60.0,
        budget=RetryBudget(),
        sleep=anyio.sleep,
        clock=lambda: 0.0,
        random=lambda: 0.5,
        max_buffer_size=100,
        max_results=10,
        base_url="http://service.test/",
        headers={"x-client": "rt"},
        timeout=httpx.Timeout(5.0),
        follow_redirects=True,
        mounts={"http://special.test": None},
    )
    await client.aclose()
    # A misspelt or mistyped keyword is a type error; if one were accepted,
    # mypy --strict would flag its ignore as unused.
    AsyncResilientClient(max_retrys=3)  # type: ignore[call-arg]
    create_async_resilient_client(base_dealy=0.5)  # type: ignore[call-arg]
    await simple_async_request("GET", url, max_retrys=1)  # type: ignore[call-arg]
    AsyncResilientClient(max_retries="3")  # type: ignore[arg-type]
    await simple_async_request("GET", url, timeout="10")  # type: ignore[arg-type]


async def testing_usage() -> None:
    inner = FlakyTransport(failures=2)
    sleep = RecordingSleep()
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(inner, sleep=sleep, events=recorder.send)
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get("http://service.test/")
        assert_type(recorder.events, list[AsyncEvent])
    assert_type(inner.calls, int)
    assert_type(sleep.delays, list[float])
    clock = FakeClock()
    RetryingAsyncTransport(inner, clock=clock, sleep=clock.sleep, deadline=5.0)
    clock.advance(1.5)
    assert_type(clock(), float)
    assert_type(clock.delays, list[float])


def redaction_usage(url: httpx.URL) -> None:
    from resilient_transport import (
        DEFAULT_REDACTED_QUERY_KEYS,
        redact_url,
        redacted_query_keys,
        set_redacted_query_keys,
    )

    assert_type(redact_url(url), str)
    assert_type(redact_url("https://h.test/?token=t"), str)
    assert_type(DEFAULT_REDACTED_QUERY_KEYS, frozenset[str])
    assert_type(redacted_query_keys(), frozenset[str])
    previous = set_redacted_query_keys(DEFAULT_REDACTED_QUERY_KEYS | {"session_id"})
    assert_type(previous, frozenset[str])
    set_redacted_query_keys(["custom"])
    set_redacted_query_keys(previous)


async def event_callback_usage() -> None:
    from resilient_transport import EventCallback

    send, receive = anyio.create_memory_object_stream[AsyncEvent](max_buffer_size=100)
    monitor = EventMonitor(receive)

    def on_retry(event: AsyncEvent) -> None: ...

    async def on_any(event: AsyncEvent) -> None: ...

    def counts(event: AsyncEvent) -> int:
        return 1

    callbacks: list[EventCallback] = [on_retry, on_any, counts, print]
    for callback in callbacks:
        monitor.add_event_callback(None, callback)
        monitor.remove_event_callback(None, callback)

    def takes_nothing() -> None: ...

    # If any of these were accepted, mypy --strict would flag its ignore as unused.
    monitor.add_event_callback(None, takes_nothing)  # type: ignore[arg-type]
    EventMonitor(object())  # type: ignore[arg-type]
    EventMonitor(send)  # type: ignore[arg-type]


def sync_usage(url: str) -> None:
    from resilient_transport import EventQueue, RetryingTransport, SyncEventMonitor

    queue = EventQueue(max_size=1000)
    sleep = RecordingSleep()
    transport = RetryingTransport(
        httpx.HTTPTransport(),
        max_retries=2,
        base_delay=1.0,
        deadline=30.0,
        retry_statuses={503},
        budget=RetryBudget(),
        events=queue.clone(),
        sleep=sleep.sync,
        clock=FakeClock(),
    )
    assert_type(transport.dropped_events, int)
    assert_type(transport.transport, httpx.BaseTransport)
    monitor = SyncEventMonitor(queue, max_results=100)

    def on_retry(event: AsyncEvent) -> None: ...

    monitor.add_event_callback(EventType.RETRY, on_retry)
    with monitor, httpx.Client(transport=transport) as client:
        client.get(url, extensions={"retry": RequestContext(request_id="users")})
        assert_type(monitor.wait_for_all_requests(timeout=1.0), dict[str, RequestResult])
    assert_type(monitor.get_result("users"), RequestResult | None)
    assert_type(monitor.process_queued(), int)
    assert_type(queue.receive(timeout=0.1), AsyncEvent | None)
    RetryingTransport(httpx.AsyncHTTPTransport())  # type: ignore[arg-type]
    RetryingTransport(events=anyio.create_memory_object_stream[AsyncEvent]()[0])  # type: ignore[arg-type]
    SyncEventMonitor(anyio.create_memory_object_stream[AsyncEvent]()[1])  # type: ignore[arg-type]
    clock = FakeClock()
    RetryingTransport(FlakyTransport(), clock=clock, sleep=clock.sync_sleep, deadline=5.0)


def breaker_usage(url: str) -> None:
    from resilient_transport import (
        CircuitBreaker,
        CircuitOpenError,
        CircuitState,
        CircuitTransition,
        RetryingTransport,
    )

    def on_change(change: CircuitTransition) -> None:
        assert_type(change.origin, str)
        assert_type(change.previous, CircuitState)
        assert_type(change.retry_at, float | None)

    breaker = CircuitBreaker(
        consecutive_failures=5,
        failure_ratio=0.5,
        minimum_attempts=20,
        window=10.0,
        break_duration=5.0,
        probes=1,
        on_state_change=on_change,
        clock=FakeClock(),
    )
    breaker.subscribe(print)
    assert_type(breaker.state(url), CircuitState)
    assert_type(breaker.states(), dict[str, CircuitState])
    assert_type(RetryingTransport(breaker=breaker).breaker, CircuitBreaker | None)
    assert_type(RetryingAsyncTransport(breaker=breaker).breaker, CircuitBreaker | None)
    try:
        httpx.get(url)
    except CircuitOpenError as exc:
        assert_type(exc.origin, str)
        assert_type(exc.remaining, float)
        error: httpx.TransportError = exc  # a transport error to httpx code
        del error
    CircuitBreaker(failure_ratio="half")  # type: ignore[arg-type]
