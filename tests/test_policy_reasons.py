"""Every refused retry is visible, and a cancellation is never retried.

Every terminal event says why the request was not retried (again): one
scenario per `GiveUpReason` (``CANCELLED`` in the cancellation tests
at the end).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from resilient_transport import (
    CircuitBreaker,
    EventType,
    GiveUpReason,
    RetryBudget,
    RetryingAsyncTransport,
)
from resilient_transport.testing import (
    EventRecorder,
    FlakyTransport,
    RecordingSleep,
    ScriptedTransport,
)

from ._retry_table import table
from ._support import EVERY_OPTION, URL, Outcome, run

pytestmark = pytest.mark.anyio


# -- every refused retry names its reason -------------------------------------------------


def failing(error: type[Exception]) -> ScriptedTransport:
    return ScriptedTransport(then=error)


async def consume_then(answer: httpx.Response | type[Exception], request: httpx.Request) -> Any:
    # As a real transport sends it: iterating the stream (request.aread()
    # would buffer the body in the request, making it resendable).
    async for _ in request.stream:  # type: ignore[union-attr]
        pass
    if isinstance(answer, httpx.Response):
        return answer
    raise answer("after the body was sent", request=request)  # type: ignore[call-arg]


async def two_chunks() -> AsyncIterator[bytes]:
    yield b"part-1;"
    yield b"part-2;"


def opened_breaker() -> CircuitBreaker:
    """A breaker whose circuit for `URL` is open (for 5 s of a real clock)."""
    breaker = CircuitBreaker(consecutive_failures=1)
    breaker.record("http://service.test:80", breaker.admit("http://service.test:80"), False)
    return breaker


Scenario = Callable[[], Any]
SCENARIOS: dict[str, tuple[Scenario, EventType, GiveUpReason | None, int]] = {
    "exhausted-errors": (
        lambda: run(failing(httpx.ConnectError), max_retries=2),
        EventType.ERROR,
        GiveUpReason.EXHAUSTED,
        3,
    ),
    "exhausted-statuses": (
        lambda: run(ScriptedTransport(then=503), max_retries=2, retry_statuses={503}),
        EventType.SUCCESS,
        GiveUpReason.EXHAUSTED,
        3,
    ),
    "not-retryable": (
        lambda: run(failing(httpx.ReadError)),
        EventType.ERROR,
        GiveUpReason.NOT_RETRYABLE,
        1,
    ),
    "not-retryable-timeout": (
        lambda: run(failing(httpx.ConnectTimeout)),
        EventType.TIMEOUT,
        GiveUpReason.NOT_RETRYABLE,
        1,
    ),
    "not-idempotent-error": (
        lambda: run(failing(httpx.ReadError), method="POST", **EVERY_OPTION),
        EventType.ERROR,
        GiveUpReason.NOT_IDEMPOTENT,
        1,
    ),
    "not-idempotent-status": (
        lambda: run(ScriptedTransport(then=503), method="PATCH", **EVERY_OPTION),
        EventType.SUCCESS,
        GiveUpReason.NOT_IDEMPOTENT,
        1,
    ),
    "certificate": (
        lambda: run(ScriptedTransport(then=table.ROWS["certificate"].answer), **EVERY_OPTION),
        EventType.ERROR,
        GiveUpReason.CERTIFICATE,
        1,
    ),
    "body-sent-error": (
        lambda: run(
            ScriptedTransport(then=lambda r: consume_then(httpx.WriteError, r)),
            method="PUT",
            content=two_chunks(),
            **EVERY_OPTION,
        ),
        EventType.ERROR,
        GiveUpReason.BODY_SENT,
        1,
    ),
    "body-sent-status": (
        lambda: run(
            ScriptedTransport(then=lambda r: consume_then(httpx.Response(503), r)),
            method="PUT",
            content=two_chunks(),
            **EVERY_OPTION,
        ),
        EventType.SUCCESS,
        GiveUpReason.BODY_SENT,
        1,
    ),
    "deadline": (
        # The first backoff (1 s, no jitter) would end exactly at the deadline.
        lambda: run(failing(httpx.ConnectError), deadline=1.0, base_delay=1.0, jitter=0.0),
        EventType.ERROR,
        GiveUpReason.DEADLINE,
        1,
    ),
    "budget": (
        # Two tokens: the first failure leaves one, which is not above half.
        lambda: run(
            failing(httpx.ConnectError),
            budget=RetryBudget(max_tokens=2, min_retries_per_second=0),
        ),
        EventType.ERROR,
        GiveUpReason.BUDGET,
        1,
    ),
    "circuit-open-retry": (
        # The failure opens the circuit: the retry would land in the break.
        lambda: run(failing(httpx.ConnectError), breaker=CircuitBreaker(consecutive_failures=1)),
        EventType.ERROR,
        GiveUpReason.CIRCUIT_OPEN,
        1,
    ),
    "circuit-open-refused": (
        # Refused before any attempt: nothing reaches the inner transport.
        lambda: run(ScriptedTransport(then=200), breaker=opened_breaker()),
        EventType.ERROR,
        GiveUpReason.CIRCUIT_OPEN,
        0,
    ),
    "retry-after-too-long": (
        lambda: run(
            ScriptedTransport(then=httpx.Response(503, headers={"Retry-After": "3600"})),
            retry_statuses={503},
        ),
        EventType.SUCCESS,
        GiveUpReason.RETRY_AFTER_TOO_LONG,
        1,
    ),
    "first-time-success": (
        lambda: run(ScriptedTransport(then=200), **EVERY_OPTION),
        EventType.SUCCESS,
        None,
        1,
    ),
    "success-after-retries": (
        lambda: run(FlakyTransport(failures=2)),
        EventType.SUCCESS,
        None,
        3,
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_the_terminal_event_says_why_the_request_was_not_retried(name: str) -> None:
    scenario, event_type, reason, attempts = SCENARIOS[name]
    outcome: Outcome = await scenario()
    terminal = outcome.terminal
    assert (terminal.event_type, terminal.reason, terminal.attempts) == (
        event_type,
        reason,
        attempts,
    )
    assert outcome.calls == attempts
    if isinstance(outcome.result, BaseException):
        assert terminal.error is outcome.result
    else:
        assert terminal.status_code == outcome.result.status_code


def test_every_give_up_reason_has_a_scenario() -> None:
    covered = {reason for _, _, reason, _ in SCENARIOS.values()}
    # CANCELLED: the cancellation tests below.
    assert covered | {GiveUpReason.CANCELLED} == set(GiveUpReason) | {None}


# -- a cancellation is never retried -----------------------------------------------------


async def test_a_cancelled_attempt_is_not_retried_whatever_the_options() -> None:
    started = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    inner = ScriptedTransport(then=hang)
    sleep = RecordingSleep()
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner, max_retries=5, sleep=sleep, events=recorder.send, **EVERY_OPTION
        )
        async with (
            httpx.AsyncClient(transport=transport) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(client.get, URL)
            await started.wait()
            tg.cancel_scope.cancel()
        events = recorder.events
    assert inner.calls == 1
    assert sleep.delays == []
    assert [(e.event_type, e.reason, e.attempts) for e in events] == [
        (EventType.CANCELLED, GiveUpReason.CANCELLED, 1)
    ]
    assert isinstance(events[0].error, anyio.get_cancelled_exc_class())


async def test_a_request_cancelled_in_its_backoff_makes_no_further_attempt() -> None:
    inner = FlakyTransport(failures=1)
    sleep = RecordingSleep(block=True)
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner, max_retries=5, sleep=sleep, events=recorder.send, **EVERY_OPTION
        )
        async with httpx.AsyncClient(transport=transport) as client:
            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(client.get, URL)
                    while not sleep.sleeping:
                        await anyio.lowlevel.checkpoint()
                    tg.cancel_scope.cancel()
        events = recorder.events
    assert inner.calls == 1
    assert [(e.event_type, e.reason) for e in events] == [
        (EventType.RETRY, None),
        (EventType.CANCELLED, GiveUpReason.CANCELLED),
    ]
