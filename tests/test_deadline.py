"""The total deadline: it trims the schedule, bounds each attempt, and is validated.

Time is injected: a `FakeClock` the test owns, advanced by the attempts (each
takes the time the test says) and by its sleeps (recorded, never slept).
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from resilient_transport import (
    AsyncEvent,
    DeadlineExceeded,
    EventType,
    GiveUpReason,
    RequestContext,
    RetryingAsyncTransport,
)
from resilient_transport.testing import EventRecorder, FakeClock, ScriptedTransport

from ._support import URL

pytestmark = pytest.mark.anyio


class Timed(ScriptedTransport):
    """Each attempt takes ``took`` seconds of the clock, then answers ``outcome``.

    Answers and errors say "attempt N", N counting from 1. Records each
    attempt's timeout extension and the exceptions it raised.
    """

    def __init__(self, clock: FakeClock, took: float, outcome: Any) -> None:
        super().__init__(then=self._answer)
        self.clock, self.took, self.outcome = clock, took, outcome
        self.timeouts: list[dict[str, float | None]] = []
        self.raised: list[BaseException] = []

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.timeouts.append(dict(request.extensions["timeout"]))
        self.clock.advance(self.took)
        if isinstance(self.outcome, int):
            return httpx.Response(self.outcome, text=f"attempt {self.calls}")
        error = self.outcome(f"attempt {self.calls}", request=request)
        self.raised.append(error)
        raise error


async def send(
    inner: ScriptedTransport, clock: FakeClock, **kwargs: Any
) -> tuple[Any, list[AsyncEvent]]:
    timeout = kwargs.pop("timeout", 5.0)
    kwargs.setdefault("jitter", 0.0)
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner, sleep=clock.sleep, clock=clock, events=recorder.send, **kwargs
        )
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as c:
            result: Any
            try:
                result = await c.get(URL)
            except httpx.HTTPError as exc:
                result = exc
        return result, recorder.events


# -- the schedule ----------------------------------------------------------------------


async def test_a_deadline_trims_the_schedule_and_the_last_error_propagates() -> None:
    clock = FakeClock(1000.0)
    inner = Timed(clock, took=1.0, outcome=httpx.ConnectError)
    # Without the deadline: 10 retries. With it: attempt at 0-1 s, sleep 2,
    # attempt at 3-4 s, sleep 4, attempt at 8-9 s; the next sleep (8 s)
    # would end at 17 s, past 12 s, so it is not taken.
    result, events = await send(
        inner, clock, max_retries=10, base_delay=2.0, max_delay=100.0, deadline=12.0
    )
    assert clock.delays == [2.0, 4.0]
    assert inner.calls == 3
    assert result is inner.raised[-1]
    assert str(result) == "attempt 3"
    terminal = events[-1]
    assert (terminal.event_type, terminal.reason, terminal.attempts) == (
        EventType.ERROR,
        GiveUpReason.DEADLINE,
        3,
    )
    assert terminal.elapsed == 9.0
    assert clock.now - 1000.0 == 9.0  # never slept past the deadline


async def test_a_sleep_that_would_end_exactly_at_the_deadline_is_not_taken() -> None:
    clock = FakeClock(1000.0)
    inner = Timed(clock, took=1.0, outcome=httpx.ConnectError)
    result, events = await send(inner, clock, base_delay=2.0, deadline=3.0)
    assert clock.delays == []
    assert inner.calls == 1
    assert isinstance(result, httpx.ConnectError)
    assert events[-1].reason is GiveUpReason.DEADLINE


async def test_a_sleep_that_ends_just_before_the_deadline_is_taken() -> None:
    clock = FakeClock(1000.0)
    inner = Timed(clock, took=1.0, outcome=httpx.ConnectError)
    _, events = await send(inner, clock, max_retries=1, base_delay=2.0, deadline=3.001)
    assert clock.delays == [2.0]
    assert inner.calls == 2
    assert events[-1].reason is GiveUpReason.EXHAUSTED


async def test_a_deadline_cut_on_retried_statuses_returns_the_last_response() -> None:
    clock = FakeClock(1000.0)
    inner = Timed(clock, took=1.0, outcome=503)
    result, events = await send(
        inner, clock, max_retries=10, base_delay=2.0, deadline=6.0, retry_statuses={503}
    )
    assert clock.delays == [2.0]
    assert inner.calls == 2
    assert (result.status_code, result.text) == (503, "attempt 2")
    assert (events[-1].event_type, events[-1].reason) == (EventType.SUCCESS, GiveUpReason.DEADLINE)


async def test_a_retry_after_that_would_cross_the_deadline_gives_up_on_the_deadline() -> None:
    clock = FakeClock(1000.0)
    inner = ScriptedTransport(httpx.Response(503, headers={"Retry-After": "30"}), then=200)
    result, events = await send(
        inner,
        clock,
        retry_statuses={503},
        max_retry_after=60,
        deadline=10.0,
    )
    assert result.status_code == 503
    assert inner.calls == 1
    assert clock.delays == []
    assert events[-1].reason is GiveUpReason.DEADLINE


async def test_without_a_deadline_the_whole_schedule_runs() -> None:
    clock = FakeClock(1000.0)
    inner = Timed(clock, took=1.0, outcome=httpx.ConnectError)
    _, events = await send(inner, clock, max_retries=4, base_delay=2.0, max_delay=100.0)
    assert clock.delays == [2.0, 4.0, 8.0, 16.0]
    assert events[-1].reason is GiveUpReason.EXHAUSTED


# -- each attempt is bounded by what is left of the deadline ------------------------------


async def test_each_attempts_timeouts_are_clamped_to_the_time_left() -> None:
    clock = FakeClock(1000.0)
    inner = Timed(clock, took=0.5, outcome=httpx.ConnectError)
    await send(inner, clock, max_retries=5, base_delay=1.0, deadline=4.0)
    # First attempt: min(5, 4). It fails at 0.5 s, sleeps 1 s: 2.5 s left.
    # Second fails at 2 s; the 2 s sleep would reach 4 s: no third attempt.
    phases = ("connect", "read", "write", "pool")
    assert inner.timeouts == [dict.fromkeys(phases, 4.0), dict.fromkeys(phases, 2.5)]


async def test_a_phase_without_a_timeout_gets_the_time_left_and_a_shorter_one_is_kept() -> None:
    clock = FakeClock(1000.0)
    inner = Timed(clock, took=0.5, outcome=httpx.ConnectError)
    timeout = httpx.Timeout(None, connect=1.0)
    await send(inner, clock, max_retries=1, base_delay=1.0, deadline=4.0, timeout=timeout)
    assert inner.timeouts == [
        {"connect": 1.0, "read": 4.0, "write": 4.0, "pool": 4.0},
        {"connect": 1.0, "read": 2.5, "write": 2.5, "pool": 2.5},
    ]


async def test_without_a_deadline_the_timeouts_are_left_alone() -> None:
    clock = FakeClock(1000.0)
    inner = Timed(clock, took=0.5, outcome=httpx.ConnectError)
    await send(inner, clock, max_retries=1, base_delay=1.0, timeout=httpx.Timeout(7.0, pool=None))
    assert inner.timeouts == [{"connect": 7.0, "read": 7.0, "write": 7.0, "pool": None}] * 2


# -- contradictions are refused at construction ------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_delay": 2.0, "max_delay": 1.0}, "max_delay=1.0 and base_delay=2.0"),
        ({"base_delay": 2.0, "deadline": 1.0}, "deadline=1.0 and base_delay=2.0"),
        ({"deadline": 0}, "deadline must be a finite number > 0 or None"),
    ],
)
def test_contradictory_settings_are_refused_naming_both(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RetryingAsyncTransport(ScriptedTransport(), **kwargs)
    with pytest.raises(ValueError, match=message):
        RequestContext(**kwargs)


def test_a_deadline_below_the_default_base_delay_is_accepted() -> None:
    # The base delay was not given: only settings given together can contradict
    # each other. A retry whose sleep would cross the deadline is not made.
    transport = RetryingAsyncTransport(ScriptedTransport(), deadline=0.5)
    assert (transport.defaults.deadline, transport.defaults.base_delay) == (0.5, 1.0)
    assert RequestContext(deadline=0.5).deadline == 0.5


def test_a_deadline_equal_to_the_base_delay_and_a_cap_equal_to_it_are_accepted() -> None:
    transport = RetryingAsyncTransport(
        ScriptedTransport(), base_delay=2.0, max_delay=2.0, deadline=2.0
    )
    assert (transport.defaults.deadline, transport.defaults.max_delay) == (2.0, 2.0)


async def test_a_request_without_timeouts_gets_the_time_left_on_every_phase() -> None:
    # Sent straight to the transport, not through a client: no timeout extension.
    # The timeouts are read as the attempt sees them: the transport hands the
    # request back with the caller's own extensions (see test_redirects.py).
    clock = FakeClock(1000.0)
    seen: list[object] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200)

    inner = ScriptedTransport(then=answer)
    transport = RetryingAsyncTransport(inner, deadline=4.0, clock=clock)
    response = await transport.handle_async_request(httpx.Request("GET", URL))
    assert response.status_code == 200
    assert seen == [dict.fromkeys(("connect", "read", "write", "pool"), 4.0)]


# -- the deadline bounds a whole attempt, not only each read ---------------------------


class Silent(httpx.AsyncBaseTransport):
    """Never answers: a response head that trickles in forever, as the transport sees it."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover


async def test_a_deadline_ends_an_attempt_that_never_answers_with_a_timeout() -> None:
    inner = Silent()
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner,
            deadline=0.05,
            base_delay=0.0,
            retry_idempotent_errors=True,
            events=recorder.send,
        )
        # The bound is a safety net against a hang: the deadline must end it first.
        with anyio.fail_after(30), pytest.raises(DeadlineExceeded) as info:
            await transport.handle_async_request(httpx.Request("GET", URL))
        await transport.aclose()
        (event,) = recorder.events
    assert isinstance(info.value, httpx.TimeoutException)
    assert "deadline of 0.05 s" in str(info.value)
    assert inner.calls == 1  # a deadline that passed is never retried
    assert (event.event_type, event.reason, event.error) == (
        EventType.TIMEOUT,
        GiveUpReason.DEADLINE,
        info.value,
    )
