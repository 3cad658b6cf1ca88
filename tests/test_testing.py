"""resilient_transport.testing: the helpers users test their own code with."""

from __future__ import annotations

import math
from collections.abc import Iterator

import anyio
import httpx
import pytest
import respx

from resilient_transport import (
    AsyncEvent,
    EventMonitor,
    EventType,
    RetryingAsyncTransport,
    RetryingTransport,
)
from resilient_transport._sleep import instant_sleep_enabled
from resilient_transport.testing import (
    EventRecorder,
    FakeClock,
    FlakyTransport,
    RecordingSleep,
    set_instant_sleep,
)

pytestmark = pytest.mark.anyio


async def test_recording_sleep_totals_the_delays_it_was_asked_for() -> None:
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(
        FlakyTransport(failures=3), sleep=sleep, max_retries=3, random=lambda: 0.0
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("http://service.test/")
    assert sleep.delays == [1.0, 2.0, 4.0]
    assert sleep.total == 7.0


async def test_an_event_recorder_is_also_a_monitor_callback() -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](10)
    monitor = EventMonitor(receive)
    with EventRecorder() as recorder:
        monitor.add_event_callback(None, recorder)
        async with monitor:
            transport = RetryingAsyncTransport(
                FlakyTransport(failures=1), events=send, sleep=RecordingSleep()
            )
            async with httpx.AsyncClient(transport=transport) as client:
                await client.get("http://service.test/")
        assert recorder.types() == [EventType.RETRY, EventType.SUCCESS]


# -- a clock the test owns ----------------------------------------------------------------


def test_a_fake_clock_moves_only_when_advanced() -> None:
    clock = FakeClock(10)
    assert (clock(), clock.now) == (10.0, 10.0)
    clock.advance(1.5)
    clock.advance(0)
    assert clock() == 11.5
    assert clock.delays == []


@pytest.mark.parametrize(
    ("start", "error", "message"),
    [
        ("0", TypeError, "start must be a number, got '0'"),
        (True, TypeError, "start must be a number, got True"),
        (math.inf, ValueError, "start must be finite, got inf"),
    ],
)
def test_a_fake_clock_refuses_a_start_that_is_not_a_finite_number(
    start: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        FakeClock(start)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "error", "message"),
    [
        (-0.5, ValueError, r"seconds must be >= 0, got -0\.5"),
        (math.nan, ValueError, "seconds must be finite, got nan"),
        (None, TypeError, "seconds must be a number, got None"),
    ],
)
def test_a_fake_clock_never_goes_back(
    seconds: object, error: type[Exception], message: str
) -> None:
    clock = FakeClock()
    with pytest.raises(error, match=message):
        clock.advance(seconds)  # type: ignore[arg-type]
    assert clock() == 0.0


async def test_a_fake_clocks_sleep_records_the_delay_and_advances_instead_of_waiting() -> None:
    clock = FakeClock()
    with anyio.fail_after(30):  # a hang guard: the sleeps are never real
        await clock.sleep(3600.0)
        await clock.sleep(-1.0)  # as anyio.sleep: returns at once
    assert clock.delays == [3600.0, -1.0]
    assert (clock(), clock.total) == (3600.0, 3599.0)


async def test_a_cancelled_fake_sleep_is_a_checkpoint_and_does_not_move_the_clock() -> None:
    clock = FakeClock()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await clock.sleep(5.0)
    assert scope.cancelled_caught
    assert (clock.delays, clock()) == ([5.0], 0.0)


async def test_a_fake_clock_makes_a_transports_deadline_exact() -> None:
    clock = FakeClock()
    inner = FlakyTransport(failures=99)
    transport = RetryingAsyncTransport(
        inner,
        clock=clock,
        sleep=clock.sleep,
        max_retries=10,
        base_delay=1.0,
        jitter=0.0,
        deadline=10.0,
    )
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://service.test/")
    # 1 + 2 + 4 = 7 s slept; the next sleep (8 s) would cross the 10 s deadline.
    assert clock.delays == [1.0, 2.0, 4.0]
    assert (inner.calls, clock()) == (4, 7.0)


# -- one switch makes every transport's backoff instant ------------------------------------


@pytest.fixture
def instant() -> Iterator[None]:
    with set_instant_sleep():
        yield


@pytest.mark.usefixtures("instant")
async def test_instant_sleep_makes_the_default_backoff_instant_under_respx() -> None:
    # A user's test: respx refuses twice, the transport keeps its real
    # default sleep and a 100 s backoff; the switch makes it instant.
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get("http://service.test/").mock(
            side_effect=[
                httpx.ConnectError("refused"),
                httpx.ConnectError("refused"),
                httpx.Response(200),
            ]
        )
        transport = RetryingAsyncTransport(base_delay=100.0, jitter=0.0)
        async with httpx.AsyncClient(transport=transport) as client:
            with anyio.fail_after(30):  # a hang guard: 300 s of real sleep would trip it
                response = await client.get("http://service.test/")
    assert (response.status_code, route.call_count) == (200, 3)


async def test_instant_sleep_is_a_checkpoint_and_a_context_manager_that_restores() -> None:
    assert not instant_sleep_enabled()
    with set_instant_sleep():
        assert instant_sleep_enabled()
        with anyio.CancelScope() as scope:
            scope.cancel()
            transport = RetryingAsyncTransport(FlakyTransport(failures=1), base_delay=100.0)
            async with httpx.AsyncClient(transport=transport) as client:
                await client.get("http://service.test/")
        assert scope.cancelled_caught  # the instant sleep still let the cancellation in
        with set_instant_sleep(False):
            assert not instant_sleep_enabled()
        assert instant_sleep_enabled()
    assert not instant_sleep_enabled()


@pytest.mark.usefixtures("instant")
async def test_instant_sleep_leaves_an_injected_sleep_alone() -> None:
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(
        FlakyTransport(failures=2), sleep=sleep, base_delay=3.0, jitter=0.0
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("http://service.test/")
    assert sleep.delays == [3.0, 6.0]


def test_set_instant_sleep_refuses_a_non_bool() -> None:
    with pytest.raises(TypeError, match="enabled must be a bool, got 1"):
        set_instant_sleep(1)  # type: ignore[arg-type]
    assert not instant_sleep_enabled()


def test_an_event_recorder_records_a_synchronous_transports_events_through_its_queue() -> None:
    with EventRecorder() as recorder:
        transport = RetryingTransport(
            FlakyTransport(failures=2), events=recorder.queue, base_delay=0
        )
        with httpx.Client(transport=transport) as client:
            client.get("http://service.test/", extensions={"retry": {"request_id": "s"}})
        assert recorder.types("s") == [EventType.RETRY, EventType.RETRY, EventType.SUCCESS]
        assert recorder.queue.closed  # the transport closed its send end
    assert [e.attempts for e in recorder.events] == [1, 2, 3]
