"""The retrying transport."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from types import TracebackType
from typing import Any

import anyio
import httpx

from ._attempt import TrackedStream, clamp_timeouts, drain
from ._budget import RetryBudget
from ._context import DEFAULT_MAX_DELAY, RequestContext, defaults_context, no_metadata
from ._events import EventSink, EventType, _new_event, safe_url
from ._policy import TIMEOUT_ERRORS, DeadlineExceeded, FailureKind, GiveUpReason, classify_error
from ._redact import redact_url
from ._sleep import default_sleep
from ._verdict import Verdicts

__all__ = ["RetryingAsyncTransport"]


class RetryingAsyncTransport(httpx.AsyncBaseTransport):
    """An httpx transport that retries what is safe to retry.

    Wraps any inner transport. By default it retries connection failures
    only (``httpx.ConnectError`` and a raw ``httpcore.ConnectError``): the
    request never left the client, so a retry is always safe. Everything else
    passes through untouched, and when retries run out the last exception is
    re-raised unchanged, as if no retry layer were there.

    Every keyword that names a `RequestContext` field sets it for every
    request. A request overrides only the settings it names, with
    ``extensions={"retry": RequestContext(max_retries=5)}`` or
    ``extensions={"retry": {"max_retries": 5}}``; the rest stay the
    transport's. The context that applied is in
    ``response.extensions["retry"]`` and in every event.

    Args:
        transport: The inner transport; ``None`` means ``httpx.AsyncHTTPTransport()``.
        max_retries: Retries after the first attempt.
        base_delay: Seconds before the first retry (exponential backoff after).
        max_delay: Cap on any backoff delay, in seconds; ``None``: 20 s, or
            ``base_delay`` when that is larger.
        jitter: Fraction of each delay that is randomised, ``0..1``.
        deadline: Seconds a whole request may take, every attempt and every
            sleep included, until its response head arrives; or ``None``. An
            attempt still waiting when it passes is ended with
            `DeadlineExceeded`.
        retry_connect_timeouts: Also retry ``ConnectTimeout``.
        retry_idempotent_errors: Also retry errors after which the server may
            have processed the request, for idempotent requests.
        retry_statuses: HTTP statuses to retry, for idempotent requests.
        max_retry_after: Largest ``Retry-After`` honoured, in seconds.
        budget: A :class:`RetryBudget` to draw retries from (often shared).
        events: An anyio memory object send stream of `AsyncEvent` records.
            The transport owns it: `aclose` closes it.
        sleep: ``async (seconds) -> None``; ``None``: ``anyio.sleep`` (instant
            under `resilient_transport.testing.set_instant_sleep`).
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
        budget: RetryBudget | None = None,
        events: Any = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError(
                f"transport must be an httpx.AsyncBaseTransport or None, got {transport!r}"
            )
        if budget is not None and not isinstance(budget, RetryBudget):
            raise TypeError(f"budget must be a RetryBudget or None, got {budget!r}")
        if sleep is None:
            sleep = default_sleep
        for name, value in (("sleep", sleep), ("clock", clock), ("random", random)):
            if not callable(value):
                raise TypeError(f"{name} must be callable, got {value!r}")
        # max_delay=None leaves the cap unset: it follows base_delay (see
        # RequestContext.max_delay).
        self._defaults = defaults_context(
            {
                "max_retries": max_retries,
                "current_attempt": 0,
                "base_delay": base_delay,
                "request_id": "defaults",
                "metadata": no_metadata(),
                "max_delay": DEFAULT_MAX_DELAY if max_delay is None else max_delay,
                "jitter": jitter,
                "deadline": deadline,
                "retry_connect_timeouts": retry_connect_timeouts,
                "retry_idempotent_errors": retry_idempotent_errors,
                # Any collection: the context validates it and makes it a frozenset.
                "retry_statuses": retry_statuses,
                "max_retry_after": max_retry_after,
            },
            cap_given=max_delay is not None,
        )
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
        """The applied context of a request that brings a "retry" extension of its own."""
        value = request.extensions.get("retry")
        if isinstance(value, RequestContext):
            return self._defaults._applied(value)
        if isinstance(value, Mapping):
            return self._defaults._merged(value)
        raise TypeError(
            'the "retry" request extension must be a RequestContext, a dict of '
            f"RequestContext fields, or None; got {value!r}"
        )

    async def _send(
        self, request: httpx.Request, ctx: RequestContext, start: float
    ) -> httpx.Response:
        """One attempt; with a deadline, bounded by the time left until its response head."""
        if ctx.deadline is None:
            return await self._transport.handle_async_request(request)
        remaining = ctx.deadline - (self._clock() - start)
        clamp_timeouts(request, remaining)
        # Per-phase timeouts bound each read, not a response head that
        # trickles in a byte at a time: the cancel scope bounds the whole.
        with anyio.move_on_after(max(remaining, 0.0)):
            return await self._transport.handle_async_request(request)
        raise DeadlineExceeded(
            f"the request's deadline of {ctx.deadline:g} s passed before a response arrived",
            request=request,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the inner transport, retrying as the context allows."""
        extensions = request.extensions
        stream = request.stream
        port = request.url.port
        if port is not None and not 0 < port < 65536:
            # Refused here, before any attempt: trio would connect to the port
            # modulo 65536, asyncio fail deep in the socket layer.
            raise httpx.InvalidURL(
                f"Invalid port: {port!r} (must be 1 to 65535) in {redact_url(request.url)}"
            )
        # The applied context rides in a new dict (the caller's may be shared);
        # the request leaves with the extensions and the stream it came with.
        ctx = (
            self._fresh_context()
            if extensions.get("retry") is None
            else self._context_for(request)
        )
        request.extensions = {**extensions, "retry": ctx}
        # Only events and deadlines need the start time.
        start = (
            self._clock() if self._sink._stream is not None or ctx.deadline is not None else 0.0
        )
        if ctx.max_retries and not isinstance(stream, httpx.ByteStream):
            request.stream = TrackedStream(stream)  # type: ignore[arg-type]
        failure: BaseException | httpx.Response
        try:
            response = await self._send(request, ctx, start)
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
                request.stream = stream
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
            request.stream = stream

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
            try:
                response = await self._send(request, ctx, start)
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
