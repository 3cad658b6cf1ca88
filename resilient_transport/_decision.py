"""Deciding on a failed attempt: the one place where a retry is allowed or refused.

The transport's loop hands every outcome that is not a plain answer to
`RetryPolicy.decide`, which returns a frozen `Decision`: retry after this
delay, or give up for this reason. Every count that goes with it (the retry
budget's books, the attempt number) is kept here, in the manner of urllib3's
`Retry.increment`: a new policy is a new rule in `decide`, not a new branch
in the loop.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable

from ._attempt import TRACKED_STREAMS
from ._breaker import CircuitBreaker
from ._budget import RetryBudget
from ._circuit import CircuitOpenError, origin_of
from ._classify import FailureKind, classify_error, is_idempotent
from ._context import RequestContext
from ._retry_after import parse_retry_after, retry_after_delay
from ._stack import httpx

__all__ = ["CancelledClass", "Decision", "GiveUpReason", "RetryPolicy", "no_cancellation"]

#: What tells a transport's policy which exception means "cancelled": called
#: only when an attempt or a sleep raised something that is not an
#: ``Exception``. The async transport passes ``anyio.get_cancelled_exc_class``
#: (it needs a running event loop); the sync one, `no_cancellation`.
CancelledClass = Callable[[], "type[BaseException] | tuple[type[BaseException], ...]"]


def no_cancellation() -> tuple[type[BaseException], ...]:
    """No exception means "cancelled": synchronous code has no cancellation."""
    return ()


class GiveUpReason(str, enum.Enum):
    """Why a request was not retried (again); carried by its terminal event."""

    EXHAUSTED = "exhausted"
    """``max_retries`` retries were made."""
    NOT_RETRYABLE = "not_retryable"
    """The failure is not one the policy retries (or the status not listed)."""
    NOT_IDEMPOTENT = "not_idempotent"
    """Retrying would be allowed for an idempotent request, and this one is not."""
    CERTIFICATE = "certificate"
    """TLS verification failed: retrying cannot fix it and must not hide it."""
    BODY_SENT = "body_sent"
    """A one-shot streamed body was (partly) consumed and cannot be sent again."""
    DEADLINE = "deadline"
    """The deadline passed during an attempt, or the next sleep would cross it."""
    BUDGET = "budget"
    """The shared retry budget is spent."""
    RETRY_AFTER_TOO_LONG = "retry_after_too_long"
    """The server asked to wait longer than ``max_retry_after``."""
    CANCELLED = "cancelled"
    """The request was cancelled."""
    CIRCUIT_OPEN = "circuit_open"
    """The origin's circuit is open: an attempt was refused (a
    [`CircuitOpenError`][resilient_transport.CircuitOpenError]), or the next
    one would be, after the backoff sleep."""

    # The hash of the value, which the member equals (as EventType's).
    __hash__ = str.__hash__


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """What to do after an attempt that did not simply answer.

    Attributes:
        retry: Whether another attempt is made.
        context: The request's context from here on: with this attempt
            counted when it failed with an error (or was a retried status
            that is retried); as it was when the request was interrupted or a
            response is returned.
        delay: Seconds to wait before the next attempt (0 when giving up).
        reason: Why the request is not retried (again); ``None`` when it is.
    """

    retry: bool
    context: RequestContext
    delay: float = 0.0
    reason: GiveUpReason | None = None


class RetryPolicy:
    """Decides on failed attempts, with the transport's clock, randomness and budget."""

    __slots__ = ("_breaker", "_budget", "_cancelled", "_clock", "_random")

    def __init__(
        self,
        clock: Callable[[], float],
        random: Callable[[], float],
        budget: RetryBudget | None,
        cancelled: CancelledClass = no_cancellation,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._clock = clock
        self._random = random
        self._budget = budget
        self._cancelled = cancelled
        self._breaker = breaker

    def decide(
        self,
        request: httpx.Request,
        context: RequestContext,
        outcome: httpx.Response | BaseException,
        start: float,
    ) -> Decision:
        """Decide on an attempt that failed, answered with a retried status, or was interrupted.

        Args:
            request: The request, as sent.
            context: Its context before this attempt's outcome.
            outcome: The response with a retried status, or what was raised
                (during the attempt, or during the sleep before it).
            start: The clock's reading when the request began.
        """
        budget = self._budget
        if not isinstance(outcome, BaseException):
            if budget is not None:
                budget.record_failure()
            # The response is what the caller gets if it is not retried: with
            # the context of the attempt that answered.
            failed = context.increment_attempt()
            if not is_idempotent(request):
                return Decision(retry=False, context=context, reason=GiveUpReason.NOT_IDEMPOTENT)
            if _body_sent(request):
                return Decision(retry=False, context=context, reason=GiveUpReason.BODY_SENT)
            retry_after = parse_retry_after(outcome.headers.get("retry-after"), time.time())
            if retry_after is not None and retry_after > failed.max_retry_after:
                reason = (
                    GiveUpReason.RETRY_AFTER_TOO_LONG
                    if failed.has_retries_left
                    else GiveUpReason.EXHAUSTED
                )
                return Decision(retry=False, context=context, reason=reason)
            return self._schedule(request, failed, retry_after, start, context)
        if not isinstance(outcome, Exception):  # cancelled, KeyboardInterrupt, SystemExit...
            # Never retried, never delayed, never counted against the budget.
            if isinstance(outcome, self._cancelled()):
                return Decision(retry=False, context=context, reason=GiveUpReason.CANCELLED)
            return Decision(retry=False, context=context, reason=GiveUpReason.NOT_RETRYABLE)
        if isinstance(outcome, CircuitOpenError):  # refused before any attempt: nothing to count
            return Decision(retry=False, context=context, reason=GiveUpReason.CIRCUIT_OPEN)
        kind = classify_error(outcome)
        if budget is not None and kind not in (FailureKind.OTHER, FailureKind.CERTIFICATE):
            budget.record_failure()
        failed = context.increment_attempt()
        refused = _refuse_error(request, kind, failed)
        if refused is not None:
            return Decision(retry=False, context=failed, reason=refused)
        return self._schedule(request, failed, None, start, failed)

    def refusal(
        self, request: httpx.Request, context: RequestContext, error: Exception
    ) -> GiveUpReason | None:
        """Why ``error`` ends the request whatever is left to try, or ``None`` if it does not.

        The rules of `decide` for an error, without its schedule (attempts
        left, delay, deadline, budget) and without booking anything: a
        hedged request counts, times and budgets its attempts itself.
        """
        return _refuse_error(request, classify_error(error), context)

    def _schedule(
        self,
        request: httpx.Request,
        failed: RequestContext,
        retry_after: float | None,
        start: float,
        given_up: RequestContext,
    ) -> Decision:
        """The checks every retry passes: attempts left, deadline, circuit, budget.

        ``failed`` is the context with this attempt counted; ``given_up``
        the one to report if the request is not retried.
        """
        if not failed.has_retries_left:
            return Decision(retry=False, context=given_up, reason=GiveUpReason.EXHAUSTED)
        if retry_after is not None:
            delay = retry_after_delay(retry_after, self._random, failed.jitter)
        else:
            delay = failed.calculate_delay(self._random)
        if failed.deadline is not None:
            elapsed = self._clock() - start
            if elapsed + delay >= failed.deadline:
                if retry_after is None or elapsed + retry_after >= failed.deadline:
                    return Decision(retry=False, context=given_up, reason=GiveUpReason.DEADLINE)
                # The time the server asked for fits; only the spread added
                # to it would not: wait just what was asked.
                delay = retry_after
        # Never sleep into a break: the attempt after it would be refused.
        breaker = self._breaker
        if breaker is not None and breaker.blocked_for(origin_of(request.url)) > delay:
            return Decision(retry=False, context=given_up, reason=GiveUpReason.CIRCUIT_OPEN)
        if self._budget is not None and not self._budget.acquire_retry():
            return Decision(retry=False, context=given_up, reason=GiveUpReason.BUDGET)
        return Decision(retry=True, context=failed, delay=delay)


def _refuse_error(
    request: httpx.Request, kind: FailureKind, failed: RequestContext
) -> GiveUpReason | None:
    """Why a failed attempt is not retried whatever the schedule, or None."""
    if kind is FailureKind.CERTIFICATE:
        return GiveUpReason.CERTIFICATE
    if kind is FailureKind.OTHER:
        return GiveUpReason.NOT_RETRYABLE
    if kind is FailureKind.DEADLINE:
        return GiveUpReason.DEADLINE
    if kind is FailureKind.NOT_SENT_TIMEOUT and not failed.retry_connect_timeouts:
        return GiveUpReason.NOT_RETRYABLE
    if kind is FailureKind.MAYBE_PROCESSED:
        if not failed.retry_idempotent_errors:
            return GiveUpReason.NOT_RETRYABLE
        if not is_idempotent(request):
            return GiveUpReason.NOT_IDEMPOTENT
    if _body_sent(request):
        return GiveUpReason.BODY_SENT
    return None


def _body_sent(request: httpx.Request) -> bool:
    """Whether a one-shot body was (partly) consumed: it cannot be sent again."""
    stream = request.stream
    return isinstance(stream, TRACKED_STREAMS) and stream.started
