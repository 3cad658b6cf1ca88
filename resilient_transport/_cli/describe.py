"""One-line descriptions of what happened to a request: errors, retries, outcomes.

Shared by the command line's ``get`` and the demo, so both tell a failure the
same way.
"""

from __future__ import annotations

import os
import ssl

from resilient_transport import AsyncEvent, EventType, GiveUpReason
from resilient_transport._redact import safe_url
from resilient_transport._stack import httpx

__all__ = [
    "describe_error",
    "describe_event",
    "describe_hedge",
    "describe_outcome",
    "describe_reason",
    "describe_retry",
    "failure_message",
    "status_failure_message",
]

# Exceptions examined while looking for the OS error behind a failure: httpx
# wraps httpcore wraps OSError wraps (on trio) an exception group.
_CAUSE_LIMIT = 16

_REASONS = {
    GiveUpReason.EXHAUSTED: "retries exhausted",
    GiveUpReason.NOT_RETRYABLE: "not retryable",
    GiveUpReason.NOT_IDEMPOTENT: "not idempotent",
    GiveUpReason.CERTIFICATE: "certificate rejected",
    GiveUpReason.BODY_SENT: "body already sent",
    GiveUpReason.DEADLINE: "deadline reached",
    GiveUpReason.BUDGET: "retry budget spent",
    GiveUpReason.RETRY_AFTER_TOO_LONG: "Retry-After too long",
    GiveUpReason.CANCELLED: "cancelled",
    GiveUpReason.CIRCUIT_OPEN: "circuit open",
}

_ENDED = {
    EventType.ERROR: "gave up",
    EventType.TIMEOUT: "timed out",
    EventType.CANCELLED: "was cancelled",
}


def describe_error(exc: BaseException) -> str:
    """Describe ``exc`` in one line: its type, then the most telling detail.

    httpx's own message for a refused connection is "All connection attempts
    failed"; the OS error underneath says why, so it is preferred:
    ``ConnectError: [Errno 111] Connection refused``.
    """
    name = type(exc).__name__
    os_error = _os_error_behind(exc)
    if os_error is not None:
        return f"{name}: {_describe_os_error(os_error)}"
    text = " ".join(str(exc).split())
    return f"{name}: {text}" if text else name


def _os_error_behind(exc: BaseException) -> OSError | None:
    """The first OS error (with an errno) in ``exc``'s causes, breadth first."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < _CAUSE_LIMIT:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        # An ssl.SSLError's errno is an OpenSSL code, not an OS one: its own
        # message (which httpx repeats) is the one to show.
        if (
            isinstance(current, OSError)
            and not isinstance(current, ssl.SSLError)
            and isinstance(current.errno, int)
        ):
            return current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        group = getattr(current, "exceptions", None)  # an ExceptionGroup (trio's connect)
        if isinstance(group, (tuple, list)):
            pending.extend(e for e in group if isinstance(e, BaseException))
    return None


def _describe_os_error(error: OSError) -> str:
    errno = error.errno
    # os.strerror gives the plain text ("Connection refused") where asyncio
    # puts "Connect call failed ('127.0.0.1', 9)"; DNS errors (negative
    # codes) and unknown codes keep the exception's own text.
    text = os.strerror(errno) if isinstance(errno, int) and errno > 0 else ""
    if not text or text.startswith("Unknown error"):
        text = error.strerror or str(error)
    return f"[Errno {errno}] {text}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def describe_reason(reason: GiveUpReason) -> str:
    """Why a request was given up, in a few words: ``"retries exhausted"``."""
    return _REASONS[reason]


def describe_retry(event: AsyncEvent) -> str:
    """One line for a ``RETRY`` event: what failed, and when the next attempt comes."""
    cause = describe_error(event.error) if event.error is not None else f"HTTP {event.status_code}"
    ctx = event.context
    return (
        f"attempt {ctx.current_attempt} failed: {cause}; retry {ctx.current_attempt} of "
        f"{ctx.max_retries} in {event.delay or 0.0:.2f} s"
    )


def describe_hedge(event: AsyncEvent) -> str:
    """One line for a ``HEDGE`` event: which hedge went, and what let it go."""
    if event.error is not None:
        why = describe_error(event.error)
    elif event.status_code is not None:
        why = f"HTTP {event.status_code}"
    else:
        why = f"{event.delay or 0.0:.2f} s without an answer"
    return f"hedge {event.attempts - 1} of {event.context.max_hedges} sent after {why}"


def describe_event(event: AsyncEvent) -> str:
    """One line for any event: a retry, a hedge, or how the request ended."""
    if event.event_type is EventType.RETRY:
        return describe_retry(event)
    if event.event_type is EventType.HEDGE:
        return describe_hedge(event)
    return describe_outcome(event)


def describe_outcome(event: AsyncEvent) -> str:
    """One line for a terminal event: the status, or how and why the request ended."""
    after = f"after {_plural(event.attempts, 'attempt')} in {event.elapsed:.2f} s"
    if event.event_type is EventType.SUCCESS:
        return f"HTTP {event.status_code} {after}"
    text = f"{_ENDED[event.event_type]} {after}"
    if event.reason is not None:
        text += f" ({describe_reason(event.reason)})"
    if event.error is not None:
        text += f": {describe_error(event.error)}"
    return text


def failure_message(
    exc: BaseException, url: httpx.URL, attempts: int | None, *, answered: bool
) -> str:
    """The one line ``get`` prints when no usable response came.

    Args:
        exc: What ended the request.
        url: The URL asked for; shown without credentials, which are also
            removed from the error text, should it repeat them.
        attempts: Attempts made, if known.
        answered: Whether the failure came while reading a response's body.
    """
    shown = safe_url(url)
    if answered:
        what = f"reading the response from {shown} failed"
    elif isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        what = f"could not connect to {shown}"
    elif isinstance(exc, httpx.TimeoutException):
        what = f"request to {shown} timed out"
    else:
        what = f"request to {shown} failed"
    if attempts is not None and not answered:
        what += f" after {_plural(attempts, 'attempt')}"
    return f"error: {what}: {_redact(describe_error(exc), url)}"


def status_failure_message(url: httpx.URL, status_code: int, reason_phrase: str) -> str:
    """The one line ``get --fail`` prints for a status of 400 or more; no credentials."""
    return f"error: {safe_url(url)} answered {status_code} {reason_phrase} (--fail)"


def _redact(text: str, url: httpx.URL) -> str:
    if url.userinfo:
        text = text.replace(str(url), safe_url(url))
        # The longer first: "user:password" would not be found once its
        # password had been replaced.
        for secret in (url.userinfo.decode("ascii", "replace"), url.password or ""):
            if secret:
                text = text.replace(secret, "***")
    return text
