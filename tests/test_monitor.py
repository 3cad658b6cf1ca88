"""EventMonitor: callbacks, bounded results, drain and exit semantics."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from resilient_transport import (
    AsyncEvent,
    EventMonitor,
    EventType,
    GiveUpReason,
    RequestContext,
    RequestResult,
    RetryingAsyncTransport,
    _drain,
)
from resilient_transport.testing import FlakyTransport, RecordingSleep

from ._support import URL

pytestmark = pytest.mark.anyio


def event(kind: EventType, request_id: str, attempts: int = 1, **kwargs: Any) -> AsyncEvent:
    ctx = RequestContext(request_id=request_id, current_attempt=attempts - 1)
    return AsyncEvent(kind, ctx, 0.0, attempts=attempts, **kwargs)


def stream(size: float = 100) -> tuple[Any, Any]:
    return anyio.create_memory_object_stream[AsyncEvent](size)


async def test_results_are_kept_per_request_with_attempts_and_total_time() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive)
    async with monitor:
        send.send_nowait(event(EventType.RETRY, "a", 1))
        send.send_nowait(event(EventType.SUCCESS, "a", 2, status_code=201, elapsed=0.75))
        send.send_nowait(event(EventType.ERROR, "b", 3, error=ValueError("x"), elapsed=1.5))
        results = await monitor.wait_for_all_requests()
    send.close()
    assert set(results) == {"a", "b"}
    a = monitor.get_result("a")
    assert a == RequestResult("a", 2, 0.75, EventType.SUCCESS, status_code=201)
    assert a is not None and a.retries == 1 and a.succeeded
    b = monitor.get_result("b")
    assert b is not None and (b.attempts, b.outcome, b.total_time) == (3, EventType.ERROR, 1.5)
    assert not b.succeeded
    assert monitor.get_result("unknown") is None
    assert monitor.events_processed == 3


async def test_sync_and_async_callbacks_by_type_and_for_every_type() -> None:
    send, receive = stream()
    seen: list[tuple[str, EventType]] = []
    monitor = EventMonitor(receive)
    monitor.add_event_callback(EventType.RETRY, lambda e: seen.append(("sync", e.event_type)))

    async def on_any(e: AsyncEvent) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(("async", e.event_type))

    monitor.add_event_callback(None, on_any)
    async with monitor:
        send.send_nowait(event(EventType.RETRY, "a"))
        send.send_nowait(event(EventType.SUCCESS, "a", 2))
        await monitor.wait_for_all_requests()
    send.close()
    assert seen == [
        ("sync", EventType.RETRY),
        ("async", EventType.RETRY),
        ("async", EventType.SUCCESS),
    ]


async def test_a_raising_callback_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    send, receive = stream()
    seen: list[str] = []

    def bad(e: AsyncEvent) -> None:
        raise RuntimeError("callback bug")

    async def bad_async(e: AsyncEvent) -> None:
        raise ValueError("async callback bug")

    monitor = EventMonitor(receive)
    monitor.add_event_callback(EventType.SUCCESS, bad)
    monitor.add_event_callback(EventType.SUCCESS, bad_async)
    monitor.add_event_callback(EventType.SUCCESS, lambda e: seen.append(e.request_id))
    with caplog.at_level(logging.ERROR, logger="resilient_transport"):
        async with monitor:
            for i in range(3):
                send.send_nowait(event(EventType.SUCCESS, f"r{i}"))
            await monitor.wait_for_all_requests()
    send.close()
    assert seen == ["r0", "r1", "r2"]
    assert monitor.callback_errors == 6
    assert len(monitor.results) == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "resilient_transport"]
    assert len(messages) == 6
    assert "callback bug" in caplog.text


async def test_removed_callbacks_are_not_called() -> None:
    send, receive = stream()
    seen: list[str] = []
    monitor = EventMonitor(receive)

    def callback(e: AsyncEvent) -> None:
        seen.append(e.request_id)

    monitor.add_event_callback(None, callback)
    monitor.remove_event_callback(None, callback)
    with pytest.raises(ValueError, match="is not registered"):
        monitor.remove_event_callback(EventType.RETRY, callback)
    async with monitor:
        send.send_nowait(event(EventType.SUCCESS, "a"))
        await monitor.wait_for_all_requests()
    send.close()
    assert seen == []


async def test_results_are_bounded_to_the_most_recent() -> None:
    send, receive = stream(float("inf"))
    monitor = EventMonitor(receive, max_results=3)
    async with monitor:
        for i in range(10):
            send.send_nowait(event(EventType.SUCCESS, f"r{i}"))
        results = await monitor.wait_for_all_requests()
    send.close()
    assert list(results) == ["r7", "r8", "r9"]
    assert monitor.max_results == 3
    assert monitor.get_result("r0") is None


async def test_a_reused_request_id_keeps_the_latest_result() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive, max_results=2)
    async with monitor:
        send.send_nowait(event(EventType.SUCCESS, "a", 1))
        send.send_nowait(event(EventType.SUCCESS, "b", 1))
        send.send_nowait(event(EventType.ERROR, "a", 3))
        send.send_nowait(event(EventType.SUCCESS, "c", 1))
        results = await monitor.wait_for_all_requests()
    send.close()
    assert list(results) == ["a", "c"]
    assert results["a"].attempts == 3


async def test_max_results_zero_keeps_nothing_but_still_calls_back() -> None:
    send, receive = stream()
    seen: list[AsyncEvent] = []
    monitor = EventMonitor(receive, max_results=0)
    monitor.add_event_callback(None, seen.append)
    async with monitor:
        send.send_nowait(event(EventType.SUCCESS, "a"))
        assert await monitor.wait_for_all_requests() == {}
    send.close()
    assert len(seen) == 1


async def test_run_returns_when_every_send_end_is_closed_and_all_is_processed() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive)
    clone = send.clone()
    send.send_nowait(event(EventType.SUCCESS, "a"))
    clone.send_nowait(event(EventType.SUCCESS, "b"))
    send.close()
    clone.close()
    with anyio.fail_after(5):
        await monitor.run()
    assert set(monitor.results) == {"a", "b"}
    assert not monitor.running
    # Finished: waiting returns at once.
    assert set(await monitor.wait_for_all_requests()) == {"a", "b"}
    receive.close()


async def test_run_in_the_callers_task_group_while_events_flow() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive)
    async with anyio.create_task_group() as tg:
        tg.start_soon(monitor.run)
        async with send:
            for i in range(50):
                await send.send(event(EventType.SUCCESS, f"r{i}"))
            assert len(await monitor.wait_for_all_requests()) == 50
            assert monitor.running
    assert not monitor.running
    receive.close()


async def test_leaving_the_block_processes_sent_events_without_waiting_for_senders() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive)
    with anyio.fail_after(5):
        async with monitor:
            for i in range(20):
                send.send_nowait(event(EventType.SUCCESS, f"r{i}"))
        # send is still open: the exit did not wait for it to close.
    assert len(monitor.results) == 20
    assert not monitor.running
    with pytest.raises(anyio.BrokenResourceError):
        send.send_nowait(event(EventType.SUCCESS, "late"))  # the receive end is closed
    send.close()


async def test_an_exception_in_the_block_propagates_unwrapped_and_the_loop_stops() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive)
    with pytest.raises(httpx.ConnectError):
        async with monitor:
            raise httpx.ConnectError("boom")
    assert not monitor.running
    send.close()


async def test_wait_for_all_requests_before_start_raises() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive)
    with pytest.raises(RuntimeError, match="never started"):
        await monitor.wait_for_all_requests()
    send.close()
    receive.close()


async def test_a_monitor_cannot_be_started_twice() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive)
    async with monitor:
        with pytest.raises(RuntimeError, match="already been started"):
            await monitor.run()
        with pytest.raises(RuntimeError, match="already been started"):
            await monitor.__aenter__()
    send.close()


async def test_wait_counts_an_event_handed_straight_to_a_waiting_loop() -> None:
    # The loop is blocked in receive(); send_nowait hands the event over directly
    # (it never enters the buffer). wait_for_all_requests must still wait for it.
    send, receive = stream(0)
    processed: list[str] = []

    async def slow(e: AsyncEvent) -> None:
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        processed.append(e.request_id)

    monitor = EventMonitor(receive)
    monitor.add_event_callback(None, slow)
    async with monitor:
        for i in range(3):
            with anyio.fail_after(5):  # let the loop block in receive()
                while receive.statistics().tasks_waiting_receive == 0:
                    await anyio.lowlevel.checkpoint()
            send.send_nowait(event(EventType.SUCCESS, f"r{i}"))
            await monitor.wait_for_all_requests()
            assert processed == [f"r{j}" for j in range(i + 1)]
    send.close()


async def test_wait_under_steady_traffic_returns_after_the_events_sent_before_it() -> None:
    send, receive = stream(10_000)
    monitor = EventMonitor(receive)
    stop = anyio.Event()

    async def produce() -> None:
        i = 0
        while not stop.is_set() and i < 5_000:
            send.send_nowait(event(EventType.SUCCESS, f"bg{i}"))
            i += 1
            await anyio.lowlevel.checkpoint()

    async with monitor, anyio.create_task_group() as tg:
        tg.start_soon(produce)
        for i in range(20):
            send.send_nowait(event(EventType.SUCCESS, f"mine{i}"))
            with anyio.fail_after(5):
                await monitor.wait_for_all_requests()
            assert monitor.get_result(f"mine{i}") is not None
        stop.set()
    send.close()


async def test_several_transports_feed_one_monitor_through_clones() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive)
    async with monitor:
        transports = [
            RetryingAsyncTransport(
                FlakyTransport(failures=n), events=send.clone(), sleep=RecordingSleep()
            )
            for n in range(3)
        ]
        send.close()
        for n, transport in enumerate(transports):
            async with httpx.AsyncClient(transport=transport) as client:
                await client.get(URL, extensions={"retry": {"request_id": f"t{n}"}})
        results = await monitor.wait_for_all_requests()
    assert {k: v.attempts for k, v in results.items()} == {"t0": 1, "t1": 2, "t2": 3}


async def test_monitor_results_from_a_real_transport_run() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive)
    async with monitor:
        transport = RetryingAsyncTransport(
            FlakyTransport(failures=5), events=send, sleep=RecordingSleep(), max_retries=2
        )
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(
                    "http://u:p@service.test/", extensions={"retry": {"request_id": "x"}}
                )
        await monitor.wait_for_all_requests()
    result = monitor.get_result("x")
    assert result is not None
    assert (result.attempts, result.outcome, result.reason) == (
        3,
        EventType.ERROR,
        GiveUpReason.EXHAUSTED,
    )
    assert isinstance(result.error, httpx.ConnectError)
    assert result.method == "GET" and result.url == "http://service.test/"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"receive": object()}, TypeError, "receive must be an anyio memory object receive"),
        ({"max_results": -1}, ValueError, "max_results must be >= 0, got -1"),
        ({"max_results": 1.5}, TypeError, "max_results must be an int, got 1.5"),
    ],
)
def test_invalid_monitor_arguments_raise_naming_them(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](1)
    try:
        with pytest.raises(error, match=message):
            EventMonitor(**{"receive": receive, **kwargs})
    finally:
        send.close()
        receive.close()


def test_invalid_callbacks_are_rejected() -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](1)
    monitor = EventMonitor(receive)
    with pytest.raises(TypeError, match="event_type must be an EventType or None"):
        monitor.add_event_callback("retry", print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callback must be callable"):
        monitor.add_event_callback(EventType.RETRY, 3)  # type: ignore[arg-type]
    send.close()
    receive.close()


async def test_a_kept_error_is_a_detached_copy_that_pins_no_frames() -> None:
    send, receive = stream()
    monitor = EventMonitor(receive)
    async with monitor:
        transport = RetryingAsyncTransport(
            FlakyTransport(failures=5), events=send, sleep=RecordingSleep(), max_retries=1
        )
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.ConnectError) as info:
                await client.get(URL, extensions={"retry": {"request_id": "x"}})
        await monitor.wait_for_all_requests()
    result = monitor.get_result("x")
    assert result is not None
    assert type(result.error) is httpx.ConnectError
    assert str(result.error) == str(info.value)
    assert result.error is not info.value
    assert result.error.__traceback__ is None
    assert info.value.__traceback__ is not None  # the caller's exception is untouched


def test_an_exception_that_cannot_be_copied_is_kept_as_it_is() -> None:
    class Picky(Exception):
        def __init__(self, a: int, b: int) -> None:  # args do not rebuild it
            super().__init__(a + b)

    try:
        raise Picky(1, 2)
    except Picky as caught:
        error = caught
    ctx = RequestContext(request_id="p")
    result = RequestResult.from_event(AsyncEvent(EventType.ERROR, ctx, 0.0, error=error))
    assert result.error is error
    no_traceback = ValueError("plain")
    result = RequestResult.from_event(AsyncEvent(EventType.ERROR, ctx, 0.0, error=no_traceback))
    assert result.error is no_traceback


@pytest.mark.parametrize("size", [1, 1000], ids=["small-buffer", "roomy-buffer"])
async def test_a_steady_stream_is_processed_in_order_whatever_the_buffer(size: int) -> None:
    # A roomy buffer lets events gather for a moment under steady traffic (one
    # task switch per batch, not per event); a small one is never left to fill.
    send, receive = stream(size)
    seen: list[str] = []
    monitor = EventMonitor(receive)
    monitor.add_event_callback(None, lambda e: seen.append(e.request_id))
    async with monitor:
        for i in range(300):
            with anyio.fail_after(5):
                while receive.statistics().current_buffer_used >= size:
                    await anyio.lowlevel.checkpoint()
            send.send_nowait(event(EventType.SUCCESS, f"r{i}"))
            await anyio.lowlevel.checkpoint()
        with anyio.fail_after(5):
            results = await monitor.wait_for_all_requests()
    send.close()
    assert seen == [f"r{i}" for i in range(300)]
    assert len(results) == 300


async def test_waiters_are_woken_whenever_the_stream_runs_dry() -> None:
    # The safety net for a target counted one too high (an event that looked
    # handed over and was not): once nothing is buffered, every event sent
    # before the waiter arrived has been processed, so the waiter is released.
    send, receive = stream()
    monitor = EventMonitor(receive)
    async with monitor:
        waiter = anyio.Event()
        monitor._drain._waiters.append((10**9, waiter))
        send.send_nowait(event(EventType.SUCCESS, "a"))
        with anyio.fail_after(5):
            await waiter.wait()
        assert monitor.events_processed == 1
    send.close()


async def test_a_waiter_cuts_the_gathering_pause_short(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pause that lets events gather is made an hour long: nobody waiting,
    # events queue up during it; a waiter makes the loop take them at once.
    monkeypatch.setattr(_drain, "_GATHER", 3600.0)
    send, receive = stream(1000)
    monitor = EventMonitor(receive)
    done: list[int] = []

    async def wait() -> None:
        done.append(len(await monitor.wait_for_all_requests()))

    with send:
        async with monitor:
            send.send_nowait(event(EventType.SUCCESS, "first"))
            for _ in range(100):  # scheduler passes, not time
                if monitor.events_processed:
                    break
                await anyio.lowlevel.checkpoint()
            # Having processed an event and found the stream empty, the loop pauses.
            for i in range(64):
                send.send_nowait(event(EventType.SUCCESS, f"r{i}"))
            for _ in range(100):
                await anyio.lowlevel.checkpoint()
            assert monitor.events_processed == 1  # still gathering: nobody is waiting
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                for _ in range(100):
                    if done:
                        break
                    await anyio.lowlevel.checkpoint()
                tg.cancel_scope.cancel()
            assert done == [65]
            assert monitor.events_processed == 65


# -- without a loop: process_queued() -------------------------------------------------


async def test_a_monitor_with_no_loop_processes_what_is_queued_when_asked() -> None:
    send, receive = stream()
    seen: list[str] = []

    async def on_any(e: AsyncEvent) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(e.request_id)

    async def fails(e: AsyncEvent) -> None:
        raise RuntimeError("callback bug")

    monitor = EventMonitor(receive)
    monitor.add_event_callback(None, on_any)
    monitor.add_event_callback(None, fails)  # logged, counted; processing goes on
    with send, receive:
        send.send_nowait(event(EventType.SUCCESS, "a"))
        send.send_nowait(event(EventType.ERROR, "b", 3))
        await monitor.process_queued()
        assert seen == ["a", "b"]
        assert monitor.callback_errors == 2
        assert set(monitor.results) == {"a", "b"}
        send.send_nowait(event(EventType.SUCCESS, "c"))
        # No loop to wait for: waiting processes what is queued itself.
        assert set(await monitor.wait_for_all_requests()) == {"a", "b", "c"}
        assert seen == ["a", "b", "c"]
        assert not monitor.running
        with pytest.raises(RuntimeError, match="already been started"):
            await monitor.run()
        send.send_nowait(event(EventType.SUCCESS, "lost"))
        receive.close()  # by its owner, with an event still queued: that one is lost
        assert set(await monitor.wait_for_all_requests()) == {"a", "b", "c"}


async def test_process_queued_leaves_a_running_loop_to_do_its_work() -> None:
    send, receive = stream()
    tasks: list[object] = []
    monitor = EventMonitor(receive)
    monitor.add_event_callback(None, lambda e: tasks.append(anyio.get_current_task().id))
    with send:
        async with monitor:
            send.send_nowait(event(EventType.SUCCESS, "a"))
            await monitor.process_queued()
            await monitor.wait_for_all_requests()
            assert monitor.running
    assert len(tasks) == 1
    assert tasks[0] != anyio.get_current_task().id  # the loop's task, not this one


async def test_a_processing_task_cancelled_in_a_callback_leaves_the_rest_queued() -> None:
    send, receive = stream()
    entered = anyio.Event()

    async def blocks_once(e: AsyncEvent) -> None:
        if e.request_id == "a":
            entered.set()
            await anyio.sleep_forever()

    monitor = EventMonitor(receive)
    monitor.add_event_callback(None, blocks_once)
    with send, receive:
        send.send_nowait(event(EventType.SUCCESS, "a"))
        send.send_nowait(event(EventType.SUCCESS, "b"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(monitor.process_queued)
            await entered.wait()
            # Meanwhile, another task does not wait for the first one.
            await monitor.process_queued()
            assert monitor.get_result("b") is None
            tg.cancel_scope.cancel()
        # The event whose callback was cancelled still has its result.
        assert monitor.get_result("a") is not None
        assert monitor.get_result("b") is None
        assert set(await monitor.wait_for_all_requests()) == {"a", "b"}


async def test_a_waiter_arriving_at_the_loops_batch_yield_still_waits_for_every_event() -> None:
    # The loop yields to other tasks every 128 events taken back to back; a
    # waiter that runs at that moment must not find an event taken but not
    # yet counted (it returned with 128 of 129 processed).
    send, receive = anyio.create_memory_object_stream[AsyncEvent](200)
    monitor = EventMonitor(receive)
    async with monitor:
        for _ in range(1000):  # until the loop waits on the empty stream
            if receive.statistics().tasks_waiting_receive:
                break
            await anyio.lowlevel.checkpoint()
        for index in range(129):
            context = RequestContext(request_id=f"r{index}")
            send.send_nowait(AsyncEvent(EventType.SUCCESS, context, 0.0))
        for _ in range(10_000):
            if monitor.events_processed >= 128:
                break
            await anyio.lowlevel.checkpoint()
        results = await monitor.wait_for_all_requests()
        assert (monitor.events_processed, len(results)) == (129, 129)
    send.close()


async def test_close_without_loop_processes_what_is_queued_then_closes_the_stream() -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](10)
    monitor = EventMonitor(receive)
    seen: list[str] = []
    monitor.add_event_callback(None, lambda event: seen.append(event.request_id))
    send.send_nowait(AsyncEvent(EventType.SUCCESS, RequestContext(request_id="queued"), 0.0))
    await monitor.close_without_loop()
    assert seen == ["queued"]
    assert monitor.get_result("queued") is not None
    with pytest.raises(anyio.BrokenResourceError):
        send.send_nowait(AsyncEvent(EventType.SUCCESS, RequestContext(), 0.0))
    with pytest.raises(RuntimeError, match="already been started"):
        await monitor.__aenter__()
    send.close()
