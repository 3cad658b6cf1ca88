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
from resilient_transport.testing import EventRecorder, FlakyTransport, RecordingSleep


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
