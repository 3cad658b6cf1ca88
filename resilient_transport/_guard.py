"""One attempt through a circuit breaker: admitted first, its outcome booked after.

The attempt itself (the inner transport's call, bounded by the deadline) is
the transport's own: the breaker only wraps it.

Both transports' per-attempt path (the one hedges share too) comes here
when a breaker is configured, and only then: with none, an attempt costs
one ``is not None`` more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ._breaker import CircuitBreaker
from ._circuit import origin_of, outcome_health
from ._context import RequestContext
from ._stack import httpx

__all__ = ["send_guarded", "send_guarded_sync"]


async def send_guarded(
    breaker: CircuitBreaker,
    request: httpx.Request,
    ctx: RequestContext,
    attempt: Callable[[], Awaitable[httpx.Response]],
) -> httpx.Response:
    """``attempt()``, if ``breaker`` admits it; its outcome booked for the request's origin.

    Raises:
        CircuitOpenError: The circuit of the request's origin is open.
    """
    origin = origin_of(request.url)
    ticket = breaker.admit(origin, request)
    try:
        response = await attempt()
    except BaseException as exc:  # booked (a cancellation as nothing), then raised on
        breaker.record(origin, ticket, outcome_health(exc, ctx.retry_statuses))
        raise
    breaker.record(origin, ticket, outcome_health(response, ctx.retry_statuses))
    return response


def send_guarded_sync(
    breaker: CircuitBreaker,
    request: httpx.Request,
    ctx: RequestContext,
    attempt: Callable[[], httpx.Response],
) -> httpx.Response:
    """`send_guarded` for a synchronous attempt.

    Raises:
        CircuitOpenError: The circuit of the request's origin is open.
    """
    origin = origin_of(request.url)
    ticket = breaker.admit(origin, request)
    try:
        response = attempt()
    except BaseException as exc:  # booked (an interrupt as nothing), then raised on
        breaker.record(origin, ticket, outcome_health(exc, ctx.retry_statuses))
        raise
    breaker.record(origin, ticket, outcome_health(response, ctx.retry_statuses))
    return response
