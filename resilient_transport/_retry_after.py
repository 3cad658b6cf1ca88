"""``Retry-After``: reading the header, and honouring it spread over a window."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timezone
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after", "retry_after_delay"]

# A server that tells every client "Retry-After: 1" sends them all back in
# the same instant, a herd that knocks over an upstream as it recovers (the
# outage benchmark, docs/benchmarks.md). So the wait is spread over a window
# after the time asked, never before it: up to ``jitter`` times that time
# more, and never more than this many seconds more.
_RETRY_AFTER_SPREAD_MAX = 10.0


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Parse a ``Retry-After`` header into seconds from ``now`` (a Unix time).

    Accepts delay-seconds (``"120"``) and an HTTP date. A date in the past
    gives ``0.0``. Anything malformed, negative or non-finite gives ``None``
    (the header is ignored and normal backoff applies).
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Leading zeros first, so that "000...05" is 5 and not a truncated 0;
        # then at most 32 digits (already past any sane cap), which keeps a
        # 5,000-digit header from tripping int()'s digit limit.
        digits = value.lstrip("0") or "0"
        return float(int(digits[:32]))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322's "UTC, origin unknown"
        when = when.replace(tzinfo=timezone.utc)
    try:
        return max(0.0, when.timestamp() - now)
    except (OverflowError, OSError, ValueError):  # pragma: no cover - platform limits
        return None


def retry_after_delay(
    seconds: float, random: Callable[[], float] = random.random, jitter: float = 1.0
) -> float:
    """Return the delay to honour a server's ``Retry-After`` of ``seconds``.

    A random share of a window is added on top, never taken away (a client
    must not come back earlier than it was told): the window is ``jitter``
    (the request's, ``0..1``) times ``seconds``, at most 10 s. With the
    default full jitter, ``Retry-After: 1`` waits 1 to 2 s.
    """
    spread = min(seconds, _RETRY_AFTER_SPREAD_MAX) * jitter
    draw = min(max(random(), 0.0), 1.0)
    return seconds + spread * draw
