"""Backoff arithmetic: pure functions, no clock, no global randomness."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

__all__ = ["backoff_delay"]


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    jitter: float = 1.0,
    random: Callable[[], float] = random.random,
) -> float:
    """Return the delay before retry number ``attempt`` (1 for the first retry).

    The formula is capped exponential backoff with proportional jitter:

    ```text
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay   = ceiling * (1 - jitter * random())
    ```

    With the default ``jitter=1.0`` this is "full jitter" (a uniform draw in
    ``(0, ceiling]``), which spreads a herd of clients best; ``jitter=0.0`` gives
    the plain deterministic schedule ``base, 2 * base, 4 * base, ...``.

    The cap is applied before the jitter, so jittered delays keep spreading
    near the cap instead of piling up on it. The exponent is clamped, so any
    attempt number (even ``10**9``) gives a finite delay without computing a
    huge power.

    Args:
        attempt: Failed attempts so far; values below 1 are treated as 1.
        base: Delay before the first retry, in seconds (``>= 0``).
        cap: Largest delay, in seconds (``>= 0``).
        jitter: Fraction of the delay that is randomised, in ``[0, 1]``.
        random: Returns a float in ``[0, 1)``; injectable for tests.

    Returns:
        A finite delay in seconds, ``0 <= delay <= cap``.
    """
    if base <= 0.0 or cap <= 0.0:
        return 0.0
    exponent = max(attempt, 1) - 1
    # 2 ** exponent only matters until base * 2 ** exponent reaches the cap;
    # past that point the cap wins, and computing the power could overflow.
    if exponent >= 1024 or base * math.ldexp(1.0, exponent) >= cap:
        ceiling = cap
    else:
        ceiling = base * math.ldexp(1.0, exponent)
    if jitter <= 0.0:
        return ceiling
    draw = min(max(random(), 0.0), 1.0)
    return max(0.0, min(ceiling, ceiling * (1.0 - jitter * draw)))
