"""One attempt through a circuit breaker: admitted first, its outcome booked after.

Both transports' per-attempt path (the one hedges share too) comes here
when a breaker is configured, and only then: with none, an attempt costs
one ``is not None`` more.
"""

from __future__ import annotations

from collections.abc import Callable

from ._attempt import send_before_deadline, send_within
from ._breaker import CircuitBreaker
from ._circuit import origin_of, outcome_health
from ._context import RequestContext
from ._stack import httpx

__all__ = ["send_guarded", "send_guarded_sync"]


async def send_guarded(
    breaker: CircuitBreaker,
    inner: httpx.AsyncBaseTransport,
    request: httpx.Request,
    ctx: RequestContext,
    clock: Callable[[], float],
    start: float,
) -> httpx.Response:
    """One attempt, if ``breaker`` admits it; with a deadline, bounded by the time left.

    Raises:
        CircuitOpenError: The circuit of the request's origin is open.
    """
    origin = origin_of(request.url)
    ticket = breaker.admit(origin, request)
    try:
        if ctx.deadline is None:
            response = await inner.handle_async_request(request)
        else:
            remaining = ctx.deadline - (clock() - start)
            response = await send_within(inner, request, remaining, ctx.deadline)
    except BaseException as exc:  # booked (a cancellation as nothing), then raised on
        breaker.record(origin, ticket, outcome_health(exc, ctx.retry_statuses))
        raise
    breaker.record(origin, ticket, outcome_health(response, ctx.retry_statuses))
    return response


def send_guarded_sync(
    breaker: CircuitBreaker,
    inner: httpx.BaseTransport,
    request: httpx.Request,
    ctx: RequestContext,
    clock: Callable[[], float],
    start: float,
) -> httpx.Response:
    """`send_guarded` for a synchronous transport: each phase bounded by the time left.

    Raises:
        CircuitOpenError: The circuit of the request's origin is open.
    """
    origin = origin_of(request.url)
    ticket = breaker.admit(origin, request)
    try:
        if ctx.deadline is None:
            response = inner.handle_request(request)
        else:
            response = send_before_deadline(inner, request, ctx.deadline, lambda: clock() - start)
    except BaseException as exc:  # booked (an interrupt as nothing), then raised on
        breaker.record(origin, ticket, outcome_health(exc, ctx.retry_statuses))
        raise
    breaker.record(origin, ticket, outcome_health(response, ctx.retry_statuses))
    return response
