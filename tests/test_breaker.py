"""The circuit breaker's rules, one by one, through its own API and a fake clock."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import pytest

import resilient_transport._breaker as breaker_module
from resilient_transport import CircuitBreaker, CircuitOpenError, CircuitState, CircuitTransition
from resilient_transport._circuit import origin_of
from resilient_transport._stack import of_every_stack
from resilient_transport.testing import FakeClock

ORIGIN = "http://service.test:80"
CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class Books:
    """A breaker on a fake clock, with its transitions."""

    def __init__(self, **kwargs: Any) -> None:
        self.clock = FakeClock()
        self.changes: list[CircuitTransition] = []
        self.breaker = CircuitBreaker(
            clock=self.clock, on_state_change=self.changes.append, **kwargs
        )

    def attempt(self, healthy: bool | None, origin: str = ORIGIN) -> None:
        self.breaker.record(origin, self.breaker.admit(origin), healthy)

    def fail(self, n: int = 1) -> None:
        for _ in range(n):
            self.attempt(False)

    def succeed(self, n: int = 1) -> None:
        for _ in range(n):
            self.attempt(True)

    @property
    def state(self) -> CircuitState:
        return self.breaker.state(ORIGIN)

    @property
    def moves(self) -> list[tuple[CircuitState, CircuitState, str]]:
        return [(c.previous, c.state, c.reason) for c in self.changes]


# -- closed: the two trip rules --------------------------------------------------------


def test_five_unhealthy_attempts_in_a_row_open_the_circuit_for_five_seconds() -> None:
    books = Books()
    books.clock.advance(2.0)
    books.fail(4)
    assert books.state is CLOSED and books.changes == []
    books.fail()
    assert books.changes == [
        CircuitTransition(ORIGIN, CLOSED, OPEN, 2.0, "consecutive_failures", retry_at=7.0)
    ]
    assert books.state is OPEN


def test_a_healthy_attempt_ends_the_run_of_failures() -> None:
    books = Books()
    books.fail(4)
    books.succeed()
    books.fail(4)
    assert books.state is CLOSED
    books.fail()
    assert books.moves == [(CLOSED, OPEN, "consecutive_failures")]


def test_an_outcome_not_counted_neither_ends_nor_extends_the_run() -> None:
    books = Books()
    books.fail(4)
    books.attempt(None)
    assert books.state is CLOSED
    books.fail()
    assert books.state is OPEN


def test_the_failure_ratio_opens_once_the_window_holds_minimum_attempts() -> None:
    books = Books(consecutive_failures=None)  # ratio 0.5 over >= 20 attempts
    books.succeed(10)
    books.fail(9)
    assert books.state is CLOSED  # 19 attempts: too few to judge
    books.fail()
    assert books.moves == [(CLOSED, OPEN, "failure_ratio")]


def test_a_ratio_just_below_the_threshold_stays_closed() -> None:
    books = Books(consecutive_failures=None)
    books.succeed(11)
    books.fail(9)  # 9 of 20
    assert books.state is CLOSED
    books.fail()  # 10 of 21 < 0.5
    assert books.state is CLOSED
    books.fail()  # 11 of 22
    assert books.state is OPEN


def test_a_ratio_is_compared_exactly_not_through_a_rounded_product() -> None:
    # 0.7 * 10 is 7.000000000000001 in floating point; 7 / 10 is 0.7.
    books = Books(consecutive_failures=None, failure_ratio=0.7, minimum_attempts=10)
    books.succeed(3)
    books.fail(7)
    assert books.state is OPEN


def test_the_window_spans_its_seconds_and_forgets_older_ones() -> None:
    kept = Books(consecutive_failures=None, minimum_attempts=4)
    kept.fail(2)
    kept.clock.advance(9.0)  # second 9: seconds 0-9 are in a 10 s window
    kept.fail(2)
    assert kept.state is OPEN
    forgotten = Books(consecutive_failures=None, minimum_attempts=4)
    forgotten.fail(2)
    forgotten.clock.advance(10.0)  # second 10: second 0 has left the window
    forgotten.fail(2)
    assert forgotten.state is CLOSED
    forgotten.fail(2)
    assert forgotten.state is OPEN


def test_a_fractional_window_rounds_up_to_whole_seconds() -> None:
    books = Books(consecutive_failures=None, minimum_attempts=2, window=1.5)
    books.fail()
    books.clock.advance(1.0)  # two buckets: seconds 0 and 1
    books.fail()
    assert books.state is OPEN


def test_the_run_of_failures_is_not_bounded_by_the_window() -> None:
    books = Books(failure_ratio=None)
    for _ in range(5):
        books.fail()
        books.clock.advance(60.0)
    assert books.state is OPEN


# -- open: the break ------------------------------------------------------------------


def opened(**kwargs: Any) -> Books:
    books = Books(consecutive_failures=1, **kwargs)
    books.fail()
    assert books.state is OPEN
    return books


def test_an_open_circuit_refuses_until_the_break_is_over() -> None:
    books = opened()
    books.clock.advance(4.75)
    with pytest.raises(CircuitOpenError) as caught:
        books.breaker.admit(ORIGIN)
    error = caught.value
    assert (error.origin, error.retry_at, error.remaining) == (ORIGIN, 5.0, 0.25)
    assert str(error) == (
        f"circuit open for {ORIGIN}: failing fast without sending; it will try again in 0.250 s"
    )
    assert (books.breaker.admitted, books.breaker.refused) == (1, 1)
    books.clock.advance(0.25)
    books.breaker.admit(ORIGIN)
    assert books.moves[-1] == (OPEN, HALF_OPEN, "break_over")
    assert books.changes[-1].retry_at is None and books.changes[-1].time == 5.0


def test_the_refusal_is_a_transport_error_of_every_stack_and_carries_the_request() -> None:
    request = httpx.Request("GET", "http://service.test/x")
    books = opened()
    with pytest.raises(CircuitOpenError) as caught:
        books.breaker.admit(ORIGIN, request)
    assert caught.value.request is request
    for transport_error in of_every_stack("TransportError"):
        assert isinstance(caught.value, transport_error)


def test_outcomes_reported_while_open_change_nothing() -> None:
    books = Books(consecutive_failures=1)
    early = books.breaker.admit(ORIGIN)
    late = books.breaker.admit(ORIGIN)
    books.breaker.record(ORIGIN, early, False)
    books.breaker.record(ORIGIN, late, False)  # admitted before it opened: stale
    books.breaker.record(ORIGIN, late, True)
    assert books.moves == [(CLOSED, OPEN, "consecutive_failures")]
    assert books.breaker.blocked_for(ORIGIN) == 5.0


# -- half-open: the probes ------------------------------------------------------------


def test_a_healthy_probe_closes_the_circuit_with_fresh_counts() -> None:
    books = opened()
    books.clock.advance(5.0)
    books.succeed()
    assert books.moves[1:] == [
        (OPEN, HALF_OPEN, "break_over"),
        (HALF_OPEN, CLOSED, "probe_succeeded"),
    ]
    assert books.state is CLOSED
    books.fail()  # consecutive_failures=1 again: the counts start afresh
    assert books.state is OPEN


def test_an_unhealthy_probe_opens_the_circuit_for_another_break() -> None:
    books = opened()
    books.clock.advance(6.0)
    books.fail()
    assert books.moves[-1] == (HALF_OPEN, OPEN, "probe_failed")
    assert books.changes[-1].retry_at == 11.0
    books.clock.advance(4.5)
    with pytest.raises(CircuitOpenError):
        books.breaker.admit(ORIGIN)


def test_only_probes_many_attempts_go_out_while_half_open() -> None:
    books = opened(probes=2)
    books.clock.advance(5.0)
    first = books.breaker.admit(ORIGIN)
    books.breaker.admit(ORIGIN)
    assert books.breaker.blocked_for(ORIGIN) == 5.0
    with pytest.raises(CircuitOpenError) as caught:
        books.breaker.admit(ORIGIN)
    assert caught.value.remaining == 5.0
    books.breaker.record(ORIGIN, first, None)  # not counted: its place is free again
    assert books.state is HALF_OPEN and books.breaker.blocked_for(ORIGIN) == 0.0
    books.breaker.admit(ORIGIN)
    with pytest.raises(CircuitOpenError):
        books.breaker.admit(ORIGIN)


def test_probes_that_never_answer_give_their_place_up_after_a_break() -> None:
    books = opened()
    books.clock.advance(5.0)
    lost = books.breaker.admit(ORIGIN)
    books.clock.advance(4.5)
    with pytest.raises(CircuitOpenError):
        books.breaker.admit(ORIGIN)
    books.clock.advance(0.5)
    fresh = books.breaker.admit(ORIGIN)
    books.breaker.record(ORIGIN, lost, False)  # too late: stale
    assert books.state is HALF_OPEN
    books.breaker.record(ORIGIN, fresh, True)
    assert books.state is CLOSED


def test_a_half_open_circuit_ignores_an_outcome_from_before_it_opened() -> None:
    books = opened()
    books.clock.advance(5.0)
    probe = books.breaker.admit(ORIGIN)
    books.breaker.record(ORIGIN, 0, False)  # a ticket of the first closed epoch
    assert books.state is HALF_OPEN
    books.breaker.record(ORIGIN, probe, True)
    assert books.state is CLOSED


# -- origins, states, what is kept ------------------------------------------------------


def test_each_origin_has_its_own_circuit() -> None:
    books = opened()
    other = "https://service.test:443"
    books.breaker.admit(other)
    assert books.breaker.state(other) is CLOSED
    assert books.breaker.states() == {ORIGIN: OPEN}
    assert books.breaker.blocked_for(other) == 0.0
    books.attempt(None, other)  # nothing to count: no books kept
    assert books.breaker.states() == {ORIGIN: OPEN}


def test_state_takes_any_url_of_the_origin() -> None:
    books = opened()
    assert books.breaker.state("http://service.test/a/b?c=d") is OPEN
    assert books.breaker.state(httpx.URL("http://service.test:80/")) is OPEN
    assert books.breaker.state("http://service.test:8080/") is CLOSED


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://example.test/path", "http://example.test:80"),
        ("https://EXAMPLE.test/", "https://example.test:443"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
        ("wss://example.test/", "wss://example.test:443"),
        ("ws://example.test/", "ws://example.test:80"),
        ("ftp://example.test/", "ftp://example.test"),
    ],
)
def test_an_origin_is_scheme_host_and_port_with_the_default_port_filled_in(
    url: str, origin: str
) -> None:
    assert origin_of(url) == origin
    assert origin_of(httpx.URL(url)) == origin


def test_a_stale_ticket_for_an_origin_without_books_is_ignored() -> None:
    books = Books()
    books.breaker.record(ORIGIN, 7, False)
    assert books.breaker.states() == {}


def test_idle_closed_circuits_are_swept_so_memory_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(breaker_module, "_SWEEP_AT", 3)
    books = Books(consecutive_failures=2)
    books.attempt(True, "http://a.test:80")  # idle once the window has passed
    books.attempt(False, "http://b.test:80")  # one failure in a row: kept
    books.fail(2)  # open: kept
    books.clock.advance(20.0)
    books.attempt(True, "http://c.test:80")
    assert set(books.breaker.states()) == {"http://b.test:80", ORIGIN, "http://c.test:80"}
    books.attempt(True, "http://d.test:80")  # the next sweep waits for twice as many
    assert len(books.breaker.states()) == 4


def test_a_closed_circuit_with_a_recent_window_is_not_swept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(breaker_module, "_SWEEP_AT", 1)
    books = Books()
    books.attempt(True, "http://a.test:80")
    books.attempt(True, "http://b.test:80")
    assert len(books.breaker.states()) == 2


# -- observing -------------------------------------------------------------------------


def test_callbacks_are_called_outside_the_lock_and_can_be_unsubscribed() -> None:
    books = Books(consecutive_failures=1)
    seen: list[CircuitState] = []

    def reads_the_breaker(change: CircuitTransition) -> None:
        seen.append(books.breaker.state(change.origin))  # would deadlock under the lock

    books.breaker.subscribe(reads_the_breaker)
    books.fail()
    books.breaker.unsubscribe(reads_the_breaker)
    books.breaker.unsubscribe(reads_the_breaker)  # not subscribed: nothing happens
    books.clock.advance(5.0)
    books.succeed()
    assert seen == [OPEN]
    assert len(books.changes) == 3


def test_a_callback_that_raises_is_counted_and_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(change: CircuitTransition) -> None:
        raise RuntimeError("observer bug")

    books = Books(consecutive_failures=1)
    books.breaker.subscribe(broken)
    later: list[CircuitTransition] = []
    books.breaker.subscribe(later.append)
    with caplog.at_level(logging.ERROR, logger="resilient_transport"):
        books.fail()
    assert books.breaker.callback_errors == 1
    assert len(later) == 1 and len(books.changes) == 1
    assert "circuit breaker callback" in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info is not None


def test_many_threads_book_exactly() -> None:
    breaker = CircuitBreaker(consecutive_failures=None, failure_ratio=1.0, minimum_attempts=1)

    def work() -> None:
        for _ in range(500):
            breaker.record(ORIGIN, breaker.admit(ORIGIN), True)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.admitted == 4000 and breaker.state(ORIGIN) is CLOSED


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"consecutive_failures": 0}, ValueError, "consecutive_failures must be >= 1, got 0"),
        ({"consecutive_failures": 2.0}, TypeError, "consecutive_failures must be an int or None"),
        ({"consecutive_failures": True}, TypeError, "consecutive_failures must be an int or None"),
        ({"failure_ratio": 0}, ValueError, "failure_ratio must be > 0 and <= 1, got 0"),
        ({"failure_ratio": 1.5}, ValueError, "failure_ratio must be > 0 and <= 1, got 1.5"),
        ({"failure_ratio": float("nan")}, ValueError, "failure_ratio must be > 0 and <= 1"),
        ({"failure_ratio": "0.5"}, TypeError, "failure_ratio must be a number or None"),
        ({"failure_ratio": False}, TypeError, "failure_ratio must be a number or None"),
        (
            {"consecutive_failures": None, "failure_ratio": None},
            ValueError,
            "consecutive_failures and failure_ratio cannot both be None",
        ),
        ({"minimum_attempts": 0}, ValueError, "minimum_attempts must be >= 1, got 0"),
        ({"minimum_attempts": None}, TypeError, "minimum_attempts must be an int, got None"),
        ({"window": 0.5}, ValueError, "window must be a finite number >= 1, got 0.5"),
        ({"window": float("inf")}, ValueError, "window must be a finite number >= 1, got inf"),
        ({"window": "10"}, TypeError, "window must be a number of seconds, got '10'"),
        ({"break_duration": 0}, ValueError, "break_duration must be a finite number > 0, got 0"),
        ({"break_duration": -1.0}, ValueError, "break_duration must be a finite number > 0"),
        ({"break_duration": True}, TypeError, "break_duration must be a number of seconds"),
        ({"probes": 0}, ValueError, "probes must be >= 1, got 0"),
        ({"probes": 1.0}, TypeError, "probes must be an int, got 1.0"),
        ({"clock": 3}, TypeError, "clock must be callable, got 3"),
        ({"on_state_change": 3}, TypeError, "callback must be callable, got 3"),
    ],
)
def test_every_argument_is_checked_at_construction(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        CircuitBreaker(**kwargs)
    assert str(caught.value).startswith(message)


def test_the_settings_are_readable_and_shown_by_repr() -> None:
    breaker = CircuitBreaker(failure_ratio=1, window=30, break_duration=2)
    assert (breaker.failure_ratio, breaker.window, breaker.break_duration) == (1.0, 30.0, 2.0)
    assert repr(breaker) == (
        "CircuitBreaker(consecutive_failures=5, failure_ratio=1.0, minimum_attempts=20, "
        "window=30.0, break_duration=2.0, probes=1)"
    )
    assert CircuitBreaker(failure_ratio=None).failure_ratio is None
