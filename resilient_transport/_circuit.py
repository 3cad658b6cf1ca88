"""What the circuit breaker speaks in: origins, states, transitions, the refusal, and health.

`_breaker.CircuitBreaker` keeps the books; this module says what they are
about. `outcome_health` is the one rule, shared by both transports, for
what an attempt's outcome says about its origin.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Collection

from ._classify import FailureKind, classify_error
from ._stack import TransportError, httpx

__all__ = [
    "CircuitOpenError",
    "CircuitState",
    "CircuitTransition",
    "origin_of",
    "outcome_health",
]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# What says an origin is unhealthy: the connection could not be made (refused,
# unreachable, timed out), or it broke or went silent after the request was
# written. A certificate failure is the client's configuration, a deadline
# the caller's limit, anything else (a pool timeout, a bug) no news about
# the server: none of those is counted.
_UNHEALTHY = frozenset(
    {FailureKind.NOT_SENT, FailureKind.NOT_SENT_TIMEOUT, FailureKind.MAYBE_PROCESSED}
)


def origin_of(url: httpx.URL | str) -> str:
    """``scheme://host:port`` of ``url``, with the scheme's default port filled in."""
    if isinstance(url, str):
        url = httpx.URL(url)
    scheme = url.scheme
    host = url.host
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    port = url.port if url.port is not None else _DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}" if port is None else f"{scheme}://{host}:{port}"


def outcome_health(
    outcome: httpx.Response | BaseException, retry_statuses: Collection[int]
) -> bool | None:
    """What an attempt's outcome says about its origin: healthy, unhealthy, or nothing (None).

    Unhealthy: a connection failure or connect timeout, an error after which
    the server may have processed the request (read, write, protocol errors
    and timeouts), and a response whose status is in ``retry_statuses``.
    Healthy: any other response but a 4xx. Not counted: a 4xx not in
    ``retry_statuses`` (the request's fault, not the server's), a
    cancellation, `DeadlineExceeded`, a rejected certificate, anything else.
    """
    if isinstance(outcome, BaseException):
        if isinstance(outcome, Exception) and classify_error(outcome) in _UNHEALTHY:
            return False
        return None
    status = outcome.status_code
    if status in retry_statuses:
        return False
    if 400 <= status <= 499:
        return None
    return True


class CircuitState(str, enum.Enum):
    """The state of an origin's circuit."""

    CLOSED = "closed"
    """Requests flow; their attempts are counted."""
    OPEN = "open"
    """Requests fail at once with [`CircuitOpenError`][], until the break is over."""
    HALF_OPEN = "half_open"
    """After the break: a few probe attempts go out; the first answer decides."""


@dataclasses.dataclass(frozen=True, slots=True)
class CircuitTransition:
    """One change of state of an origin's circuit, as given to a breaker's callbacks.

    Attributes:
        origin: ``scheme://host:port``, e.g. ``"http://127.0.0.1:8080"``.
        previous: The state before.
        state: The state now.
        time: The breaker's clock when it changed (monotonic seconds).
        reason: Why: ``"consecutive_failures"`` or ``"failure_ratio"`` (it
            opened), ``"break_over"`` (half-open: a probe goes out),
            ``"probe_succeeded"`` (closed), ``"probe_failed"`` (open again).
        retry_at: When it opens, the clock's time of the next probe; else ``None``.
    """

    origin: str
    previous: CircuitState
    state: CircuitState
    time: float
    reason: str
    retry_at: float | None = None


# Its base is httpx's TransportError and, when installed, httpx2's.
class CircuitOpenError(TransportError):
    """A request was refused without touching the network: its origin's circuit is open.

    An ``httpx.TransportError`` (and an ``httpx2.TransportError`` when httpx2
    is installed), so code that handles its HTTP stack's transport errors
    handles it too. Never retried: the request fails at once.

    Attributes:
        origin: ``scheme://host:port`` of the refused request.
        retry_at: The breaker's clock (monotonic seconds) when a probe may go.
        remaining: Seconds from the refusal until then.
    """

    def __init__(
        self,
        origin: str,
        retry_at: float,
        remaining: float,
        *,
        request: httpx.Request | None = None,
    ) -> None:
        self.origin = origin
        self.retry_at = retry_at
        self.remaining = remaining
        super().__init__(
            f"circuit open for {origin}: failing fast without sending; "
            f"it will try again in {remaining:.3f} s",
            request=request,
        )
