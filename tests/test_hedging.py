"""Hedged requests, in process: who wins, what is cancelled and closed, what is never hedged."""

from __future__ import annotations

import anyio
import httpx
import pytest

from resilient_transport import (
    CircuitOpenError,
    DeadlineExceeded,
    EventType,
    GiveUpReason,
    RetryBudget,
    RetryingAsyncTransport,
)
from resilient_transport.testing import EventRecorder

from ._hedging import HANG, URL, After, Attempts, Shielded, send, types

pytestmark = pytest.mark.anyio

H = EventType.HEDGE


async def test_a_slow_first_attempt_loses_to_a_hedge_sent_after_the_delay() -> None:
    inner = Attempts({0: HANG})
    response, events = await send(inner, hedge_delay=0.002)
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert response.extensions["retry"].current_attempt == 1  # the other attempts sent
    assert (inner.calls, inner.cancelled, inner.live) == (2, 1, 0)
    assert types(events) == [H, EventType.SUCCESS]
    hedge, success = events
    assert (hedge.attempts, hedge.context.current_attempt) == (2, 1)
    assert hedge.delay is not None and hedge.delay >= 0.001
    assert (hedge.error, hedge.status_code) == (None, None)
    assert (success.attempts, success.status_code, success.reason) == (2, 200, None)


async def test_the_first_attempt_may_still_win_and_the_hedges_are_cancelled() -> None:
    gate = anyio.Event()
    inner = Attempts({0: gate, 1: HANG, 2: HANG})
    async with anyio.create_task_group() as group:
        group.start_soon(_open_when_blocked, gate)
        response, events = await send(inner, hedge_delay=0, max_hedges=2)
    assert isinstance(response, httpx.Response)
    assert response.extensions["retry"].current_attempt == 2
    assert (inner.calls, inner.cancelled, inner.live, inner.most_live) == (3, 2, 0, 3)
    assert types(events) == [H, H, EventType.SUCCESS]
    assert [e.context.current_attempt for e in events[:2]] == [1, 2]
    assert events[-1].attempts == 3


async def _open_when_blocked(gate: anyio.Event) -> None:
    await anyio.wait_all_tasks_blocked()
    gate.set()


async def test_a_retried_status_lets_the_next_hedge_go_at_once() -> None:
    inner = Attempts({0: 503})
    # A delay of a minute: only the rule "at once after a failure" can send it.
    response, events = await send(inner, hedge_delay=60, retry_statuses={503})
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert inner.seen == [0, 1]
    assert inner.bodies[0].closed  # the 503 that lost
    hedge = events[0]
    assert (hedge.event_type, hedge.status_code, hedge.error) == (H, 503, None)
    assert hedge.delay is not None and hedge.delay < 30


async def test_a_retried_error_lets_the_next_hedge_go_at_once() -> None:
    refused = httpx.ConnectError("refused")
    inner = Attempts({0: refused})
    response, events = await send(inner, hedge_delay=60)
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert types(events) == [H, EventType.SUCCESS]
    assert events[0].error is refused


async def test_two_failures_at_once_send_two_hedges_at_once() -> None:
    gate = anyio.Event()
    refused = httpx.ConnectError("refused")
    inner = Attempts({0: After(gate, refused), 1: After(gate, refused), 2: HANG})

    async def fail_both_when_both_run() -> None:
        while inner.live < 2:
            await inner.changed.wait()
        gate.set()

    async with anyio.create_task_group() as group:
        group.start_soon(fail_both_when_both_run)
        # The one timer: its 30 ms leave the gate time to open before the next.
        response, events = await send(inner, hedge_delay=0.03, max_hedges=3)
    assert isinstance(response, httpx.Response)
    assert sorted(inner.seen) == [0, 1, 2, 3]
    assert types(events) == [H, H, H, EventType.SUCCESS]
    assert [e.error for e in events[:3]] == [None, refused, refused]


async def test_a_failure_no_retry_would_fix_ends_the_request_and_cancels_the_rest() -> None:
    bad = httpx.LocalProtocolError("illegal header")
    inner = Attempts({0: HANG, 1: bad})
    error, events = await send(inner, hedge_delay=0)
    assert error is bad
    assert (inner.calls, inner.cancelled, inner.live) == (2, 1, 0)
    terminal = events[-1]
    assert (terminal.event_type, terminal.reason) == (EventType.ERROR, GiveUpReason.NOT_RETRYABLE)
    assert (terminal.attempts, terminal.error) == (2, bad)


async def test_when_every_attempt_fails_the_last_error_is_raised_and_nothing_is_retried() -> None:
    first, last = httpx.ConnectError("one"), httpx.ConnectError("two")
    inner = Attempts({0: first, 1: last})
    error, events = await send(inner, hedge_delay=60, max_retries=5)
    assert error is last
    assert inner.calls == 2  # the hedges were the attempts: no backoff retry after them
    assert types(events) == [H, EventType.ERROR]
    terminal = events[-1]
    assert (terminal.attempts, terminal.reason) == (2, GiveUpReason.EXHAUSTED)
    assert terminal.context.current_attempt == 2


async def test_when_every_attempt_answers_a_retried_status_the_last_one_is_returned() -> None:
    inner = Attempts({0: 503, 1: 503, 2: 503})
    response, events = await send(inner, hedge_delay=60, max_hedges=2, retry_statuses={503})
    assert isinstance(response, httpx.Response)
    assert response.status_code == 503
    assert response.extensions["retry"].current_attempt == 2
    assert inner.bodies[0].closed and inner.bodies[1].closed  # the two that lost
    assert response.content == b"ok"  # the last one, returned whole
    assert types(events) == [H, H, EventType.SUCCESS]
    assert (events[-1].reason, events[-1].attempts) == (GiveUpReason.EXHAUSTED, 3)


async def test_a_response_that_arrives_after_another_won_is_closed() -> None:
    gate = anyio.Event()
    inner = Attempts({0: Shielded(gate)})  # answers however it is cancelled
    async with anyio.create_task_group() as group:
        group.start_soon(_open_when_blocked, gate)
        response, _ = await send(inner, hedge_delay=0)
    assert isinstance(response, httpx.Response)
    assert response.extensions["retry"].current_attempt == 1
    assert inner.bodies[0].closed  # the loser, closed as it arrived
    assert inner.bodies[1].closed  # the winner, closed by the client after reading it
    assert inner.cancelled == 0


async def test_max_hedges_zero_sends_one_attempt_and_retries_nothing() -> None:
    refused = httpx.ConnectError("refused")
    error, events = await send(Attempts({0: refused}), hedge_delay=0, max_hedges=0)
    assert error is refused
    assert types(events) == [EventType.ERROR]
    assert events[0].attempts == 1


async def test_a_drained_budget_sends_no_hedge() -> None:
    budget = RetryBudget(max_tokens=10, min_retries_per_second=0)
    for _ in range(5):
        budget.record_failure()  # half the bucket: no retry, and no hedge
    gate = anyio.Event()
    inner = Attempts({0: gate})
    async with anyio.create_task_group() as group:
        group.start_soon(_open_when_blocked, gate)
        response, events = await send(inner, hedge_delay=0, max_hedges=3, budget=budget)
    assert isinstance(response, httpx.Response)
    assert inner.calls == 1
    assert types(events) == [EventType.SUCCESS]


async def test_the_budget_floor_lets_one_hedge_of_three_go() -> None:
    budget = RetryBudget(max_tokens=10, min_retries_per_second=1, clock=lambda: 0.0)
    for _ in range(10):
        budget.record_failure()
    gate = anyio.Event()
    inner = Attempts({0: gate, 1: HANG})
    async with anyio.create_task_group() as group:
        group.start_soon(_open_when_blocked, gate)
        response, events = await send(inner, hedge_delay=0, max_hedges=3, budget=budget)
    assert isinstance(response, httpx.Response)
    assert inner.seen == [0, 1]
    assert types(events) == [H, EventType.SUCCESS]
    assert budget.tokens == pytest.approx(0.1)  # the answer refunded its share


async def test_a_failure_and_a_drained_budget_end_with_the_budget_as_reason() -> None:
    budget = RetryBudget(max_tokens=2, min_retries_per_second=0)
    response, events = await send(
        Attempts({0: 503}), hedge_delay=60, retry_statuses={503}, budget=budget
    )
    assert isinstance(response, httpx.Response)
    assert response.status_code == 503
    assert (events[-1].event_type, events[-1].reason) == (EventType.SUCCESS, GiveUpReason.BUDGET)
    assert budget.tokens == 1.0  # the 503 was booked as a failure


async def test_a_retry_after_beyond_max_retry_after_stops_the_hedges() -> None:
    answer = httpx.Response(503, headers={"retry-after": "3600"})
    response, events = await send(
        Attempts({0: answer}), hedge_delay=60, retry_statuses={503}, max_retry_after=60
    )
    assert response is answer
    assert types(events) == [EventType.SUCCESS]
    assert events[-1].reason is GiveUpReason.RETRY_AFTER_TOO_LONG


async def test_a_short_retry_after_sends_the_next_hedge_on_its_timer_not_at_once() -> None:
    answer = httpx.Response(503, headers={"retry-after": "1"})
    inner = Attempts({0: answer})
    response, events = await send(inner, hedge_delay=0.002, retry_statuses={503})
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    hedge = events[0]
    assert (hedge.event_type, hedge.status_code) == (H, None)  # not sent because of the 503
    assert hedge.delay is not None and hedge.delay >= 0.001


async def test_the_deadline_bounds_the_whole_hedged_request() -> None:
    inner = Attempts({0: HANG, 1: HANG})
    error, events = await send(inner, hedge_delay=0, deadline=0.02)
    assert isinstance(error, DeadlineExceeded)
    assert (inner.calls, inner.live) == (2, 0)
    terminal = events[-1]
    assert (terminal.event_type, terminal.reason) == (EventType.TIMEOUT, GiveUpReason.DEADLINE)


@pytest.mark.parametrize("held", [False, True])
async def test_cancelling_the_caller_cancels_every_hedge(held: bool) -> None:
    # held: a retried response is held (the last failure) when the caller gives up.
    inner = Attempts({0: 503 if held else HANG, 1: HANG, 2: HANG})
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner, hedge_delay=0, max_hedges=2, retry_statuses={503}, events=recorder.send
        )
        async with httpx.AsyncClient(transport=transport) as client:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as group:
                    group.start_soon(client.get, URL)
                    await anyio.wait_all_tasks_blocked()
                    assert inner.live == (2 if held else 3)
                    scope.cancel()
            assert scope.cancelled_caught
        events = recorder.events
    assert (inner.live, inner.cancelled) == (0, 2 if held else 3)
    if held:
        assert inner.bodies[0].closed
    assert types(events) == [H, H, EventType.CANCELLED]
    assert events[-1].attempts == 3
    assert events[-1].reason is GiveUpReason.CANCELLED


async def test_the_request_leaves_with_its_own_extensions_and_each_hedge_has_its_own() -> None:
    inner = Attempts({0: HANG})
    transport = RetryingAsyncTransport(inner, hedge_delay=0)
    async with httpx.AsyncClient(transport=transport) as client:
        request = client.build_request("PUT", URL, content=b"payload", headers={"x-a": "1"})
        original = request.extensions
        response = await client.send(request)
    assert request.extensions is original and "retry" not in original
    first, hedge = (r for _, r in sorted(zip(inner.seen, inner.requests, strict=True)))
    assert first is request and hedge is not request
    assert type(hedge) is type(request)
    assert (hedge.method, hedge.url, hedge.headers, hedge.content) == (
        "PUT",
        request.url,
        request.headers,
        b"payload",
    )
    assert response.extensions["retry"].request_id == hedge.extensions["retry"].request_id


async def test_a_hedge_refused_by_an_open_circuit_stops_the_hedges_not_the_request() -> None:
    gate = anyio.Event()
    refused = CircuitOpenError("http://service.test:80", 5.0, 5.0)
    budget = RetryBudget(max_tokens=10)
    inner = Attempts({0: gate, 1: refused})

    async def open_after_the_refusal() -> None:
        while inner.calls < 2:
            await inner.changed.wait()
        await anyio.wait_all_tasks_blocked()
        gate.set()

    async with anyio.create_task_group() as group:
        group.start_soon(open_after_the_refusal)
        response, events = await send(inner, hedge_delay=0.01, max_hedges=3, budget=budget)
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200  # the first attempt went on, and answered
    assert sorted(inner.seen) == [0, 1]
    assert types(events) == [H, EventType.SUCCESS]
    assert budget.tokens == 10  # a refusal is not a failure of the upstream


async def test_when_the_circuit_refuses_the_last_attempt_the_request_ends_with_it() -> None:
    refused = CircuitOpenError("http://service.test:80", 5.0, 5.0)
    error, events = await send(
        Attempts({0: 503, 1: refused}), hedge_delay=60, max_hedges=3, retry_statuses={503}
    )
    assert error is refused
    terminal = events[-1]
    assert (terminal.event_type, terminal.reason) == (EventType.ERROR, GiveUpReason.CIRCUIT_OPEN)
    assert terminal.attempts == 2
