"""The circuit breaker's rules, checked, and one origin's books under them.

`_breaker.CircuitBreaker` holds a `Circuit` per origin and its lock; every
method here runs under that lock and touches nothing else.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Callable

from ._circuit import CircuitState, CircuitTransition

__all__ = ["Circuit", "Rules"]

CLOSED, OPEN = CircuitState.CLOSED, CircuitState.OPEN


def _count(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "an int or None" if optional else "an int"
        raise TypeError(f"{name} must be {kind}, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")


def _seconds(name: str, value: object, bound: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    too_small = value < 1 if bound == ">= 1" else value <= 0
    if not math.isfinite(value) or too_small:
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class Rules:
    """A breaker's settings (see `CircuitBreaker`), checked: each error names its argument."""

    consecutive_failures: int | None
    failure_ratio: float | None
    minimum_attempts: int
    window: float
    break_duration: float
    probes: int

    def __post_init__(self) -> None:
        _count("consecutive_failures", self.consecutive_failures, optional=True)
        ratio = self.failure_ratio
        if ratio is not None:
            if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
                raise TypeError(f"failure_ratio must be a number or None, got {ratio!r}")
            if not 0 < ratio <= 1:  # NaN fails this too
                raise ValueError(f"failure_ratio must be > 0 and <= 1, got {ratio!r}")
        elif self.consecutive_failures is None:
            raise ValueError(
                "consecutive_failures and failure_ratio cannot both be None: "
                "the circuit would never open"
            )
        _count("minimum_attempts", self.minimum_attempts)
        _seconds("window", self.window, ">= 1")
        _seconds("break_duration", self.break_duration, "> 0")
        _count("probes", self.probes)

    @property
    def seconds(self) -> int:
        """One-second buckets the window spans."""
        return math.ceil(self.window)


class Circuit:
    """One origin's books: its state, its probes out, and its counts while closed."""

    __slots__ = (
        "attempts",
        "buckets",
        "consecutive",
        "epoch",
        "failures",
        "origin",
        "probes",
        "retry_at",
        "state",
    )

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.state = CLOSED
        # An attempt's ticket is the epoch it was admitted in: the outcome of
        # one admitted under an earlier state is stale news, ignored.
        self.epoch = 0
        self.consecutive = 0  # unhealthy attempts in a row
        # [second, attempts, unhealthy ones], oldest first: never more than the
        # window's seconds, so memory is bounded whatever the traffic.
        self.buckets: collections.deque[list[int]] = collections.deque()
        self.attempts = 0  # in the window
        self.failures = 0  # in the window
        self.probes = 0  # out, while half-open
        self.retry_at = 0.0  # open: the break's end; half-open: when probes out are given up

    def expire(self, now: float, rules: Rules) -> int:
        """Drop the buckets older than the window; return the current second."""
        second = math.floor(now)
        oldest = second - rules.seconds + 1
        buckets = self.buckets
        while buckets and buckets[0][0] < oldest:
            _, attempts, failures = buckets.popleft()
            self.attempts -= attempts
            self.failures -= failures
        return second

    def count(
        self, healthy: bool, now: float, rules: Rules, epoch: Callable[[], int]
    ) -> CircuitTransition | None:
        """Book an outcome of the closed circuit; open it if a rule trips."""
        second = self.expire(now, rules)
        buckets = self.buckets
        if not buckets or buckets[-1][0] != second:
            buckets.append([second, 0, 0])
        bucket = buckets[-1]
        bucket[1] += 1
        self.attempts += 1
        if healthy:
            self.consecutive = 0
            return None
        bucket[2] += 1
        self.failures += 1
        self.consecutive += 1
        limit = rules.consecutive_failures
        if limit is not None and self.consecutive >= limit:
            return self.move(OPEN, now, "consecutive_failures", epoch(), rules)
        ratio = rules.failure_ratio
        if (
            ratio is not None
            and self.attempts >= rules.minimum_attempts
            and self.failures / self.attempts >= ratio
        ):
            return self.move(OPEN, now, "failure_ratio", epoch(), rules)
        return None

    def move(
        self, state: CircuitState, now: float, reason: str, epoch: int, rules: Rules
    ) -> CircuitTransition:
        """Put the circuit in ``state``, in a new ``epoch``, with the counts cleared."""
        previous = self.state
        self.state = state
        self.epoch = epoch
        self.consecutive = self.attempts = self.failures = self.probes = 0
        self.buckets.clear()
        retry_at = None
        if state is OPEN:
            retry_at = self.retry_at = now + rules.break_duration
        return CircuitTransition(self.origin, previous, state, now, reason, retry_at)
