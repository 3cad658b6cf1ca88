"""Pins of the deadline that the rest of the suite left loose (issue 11, mutation run).

- A deadline holds with no event stream attached: the start time is taken
  for the deadline alone, not only for events.
- Each attempt's timeouts and its cancel scope are clamped to the time left,
  also when less than one second is left, and an attempt that starts after
  the deadline has passed (a sleep that overslept) is ended at once.

Time is injected: a clock the test owns, moved by the sleeps (recorded, never
slept). No assertion reads the wall clock.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx
import pytest

from resilient_transport import DeadlineExceeded, RetryingAsyncTransport
from resilient_transport.testing import RecordingSleep, ScriptedTransport

pytestmark = pytest.mark.anyio

URL = "http://service.test/resource"
PHASES = ("connect", "read", "write", "pool")


class Clock:
    """Monotonic seconds that move only when told to (far from zero, as a real one)."""

    def __init__(self, now: float = 5000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ClockSleep(RecordingSleep):
    """Records each delay and moves the clock by it, plus ``oversleep`` seconds."""

    def __init__(self, clock: Clock, oversleep: float = 0.0) -> None:
        super().__init__()
        self.clock = clock
        self.oversleep = oversleep

    async def __call__(self, delay: float) -> None:
        await super().__call__(delay)
        self.clock.now += delay + self.oversleep


async def test_a_deadline_without_an_event_stream_still_allows_retries() -> None:
    clock = Clock()
    inner = ScriptedTransport(httpx.ConnectError, httpx.ConnectError)
    sleep = ClockSleep(clock)
    transport = RetryingAsyncTransport(
        inner, deadline=30.0, base_delay=1.0, jitter=0.0, sleep=sleep, clock=clock
    )
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL)
    assert response.status_code == 200
    assert inner.calls == 3
    assert sleep.delays == [1.0, 2.0]
    assert response.extensions["retry"].current_attempt == 2


async def test_a_deadline_without_an_event_stream_still_stops_the_schedule() -> None:
    clock = Clock()
    inner = ScriptedTransport(then=httpx.ConnectError)
    sleep = ClockSleep(clock)
    transport = RetryingAsyncTransport(
        inner,
        max_retries=10,
        deadline=10.0,
        base_delay=1.0,
        max_delay=100.0,
        jitter=0.0,
        sleep=sleep,
        clock=clock,
    )
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(URL)
    # Sleeps of 1, 2, 4 s fit in 10 s; the next (8 s) would end at 15 s.
    assert sleep.delays == [1.0, 2.0, 4.0]
    assert inner.calls == 4


async def test_timeouts_are_clamped_to_a_deadline_under_one_second() -> None:
    clock = Clock()
    seen: list[dict[str, float]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.extensions["timeout"]))
        return httpx.Response(200)

    transport = RetryingAsyncTransport(ScriptedTransport(then=answer), deadline=0.25, clock=clock)
    async with httpx.AsyncClient(transport=transport, timeout=5.0) as client:
        response = await client.get(URL)
    assert response.status_code == 200
    assert seen == [dict.fromkeys(PHASES, 0.25)]


async def test_an_attempt_is_bounded_by_a_deadline_under_one_second() -> None:
    # The cancel scope around the attempt ends where the deadline does: read
    # from inside the attempt as anyio's effective deadline, never as a time.
    clock = Clock()
    left: list[float] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        left.append(anyio.current_effective_deadline() - anyio.current_time())
        return httpx.Response(200)

    transport = RetryingAsyncTransport(ScriptedTransport(then=answer), deadline=0.25, clock=clock)
    response = await transport.handle_async_request(httpx.Request("GET", URL))
    assert response.status_code == 200
    (seconds,) = left
    assert 0.0 < seconds <= 0.25


async def test_an_attempt_that_starts_after_an_overslept_deadline_is_ended_at_once() -> None:
    # The sleep was planned to end before the deadline (0.5 + 1 s of 2 s) but
    # overslept by 5 s: the next attempt has no time left at all.
    clock = Clock()
    seen: list[dict[str, float]] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.extensions["timeout"]))
        await anyio.lowlevel.checkpoint()
        return httpx.Response(200)

    inner = ScriptedTransport(httpx.ConnectError, then=answer)
    transport = RetryingAsyncTransport(
        inner,
        deadline=2.0,
        base_delay=1.0,
        jitter=0.0,
        sleep=ClockSleep(clock, oversleep=5.0),
        clock=clock,
    )
    request = httpx.Request("GET", URL)
    with anyio.fail_after(30), pytest.raises(DeadlineExceeded) as info:
        await transport.handle_async_request(request)
    assert info.value.request is request
    assert inner.calls == 2
    assert seen == [dict.fromkeys(PHASES, 0.0)]  # never a negative timeout
