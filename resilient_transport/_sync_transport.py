"""The retrying transport of synchronous code: `RetryingAsyncTransport`'s twin."""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Callable, Collection
from types import TracebackType
from typing import Any

from ._adaptive import paced_sync
from ._attempt import SyncTrackedStream, drain_sync, send_before_deadline
from ._breaker import CircuitBreaker
from ._budget import RetryBudget
from ._context import RequestContext
from ._decision import no_cancellation
from ._guard import send_guarded_sync
from ._loop import RetryCore
from ._sleep import default_sync_sleep
from ._stack import (
    BYTE_STREAMS,
    SYNC_TRANSPORTS,
    BaseTransport,
    httpx,
    inner_transport,
)
from ._sync_events import EventQueue

__all__ = ["RetryingTransport"]


class RetryingTransport(BaseTransport):
    """An httpx transport for ``httpx.Client`` that retries what is safe to retry.

    The twin of [`RetryingAsyncTransport`][resilient_transport.RetryingAsyncTransport],
    with the same keywords, the same policy (one implementation serves
    both), the same per-request overrides, events and validation messages,
    but no hedging: a blocking attempt cannot be cancelled, so a hedge that
    lost would hold a thread and a connection until it ended. It takes no
    ``hedge_delay``, and a request whose context sets one raises ``ValueError``.
    By default it retries connection failures only (``httpx.ConnectError``
    and a raw ``httpcore.ConnectError``); when retries run out the last
    exception is re-raised unchanged.

    One transport (and one [`RetryBudget`][]) may serve any number of
    threads at once: each request keeps its own context, attempts and
    events, and the budget books every attempt under its lock.

    Args:
        transport: The inner transport; ``None`` means ``httpx.HTTPTransport()``
            (httpx2's for a request of an ``httpx2.Client``).
        max_retries: Retries after the first attempt.
        base_delay: Seconds before the first retry (exponential backoff after).
        max_delay: Cap on any backoff delay, in seconds; ``None``: 20 s, or
            ``base_delay`` when that is larger.
        jitter: Fraction of each delay that is randomised, ``0..1``.
        deadline: Seconds a whole request may take, until its response head
            arrives. A blocking call cannot be interrupted: each phase of an
            attempt (connect, each read and write, the pool wait) gets a
            timeout clamped to the time left, and a timeout once the deadline
            has passed becomes
            [`DeadlineExceeded`][resilient_transport.DeadlineExceeded]; no
            attempt and no sleep starts after it. A response head that trickles
            in, each read within its timeout, is not cut short (see the guide).
        retry_connect_timeouts: Also retry ``ConnectTimeout``.
        retry_idempotent_errors: Also retry errors after which the server may
            have processed the request, for idempotent requests.
        retry_statuses: HTTP statuses to retry, for idempotent requests.
        max_retry_after: Largest ``Retry-After`` honoured, in seconds.
        budget: A [`RetryBudget`][] to draw retries from (often shared).
        breaker: A [`CircuitBreaker`][resilient_transport.CircuitBreaker] asked
            before every attempt, told every outcome (often shared).
        events: An [`EventQueue`][] to send [`AsyncEvent`][] records to,
            never waiting. The transport owns it: [`close`][] closes it.
        sleep: ``(seconds) -> None``, a plain function; ``None``: ``time.sleep``
            (instant under [`resilient_transport.testing.set_instant_sleep`][]).
        clock: Monotonic seconds, for elapsed times and deadlines.
        random: Returns a float in ``[0, 1)``, for jitter.

    Raises:
        TypeError: An argument has the wrong type (the message names it).
        ValueError: An argument has a wrong value (the message names it).
    """

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        max_retries: int = 2,
        base_delay: float = 1.0,
        max_delay: float | None = None,
        jitter: float = 1.0,
        deadline: float | None = None,
        retry_connect_timeouts: bool = False,
        retry_idempotent_errors: bool = False,
        retry_statuses: Collection[int] = frozenset(),
        max_retry_after: float = 60.0,
        budget: RetryBudget | None = None,
        breaker: CircuitBreaker | None = None,
        events: EventQueue | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
    ) -> None:
        if transport is not None and not isinstance(transport, SYNC_TRANSPORTS):
            raise TypeError(f"transport must be an httpx.BaseTransport or None, got {transport!r}")
        if sleep is None:
            sleep = default_sync_sleep
        self._core = RetryCore(
            max_retries=max_retries,
            base_delay=base_delay,
            max_delay=max_delay,
            jitter=jitter,
            deadline=deadline,
            retry_connect_timeouts=retry_connect_timeouts,
            retry_idempotent_errors=retry_idempotent_errors,
            retry_statuses=retry_statuses,
            max_retry_after=max_retry_after,
            budget=budget,
            breaker=breaker,
            events=events,
            sleep=sleep,
            clock=clock,
            random=random,
            cancelled=no_cancellation,
            synchronous=True,
        )
        if inspect.iscoroutinefunction(sleep) or inspect.iscoroutinefunction(
            getattr(sleep, "__call__", None)  # noqa: B004 - a callable object's method
        ):
            raise TypeError(
                "sleep must be a plain function (for testing.RecordingSleep, pass its "
                f".sync method), got {sleep!r}"
            )
        # An inner transport made here must match each request's stack.
        inner, self._own = inner_transport(transport, "HTTPTransport")
        self._transport: httpx.BaseTransport = inner
        self._pause = paced_sync(budget, sleep, clock)  # the backoff, and an adaptive turn
        self._breaker = breaker

    # -- public state ---------------------------------------------------------

    @property
    def transport(self) -> httpx.BaseTransport:
        """The inner transport."""
        return self._transport

    @property
    def defaults(self) -> RequestContext:
        """The context used for requests that bring none (its id is replaced per request)."""
        return self._core.defaults

    @property
    def budget(self) -> RetryBudget | None:
        """The retry budget, if any."""
        return self._core.budget

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The circuit breaker, if any."""
        return self._breaker

    @property
    def dropped_events(self) -> int:
        """Events dropped because the event queue was full."""
        return self._core.emitter.dropped

    # -- lifecycle ------------------------------------------------------------

    def __enter__(self) -> RetryingTransport:
        self._transport.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            self._transport.__exit__(exc_type, exc_value, traceback)
        finally:
            self._close_others()

    def close(self) -> None:
        """Close the inner transport and the event queue's send end."""
        try:
            self._transport.close()
        finally:
            self._close_others()

    def _close_others(self) -> None:
        """Close the inner transports made for another stack, then the event queue's send end."""
        try:
            if self._own is not None:
                for other in self._own.others():
                    other.close()
        finally:
            self._core.emitter.close()

    # -- the request path -----------------------------------------------------

    def _send(
        self,
        inner: httpx.BaseTransport,
        request: httpx.Request,
        ctx: RequestContext,
        start: float,
    ) -> httpx.Response:
        """One attempt, through the breaker when there is one."""
        if self._breaker is not None:
            return send_guarded_sync(
                self._breaker, request, ctx, lambda: self._attempt(inner, request, ctx, start)
            )
        return self._attempt(inner, request, ctx, start)

    def _attempt(
        self,
        inner: httpx.BaseTransport,
        request: httpx.Request,
        ctx: RequestContext,
        start: float,
    ) -> httpx.Response:
        """The inner transport's call; with a deadline, each phase bounded by the time left."""
        if ctx.deadline is None:
            return inner.handle_request(request)
        clock = self._core.clock
        return send_before_deadline(inner, request, ctx.deadline, lambda: clock() - start)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the inner transport, retrying as the context allows.

        The loop of `RetryingAsyncTransport.handle_async_request`, blocking:
        an attempt (after the backoff sleep, from the second on); an answer
        ends it; anything else goes to the shared policy, which says retry
        (after which delay) or give up (why). The request leaves with the
        extensions and the stream it came with.
        """
        extensions = request.extensions
        stream = request.stream
        core = self._core
        ctx, start = core.begin(request)
        if ctx.hedge_delay is not None:  # a blocking attempt cannot be cancelled
            raise ValueError(
                "hedge_delay is for RetryingAsyncTransport: a synchronous request cannot "
                f"be hedged, got hedge_delay={ctx.hedge_delay!r}"
            )
        inner = self._transport if self._own is None else self._own.for_request(request)
        if ctx.max_retries and not isinstance(stream, BYTE_STREAMS):
            request.stream = SyncTrackedStream(stream)  # type: ignore[arg-type]
        retried: httpx.Response | None = None  # a retried response, closed before the sleep
        delay = -1.0  # no sleep before the first attempt
        outcome: httpx.Response | BaseException
        try:
            while True:
                # A new dict: the caller's may be shared between requests.
                request.extensions = {**extensions, "retry": ctx}
                in_attempt = False
                try:
                    if delay >= 0.0:
                        if retried is not None:
                            drain_sync(retried)
                        self._pause(delay, ctx.deadline, start)
                    in_attempt = True
                    outcome = self._send(inner, request, ctx, start)
                except BaseException as exc:  # decided on below, outside this block
                    outcome = exc
                else:
                    if not ctx.retry_statuses or outcome.status_code not in ctx.retry_statuses:
                        return core.answer(request, ctx, outcome, start)
                decision = core.decide(request, ctx, outcome, start, in_attempt)
                if not decision.retry:
                    if not isinstance(outcome, BaseException):
                        return outcome
                    # Raised outside any except block: nothing is chained to it
                    # (and the local goes, not to make a reference cycle).
                    try:
                        raise outcome
                    finally:
                        del outcome
                retried = None if isinstance(outcome, BaseException) else outcome
                del outcome
                ctx = decision.context
                delay = decision.delay
        finally:
            request.extensions = extensions
            request.stream = stream

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._transport!r}, defaults={self._core.defaults!r})"
