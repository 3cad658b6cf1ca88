"""An adaptive retry budget: retries paced to the rate the upstream answers, never refused."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from ._budget import RetryBudget

__all__ = ["AdaptiveRetryBudget", "Pause", "SyncPause", "paced", "paced_sync"]

Sleep = Callable[[float], Awaitable[Any]]
SyncSleep = Callable[[float], Any]
# pause(backoff seconds, the request's deadline or None, when it started)
Pause = Callable[[float, "float | None", float], Awaitable[None]]
SyncPause = Callable[[float, "float | None", float], Any]

# The longest one look at the pace sleeps: a waiting retry notices within
# this long that the pace went up.
_POLL = 0.5
# A turn is granted this close to a whole one, and a wait ends this close to
# its limit: a wait computed to end exactly there must not leave a rounding
# error to wait for.
_ROUNDING = 1e-6
# Decreases closer together than this count as one (one congestion event).
_WINDOW = 0.1
# Seconds without a failure after which the upstream counts as recovered:
# the pace then doubles every second (slow start) instead of keeping to the share.
_CALM = 1.0
# In calm, the pace may reach this many times the answers per second.
_CALM_CEILING = 2.0


def _number(name: str, value: object, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not low < value < high:  # NaN and infinities fail this too
        bound = f"> {low:g}" if high == math.inf else f"between {low:g} and {high:g} (excluded)"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


class AdaptiveRetryBudget(RetryBudget):
    """Retries paced to the rate the upstream answers: delayed, never refused.

    A [`RetryBudget`][resilient_transport.RetryBudget] protects an upstream by
    refusing retries, which drops requests a patient retry would have
    served. This budget never refuses one: it makes each retry wait its turn
    after its backoff, in the manner of TCP's congestion control (additive
    increase, multiplicative decrease) and of AWS's adaptive retry mode.

    - Retries go out at most at a *pace* (retries per second; tokens accrue
      at that rate, at most one burst of ``max(1, pace / 10)``).
    - Every answer that is not retried (the upstream is serving) raises the
      pace by ``increase``, up to ``share`` of the answers of the last second
      (20 % by default: retries add at most a fifth to what the upstream
      serves, the share Envoy's retry budget, Finagle's and the AWS SDKs'
      allow); every failure a retry could fix cuts it by the factor
      ``decrease`` (at most once per 100 ms: a burst of failures is one
      congestion signal), never below ``min_rate``.
    - After a whole second without a failure, the upstream has shown that it
      serves what it is sent: the pace doubles every second (TCP's slow
      start), up to twice the answers per second, so that the retries kept
      waiting drain while there is room, the retries' own answers counting.
      The next failure brings back the share.
    - A retry waits at most ``max_wait`` seconds for its turn, and at most
      half the time its request's deadline leaves, then goes ahead: pacing
      bounds a request's delay, it never drops the request.

    So when the upstream fails, retries slow to ``min_rate`` (a trickle of
    probes) without spending the requests' attempts; when it recovers, the
    pace grows with the answers it gives, and the waiting retries reach it
    as a ramp instead of a herd: a fifth of the answers in the first second,
    then doubling.

    It delays load, it does not shed it: in an overload that sustains itself
    (clients time out, their retries keep the queue long), the retries
    released after ``max_wait`` keep it going. There, a `RetryBudget` that
    refuses retries is what ends it (the fleet simulation of the benchmarks
    page shows both).

    The waiting happens in the sleep before a retry, in
    [`RetryingAsyncTransport`][resilient_transport.RetryingAsyncTransport] and in
    [`RetryingTransport`][resilient_transport.RetryingTransport] alike (which
    blocks its thread for it). Share one between the transports that call
    the same service, like any budget, across tasks and threads. A hedge does
    not wait for a turn (a hedge that waited would not be one).

    Args:
        min_rate: The slowest pace, in retries per second (> 0); for a fleet
            of N clients sharing nothing, the fleet's probe rate divided by N.
        increase: Retries per second the pace gains per answer within a
            second of a failure (> 0).
        share: The most the pace may be within a second of a failure, as a
            share of the answers per second (> 0; ``1.0``: as many retries
            as answers).
        decrease: Factor applied to the pace on a failure (between 0 and 1).
        max_wait: The longest a retry waits for its turn, in seconds (> 0).
        clock: Monotonic seconds; injectable for tests.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument has a wrong value.
    """

    __slots__ = (
        "_allowance",
        "_answers",
        "_answers_before",
        "_failed_at",
        "_grown_at",
        "_last_cut",
        "_pace",
        "_paced_at",
        "_second",
        "decrease",
        "increase",
        "max_wait",
        "min_rate",
        "share",
    )

    def __init__(
        self,
        *,
        min_rate: float = 1.0,
        increase: float = 0.5,
        decrease: float = 0.5,
        max_wait: float = 10.0,
        share: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(min_retries_per_second=0, clock=clock)
        self.min_rate = _number("min_rate", min_rate, 0.0)
        self.increase = _number("increase", increase, 0.0)
        self.decrease = _number("decrease", decrease, 0.0, 1.0)
        self.max_wait = _number("max_wait", max_wait, 0.0)
        self.share = _number("share", share, 0.0)
        self._pace = self.min_rate
        self._allowance = 1.0
        self._paced_at = self._last_cut = self._second = self._grown_at = clock()
        self._failed_at = -math.inf
        self._answers = self._answers_before = 0

    @property
    def pace(self) -> float:
        """Retries per second allowed now."""
        return self._pace

    def record_success(self) -> None:
        """Raise the pace: to ``share`` of the answers per second after a failure, further in calm.

        Within a second of a failure, each answer adds ``increase``, up to
        ``share`` of the answers per second. After a whole second without
        one, the pace doubles every second (TCP's slow start), up to twice
        the answers per second (or ``share`` of them, if more).
        """
        with self._lock:
            now = self._clock()
            self._refill(now)
            if now - self._second >= 1.0:
                fresh = now - self._second < 2.0
                self._answers_before = self._answers if fresh else 0
                self._answers = 0
                self._second = now
            self._answers += 1
            answered = max(self._answers, self._answers_before)
            if now - self._failed_at >= _CALM:
                # At most one doubling per answer: a long silence is not a licence.
                pace = self._pace * 2.0 ** min(1.0, now - self._grown_at)
                ceiling = max(_CALM_CEILING, self.share) * answered
            else:
                pace = self._pace + self.increase
                ceiling = self.share * answered
            self._grown_at = now
            self._pace = max(self.min_rate, min(pace, ceiling))

    def record_failure(self) -> None:
        """Cut the pace by ``decrease`` (once per 100 ms at most), not below ``min_rate``."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._failed_at = now
            if now - self._last_cut >= _WINDOW:
                self._last_cut = now
                self._pace = max(self.min_rate, self._pace * self.decrease)

    def acquire_retry(self) -> bool:
        """Always ``True``: this budget delays retries (`wait_turn`), it never refuses one."""
        return True

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._paced_at)
        self._paced_at = now
        burst = max(1.0, self._pace / 10)
        self._allowance = min(burst, self._allowance + elapsed * self._pace)

    def _take(self) -> float:
        """Take a turn (``0.0``), or the seconds to wait before looking again."""
        with self._lock:
            self._refill(self._clock())
            if self._allowance >= 1.0 - _ROUNDING:
                self._allowance -= 1.0
                return 0.0
            return min(_POLL, (1.0 - self._allowance) / self._pace)

    def _turn_waits(self, limit: float | None) -> Iterator[float]:
        """The sleeps of a wait for a turn (``max_wait`` at most, and ``limit``)."""
        started = self._clock()
        longest = self.max_wait if limit is None else min(self.max_wait, limit)
        while (wait := self._take()) > 0.0:
            left = longest - (self._clock() - started)
            if left <= _ROUNDING:  # not a rounding error's worth of sleep
                return
            nap = min(wait, left)
            before = self._clock()
            yield nap
            if self._clock() - before < nap / 2:
                return  # time does not move (an instant sleep): nothing to pace against

    async def wait_turn(self, sleep: Sleep, limit: float | None = None) -> None:
        """Wait until a retry may go out at the current pace.

        At most ``max_wait`` seconds, and at most ``limit`` when given (the
        transport passes half the time a request's deadline leaves it).
        """
        for seconds in self._turn_waits(limit):
            await sleep(seconds)

    def wait_turn_sync(self, sleep: SyncSleep, limit: float | None = None) -> None:
        """`wait_turn`, blocking: for `RetryingTransport`, with a synchronous ``sleep``."""
        for seconds in self._turn_waits(limit):
            sleep(seconds)

    def __repr__(self) -> str:
        return (
            f"AdaptiveRetryBudget(min_rate={self.min_rate!r}, increase={self.increase!r}, "
            f"decrease={self.decrease!r}, max_wait={self.max_wait!r}, share={self.share!r}, "
            f"pace={self._pace!r})"
        )


def paced(budget: RetryBudget | None, sleep: Sleep, clock: Callable[[], float]) -> Pause:
    """The pause before a retry: ``sleep`` the backoff, then wait for ``budget``'s turn.

    The returned ``pause(seconds, deadline, start)`` waits for a turn only
    when ``budget`` is an `AdaptiveRetryBudget`, and then for at most half
    the time the request's ``deadline`` (seconds from ``start``, on
    ``clock``) leaves after the backoff: the attempt keeps the other half.
    """
    if not isinstance(budget, AdaptiveRetryBudget):

        async def backoff(seconds: float, deadline: float | None, start: float) -> None:
            await sleep(seconds)

        return backoff

    async def backoff_then_turn(seconds: float, deadline: float | None, start: float) -> None:
        await sleep(seconds)
        await budget.wait_turn(sleep, _turn_limit(deadline, start, clock))

    return backoff_then_turn


def paced_sync(
    budget: RetryBudget | None, sleep: SyncSleep, clock: Callable[[], float]
) -> SyncPause:
    """`paced`, blocking: for `RetryingTransport`."""
    if not isinstance(budget, AdaptiveRetryBudget):
        return lambda seconds, deadline, start: sleep(seconds)

    def backoff_then_turn(seconds: float, deadline: float | None, start: float) -> None:
        sleep(seconds)
        budget.wait_turn_sync(sleep, _turn_limit(deadline, start, clock))

    return backoff_then_turn


def _turn_limit(deadline: float | None, start: float, clock: Callable[[], float]) -> float | None:
    """Half the time ``deadline`` (seconds from ``start``) leaves; ``None``: no deadline."""
    return None if deadline is None else (deadline - (clock() - start)) / 2
