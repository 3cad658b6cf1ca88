"""The retrying transport."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from collections.abc import Set as AbstractSet
from types import TracebackType
from typing import Any, cast

import anyio
import httpx

from ._attempt import TrackedStream, clamp_timeouts, drain
from ._backoff import DEFAULT_RANDOM
from ._budget import RetryBudget
from ._context import (
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    RequestContext,
)
from ._events import EventSink, EventType, _new_event, safe_url
from ._policy import TIMEOUT_ERRORS, FailureKind, GiveUpReason, classify_error
from ._verdict import Verdicts

__all__ = ["RetryingAsyncTransport"]


class RetryingAsyncTransport(httpx.AsyncBaseTransport):
    """An httpx transport that retries what is safe to retry.

    Wraps any inner transport. By default it retries connection failures
    only (``httpx.ConnectError`` and a raw ``httpcore.ConnectError``): the
    request never left the client, so a retry is always safe. Everything else
    passes through untouched, and when retries run out the last exception is
    re-raised unchanged, as if no retry layer were there.

    Every keyword that names a :class:`RequestContext` field sets the default
    for requests that bring no context of their own; a request overrides them
    with ``extensions={"retry": RequestContext(...)}`` (used as given) or
    ``extensions={"retry": {"max_retries": 5}}`` (merged onto the defaults).

    Args:
        transport: The inner transport; ``None`` means ``httpx.AsyncHTTPTransport()``.
        max_retries: Retries after the first attempt.
        base_delay: Seconds before the first retry (exponential backoff after).
        max_delay: Cap on any backoff delay, in seconds.
        jitter: Fraction of each delay that is randomised, ``0..1``.
        deadline: Seconds a whole request may take, sleeps included, or ``None``.
        retry_connect_timeouts: Also retry ``ConnectTimeout``.
        retry_idempotent_errors: Also retry errors after which the server may
            have processed the request, for idempotent requests.
        retry_statuses: HTTP statuses to retry, for idempotent requests.
        max_retry_after: Largest ``Retry-After`` honoured, in seconds.
        budget: A :class:`RetryBudget` to draw retries from (often shared).
        events: An anyio memory object send stream for :class:`AsyncEvent`\\ s.
            The transport owns it: :meth:`aclose` closes it.
        sleep: ``async (seconds) -> None``; default ``anyio.sleep``.
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
        max_retries: int = DEFAULT_MAX_RETRIES,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        jitter: float = 1.0,
        deadline: float | None = None,
        retry_connect_timeouts: bool = False,
        retry_idempotent_errors: bool = False,
        retry_statuses: Collection[int] = frozenset(),
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        budget: RetryBudget | None = None,
        events: Any = None,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = DEFAULT_RANDOM,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError(
                f"transport must be an httpx.AsyncBaseTransport or None, got {transport!r}"
            )
        if budget is not None and not isinstance(budget, RetryBudget):
            raise TypeError(f"budget must be a RetryBudget or None, got {budget!r}")
        for name, value in (("sleep", sleep), ("clock", clock), ("random", random)):
            if not callable(value):
                raise TypeError(f"{name} must be callable, got {value!r}")
        self._defaults = RequestContext(
            max_retries=max_retries,
            base_delay=base_delay,
            max_delay=max_delay,
            jitter=jitter,
            deadline=deadline,
            retry_connect_timeouts=retry_connect_timeouts,
            retry_idempotent_errors=retry_idempotent_errors,
            # Any collection: the context validates it and makes it a frozenset.
            retry_statuses=cast(AbstractSet[int], retry_statuses),
            max_retry_after=max_retry_after,
        )
        # Stamps the defaults on each request that brings no context, under a
        # fresh id; made once, as it is on every such request's path.
        self._fresh_context = self._defaults._fresh_id_copier()
        self._sink = EventSink(events)  # raises TypeError for a bad stream
        self._transport = httpx.AsyncHTTPTransport() if transport is None else transport
        self._budget = budget
        self._verdicts = Verdicts(clock, random, budget)
        self._sleep = sleep
        self._clock = clock
        self._random = random

    # -- public state ---------------------------------------------------------

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """The inner transport."""
        return self._transport

    @property
    def defaults(self) -> RequestContext:
        """The context used for requests that bring none (its id is replaced per request)."""
        return self._defaults

    @property
    def budget(self) -> RetryBudget | None:
        """The retry budget, if any."""
        return self._budget

    @property
    def dropped_events(self) -> int:
        """Events dropped because the event stream was full."""
        return self._sink.dropped

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
            await self._sink.aclose()

    async def aclose(self) -> None:
        """Close the inner transport and the event send stream."""
        try:
            await self._transport.aclose()
        finally:
            await self._sink.aclose()

    # -- the request path -----------------------------------------------------

    def _context_for(self, request: httpx.Request) -> RequestContext:
        """The context of a request that brings a "retry" extension of its own."""
        extensions = request.extensions
        value = extensions.get("retry")
        if isinstance(value, RequestContext):
            return value
        if isinstance(value, Mapping):
            ctx = self._defaults._merged(value)
        else:
            raise TypeError(
                'the "retry" request extension must be a RequestContext, a dict of '
                f"RequestContext fields, or None; got {value!r}"
            )
        # A new dict: the caller's may be shared between requests.
        request.extensions = {**extensions, "retry": ctx}
        return ctx

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the inner transport, retrying as the context allows."""
        extensions = request.extensions
        if extensions.get("retry") is None:
            # No context of its own (nearly every request): the defaults,
            # under a fresh id, in a new dict (the caller's may be shared).
            ctx = self._fresh_context()
            request.extensions = {**extensions, "retry": ctx}
        else:
            ctx = self._context_for(request)
        # Only events and deadlines need the start time.
        start = (
            self._clock() if self._sink._stream is not None or ctx.deadline is not None else 0.0
        )
        if ctx.deadline is not None:
            clamp_timeouts(request, ctx.deadline)
        if ctx.max_retries and not isinstance(request.stream, httpx.ByteStream):
            request.stream = TrackedStream(request.stream)  # type: ignore[arg-type]
        failure: BaseException | httpx.Response
        try:
            response = await self._transport.handle_async_request(request)
        except BaseException as exc:
            failure = exc
        else:
            if not ctx.retry_statuses or response.status_code not in ctx.retry_statuses:
                # The success path: keep it short, it is nearly every request.
                response.extensions["retry"] = ctx
                if self._budget is not None:
                    self._budget.record_success()
                if self._sink._stream is not None:
                    self._emit(
                        EventType.SUCCESS,
                        ctx,
                        request,
                        start,
                        ctx.current_attempt + 1,
                        status_code=response.status_code,
                    )
                request.extensions = extensions
                return response
            failure = response
        # Called outside the except block, so that a later exception is not
        # chained to this one: what propagates must be exactly what was raised.
        recovering = self._recover(request, ctx, start, failure)
        # The failure is _recover's alone from here: this frame keeping it
        # would keep it (and the inner transport's frames, through its
        # traceback) alive through every backoff sleep, and would make a
        # reference cycle with the traceback of whatever propagates from here,
        # which only the garbage collector frees (it did, at ~20 µs a request).
        del failure
        try:
            return await recovering
        finally:
            # The request leaves with the extensions it came with: httpx
            # copies them into a redirect's request, which must start afresh
            # from the caller's own "retry" value, not from this spent context.
            request.extensions = extensions

    async def _recover(
        self,
        request: httpx.Request,
        ctx: RequestContext,
        start: float,
        failure: BaseException | httpx.Response,
    ) -> httpx.Response:
        budget = self._budget
        exc: BaseException | None = None
        while True:
            if isinstance(failure, httpx.Response):
                response = failure
                failed = ctx.increment_attempt()
                if budget is not None:
                    budget.record_failure()
                reason, delay = self._verdicts.on_status(request, response, failed, start)
                if reason is not None:
                    response.extensions["retry"] = ctx
                    self._emit(
                        EventType.SUCCESS,
                        ctx,
                        request,
                        start,
                        failed.current_attempt,
                        status_code=response.status_code,
                        reason=reason,
                    )
                    return response
                retried: httpx.Response | None = response
                self._emit(
                    EventType.RETRY,
                    failed,
                    request,
                    start,
                    failed.current_attempt,
                    status_code=response.status_code,
                    delay=delay,
                )
            else:
                exc = failure
                if not isinstance(exc, Exception):
                    self._emit_interrupted(exc, ctx, request, start, ctx.current_attempt + 1)
                    try:
                        raise exc
                    finally:  # no exception <-> frame cycle: see handle_async_request
                        exc = None
                        del failure
                failed = ctx.increment_attempt()
                kind = classify_error(exc)
                if budget is not None and kind not in (FailureKind.OTHER, FailureKind.CERTIFICATE):
                    budget.record_failure()
                reason, delay = self._verdicts.on_error(request, kind, failed, start)
                if reason is not None:
                    terminal = (
                        EventType.TIMEOUT if isinstance(exc, TIMEOUT_ERRORS) else EventType.ERROR
                    )
                    self._emit(
                        terminal,
                        failed,
                        request,
                        start,
                        failed.current_attempt,
                        error=exc,
                        reason=reason,
                    )
                    try:
                        raise exc
                    finally:  # no exception <-> frame cycle: see handle_async_request
                        exc = None
                        del failure
                self._emit(
                    EventType.RETRY,
                    failed,
                    request,
                    start,
                    failed.current_attempt,
                    error=exc,
                    delay=delay,
                )
                retried = None
            ctx = failed
            request.extensions = {**request.extensions, "retry": ctx}
            # The failed attempt's exception, and through its traceback the
            # inner transport's frames, need not live through the sleep (an
            # event that carries it keeps it for its reader).
            exc = None
            del failure
            interrupted: BaseException | None = None
            try:
                if retried is not None:
                    await drain(retried)
                await self._sleep(delay)
            except BaseException as sleep_exc:  # a cancellation, most likely
                interrupted = sleep_exc
            if interrupted is not None:
                self._emit_interrupted(interrupted, ctx, request, start, ctx.current_attempt)
                try:
                    raise interrupted
                finally:  # no exception <-> frame cycle: see handle_async_request
                    interrupted = None
            if ctx.deadline is not None:
                clamp_timeouts(request, ctx.deadline - (self._clock() - start))
            try:
                response = await self._transport.handle_async_request(request)
            except BaseException as error:
                failure = error
                continue
            if ctx.retry_statuses and response.status_code in ctx.retry_statuses:
                failure = response
                continue
            response.extensions["retry"] = ctx
            if budget is not None:
                budget.record_success()
            self._emit(
                EventType.SUCCESS,
                ctx,
                request,
                start,
                ctx.current_attempt + 1,
                status_code=response.status_code,
                reason=None,
            )
            return response

    # -- events ---------------------------------------------------------------

    def _emit(
        self,
        event_type: EventType,
        ctx: RequestContext,
        request: httpx.Request,
        start: float,
        attempts: int,
        *,
        error: BaseException | None = None,
        status_code: int | None = None,
        delay: float | None = None,
        reason: GiveUpReason | None = None,
    ) -> None:
        if self._sink._stream is None:
            return
        try:
            event = _new_event(
                event_type,
                ctx,
                time.time(),
                error,
                request.method,
                safe_url(request.url),
                attempts,
                self._clock() - start,
                status_code,
                delay,
                reason,
            )
        except Exception:  # pragma: no cover - observability must never fail a request
            self._sink.dropped += 1
            return
        self._sink.emit(event)

    def _emit_interrupted(
        self,
        exc: BaseException,
        ctx: RequestContext,
        request: httpx.Request,
        start: float,
        attempts: int,
    ) -> None:
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            self._emit(
                EventType.CANCELLED,
                ctx,
                request,
                start,
                attempts,
                error=exc,
                reason=GiveUpReason.CANCELLED,
            )
        else:  # KeyboardInterrupt, SystemExit, GeneratorExit...
            self._emit(
                EventType.ERROR,
                ctx,
                request,
                start,
                attempts,
                error=exc,
                reason=GiveUpReason.NOT_RETRYABLE,
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._transport!r}, defaults={self._defaults!r})"
