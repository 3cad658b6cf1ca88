"""The adaptive retry budget: retries paced to the answers (AIMD), delayed and never refused."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from resilient_transport import (
    AdaptiveRetryBudget,
    RetryBudget,
    RetryingAsyncTransport,
    RetryingTransport,
)
from resilient_transport._adaptive import paced, paced_sync
from resilient_transport.testing import FakeClock, FlakyTransport, RecordingSleep

from ._support import URL


def _paced_transports(
    clock: FakeClock, budget: AdaptiveRetryBudget, inner: FlakyTransport, **settings: Any
) -> tuple[RetryingAsyncTransport, RetryingTransport]:
    """The async and the sync transport over ``inner``: backoff 0.1 s doubling, on ``clock``."""
    common: dict[str, Any] = {"base_delay": 0.1, "jitter": 0.0, "budget": budget, "clock": clock}
    return (
        RetryingAsyncTransport(inner, sleep=clock.sleep, **common, **settings),
        RetryingTransport(inner, sleep=clock.sync_sleep, **common, **settings),
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("min_rate", 0),
        ("min_rate", -1.0),
        ("min_rate", math.inf),
        ("min_rate", math.nan),
        ("increase", 0.0),
        ("decrease", 0.0),
        ("decrease", 1.0),
        ("decrease", 1.5),
        ("max_wait", 0),
        ("max_wait", math.inf),
        ("share", 0.0),
        ("share", math.nan),
    ],
)
def test_a_bad_value_is_refused_naming_it(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be a finite number .*{value!r}$"):
        AdaptiveRetryBudget(**{name: value})  # type: ignore[arg-type]


def test_the_message_names_the_bounds() -> None:
    with pytest.raises(ValueError, match=r"^min_rate must be a finite number > 0, got -1$"):
        AdaptiveRetryBudget(min_rate=-1)
    with pytest.raises(
        ValueError, match=r"^decrease must be a finite number between 0 and 1 \(excluded\), got 1$"
    ):
        AdaptiveRetryBudget(decrease=1)


@pytest.mark.parametrize("value", ["1", None, True])
@pytest.mark.parametrize("name", ["min_rate", "increase", "decrease", "max_wait", "share"])
def test_a_bad_type_is_refused_naming_it(name: str, value: object) -> None:
    with pytest.raises(TypeError, match=rf"^{name} must be a number, got {value!r}$"):
        AdaptiveRetryBudget(**{name: value})  # type: ignore[arg-type]


def test_it_is_a_budget_that_never_refuses() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(clock=clock)
    assert isinstance(budget, RetryBudget)
    for _ in range(100):
        budget.record_failure()
        assert budget.acquire_retry()
    assert repr(budget) == (
        "AdaptiveRetryBudget(min_rate=1.0, increase=0.5, decrease=0.5, max_wait=10.0, "
        "share=0.2, pace=1.0)"
    )


def test_after_a_failure_answers_raise_the_pace_up_to_the_answers_per_second() -> None:
    # share=1.0 (as many retries as answers) keeps the arithmetic whole; the
    # default share is the next test's. Every step stays within a second of
    # a failure: calm (a whole second without one) has rules of its own.
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=0.5, increase=1.0, share=1.0, clock=clock)
    budget.record_failure()
    assert budget.pace == 0.5
    for _ in range(5):
        budget.record_success()
    assert budget.pace == 5.0  # capped by 5 answers in this second, not 5.5
    clock.advance(0.9)
    budget.record_failure()  # halves the pace
    assert budget.pace == 2.5
    clock.advance(0.1)  # a new second: the last one's 5 answers still count
    budget.record_success()
    assert budget.pace == 3.5  # not capped by this second's one answer
    for _ in range(5):
        budget.record_success()
    assert budget.pace == 6.0  # 6 answers in this second


def test_after_a_failure_the_pace_is_at_most_a_fifth_of_the_answers_per_second() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=1.0, increase=1.0, clock=clock)
    budget.record_failure()
    for _ in range(10):
        budget.record_success()
    assert budget.pace == 2.0  # 20 % of 10 answers, not 10
    for _ in range(290):
        budget.record_success()
    assert budget.pace == pytest.approx(60.0)  # 20 % of 300
    clock.advance(0.99)
    budget.record_failure()  # cuts the pace: 30
    clock.advance(0.01)  # a new second: the last one's 300 still count
    for _ in range(30):
        budget.record_success()
    assert budget.pace == pytest.approx(60.0)
    clock.advance(2.5)  # a silence: what came before no longer counts
    budget.record_failure()
    assert budget.pace == 30.0
    clock.advance(0.1)
    budget.record_success()
    assert budget.pace == 1.0  # 20 % of one answer is below the floor


def test_in_calm_the_pace_doubles_every_second_up_to_twice_the_answers() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=1.0, increase=0.5, clock=clock)
    budget.record_failure()
    for _ in range(300):
        budget.record_success()
    assert budget.pace == pytest.approx(60.0)  # a fifth of 300: not calm yet
    clock.advance(1.0)  # a whole second since the failure: calm
    budget.record_success()
    assert budget.pace == pytest.approx(120.0)  # doubled: a second since the last rise
    clock.advance(0.5)
    budget.record_success()
    assert budget.pace == pytest.approx(120.0 * 2**0.5)  # half a second: x1.41
    clock.advance(0.1)
    budget.record_failure()  # the share is back, the pace halved
    assert budget.pace == pytest.approx(60.0 * 2**0.5)
    budget.record_success()
    assert budget.pace == pytest.approx(0.2 * 300)  # held to a fifth of the last second's 300
    clock.advance(1.0)  # calm again, but the upstream answered 3 in the last second
    budget.record_success()
    assert budget.pace == 6.0  # twice those 3, not double the pace


def test_in_calm_the_pace_has_no_additive_increase_and_survives_long_silences() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=1.0, increase=10.0, clock=clock)
    budget.record_success()
    assert budget.pace == 1.0  # no failure yet: calm, but no time to double in
    for _ in range(3):
        clock.advance(0.5)
        budget.record_success()
    assert budget.pace == pytest.approx(2.0**1.5)  # x1.41 per half second, no +10
    clock.advance(3600.0)  # an hour without a word: at most one doubling
    budget.record_success()
    assert budget.pace == 2.0  # and twice the one answer since


@pytest.mark.parametrize(("share", "ceiling"), [(0.2, 2.0), (1.0, 2.0), (3.0, 3.0)])
def test_in_calm_the_ceiling_is_twice_the_answers_or_the_share_if_more(
    share: float, ceiling: float
) -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=1.0, share=share, clock=clock)
    budget.record_failure()
    for _ in range(300):
        budget.record_success()
    assert budget.pace > 10.0
    clock.advance(2.5)  # calm, and only the one answer below counts
    budget.record_success()
    assert budget.pace == ceiling


def test_failures_cut_the_pace_once_per_window_and_not_below_the_floor() -> None:
    # (Lost by mistake when the calm rule came in, and found again by a
    # mutation run: the failure path had no test left.)
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=1.0, increase=10.0, decrease=0.5, share=1.0, clock=clock)
    budget.record_failure()  # at once: within the window that began at creation, no cut
    for _ in range(40):
        budget.record_success()
    assert budget.pace == 40.0
    clock.advance(0.1)
    budget.record_failure()
    budget.record_failure()  # the same congestion event
    assert budget.pace == 20.0
    clock.advance(0.1)  # exactly one window later: a new event
    budget.record_failure()
    assert budget.pace == 10.0
    for _ in range(10):
        clock.advance(0.1)
        budget.record_failure()
    assert budget.pace == 1.0


def test_a_burst_of_turns_is_a_tenth_of_the_pace() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=1.0, increase=10.0, share=1.0, clock=clock)
    budget.record_failure()
    for _ in range(44):
        budget.record_success()
    assert budget.pace == 44.0
    clock.advance(0.5)  # 22 turns accrued; a burst holds 4.4
    for _ in range(5):
        budget.wait_turn_sync(clock.sync_sleep)
    # Four turns in hand, then a wait for the fifth: 0.6 of a turn at 44/s.
    assert clock.delays == [pytest.approx(0.6 / 44)]


def test_a_silence_of_two_seconds_or_more_forgets_the_answers_before_it() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=1.0, increase=1.0, clock=clock)
    budget.record_failure()
    for _ in range(100):
        budget.record_success()
    assert budget.pace == pytest.approx(20.0)
    clock.advance(1.5)
    budget.record_failure()  # halves it, and keeps the share in force
    clock.advance(0.5)  # exactly 2 s since that second began: its 100 answers are gone
    budget.record_success()
    assert budget.pace == 1.0  # a fifth of one answer: the floor


def test_in_calm_a_pause_between_answers_doubles_the_pace_at_most_once() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=1.0, clock=clock)
    for _ in range(100):
        budget.record_success()
    clock.advance(1.5)  # calm, and the 100 answers still count: a ceiling of 200
    budget.record_success()
    assert budget.pace == 2.0  # doubled once, not 2 ** 1.5


@pytest.mark.anyio
async def test_a_retry_waits_its_turn_at_the_pace() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=2.0, clock=clock)
    await budget.wait_turn(clock.sleep)  # the one turn in hand
    assert clock.delays == []
    await budget.wait_turn(clock.sleep)
    assert clock.delays == [0.5]  # a turn every 0.5 s at 2/s
    budget.record_failure()  # the pace stays at its floor
    await budget.wait_turn(clock.sleep)
    assert clock.delays == [0.5, 0.5]
    assert clock.now == 1.0
    slow = AdaptiveRetryBudget(min_rate=0.5, clock=clock)
    await slow.wait_turn(clock.sleep)
    await slow.wait_turn(clock.sleep)
    assert clock.delays == [0.5] * 6  # then 2 s, looking again every 0.5 s


@pytest.mark.anyio
async def test_a_turn_is_waited_for_at_most_max_wait() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=0.01, max_wait=0.6, clock=clock)
    await budget.wait_turn(clock.sleep)
    await budget.wait_turn(clock.sleep)
    assert clock.delays == [0.5, pytest.approx(0.1)]
    assert clock.now == pytest.approx(0.6)


@pytest.mark.anyio
async def test_a_sleep_that_does_not_move_the_clock_ends_the_wait() -> None:
    sleep = RecordingSleep()
    budget = AdaptiveRetryBudget(min_rate=0.01, clock=lambda: 100.0)
    await budget.wait_turn(sleep)
    await budget.wait_turn(sleep)
    assert sleep.delays == [0.5]


@pytest.mark.parametrize(("moved", "ends_at_once"), [(0.4, True), (0.5, False)])
def test_a_sleep_that_moves_the_clock_less_than_half_ends_the_wait(
    moved: float, ends_at_once: bool
) -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=0.5, clock=clock)  # a turn every 2 s
    budget.wait_turn_sync(clock.sync_sleep)  # the turn in hand
    delays: list[float] = []

    def short_sleep(seconds: float) -> None:
        delays.append(seconds)
        clock.advance(seconds * moved)

    budget.wait_turn_sync(short_sleep)
    # 0.4 of the 0.5 s asked: time does not really move, the wait ends at
    # once. Half of it counts as moving: the wait goes on towards the turn.
    assert delays[0] == 0.5
    assert (len(delays) == 1) is ends_at_once


@pytest.mark.anyio
async def test_paced_adds_the_turn_to_the_sleep_of_an_adaptive_budget_only() -> None:
    sleep = RecordingSleep()
    for budget in (None, RetryBudget()):
        await paced(budget, sleep, lambda: 0.0)(1.5, 0.1, 0.0)  # no turn, whatever the deadline
    assert sleep.delays == [1.5, 1.5]
    clock = FakeClock()
    wrapped = paced(AdaptiveRetryBudget(min_rate=4.0, clock=clock), clock.sleep, clock)
    await wrapped(1.0, None, 0.0)  # the backoff; the budget's turn in hand
    await wrapped(1.0, None, 0.0)  # the backoff (1 s: a turn accrued at 4/s)
    await wrapped(0.0, None, 0.0)
    assert clock.delays == [1.0, 1.0, 0.0, 0.25]  # 0.25 s: a turn at 4/s


@pytest.mark.anyio
async def test_a_turn_is_waited_for_at_most_half_the_time_the_deadline_leaves() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=0.01, clock=clock)
    wrapped = paced(budget, clock.sleep, clock)
    await wrapped(0.0, 10.0, 0.0)  # the turn in hand
    clock.advance(5.0)
    await wrapped(1.0, 10.0, 0.0)  # 6 s gone after the backoff: 4 s left, 2 s of turn
    assert clock.delays == [0.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    assert clock.now == pytest.approx(8.0)
    await wrapped(0.0, 8.0, 0.0)  # the deadline has passed: no wait for a turn
    assert clock.now == pytest.approx(8.0)


@pytest.mark.anyio
async def test_the_transport_paces_retries_and_serves_every_request(anyio_backend: str) -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=1.0, clock=clock)
    inner = FlakyTransport(failures=3)
    transport, _ = _paced_transports(clock, budget, inner, max_retries=3)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL)
    assert response.status_code == 200 and inner.calls == 4
    # Each backoff (0.1, 0.2, 0.4), then the wait for a turn at 1 retry/s,
    # looking again every 0.5 s: the first turn is in hand; the second
    # accrues from 0.1 s to 1.1 s; the third from 1.1 s to 2.1 s.
    assert clock.delays == pytest.approx([0.1, 0.2, 0.5, 0.3, 0.4, 0.5, 0.1])
    # The answer came a whole second after the last failure (1.1 s, 2.1 s):
    # calm, so the pace doubled, to twice that one answer.
    assert budget.pace == 2.0


def test_a_synchronous_transport_paces_retries_as_the_async_one() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=1.0, clock=clock)
    inner = FlakyTransport(failures=3)
    _, transport = _paced_transports(clock, budget, inner, max_retries=3)
    with httpx.Client(transport=transport) as client:
        assert client.get(URL).status_code == 200
    assert inner.calls == 4
    # The async transport's test above, blocking: the same backoffs and turns.
    assert clock.delays == pytest.approx([0.1, 0.2, 0.5, 0.3, 0.4, 0.5, 0.1])
    assert budget.pace == 2.0


def test_a_synchronous_retry_waits_for_its_turn_half_the_time_its_deadline_leaves() -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=0.01, clock=clock)
    budget.wait_turn_sync(clock.sync_sleep)  # the turn in hand is gone
    inner = FlakyTransport(failures=1)
    _, transport = _paced_transports(clock, budget, inner, max_retries=1, deadline=3.0)
    with httpx.Client(transport=transport) as client:
        assert client.get(URL).status_code == 200
    assert inner.calls == 2
    assert clock.delays == pytest.approx([0.1, 0.5, 0.5, 0.45])


def test_paced_sync_adds_the_turn_to_the_sleep_of_an_adaptive_budget_only() -> None:
    sleep = RecordingSleep()
    for budget in (None, RetryBudget()):
        paced_sync(budget, sleep.sync, lambda: 0.0)(1.5, 0.1, 0.0)
    assert sleep.delays == [1.5, 1.5]
    clock = FakeClock()
    wrapped = paced_sync(AdaptiveRetryBudget(min_rate=4.0, clock=clock), clock.sync_sleep, clock)
    wrapped(0.0, None, 0.0)  # the turn in hand
    wrapped(0.0, None, 0.0)
    wrapped(0.0, 0.1, clock.now)  # half of the deadline's 0.1 s left: 0.05 s of turn at most
    assert clock.delays == [0.0, 0.0, 0.25, 0.0, 0.05]


@pytest.mark.anyio
async def test_a_retry_waits_for_its_turn_half_the_time_its_deadline_leaves(
    anyio_backend: str,
) -> None:
    clock = FakeClock()
    budget = AdaptiveRetryBudget(min_rate=0.01, clock=clock)  # a turn every 100 s
    await budget.wait_turn(clock.sleep)  # the turn in hand is gone
    inner = FlakyTransport(failures=1)
    transport, _ = _paced_transports(clock, budget, inner, max_retries=1, deadline=3.0)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL)
    # Served: the backoff (0.1 s), then half of the 2.9 s left for the turn
    # (looked at every 0.5 s), and the attempt inside the deadline; with
    # max_wait (10 s) alone the deadline would have passed first.
    assert response.status_code == 200 and inner.calls == 2
    assert clock.delays == pytest.approx([0.1, 0.5, 0.5, 0.45])
    assert clock.now == pytest.approx(1.55)
