"""Mass cancellation in backoff, and a monitor too slow to keep up."""

from __future__ import annotations

import collections

import anyio
import anyio.lowlevel
import httpx
import pytest

from resilient_transport import AsyncEvent, EventMonitor, EventType, RetryingAsyncTransport
from resilient_transport.testing import EventRecorder, FlakyTransport, RecordingSleep

pytestmark = pytest.mark.anyio

CANCELLED_REQUESTS = 5_000
# Scheduler passes the unwinding of every cancelled request may take. Measured:
# 1 or 2 on asyncio and on trio, whatever the number of requests. A request
# that waited on another's unwinding, or made a step of its own per request,
# would need thousands. A count of passes, not seconds, so it cannot flake.
UNWIND_PASSES = 10


async def test_five_thousand_requests_sleeping_in_backoff_are_cancelled_at_once() -> None:
    inner = FlakyTransport(failures=1)
    sleep = RecordingSleep(block=True)
    cancelled: list[int] = []
    finished: list[int] = []
    passes = 0
    tasks_before = len(anyio.get_running_tasks())

    async def one(client: httpx.AsyncClient, index: int) -> None:
        try:
            await client.get(f"http://service.test/{index}")
        except anyio.get_cancelled_exc_class():
            cancelled.append(index)
            raise
        finished.append(index)  # pragma: no cover - would be a failure

    async def count_scheduler_passes() -> None:
        nonlocal passes
        while True:
            passes += 1
            await anyio.lowlevel.checkpoint()

    with EventRecorder() as recorder, anyio.fail_after(60):
        transport = RetryingAsyncTransport(
            inner,
            max_retries=3,
            base_delay=30.0,
            max_delay=60.0,
            sleep=sleep,
            events=recorder.send,
        )
        async with (
            httpx.AsyncClient(transport=transport) as client,
            anyio.create_task_group() as outer,
        ):
            async with anyio.create_task_group() as task_group:
                for index in range(CANCELLED_REQUESTS):
                    task_group.start_soon(one, client, index)
                while sleep.sleeping < CANCELLED_REQUESTS:
                    await anyio.wait_all_tasks_blocked()
                assert inner.calls == CANCELLED_REQUESTS
                # Started only now: a task that never blocks would keep
                # wait_all_tasks_blocked() above from returning.
                outer.start_soon(count_scheduler_passes)
                task_group.cancel_scope.cancel()
            unwind_passes = passes
            outer.cancel_scope.cancel()

        events = recorder.events

    assert unwind_passes <= UNWIND_PASSES
    assert sorted(cancelled) == list(range(CANCELLED_REQUESTS))
    assert finished == []
    assert sleep.sleeping == 0
    assert inner.calls == CANCELLED_REQUESTS  # no attempt after the cancellation
    assert len(anyio.get_running_tasks()) == tasks_before
    by_type = collections.Counter(event.event_type for event in events)
    assert by_type == {
        EventType.RETRY: CANCELLED_REQUESTS,
        EventType.CANCELLED: CANCELLED_REQUESTS,
    }
    terminal = [event for event in events if event.event_type is EventType.CANCELLED]
    assert len({event.request_id for event in terminal}) == CANCELLED_REQUESTS
    assert all(event.attempts == 1 and event.context.current_attempt == 1 for event in terminal)
    assert transport.dropped_events == 0


async def test_slow_monitor_callback_never_delays_a_request() -> None:
    # The callback blocks until every request is done: had any request waited
    # on the monitor, none could finish and fail_after would fire.
    requests, failures, buffer = 200, 2, 10
    release = anyio.Event()
    seen: list[AsyncEvent] = []

    async def slow_callback(event: AsyncEvent) -> None:
        seen.append(event)
        await release.wait()

    send, receive = anyio.create_memory_object_stream[AsyncEvent](buffer)
    inner = FlakyTransport(failures=failures)
    transport = RetryingAsyncTransport(inner, base_delay=0, events=send)
    monitor = EventMonitor(receive)
    monitor.add_event_callback(None, slow_callback)
    done: list[int] = []

    async def one(client: httpx.AsyncClient, index: int) -> None:
        response = await client.get(f"http://service.test/{index}")
        assert response.status_code == 200
        done.append(index)

    with anyio.fail_after(10):
        async with monitor, httpx.AsyncClient(transport=transport) as client:
            async with anyio.create_task_group() as task_group:
                for index in range(requests):
                    task_group.start_soon(one, client, index)
            assert sorted(done) == list(range(requests))
            assert len(seen) == 1  # the monitor is still stuck in its first callback
            emitted = requests * (failures + 1)
            assert transport.dropped_events == emitted - buffer - 1
            release.set()

    assert monitor.events_processed == buffer + 1
    assert inner.calls == emitted
