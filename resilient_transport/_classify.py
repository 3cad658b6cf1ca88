"""What kind of failure an attempt met: the library's safety classes in one place.

This module classifies; it does not decide. The decision (retry, after which
delay, or why not) is `_decision.RetryPolicy`'s.
"""

from __future__ import annotations

import enum
import ssl

from ._stack import TimeoutException, every_stack, httpx

__all__ = [
    "IDEMPOTENT_METHODS",
    "MAYBE_PROCESSED_ERRORS",
    "NOT_SENT_ERRORS",
    "NOT_SENT_TIMEOUTS",
    "TIMEOUT_ERRORS",
    "DeadlineExceeded",
    "FailureKind",
    "classify_error",
    "is_idempotent",
]


# Retried by default. A connect failure happens before a single byte of the
# request is sent: the server cannot have seen it, so resending is safe for
# every method and every body, streamed or not.
NOT_SENT_ERRORS = every_stack("ConnectError")

# Also nothing sent, but a timeout: the user chose that limit, so retrying it
# is opt-in (``retry_connect_timeouts``).
NOT_SENT_TIMEOUTS = every_stack("ConnectTimeout")

# The request may have reached the server, which may have acted on it: the
# connection broke or went silent after (part of) the request was written.
# This includes a stale keep-alive connection closed by the server ("Server
# disconnected without sending a response"). Safe to resend only when the
# request is idempotent (``retry_idempotent_errors``).
MAYBE_PROCESSED_ERRORS = every_stack(
    "ReadError", "WriteError", "RemoteProtocolError", "ReadTimeout", "WriteTimeout"
)

# Everything else is never retried (FailureKind.OTHER), on purpose:
# - PoolTimeout: no connection of this client's own pool came free in time.
#   Nothing was sent, but a retry would queue again behind the same requests;
#   the cure is a longer pool timeout or a larger pool, not a retry.
# - LocalProtocolError: the request itself cannot be written (an illegal
#   header); the same request fails the same way every time.
# - ProxyError, UnsupportedProtocol: configuration, not weather.
# - CloseError: raised while closing a response, after the attempt answered.
# - anything that is not a transport error: a bug, which a retry would hide.

# A terminal error of one of these types makes a TIMEOUT event.
TIMEOUT_ERRORS = every_stack("TimeoutException")


# Its base is httpx's TimeoutException and, when installed, httpx2's.
class DeadlineExceeded(TimeoutException):
    """The request's ``deadline`` passed before an attempt's response head arrived.

    Raised by the transport when it ends an attempt that was still waiting
    (to connect, to send, or for the response head) as the deadline passed:
    per-phase timeouts bound each read, but not a response that trickles in.
    An ``httpx.TimeoutException`` (and, with httpx2 installed, an
    ``httpx2.TimeoutException`` too), so code that handles its HTTP stack's
    timeouts handles it too. Never retried: the deadline is gone.
    """


# RFC 9110 section 9.2.2, with a request carrying an Idempotency-Key header
# (draft-ietf-httpapi-idempotency-key-header) counted as idempotent too.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

# How deep to look through ``__cause__`` / ``__context__`` for the TLS error
# behind a ConnectError; httpx wraps httpcore which wraps ssl: depth 2.
_CAUSE_DEPTH = 8


class FailureKind(enum.Enum):
    """The safety class of a failed attempt."""

    NOT_SENT = "not_sent"
    """Connection never established: safe to resend for every method."""
    NOT_SENT_TIMEOUT = "not_sent_timeout"
    """Connect timeout: nothing sent; retried only with ``retry_connect_timeouts``."""
    MAYBE_PROCESSED = "maybe_processed"
    """The server may have acted: resent only for idempotent requests, opt-in."""
    CERTIFICATE = "certificate"
    """TLS certificate or hostname verification failed: never retried."""
    DEADLINE = "deadline"
    """The request's deadline passed during the attempt: never retried."""
    OTHER = "other"
    """Anything else: never retried."""


def _has_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(_CAUSE_DEPTH):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def classify_error(exc: BaseException) -> FailureKind:
    """Return the safety class of an exception raised by an attempt."""
    # A rejected certificate or hostname is never retried, whatever carries
    # it: httpcore reports it as a ConnectError, a handshake can time out
    # after it, and an inner transport may not map it to httpx's errors at
    # all. The ssl.SSLCertVerificationError behind it tells.
    if _has_certificate_error(exc):
        return FailureKind.CERTIFICATE
    if isinstance(exc, DeadlineExceeded):
        return FailureKind.DEADLINE
    if isinstance(exc, NOT_SENT_ERRORS):
        return FailureKind.NOT_SENT
    if isinstance(exc, NOT_SENT_TIMEOUTS):
        return FailureKind.NOT_SENT_TIMEOUT
    if isinstance(exc, MAYBE_PROCESSED_ERRORS):
        return FailureKind.MAYBE_PROCESSED
    return FailureKind.OTHER


def is_idempotent(request: httpx.Request) -> bool:
    """Whether ``request`` may be sent twice with the effect of once."""
    return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers
