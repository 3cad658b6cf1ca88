"""Events of synchronous code: EventQueue, SyncEventMonitor, and the integrations on them."""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import anyio
import httpx
import pytest

from resilient_transport import (
    AsyncEvent,
    EventQueue,
    EventType,
    GiveUpReason,
    RequestContext,
    RetryingTransport,
    SyncEventMonitor,
)
from resilient_transport.testing import EventRecorder, FlakyTransport, RecordingSleep

from ._server import free_port
from ._support import URL
from ._sync_server import SyncServer


def event(event_type: EventType = EventType.SUCCESS, request_id: str = "r") -> AsyncEvent:
    return AsyncEvent(event_type, RequestContext(request_id=request_id), 0.0, status_code=200)


def test_events_of_real_requests_reach_the_monitors_thread_with_their_results(
    sync_server: SyncServer,
) -> None:
    queue = EventQueue()
    threads: dict[EventType, set[str]] = {}
    seen: list[AsyncEvent] = []

    def on_any(event: AsyncEvent) -> None:
        threads.setdefault(event.event_type, set()).add(threading.current_thread().name)
        seen.append(event)

    transport = RetryingTransport(events=queue, sleep=RecordingSleep().sync)
    with SyncEventMonitor(queue) as monitor:
        monitor.add_event_callback(None, on_any)
        with httpx.Client(transport=transport) as client:
            ok = {"retry": {"request_id": "ok"}}
            client.get(f"{sync_server.url}/hello", extensions=ok)
            client.get(f"{sync_server.url}/status/404", extensions={"retry": {"request_id": "nf"}})
            closed = {"retry": {"request_id": "closed"}}
            with pytest.raises(httpx.ConnectError):
                client.get(f"http://127.0.0.1:{free_port()}/", extensions=closed)
            slow = {"retry": {"request_id": "slow"}}
            with pytest.raises(httpx.ReadTimeout):
                client.get(f"{sync_server.url}/hang", extensions=slow, timeout=0.2)
        results = monitor.wait_for_all_requests()
    assert not monitor.running
    assert {name for names in threads.values() for name in names} == {
        "resilient_transport-monitor"
    }
    assert [(r.attempts, r.outcome, r.status_code) for r in results.values()] == [
        (1, EventType.SUCCESS, 200),
        (1, EventType.SUCCESS, 404),
        (3, EventType.ERROR, None),
        (1, EventType.TIMEOUT, None),
    ]
    closed_events = [e for e in seen if e.request_id == "closed"]
    assert [(e.event_type, e.context.current_attempt) for e in closed_events] == [
        (EventType.RETRY, 1),
        (EventType.RETRY, 2),
        (EventType.ERROR, 3),
    ]
    assert closed_events[-1].reason is GiveUpReason.EXHAUSTED
    assert isinstance(closed_events[0].error, httpx.ConnectError)
    assert monitor.events_processed == len(seen) == 6
    assert queue.closed and queue.finished  # the transport closed its send end


def test_a_full_queue_drops_and_counts_and_a_closed_one_stops_quietly() -> None:
    queue = EventQueue(max_size=1)
    transport = RetryingTransport(FlakyTransport(failures=2), events=queue, base_delay=0)
    with httpx.Client(transport=transport) as client:
        client.get(URL)
        assert (queue.qsize(), transport.dropped_events) == (1, 2)
        queue.close()
        client.get(URL)
    assert transport.dropped_events == 2


def test_a_monitor_without_a_thread_processes_on_demand() -> None:
    queue = EventQueue(math.inf)
    recorder = EventRecorder()
    monitor = SyncEventMonitor(queue, max_results=1)
    monitor.add_event_callback(None, recorder)
    transport = RetryingTransport(FlakyTransport(failures=1), events=queue, base_delay=0)
    with httpx.Client(transport=transport) as client:
        client.get(URL, extensions={"retry": {"request_id": "a"}})
        assert monitor.get_result("a") is None  # nothing processed yet
        assert monitor.process_queued() == 2
        client.get(URL, extensions={"retry": {"request_id": "b"}})
    assert list(monitor.wait_for_all_requests()) == ["b"]  # max_results=1
    assert monitor.max_results == 1 and monitor.process_queued() == 0
    assert [e.event_type for e in recorder.events] == [EventType.RETRY, EventType.SUCCESS] * 2
    monitor.close()
    recorder.close()
    with pytest.raises(RuntimeError, match="already been started"):
        monitor.start()


def test_run_returns_once_every_send_end_is_closed() -> None:
    queue = EventQueue()
    monitor = SyncEventMonitor(queue)
    runner = threading.Thread(target=monitor.run)
    runner.start()
    first = RetryingTransport(FlakyTransport(failures=0), events=queue.clone())
    second = RetryingTransport(FlakyTransport(failures=0), events=queue.clone())
    queue.close()
    for transport in (first, second):
        with httpx.Client(transport=transport) as client:
            client.get(URL)
    runner.join()
    assert len(monitor.results) == 2 and queue.finished and not monitor.running
    with pytest.raises(anyio.ClosedResourceError):
        queue.clone()
    with pytest.raises(anyio.ClosedResourceError):
        queue.send_nowait(event())


def test_callbacks_errors_are_counted_and_async_callbacks_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = EventQueue()
    monitor = SyncEventMonitor(queue)

    def broken(event: AsyncEvent) -> None:
        raise RuntimeError("callback bug")

    async def coroutine_function(event: AsyncEvent) -> None: ...  # pragma: no cover

    class Returns:
        def __call__(self, event: AsyncEvent) -> Any:
            return coroutine_function(event)

    class Awaitable:
        def __await__(self) -> Any:  # pragma: no cover - never awaited
            yield

    def returns_an_awaitable(event: AsyncEvent) -> Any:
        return Awaitable()

    waited: list[int] = []
    with pytest.raises(TypeError, match="must be a plain function"):
        monitor.add_event_callback(None, coroutine_function)
    with pytest.raises(TypeError, match="callback must be callable"):
        monitor.add_event_callback(None, 3)  # type: ignore[arg-type]
    returns = Returns()
    monitor.add_event_callback(EventType.SUCCESS, broken)
    monitor.add_event_callback(EventType.SUCCESS, returns)
    monitor.add_event_callback(EventType.SUCCESS, returns_an_awaitable)
    monitor.add_event_callback(
        EventType.RETRY, lambda e: waited.append(len(monitor.wait_for_all_requests()))
    )
    with monitor:
        queue.send_nowait(event(EventType.RETRY))
        queue.send_nowait(event())
        monitor.wait_for_all_requests()
        assert monitor.process_queued() == 0  # the thread processes them
        monitor.remove_event_callback(EventType.SUCCESS, returns)
        monitor.remove_event_callback(EventType.SUCCESS, returns_an_awaitable)
        monitor.remove_event_callback(EventType.SUCCESS, broken)
        queue.send_nowait(event(request_id="later"))
    assert monitor.callback_errors == 3 and waited == [0]
    assert monitor.get_result("later") is not None
    assert "callback bug" in caplog.text and "returned an awaitable" in caplog.text
    with pytest.raises(ValueError, match="is not registered"):
        monitor.remove_event_callback(EventType.SUCCESS, broken)
    assert "running=False" in repr(monitor)


def test_the_queue_validates_and_behaves_as_a_queue() -> None:
    for bad, error in ((0, ValueError), (1.5, ValueError), ("9", TypeError), (True, TypeError)):
        with pytest.raises(error, match="max_size must be"):
            EventQueue(bad)  # type: ignore[arg-type]
    with EventQueue(2) as queue:
        assert queue.receive(timeout=0.0) is None
        queue.wake()
        assert queue.receive() is None
        queue.send_nowait(event())
        assert queue.receive() is not None and queue.sent == 1
        assert queue.max_size == 2 and "queued=0" in repr(queue)
    queue.close()  # again: nothing
    assert queue.receive() is None and queue.receive_nowait() is None
    with pytest.raises(TypeError, match=r"events must be a resilient_transport\.EventQueue"):
        SyncEventMonitor(object())  # type: ignore[arg-type]


def test_the_integrations_plug_into_the_sync_monitor() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from prometheus_client import CollectorRegistry

    from resilient_transport.integrations import logs, opentelemetry, prometheus

    queue = EventQueue()
    records: list[logging.LogRecord] = []
    log = logging.getLogger("test.sync.events")
    log.setLevel(logging.INFO)

    def keep(record: logging.LogRecord) -> bool:
        records.append(record)
        return False

    log.addFilter(keep)
    registry = CollectorRegistry()
    reader = InMemoryMetricReader()
    transport = RetryingTransport(FlakyTransport(failures=1), events=queue, base_delay=0)
    try:
        with SyncEventMonitor(queue) as monitor:
            logs.instrument(monitor, log)
            prometheus.instrument(monitor, registry)
            opentelemetry.instrument(
                monitor, meter_provider=MeterProvider(metric_readers=[reader])
            )
            with httpx.Client(transport=transport) as client:
                client.get(URL)
    finally:
        log.removeFilter(keep)  # the logger is process-wide: leave it as it was
    assert [record.event for record in records] == ["retry", "success"]  # type: ignore[attr-defined]
    retries = registry.get_sample_value(
        "resilient_transport_retries_total",
        {
            "method": "GET",
            "server_address": "service.test",
            "error_type": f"{httpx.__name__}.ConnectError",
        },
    )
    assert retries == 1.0
    data = reader.get_metrics_data()
    assert data is not None
    names = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert "resilient_transport.retries" in names


def test_an_event_that_cannot_be_built_is_dropped_and_the_request_answers() -> None:
    readings = iter([0.0, "not a time"])
    queue = EventQueue()
    transport = RetryingTransport(
        FlakyTransport(failures=0),
        events=queue,
        clock=lambda: readings.__next__(),  # type: ignore[arg-type,return-value]
    )
    with httpx.Client(transport=transport) as client:
        assert client.get(URL).status_code == 200
    assert transport.dropped_events == 1 and queue.sent == 0
