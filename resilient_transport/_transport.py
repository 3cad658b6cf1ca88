"""The retrying transport."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Collection
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import ObjectSendStream

from ._adaptive import paced
from ._attempt import TrackedStream, drain, send_within
from ._breaker import CircuitBreaker
from ._budget import RetryBudget
from ._context import RequestContext
from ._events import AsyncEvent
from ._guard import send_guarded
from ._hedge import hedgeable, send_hedged
from ._loop import RetryCore
from ._sleep import default_sleep
from ._stack import (
    ASYNC_TRANSPORTS,
    BYTE_STREAMS,
    AsyncBaseTransport,
    httpx,
    inner_transport,
)

__all__ = ["RetryingAsyncTransport"]


class RetryingAsyncTransport(AsyncBaseTransport):
    """An httpx transport that retries what is safe to retry.

    Wraps any inner transport. By default it retries connection failures
    only (``httpx.ConnectError`` and a raw ``httpcore.ConnectError``): the
    request never left the client, so a retry is always safe. Everything else
    passes through untouched, and when retries run out the last exception is
    re-raised unchanged, as if no retry layer were there.

    Every keyword that names a [`RequestContext`][] field sets it for every
    request. A request overrides only the settings it names, with
    ``extensions={"retry": RequestContext(max_retries=5)}`` or
    ``extensions={"retry": {"max_retries": 5}}``; the rest stay the
    transport's. The context that applied is in
    ``response.extensions["retry"]`` and in every event.

    Args:
        transport: The inner transport; ``None`` means ``httpx.AsyncHTTPTransport()``
            (httpx2's for a request of an ``httpx2.AsyncClient``).
        max_retries: Retries after the first attempt.
        base_delay: Seconds before the first retry (exponential backoff after).
        max_delay: Cap on any backoff delay, in seconds; ``None``: 20 s, or
            ``base_delay`` when that is larger.
        jitter: Fraction of each delay that is randomised, ``0..1``.
        deadline: Seconds a whole request may take, every attempt and every
            sleep included, until its response head arrives; or ``None``. An
            attempt still waiting when it passes is ended with
            [`DeadlineExceeded`][resilient_transport.DeadlineExceeded].
        retry_connect_timeouts: Also retry ``ConnectTimeout``.
        retry_idempotent_errors: Also retry errors after which the server may
            have processed the request, for idempotent requests.
        retry_statuses: HTTP statuses to retry, for idempotent requests.
        max_retry_after: Largest ``Retry-After`` honoured, in seconds.
        hedge_delay: Seconds after which a hedge (another copy of an idempotent
            request) is sent while no usable answer has come; ``None``: no
            hedging. See the hedging guide.
        max_hedges: Hedges beyond the first attempt (``0..4``), when hedging.
        budget: A [`RetryBudget`][] to draw retries (and hedges) from (often shared).
        breaker: A [`CircuitBreaker`][resilient_transport.CircuitBreaker] asked
            before every attempt, told every outcome (often shared).
        events: An anyio memory object send stream of [`AsyncEvent`][] records.
            The transport owns it: [`aclose`][] closes it.
        sleep: ``async (seconds) -> None``; ``None``: ``anyio.sleep`` (instant
            under [`resilient_transport.testing.set_instant_sleep`][]).
        clock: Monotonic seconds, for elapsed times and deadlines.
        random: Returns a float in ``[0, 1)``, for jitter.

    Raises:
        TypeError: An argument has the wrong type (the message names it).
        ValueError: An argument has a wrong value (the message names it).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
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
        hedge_delay: float | None = None,
        max_hedges: int = 1,
        budget: RetryBudget | None = None,
        breaker: CircuitBreaker | None = None,
        events: ObjectSendStream[AsyncEvent] | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
    ) -> None:
        if transport is not None and not isinstance(transport, ASYNC_TRANSPORTS):
            raise TypeError(
                f"transport must be an httpx.AsyncBaseTransport or None, got {transport!r}"
            )
        if sleep is None:
            sleep = default_sleep
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
            hedge_delay=hedge_delay,
            max_hedges=max_hedges,
            budget=budget,
            breaker=breaker,
            events=events,
            sleep=sleep,
            clock=clock,
            random=random,
            cancelled=anyio.get_cancelled_exc_class,
            synchronous=False,
        )
        inner, self._own = inner_transport(transport, "AsyncHTTPTransport")
        self._transport: httpx.AsyncBaseTransport = inner
        self._pause = paced(budget, sleep, clock)  # the backoff, and an AdaptiveRetryBudget's turn
        self._breaker = breaker

    # -- public state ---------------------------------------------------------

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
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
        """Events dropped because the event stream was full."""
        return self._core.emitter.dropped

    # -- lifecycle ------------------------------------------------------------

    async def __aenter__(self) -> RetryingAsyncTransport:
        await self._transport.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            await self._transport.__aexit__(exc_type, exc_value, traceback)
        finally:
            await self._close_others()

    async def aclose(self) -> None:
        """Close the inner transport and the event send stream."""
        try:
            await self._transport.aclose()
        finally:
            await self._close_others()

    async def _close_others(self) -> None:
        """Close the inner transports made for another stack, then the event send stream."""
        try:
            if self._own is not None:
                for other in self._own.others():
                    await other.aclose()
        finally:
            await self._core.emitter.aclose()

    # -- the request path -----------------------------------------------------

    async def _send(
        self,
        inner: httpx.AsyncBaseTransport,
        request: httpx.Request,
        ctx: RequestContext,
        start: float,
    ) -> httpx.Response:
        """One attempt, through the breaker when there is one."""
        if self._breaker is not None:
            return await send_guarded(
                self._breaker, request, ctx, lambda: self._attempt(inner, request, ctx, start)
            )
        return await self._attempt(inner, request, ctx, start)

    async def _attempt(
        self,
        inner: httpx.AsyncBaseTransport,
        request: httpx.Request,
        ctx: RequestContext,
        start: float,
    ) -> httpx.Response:
        """The inner transport's call; with a deadline, bounded by the time left until its head."""
        if ctx.deadline is None:
            return await inner.handle_async_request(request)
        remaining = ctx.deadline - (self._core.clock() - start)
        return await send_within(inner, request, remaining, ctx.deadline)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the inner transport, retrying as the context allows.

        One loop: an attempt (after the backoff sleep, from the second on);
        an answer ends it; anything else goes to the policy's `decide`, which
        says retry (after which delay) or give up (why). The request leaves
        with the extensions and the stream it came with.
        """
        extensions = request.extensions
        stream = request.stream
        core = self._core
        ctx, start = core.begin(request)
        inner = self._transport if self._own is None else self._own.for_request(request)
        if ctx.hedge_delay is not None and hedgeable(request):
            return await send_hedged(
                core, lambda hedge, c: self._send(inner, hedge, c, start), request, ctx, start
            )
        if ctx.max_retries and not isinstance(stream, BYTE_STREAMS):
            request.stream = TrackedStream(stream)  # type: ignore[arg-type]
        retried: httpx.Response | None = None  # a retried response, closed before the sleep
        delay = -1.0  # no sleep before the first attempt
        outcome: httpx.Response | BaseException
        # Neither breaker nor deadline: the inner call itself, no coroutine of ours around it.
        direct = self._breaker is None and ctx.deadline is None
        try:
            while True:
                # A new dict: the caller's may be shared between requests.
                request.extensions = {**extensions, "retry": ctx}
                in_attempt = False
                try:
                    if delay >= 0.0:
                        if retried is not None:
                            await drain(retried)
                        await self._pause(delay, ctx.deadline, start)
                    in_attempt = True
                    if direct:
                        outcome = await inner.handle_async_request(request)
                    else:
                        outcome = await self._send(inner, request, ctx, start)
                except BaseException as exc:  # decided on below, outside this block
                    outcome = exc
                else:
                    if not ctx.retry_statuses or outcome.status_code not in ctx.retry_statuses:
                        # An answer: nearly every request, so the shortest path.
                        return core.answer(request, ctx, outcome, start)
                decision = core.decide(request, ctx, outcome, start, in_attempt)
                if not decision.retry:
                    if not isinstance(outcome, BaseException):
                        return outcome
                    # Raised outside any except block: nothing is chained to it.
                    # The local goes on the way out: this frame holding the
                    # exception whose traceback holds this frame is a cycle.
                    try:
                        raise outcome
                    finally:
                        del outcome
                retried = None if isinstance(outcome, BaseException) else outcome
                # The failed attempt's exception, and through its traceback the
                # inner transport's frames, need not live through the sleep (an
                # event that carries it keeps it for its reader).
                del outcome
                ctx = decision.context
                delay = decision.delay
        finally:
            # httpx copies the extensions into a redirect's request, which must
            # start afresh from the caller's own "retry" value.
            request.extensions = extensions
            request.stream = stream

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._transport!r}, defaults={self._core.defaults!r})"
