"""The retry budget: its arithmetic, its place in the transport, and a burst on a dead port.

The arithmetic, for a bucket of ``max_tokens`` that starts full, with no
success in between: the k-th failure leaves ``max_tokens - k`` tokens, and a
retry is allowed while that is above half, so a burst gets
``ceil(max_tokens / 2) - 1`` retries from the bucket; the floor's reserve,
with a clock that does not move, adds ``floor(min_retries_per_second)`` for a
floor of one retry a second or more. A floor below that is a chance per ask.
"""

from __future__ import annotations

import collections
import contextlib
import math
from typing import Any

import anyio
import httpx
import pytest

from resilient_transport import EventType, GiveUpReason, RetryBudget, RetryingAsyncTransport
from resilient_transport._overrides import apply_dict
from resilient_transport.testing import (
    CountingTransport,
    EventRecorder,
    FakeClock,
    FlakyTransport,
    RecordingSleep,
    ScriptedTransport,
)

from ._retry_table import table
from ._server import free_port
from ._support import URL

pytestmark = pytest.mark.anyio


def burst_bound(budget: RetryBudget) -> int:
    """Retries a budget allows to a burst of failures, with a frozen clock."""
    from_bucket = math.ceil(budget.max_tokens / 2) - 1
    return from_bucket + math.floor(budget.min_retries_per_second)


def retries_allowed(budget: RetryBudget, failures: int) -> int:
    """Fail ``failures`` times, asking for a retry after each; count the yeses."""
    allowed = 0
    for _ in range(failures):
        budget.record_failure()
        allowed += budget.acquire_retry()
    return allowed


# -- the arithmetic ----------------------------------------------------------------------


def test_the_bucket_starts_full_failures_spend_one_and_successes_refund_the_ratio() -> None:
    budget = RetryBudget(max_tokens=10, token_ratio=0.1)
    assert budget.tokens == 10
    budget.record_failure()
    budget.record_failure()
    assert budget.tokens == 8
    budget.record_success()
    assert budget.tokens == pytest.approx(8.1)
    for _ in range(100):
        budget.record_success()
    assert budget.tokens == 10  # never above the size
    for _ in range(100):
        budget.record_failure()
    assert budget.tokens == 0  # never below empty


def test_retries_stop_when_the_bucket_is_at_half_and_resume_above_it() -> None:
    budget = RetryBudget(max_tokens=10, token_ratio=0.1, min_retries_per_second=0)
    assert retries_allowed(budget, 4) == 4  # 9, 8, 7, 6 tokens: above half
    budget.record_failure()
    assert budget.tokens == 5
    assert budget.acquire_retry() is False  # at half: refused
    budget.record_success()
    assert budget.acquire_retry() is True  # 5.1: above half again
    assert budget.acquire_retry() is True  # asking does not spend; failing does


@pytest.mark.parametrize(
    ("max_tokens", "retries"), [(10, 4), (11, 5), (4, 1), (3, 1), (2, 0), (1, 0), (100, 49)]
)
def test_a_burst_without_the_floor_gets_ceil_half_minus_one_retries(
    max_tokens: int, retries: int
) -> None:
    budget = RetryBudget(max_tokens=max_tokens, min_retries_per_second=0)
    assert retries_allowed(budget, 1000) == retries == burst_bound(budget)


def test_ten_successes_pay_for_one_failure_at_the_default_ratio() -> None:
    budget = RetryBudget(min_retries_per_second=0)
    retries_allowed(budget, 1000)
    assert budget.tokens == 0
    for _ in range(51):
        budget.record_success()
    assert budget.tokens == pytest.approx(5.1)
    assert retries_allowed(budget, 1) == 0  # the failure brings it to 4.1
    for _ in range(20):
        budget.record_success()
    assert retries_allowed(budget, 1) == 1  # 6.1 -> 5.1, above half


def test_the_floor_gives_one_retry_a_second_once_the_bucket_is_spent() -> None:
    clock = FakeClock(50.0)
    budget = RetryBudget(max_tokens=10, min_retries_per_second=1, clock=clock)
    assert retries_allowed(budget, 1000) == 4 + 1  # the bucket's 4, the reserve's 1
    assert budget.acquire_retry() is False
    clock.advance(0.5)
    assert budget.acquire_retry() is False  # half a retry is none
    clock.advance(0.5)
    assert budget.acquire_retry() is True
    assert budget.acquire_retry() is False
    clock.advance(3600)
    assert retries_allowed(budget, 100) == 1  # the reserve holds one second's worth


def test_a_floor_above_one_a_second_allows_that_many_retries_each_second() -> None:
    clock = FakeClock(50.0)
    budget = RetryBudget(max_tokens=10, min_retries_per_second=3, clock=clock)
    assert retries_allowed(budget, 1000) == 4 + 3 == burst_bound(budget)
    clock.advance(1)
    assert retries_allowed(budget, 1000) == 3
    clock.advance(1 / 3)
    assert retries_allowed(budget, 1000) == 1


def test_the_reserve_is_not_touched_while_the_bucket_allows_retries() -> None:
    clock = FakeClock(50.0)
    budget = RetryBudget(max_tokens=10, min_retries_per_second=1, clock=clock)
    for _ in range(50):
        assert budget.acquire_retry() is True  # a full bucket: no failure yet
    assert retries_allowed(budget, 1000) == 5  # the reserve is still whole


class Draws:
    """An injected ``random``: returns the values given, in turn, and counts the calls."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.values.pop(0)


def test_a_floor_below_one_a_second_is_a_chance_spent_by_each_ask() -> None:
    clock = FakeClock(50.0)
    draws = Draws(0.24, 0.25, 0.0)
    budget = RetryBudget(max_tokens=2, min_retries_per_second=0.25, clock=clock, random=draws)
    budget.record_failure()  # the bucket's 1 token is not above half: the floor decides
    assert budget.acquire_retry() is True  # it starts full: a 0.25 chance, drawn 0.24
    assert budget.acquire_retry() is False  # spent: nothing left to draw for
    clock.advance(1.0)
    assert budget.acquire_retry() is False  # 0.25 again, drawn 0.25: not below it
    clock.advance(10.0)
    assert budget.acquire_retry() is True  # one second's worth at most: 0.25, drawn 0.0
    assert draws.calls == 3
    budget.record_success()
    budget.record_success()  # 1.2 tokens: above half, the floor is not asked
    assert budget.acquire_retry() is True
    assert draws.calls == 3


def test_a_floor_of_one_a_second_or_more_draws_nothing() -> None:
    clock = FakeClock(50.0)
    draws = Draws()
    budget = RetryBudget(max_tokens=2, min_retries_per_second=1, clock=clock, random=draws)
    budget.record_failure()
    assert budget.acquire_retry() is True
    clock.advance(0.5)
    assert budget.acquire_retry() is False  # half a retry is none, not a chance
    assert draws.calls == 0


def test_a_fractional_floor_allows_its_rate_on_average() -> None:
    import random

    clock = FakeClock(50.0)
    budget = RetryBudget(
        max_tokens=2,
        min_retries_per_second=0.25,
        clock=clock,
        random=random.Random(7).random,
    )
    budget.record_failure()
    allowed = 0
    for _ in range(4000):  # 400 s, an ask every 100 ms: 100 retries expected
        clock.advance(0.1)
        allowed += budget.acquire_retry()
    assert 75 <= allowed <= 125


@pytest.mark.parametrize("clients", [100, 1000, 10_000])
def test_a_fleet_with_the_floor_split_between_its_clients_bursts_the_floor_not_its_size(
    clients: int,
) -> None:
    """The reason for the chance: N clients of F / N each burst about F retries, not N."""
    import random

    draw = random.Random(clients).random
    clock = FakeClock(50.0)
    fleet = [
        RetryBudget(max_tokens=2, min_retries_per_second=100 / clients, clock=clock, random=draw)
        for _ in range(clients)
    ]
    burst = sum(retries_allowed(budget, 3) for budget in fleet)  # every client fails 3 times
    assert 60 <= burst <= 140 if clients > 100 else burst == 100


def test_a_zero_floor_turns_it_off() -> None:
    budget = RetryBudget(max_tokens=10, min_retries_per_second=0, clock=FakeClock(50.0))
    assert retries_allowed(budget, 1000) == 4 == burst_bound(budget)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_tokens": 0}, ValueError, "max_tokens must be a finite number > 0, got 0"),
        ({"max_tokens": math.inf}, ValueError, "max_tokens must be a finite number > 0"),
        ({"max_tokens": True}, TypeError, "max_tokens must be a number, got True"),
        ({"token_ratio": -0.1}, ValueError, "token_ratio must be a finite number > 0"),
        ({"token_ratio": 11}, ValueError, "token_ratio=11 and max_tokens=10"),
        ({"min_retries_per_second": -1}, ValueError, "min_retries_per_second must be a finite"),
        ({"min_retries_per_second": "1"}, TypeError, "min_retries_per_second must be a number"),
        ({"clock": 5}, TypeError, "clock must be callable, got 5"),
        ({"random": 5}, TypeError, "random must be callable, got 5"),
    ],
)
def test_invalid_budget_settings_are_refused_naming_them(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        RetryBudget(**kwargs)


def test_the_repr_shows_the_settings_and_the_tokens() -> None:
    assert repr(RetryBudget()) == (
        "RetryBudget(max_tokens=10.0, token_ratio=0.1, min_retries_per_second=1.0, tokens=10.0)"
    )


# -- in the transport ----------------------------------------------------------------------


async def test_the_budget_is_off_by_default() -> None:
    inner = FlakyTransport(failures=10)
    transport = RetryingAsyncTransport(inner, sleep=RecordingSleep())
    assert transport.budget is None
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(200):
            with pytest.raises(httpx.ConnectError):
                await client.get(URL)
    assert inner.calls == 600  # every request made its two retries


async def test_a_budget_shared_by_two_transports_is_spent_by_either() -> None:
    budget = RetryBudget(max_tokens=10, min_retries_per_second=0)
    with EventRecorder() as recorder:
        first = RetryingAsyncTransport(
            FlakyTransport(failures=10), budget=budget, sleep=RecordingSleep()
        )
        second_inner = FlakyTransport(failures=1)
        second = RetryingAsyncTransport(
            second_inner, budget=budget, sleep=RecordingSleep(), events=recorder.send
        )
        assert first.budget is second.budget is budget
        async with (
            httpx.AsyncClient(transport=first) as a,
            httpx.AsyncClient(transport=second) as b,
        ):
            for _ in range(3):
                with pytest.raises(httpx.ConnectError):
                    await a.get(URL)
            # The first client's failures spent the budget: the second one's
            # single connect error is not retried.
            with pytest.raises(httpx.ConnectError):
                await b.get(URL)
        events = recorder.events
    assert second_inner.calls == 1
    assert (events[-1].event_type, events[-1].reason) == (EventType.ERROR, GiveUpReason.BUDGET)


async def test_successes_through_one_transport_refill_the_budget_for_the_other() -> None:
    budget = RetryBudget(max_tokens=10, token_ratio=1, min_retries_per_second=0)
    retrying_inner = FlakyTransport(failures=1)
    healthy = RetryingAsyncTransport(FlakyTransport(failures=0), budget=budget)
    retrying = RetryingAsyncTransport(retrying_inner, budget=budget, sleep=RecordingSleep())
    retries_allowed(budget, 10)
    assert budget.tokens == 0
    async with (
        httpx.AsyncClient(transport=healthy) as h,
        httpx.AsyncClient(transport=retrying) as r,
    ):
        for _ in range(7):
            await h.get(URL)
        assert budget.tokens == 7
        response = await r.get(URL)
    assert response.status_code == 200
    assert retrying_inner.calls == 2


@pytest.mark.parametrize(
    ("row", "options", "tokens_after"),
    [
        # Failures that speak of the service spend a token, retried or not.
        ("ConnectError", {}, 8),
        ("ConnectTimeout", {}, 8),
        ("ReadError", {}, 8),
        ("503", {"retry_statuses": {503}}, 8),
        # A bug of ours or a certificate says nothing about the service's load.
        ("other exception", {}, 9),
        ("LocalProtocolError", {}, 9),
        ("certificate", {}, 9),
        # A response not listed in retry_statuses is an answer: a success.
        ("500", {"retry_statuses": {503}}, 9.5),
    ],
)
async def test_what_spends_a_token_and_what_refunds_one(
    row: str, options: dict[str, Any], tokens_after: float
) -> None:
    budget = RetryBudget(max_tokens=10, token_ratio=0.5)
    budget.record_failure()
    inner = ScriptedTransport(then=table.ROWS[row].answer)
    transport = RetryingAsyncTransport(inner, max_retries=0, budget=budget, **options)
    async with httpx.AsyncClient(transport=transport) as client:
        with contextlib.suppress(Exception):
            await client.get(URL)
    assert inner.calls == 1
    assert budget.tokens == tokens_after


def test_a_request_cannot_opt_out_of_its_transports_budget() -> None:
    with pytest.raises(TypeError, match="budget"):
        apply_dict(RetryingAsyncTransport(budget=RetryBudget()).defaults, {"budget": None})


# -- a burst of 1,000 failing requests against a dead port on 127.0.0.1 --------------------


REQUESTS = 1000


async def test_a_burst_of_failing_requests_on_a_dead_port_makes_only_the_budgets_retries(
    record_property: Any,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    budget = RetryBudget(clock=lambda: 0.0)  # the defaults, with a clock that does not move
    bound = burst_bound(budget)
    # No pool limit: the burst is 1,000 real connection attempts at once.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    counting = CountingTransport(httpx.AsyncHTTPTransport(limits=limits))
    failed = 0
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            counting, budget=budget, sleep=RecordingSleep(), events=recorder.send
        )
        async with httpx.AsyncClient(transport=transport) as client:

            async def one() -> None:
                nonlocal failed
                with pytest.raises(httpx.ConnectError):
                    await client.get(url)
                failed += 1

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for _ in range(REQUESTS):
                        tg.start_soon(one)
        events = recorder.events
    retries = counting.calls - REQUESTS
    figures = {
        "requests": REQUESTS,
        "attempts": counting.calls,
        "retries": retries,
        "bound": bound,
    }
    print(f"budget burst on a dead port: {figures}")
    record_property("budget_burst", figures)
    assert failed == REQUESTS
    assert retries <= bound
    # The clock is frozen and every attempt fails: the arithmetic is exact.
    assert retries == bound == 5
    assert sum(e.event_type is EventType.RETRY for e in events) == retries
    reasons = collections.Counter(e.reason for e in events if e.is_terminal)
    assert reasons[GiveUpReason.BUDGET] >= REQUESTS - retries
    assert set(reasons) <= {GiveUpReason.BUDGET, GiveUpReason.EXHAUSTED}
    # Without a budget the same burst would make two retries per request.
    assert counting.calls < REQUESTS * 3


async def test_the_same_burst_without_a_budget_retries_every_request() -> None:
    inner = FlakyTransport(failures=10)
    async with httpx.AsyncClient(
        transport=RetryingAsyncTransport(inner, sleep=RecordingSleep())
    ) as client:

        async def one() -> None:
            with pytest.raises(httpx.ConnectError):
                await client.get(URL)

        async with anyio.create_task_group() as tg:
            for _ in range(REQUESTS):
                tg.start_soon(one)
    assert inner.calls == REQUESTS * 3
