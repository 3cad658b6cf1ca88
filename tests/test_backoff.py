"""The backoff arithmetic: pure, capped, jittered, overflow-safe."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from resilient_transport import backoff_delay
from resilient_transport._retry_after import retry_after_delay


def constant(value: float) -> Callable[[], float]:
    """A ``random`` that always returns ``value``."""
    return lambda: value


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (60, 10.0)],
)
def test_without_jitter_the_schedule_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, base=1.0, cap=10.0, jitter=0.0) == expected


def test_full_jitter_draws_below_the_capped_ceiling() -> None:
    assert backoff_delay(3, 1.0, 10.0, 1.0, random=lambda: 0.0) == 4.0
    assert backoff_delay(3, 1.0, 10.0, 1.0, random=lambda: 0.75) == 1.0
    assert backoff_delay(9, 1.0, 10.0, 1.0, random=lambda: 0.5) == 5.0


def test_the_cap_applies_before_the_jitter() -> None:
    # Near the cap the jitter still spreads the delays instead of pinning them.
    delays = {backoff_delay(50, 1.0, 10.0, 1.0, random=constant(r)) for r in (0.1, 0.5, 0.9)}
    assert len(delays) == 3
    assert all(0 <= d <= 10.0 for d in delays)


def test_partial_jitter_keeps_a_floor() -> None:
    assert backoff_delay(1, 2.0, 10.0, 0.25, random=lambda: 0.999) == pytest.approx(1.5, 1e-3)


@pytest.mark.parametrize("attempt", [1023, 1024, 1025, 10**6, 10**18])
def test_huge_attempt_numbers_do_not_overflow(attempt: int) -> None:
    delay = backoff_delay(attempt, base=1e300, cap=1e308, jitter=0.0)
    assert delay == 1e308
    assert math.isfinite(delay)


def test_zero_base_or_cap_means_no_delay() -> None:
    assert backoff_delay(5, 0.0, 10.0) == 0.0
    assert backoff_delay(5, 1.0, 0.0) == 0.0


def test_a_misbehaving_random_source_is_clamped() -> None:
    assert backoff_delay(2, 1.0, 10.0, 1.0, random=lambda: -3.0) == 2.0
    assert backoff_delay(2, 1.0, 10.0, 1.0, random=lambda: 7.0) == 0.0


def test_retry_after_is_spread_over_a_window_after_it_and_never_before() -> None:
    assert retry_after_delay(1.0, random=lambda: 0.0) == 1.0
    assert retry_after_delay(1.0, random=lambda: 0.999) == pytest.approx(1.999, 1e-4)
    assert retry_after_delay(100.0, random=lambda: 1.0) == 110.0  # at most ten seconds more
    assert retry_after_delay(0.0, random=lambda: 1.0) == 0.0
    # The window is the request's jitter share of the time asked.
    assert retry_after_delay(4.0, random=lambda: 1.0, jitter=0.25) == 5.0
    assert retry_after_delay(4.0, random=lambda: 1.0, jitter=0.0) == 4.0
