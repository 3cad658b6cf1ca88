"""Deciding on a failed attempt: retry it (after which delay), or why not."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from ._attempt import TrackedStream
from ._backoff import retry_after_delay
from ._budget import RetryBudget
from ._context import RequestContext
from ._policy import FailureKind, GiveUpReason, is_idempotent, parse_retry_after

__all__ = ["Verdicts"]


class Verdicts:
    """The transport's judge of failed attempts, with its clock, randomness and budget.

    Each decision returns ``(reason, delay)``: ``reason`` is ``None`` when the
    attempt is to be retried after ``delay`` seconds, or the
    :class:`GiveUpReason` why it is not.
    """

    __slots__ = ("_budget", "_clock", "_random")

    def __init__(
        self,
        clock: Callable[[], float],
        random: Callable[[], float],
        budget: RetryBudget | None,
    ) -> None:
        self._clock = clock
        self._random = random
        self._budget = budget

    def on_error(
        self,
        request: httpx.Request,
        kind: FailureKind,
        failed: RequestContext,
        start: float,
    ) -> tuple[GiveUpReason | None, float]:
        """Decide on a failed attempt: (why not retry, or None; delay before retrying)."""
        if kind is FailureKind.CERTIFICATE:
            return GiveUpReason.CERTIFICATE, 0.0
        if kind is FailureKind.OTHER:
            return GiveUpReason.NOT_RETRYABLE, 0.0
        if kind is FailureKind.DEADLINE:
            return GiveUpReason.DEADLINE, 0.0
        if kind is FailureKind.NOT_SENT_TIMEOUT and not failed.retry_connect_timeouts:
            return GiveUpReason.NOT_RETRYABLE, 0.0
        if kind is FailureKind.MAYBE_PROCESSED:
            if not failed.retry_idempotent_errors:
                return GiveUpReason.NOT_RETRYABLE, 0.0
            if not is_idempotent(request):
                return GiveUpReason.NOT_IDEMPOTENT, 0.0
        stream = request.stream
        if isinstance(stream, TrackedStream) and stream.started:
            return GiveUpReason.BODY_SENT, 0.0
        return self._schedule(failed, None, start)

    def on_status(
        self,
        request: httpx.Request,
        response: httpx.Response,
        failed: RequestContext,
        start: float,
    ) -> tuple[GiveUpReason | None, float]:
        """Decide on a response with a retried status: (why not retry, or None; delay)."""
        if not is_idempotent(request):
            return GiveUpReason.NOT_IDEMPOTENT, 0.0
        stream = request.stream
        if isinstance(stream, TrackedStream) and stream.started:
            return GiveUpReason.BODY_SENT, 0.0
        retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
        if retry_after is not None and retry_after > failed.max_retry_after:
            if failed.has_retries_left:
                return GiveUpReason.RETRY_AFTER_TOO_LONG, 0.0
            return GiveUpReason.EXHAUSTED, 0.0
        return self._schedule(failed, retry_after, start)

    def _schedule(
        self, failed: RequestContext, retry_after: float | None, start: float
    ) -> tuple[GiveUpReason | None, float]:
        """The checks every retry passes: attempts left, deadline, budget."""
        if not failed.has_retries_left:
            return GiveUpReason.EXHAUSTED, 0.0
        if retry_after is not None:
            delay = retry_after_delay(retry_after, self._random)
        else:
            delay = failed.calculate_delay(self._random)
        if failed.deadline is not None and (self._clock() - start) + delay >= failed.deadline:
            return GiveUpReason.DEADLINE, 0.0
        if self._budget is not None and not self._budget.acquire_retry():
            return GiveUpReason.BUDGET, 0.0
        return None, delay
