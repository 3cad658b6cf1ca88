"""A retry budget shared by every transport that talks to one service."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable

__all__ = ["RetryBudget"]


def _positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


class RetryBudget:
    """A token bucket that stops retry storms, in the manner of gRPC's retry throttling.

    The bucket holds ``max_tokens`` and starts full. Every failed attempt costs
    one token; every success gives back ``token_ratio`` of one. A retry is
    allowed while the bucket holds more than half of ``max_tokens``. When a
    service is down, a burst of failures therefore spends the budget within
    ``max_tokens / 2`` retries, and retries resume only after successes refill
    it: the client stops multiplying its load on a service that is failing.

    So that a client with little traffic still gets its retries, a floor allows
    ``min_retries_per_second`` retries each second even when the bucket is
    low (a separate reserve, refilled continuously, holding at most one
    second's worth). A floor below one retry a second is a chance: asked for
    a retry while it holds a fraction of one, the reserve spends that
    fraction and allows the retry with that probability. So a fleet of N
    clients given ``min_retries_per_second=F / N`` each retries about F
    times a second between them, and bursts about F retries at once, however
    large N grows (a whole retry per client would burst N).

    Share one budget between every transport that talks to the same service:

    ```python
    budget = RetryBudget()
    a = RetryingAsyncTransport(budget=budget)
    b = RetryingAsyncTransport(budget=budget)
    ```

    The budget belongs to the transport, not to a request: a request's own
    [`RequestContext`][resilient_transport.RequestContext] cannot opt out of it.

    Args:
        max_tokens: Size of the bucket (> 0). gRPC's default is 10.
        token_ratio: Tokens refunded per success (> 0, at most ``max_tokens``).
            gRPC's default is 0.1: ten successes pay for one failure.
        min_retries_per_second: The floor (>= 0); ``0`` turns it off.
        clock: Monotonic seconds; injectable for tests.
        random: Returns a float in ``[0, 1)``, for a floor below one retry a
            second; injectable for tests.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument has a wrong value.
    """

    __slots__ = (
        "_clock",
        "_last_refill",
        "_lock",
        "_random",
        "_reserve",
        "_reserve_cap",
        "_tokens",
        "max_tokens",
        "min_retries_per_second",
        "token_ratio",
    )

    def __init__(
        self,
        max_tokens: float = 10.0,
        token_ratio: float = 0.1,
        *,
        min_retries_per_second: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.max_tokens = _positive("max_tokens", max_tokens)
        self.token_ratio = _positive("token_ratio", token_ratio)
        if self.token_ratio > self.max_tokens:
            raise ValueError(
                f"token_ratio must be <= max_tokens, got token_ratio={token_ratio!r} "
                f"and max_tokens={max_tokens!r}"
            )
        self.min_retries_per_second = _positive(
            "min_retries_per_second", min_retries_per_second, allow_zero=True
        )
        for name, value in (("clock", clock), ("random", random)):
            if not callable(value):
                raise TypeError(f"{name} must be callable, got {value!r}")
        self._clock = clock
        self._random = random
        self._tokens = self.max_tokens
        # One second's worth, starting full (below one retry: a chance, see acquire_retry).
        self._reserve_cap = self.min_retries_per_second
        self._reserve = self._reserve_cap
        self._last_refill = clock()
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        """Tokens in the bucket now."""
        return self._tokens

    def record_success(self) -> None:
        """Refund ``token_ratio`` of a token: an attempt got a usable answer."""
        with self._lock:
            self._tokens = min(self.max_tokens, self._tokens + self.token_ratio)

    def record_failure(self) -> None:
        """Take one token: an attempt failed in a way a retry could fix."""
        with self._lock:
            self._tokens = max(0.0, self._tokens - 1.0)

    def acquire_retry(self) -> bool:
        """Whether one more retry may be made now (taking from the floor if needed)."""
        with self._lock:
            if self._tokens > self.max_tokens / 2:
                return True
            if self._reserve_cap:
                now = self._clock()
                elapsed = max(0.0, now - self._last_refill)
                self._last_refill = now
                self._reserve = min(
                    self._reserve_cap, self._reserve + elapsed * self.min_retries_per_second
                )
                if self._reserve >= 1.0:
                    self._reserve -= 1.0
                    return True
                if self._reserve_cap < 1.0 and self._reserve > 0.0:
                    # A floor below one retry a second: the ask spends the
                    # fraction held and goes ahead with that probability, so
                    # the retries it allows average the floor's rate.
                    chance, self._reserve = self._reserve, 0.0
                    return self._random() < chance
            return False

    def __repr__(self) -> str:
        return (
            f"RetryBudget(max_tokens={self.max_tokens!r}, token_ratio={self.token_ratio!r}, "
            f"min_retries_per_second={self.min_retries_per_second!r}, tokens={self._tokens!r})"
        )
