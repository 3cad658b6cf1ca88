"""``Retry-After``: reading the header, and honouring it with a little spread."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timezone
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after", "retry_after_delay"]

# Share of a server-given Retry-After delay that may be added as jitter, and the
# most it may add: enough to spread a herd that was told the same second, never
# enough to change what the server asked for.
_RETRY_AFTER_JITTER_RATIO = 0.1
_RETRY_AFTER_JITTER_MAX = 1.0


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


def retry_after_delay(seconds: float, random: Callable[[], float] = random.random) -> float:
    """Return the delay to honour a server's ``Retry-After`` of ``seconds``.

    A little jitter is added on top (at most 10 %, at most one second), never
    taken away: a client must not come back earlier than it was told.
    """
    spread = min(seconds * _RETRY_AFTER_JITTER_RATIO, _RETRY_AFTER_JITTER_MAX)
    draw = min(max(random(), 0.0), 1.0)
    return seconds + spread * draw
