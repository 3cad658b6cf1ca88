"""The circuit breaker in the transports: what counts, the refusal, its events, its keywords."""

from __future__ import annotations

import inspect
from typing import Any

import anyio
import httpx
import pytest

from resilient_transport import (
    AsyncResilientClient,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    EventType,
    GiveUpReason,
    RetryBudget,
    RetryingAsyncTransport,
    RetryingTransport,
    create_async_resilient_client,
    simple_async_request,
)
from resilient_transport.testing import (
    EventRecorder,
    FakeClock,
    RecordingSleep,
    ScriptedTransport,
)

from ._retry_table import table
from ._support import URL

pytestmark = pytest.mark.anyio

OPEN, CLOSED, HALF_OPEN = CircuitState.OPEN, CircuitState.CLOSED, CircuitState.HALF_OPEN

#: The breaker's rule, declared: what each outcome counts as, without and
#: with retry_statuses={429, 502, 503, 504}.
UNHEALTHY = "**unhealthy**"
HEALTHY = "healthy"
IGNORED = "not counted"
EXPECTED_HEALTH = {
    **dict.fromkeys(
        [
            "ConnectError",
            "httpcore.ConnectError",
            "ConnectTimeout",
            "ReadError",
            "WriteError",
            "RemoteProtocolError",
            "ReadTimeout",
            "WriteTimeout",
        ],
        (UNHEALTHY, UNHEALTHY),
    ),
    **dict.fromkeys(
        ["PoolTimeout", "LocalProtocolError", "other exception", "certificate"], (IGNORED, IGNORED)
    ),
    "429": (IGNORED, UNHEALTHY),
    **dict.fromkeys(["502", "503", "504"], (HEALTHY, UNHEALTHY)),
    "500": (HEALTHY, HEALTHY),
    "200": (HEALTHY, HEALTHY),
    "404": (IGNORED, IGNORED),
}


async def test_the_breaker_counts_exactly_the_declared_outcomes() -> None:
    observed = await table.observe_breaker()
    assert {key: tuple(cells.values()) for key, cells in observed.items()} == EXPECTED_HEALTH


async def test_the_breaker_table_in_the_docs_is_current() -> None:
    document = table.DOC.read_text(encoding="utf-8")
    generated = table.render_breaker(await table.observe_breaker())
    assert table.splice(document, generated, table.BREAKER_START, table.BREAKER_END) == document


def test_the_breaker_table_needs_its_markers() -> None:
    with pytest.raises(ValueError, match="breaker-table:start"):
        table.splice("no table here", "x", table.BREAKER_START, table.BREAKER_END)


def opened(clock: FakeClock | None = None) -> CircuitBreaker:
    """A breaker whose circuit for `URL` has just opened (on ``clock``, if given)."""
    breaker = CircuitBreaker(consecutive_failures=1, clock=clock or FakeClock())
    origin = "http://service.test:80"
    breaker.record(origin, breaker.admit(origin), False)
    return breaker


async def test_an_open_circuit_fails_the_request_at_once_with_one_terminal_event() -> None:
    inner = ScriptedTransport(then=200)
    budget = RetryBudget()
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner, breaker=opened(), budget=budget, events=recorder.send, max_retries=5
        )
        with pytest.raises(CircuitOpenError) as caught:
            await transport.handle_async_request(httpx.Request("GET", URL))
        events = recorder.events
    assert inner.calls == 0 and budget.tokens == budget.max_tokens
    assert caught.value.origin == "http://service.test:80" and caught.value.remaining == 5.0
    assert [(e.event_type, e.reason, e.attempts) for e in events] == [
        (EventType.ERROR, GiveUpReason.CIRCUIT_OPEN, 0)
    ]
    assert events[0].error is caught.value and events[0].context.current_attempt == 0


async def test_a_retry_refused_after_its_sleep_counts_only_the_attempts_sent() -> None:
    # The circuit opens during the backoff (another request's failure).
    clock = FakeClock()
    breaker = CircuitBreaker(consecutive_failures=2, clock=clock)
    origin = "http://service.test:80"

    async def sleep(delay: float) -> None:
        breaker.record(origin, breaker.admit(origin), False)

    inner = ScriptedTransport(httpx.ConnectError("refused"), then=200)
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner, breaker=breaker, events=recorder.send, sleep=sleep, base_delay=0
        )
        with pytest.raises(CircuitOpenError):
            await transport.handle_async_request(httpx.Request("GET", URL))
        events = recorder.events
    assert inner.calls == 1
    assert [(e.event_type, e.reason, e.attempts) for e in events] == [
        (EventType.RETRY, None, 1),
        (EventType.ERROR, GiveUpReason.CIRCUIT_OPEN, 1),
    ]
    assert events[-1].context.current_attempt == 1


async def test_a_retry_that_would_sleep_into_the_break_is_not_made() -> None:
    sleep = RecordingSleep()
    inner = ScriptedTransport(then=httpx.ConnectError("refused"))
    transport = RetryingAsyncTransport(
        inner, breaker=CircuitBreaker(consecutive_failures=1), sleep=sleep, base_delay=1.0
    )
    with pytest.raises(httpx.ConnectError):  # the real error, not the refusal
        await transport.handle_async_request(httpx.Request("GET", URL))
    assert inner.calls == 1 and sleep.delays == []


async def test_a_retry_whose_sleep_outlasts_the_break_is_made_as_the_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(consecutive_failures=1, break_duration=0.5, clock=clock)
    inner = ScriptedTransport(httpx.ConnectError("refused"), then=200)
    transport = RetryingAsyncTransport(
        inner, breaker=breaker, clock=clock, sleep=clock.sleep, base_delay=1.0, jitter=0.0
    )
    response = await transport.handle_async_request(httpx.Request("GET", URL))
    assert (response.status_code, inner.calls, clock.delays) == (200, 2, [1.0])
    assert breaker.state(URL) is CLOSED


async def test_a_cancelled_probe_is_not_counted_and_gives_its_place_back() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    clock.advance(5.0)
    started = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    inner = ScriptedTransport(hang, then=204)
    transport = RetryingAsyncTransport(inner, breaker=breaker)
    async with anyio.create_task_group() as tg:
        tg.start_soon(transport.handle_async_request, httpx.Request("GET", URL))
        await started.wait()
        assert breaker.blocked_for("http://service.test:80") == 5.0
        tg.cancel_scope.cancel()
    assert breaker.state(URL) is HALF_OPEN
    response = await transport.handle_async_request(httpx.Request("GET", URL))
    assert response.status_code == 204 and breaker.state(URL) is CLOSED


async def test_an_attempt_ended_by_the_deadline_is_not_counted() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(consecutive_failures=1, clock=clock)

    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(5)
        raise AssertionError("unreachable")  # pragma: no cover

    transport = RetryingAsyncTransport(
        ScriptedTransport(then=slow), breaker=breaker, deadline=0.01, base_delay=0.001
    )
    with pytest.raises(httpx.TimeoutException):
        await transport.handle_async_request(httpx.Request("GET", URL))
    assert breaker.states() == {}


async def test_a_transport_without_a_breaker_has_none() -> None:
    assert RetryingAsyncTransport(ScriptedTransport()).breaker is None
    breaker = CircuitBreaker()
    assert RetryingAsyncTransport(ScriptedTransport(), breaker=breaker).breaker is breaker


def test_the_sync_transport_refuses_the_same_way_and_counts_the_same_way() -> None:
    clock = FakeClock()
    breaker = opened(clock)
    inner = ScriptedTransport(then=503)
    transport = RetryingTransport(inner, breaker=breaker, retry_statuses={503}, max_retries=0)
    with pytest.raises(CircuitOpenError):
        transport.handle_request(httpx.Request("GET", URL))
    assert inner.calls == 0 and transport.breaker is breaker
    clock.advance(5.0)
    assert transport.handle_request(httpx.Request("GET", URL)).status_code == 503
    assert breaker.state(URL) is OPEN  # the probe met a retried status: unhealthy


def test_the_sync_transport_books_a_deadline_as_nothing() -> None:
    breaker = CircuitBreaker(consecutive_failures=1)
    clock = FakeClock()

    def late(request: httpx.Request) -> httpx.Response:
        clock.advance(2.0)
        raise httpx.ReadTimeout("slow", request=request)

    transport = RetryingTransport(
        ScriptedTransport(then=late), breaker=breaker, deadline=1.0, clock=clock
    )
    with pytest.raises(httpx.TimeoutException):
        transport.handle_request(httpx.Request("GET", URL))
    assert breaker.states() == {}


@pytest.mark.parametrize("make", [RetryingAsyncTransport, RetryingTransport])
def test_a_breaker_of_the_wrong_type_is_refused_naming_the_keyword(make: Any) -> None:
    with pytest.raises(TypeError, match=r"breaker must be a CircuitBreaker or None, got 5"):
        make(ScriptedTransport(), breaker=5)


async def test_the_conveniences_take_and_check_the_breaker() -> None:
    for convenience in (AsyncResilientClient, create_async_resilient_client, simple_async_request):
        assert "breaker" in inspect.signature(convenience).parameters
    with pytest.raises(TypeError, match="breaker must be a CircuitBreaker"):
        AsyncResilientClient(breaker="no")  # type: ignore[arg-type]
    breaker = opened()
    with pytest.raises(CircuitOpenError):
        await simple_async_request("GET", URL, breaker=breaker)
    async with AsyncResilientClient(transport=ScriptedTransport(), breaker=breaker) as client:
        with pytest.raises(CircuitOpenError):
            await client.get(URL)
