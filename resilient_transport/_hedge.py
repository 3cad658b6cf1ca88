"""Hedged requests: more than one attempt in flight, and the first usable answer wins.

gRPC's hedging policy (gRFC A6) is the model. The first attempt goes at
once; while no usable answer has come, another copy of the request (a
hedge) goes every ``hedge_delay`` seconds, up to ``max_hedges`` of them. A
failure that a retry could fix (a retried status, a retried error: gRPC's
"non-fatal status codes") lets the next hedge go at once. The first answer
with a status that is not retried wins: the other attempts are cancelled
and a response that loses is closed. An error that no retry would fix (a
rejected certificate, the deadline) ends the request at once, as gRPC's
fatal status does. Hedges are the attempts: when they all failed, the
request ends as a retried one does when its retries run out, with no
backoff retry after them. Each hedge draws from the retry budget as a retry
does; one the budget refuses is not sent, nor any after it.

Only idempotent methods with a body that can be sent again are hedged
(`hedgeable`); everything else takes the retry path.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import TaskGroup

from ._circuit import CircuitOpenError
from ._classify import IDEMPOTENT_METHODS
from ._context import RECORD, RequestContext
from ._decision import GiveUpReason
from ._events import EventType, terminal_event_type
from ._loop import RetryCore
from ._retry_after import parse_retry_after
from ._stack import BYTE_STREAMS, httpx, stack_of

__all__ = ["Send", "hedgeable", "send_hedged"]

#: One attempt of ``request`` with its context: the transport's per-attempt
#: path (the deadline, and anything else that applies to every attempt).
Send = Callable[[httpx.Request, RequestContext], Awaitable[httpx.Response]]


def hedgeable(request: httpx.Request) -> bool:
    """Whether ``request`` may be hedged: an idempotent method, a body that can be sent again.

    POST is never hedged, even with an ``Idempotency-Key`` header (which
    makes it retryable): a hedge runs at the same time as the attempt it
    doubles, and servers that honour the key commonly refuse a concurrent
    duplicate with 409 Conflict.
    """
    return request.method in IDEMPOTENT_METHODS and isinstance(request.stream, BYTE_STREAMS)


async def send_hedged(
    core: RetryCore, send: Send, request: httpx.Request, ctx: RequestContext, start: float
) -> httpx.Response:
    """Send ``request`` with hedges as ``ctx`` says; book and report it as the retry loop does.

    The first attempt is ``request`` itself; each hedge is a copy of it, of
    the same HTTP stack, with its own extensions. The request leaves with
    the extensions it came with. Exactly one terminal event is sent.
    """
    extensions = request.extensions
    race = _Race(core, send, request, ctx, start)
    try:
        async with anyio.create_task_group() as group:
            race.scope = group.cancel_scope
            request.extensions = {**extensions, "retry": ctx}
            race.launch(group, request, ctx)
            await race.hedge(group, extensions)
    except BaseException as exc:  # cancelled from outside (or interrupted): every attempt ended
        await race.release()
        core.decide(request, race.final_context(), exc, start, True)
        raise
    finally:
        request.extensions = extensions
    return await race.finish()


class _Race:
    """One hedged request's attempts and what became of them."""

    __slots__ = (
        "at_once",
        "cause",
        "core",
        "ctx",
        "ending",
        "failure",
        "reason",
        "request",
        "scope",
        "send",
        "sent",
        "start",
        "stopped",
        "wake",
    )

    def __init__(
        self,
        core: RetryCore,
        send: Send,
        request: httpx.Request,
        ctx: RequestContext,
        start: float,
    ) -> None:
        self.core = core
        self.send = send
        self.request = request
        self.ctx = ctx
        self.start = start
        self.sent = 0  # attempts sent
        self.at_once = 0  # failures not yet made good by a hedge sent at once
        self.cause: httpx.Response | Exception | None = None  # the latest of those
        self.wake = anyio.Event()
        self.scope = anyio.CancelScope()
        # What ends the request: the winning response or a fatal error (with
        # the reason it is not retried); else the last failure.
        self.ending: httpx.Response | Exception | None = None
        self.reason: GiveUpReason | None = None
        self.failure: httpx.Response | Exception | None = None
        self.stopped: GiveUpReason | None = None  # why no more hedges are sent

    def launch(self, group: TaskGroup, request: httpx.Request, ctx: RequestContext) -> None:
        self.sent += 1
        group.start_soon(self.attempt, request, ctx)

    async def hedge(self, group: TaskGroup, extensions: dict[str, object]) -> None:
        """Send the hedges, each after ``hedge_delay`` or at once after a failure."""
        ctx, request = self.ctx, self.request
        delay = ctx.hedge_delay or 0.0  # set: the request is hedged
        last = anyio.current_time()
        for index in range(1, ctx.max_hedges + 1):
            if not self.at_once:
                self.wake = anyio.Event()
                with anyio.move_on_after(delay):
                    await self.wake.wait()
            cause = None
            if self.at_once:
                self.at_once -= 1
                cause = self.cause
            if self.stopped is not None:
                return
            budget = self.core.budget
            if budget is not None and not budget.acquire_retry():
                self.stopped = GiveUpReason.BUDGET
                return
            hedge_ctx = RECORD.replace(ctx, current_attempt=index)
            now = anyio.current_time()
            error, status = (cause, None) if isinstance(cause, Exception) else (None, cause)
            self.core.emitter.emit(
                EventType.HEDGE,
                hedge_ctx,
                request,
                self.start,
                attempts=index + 1,
                error=error,
                status_code=None if status is None else status.status_code,
                delay=now - last,
            )
            last = now
            copy = stack_of(request)[0].Request(
                request.method,
                request.url,
                headers=request.headers,
                stream=request.stream,
                extensions={**extensions, "retry": hedge_ctx},
            )
            copy.read()  # a ByteStream: its content, for inner transports that look at it
            self.launch(group, copy, hedge_ctx)

    async def attempt(self, request: httpx.Request, ctx: RequestContext) -> None:
        """One attempt; what came of it is settled here (cancellation propagates)."""
        outcome: httpx.Response | Exception
        try:
            outcome = await self.send(request, ctx)
        except Exception as exc:  # settled below, as the retry loop decides on it
            outcome = exc
        if self.ending is not None:  # another attempt ended the request: this one lost
            await _close(outcome)
            return
        at_once = True  # whether the next hedge may go at once
        if isinstance(outcome, CircuitOpenError):
            # Refused before it was sent, as any further hedge would be; the
            # attempts in flight go on. Nothing was sent: nothing to book.
            self.stopped, at_once = GiveUpReason.CIRCUIT_OPEN, False
        elif isinstance(outcome, Exception):
            reason = self.core.policy.refusal(request, ctx, outcome)
            if reason is not None:
                self.end(outcome, reason)
                return
        elif not ctx.retry_statuses or outcome.status_code not in ctx.retry_statuses:
            self.end(outcome, None)
            return
        elif "retry-after" in outcome.headers:  # the server asked for a pause: not at once
            at_once = False
            pushback = parse_retry_after(outcome.headers["retry-after"], time.time())
            if pushback is not None and pushback > ctx.max_retry_after:
                self.stopped = GiveUpReason.RETRY_AFTER_TOO_LONG
        # A failure that another attempt may make good.
        budget = self.core.budget
        if budget is not None and not isinstance(outcome, CircuitOpenError):
            budget.record_failure()
        previous, self.failure = self.failure, outcome
        if at_once:
            self.at_once += 1
            self.cause = outcome
        if at_once or self.stopped is not None:
            self.wake.set()
        await _close(previous)

    def end(self, outcome: httpx.Response | Exception, reason: GiveUpReason | None) -> None:
        """``outcome`` ends the request: every other attempt is cancelled."""
        self.ending, self.reason = outcome, reason
        self.scope.cancel()

    def final_context(self) -> RequestContext:
        """The request's context at its end: ``current_attempt`` counts the other attempts sent."""
        return RECORD.replace(self.ctx, current_attempt=max(self.sent - 1, 0))

    async def release(self) -> None:
        """Close every response still held: the request was interrupted."""
        ending, failure, self.ending, self.failure, self.cause = (
            self.ending,
            self.failure,
            None,
            None,
            None,
        )
        await _close(ending)
        await _close(failure)

    async def finish(self) -> httpx.Response:
        """Book and report how the request ended; return its response or raise its error."""
        core, request, ctx = self.core, self.request, self.final_context()
        ending, failure = self.ending, self.failure
        self.ending = self.failure = self.cause = None  # no cycle through a raised error
        error: BaseException
        if ending is not None:
            await _close(failure)
            if not isinstance(ending, Exception):
                return core.answer(request, ctx, ending, self.start)
            core.decide(request, ctx, ending, self.start, True)
            error = ending
        else:
            assert failure is not None  # every attempt sent failed
            reason = self.stopped or GiveUpReason.EXHAUSTED
            if not isinstance(failure, Exception):
                failure.extensions["retry"] = ctx
                core.emitter.emit(
                    EventType.SUCCESS,
                    ctx,
                    request,
                    self.start,
                    attempts=self.sent,
                    status_code=failure.status_code,
                    reason=reason,
                )
                return failure
            core.emitter.emit(
                terminal_event_type(failure, reason),
                ctx.increment_attempt(),
                request,
                self.start,
                attempts=self.sent,
                error=failure,
                reason=reason,
            )
            error = failure
        # Raised outside any except block; the locals go, not to make a cycle.
        try:
            raise error
        finally:
            del error, ending, failure


async def _close(outcome: httpx.Response | Exception | None) -> None:
    """Close a response that will not be returned, even in a cancelled scope."""
    if outcome is not None and not isinstance(outcome, Exception):
        with anyio.CancelScope(shield=True):
            await outcome.aclose()
