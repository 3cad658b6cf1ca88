"""`simple_async_request`: one request through a retrying transport, its body read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any

from ._breaker import CircuitBreaker
from ._budget import RetryBudget
from ._keywords import NOT_GIVEN, NotGiven, RetryKeywords, given
from ._stack import httpx

if TYPE_CHECKING:
    import ssl

    # httpx's names for the types of its keywords; it does not export them.
    # Type checking is all they are imported for.
    from httpx._types import (
        AuthTypes,
        CertTypes,
        CookieTypes,
        HeaderTypes,
        ProxyTypes,
        QueryParamTypes,
        RequestContent,
        RequestData,
        RequestExtensions,
        RequestFiles,
        TimeoutTypes,
    )

__all__ = ["simple_async_request"]


async def simple_async_request(
    method: str,
    url: httpx.URL | str,
    *,
    max_retries: int | NotGiven = NOT_GIVEN,
    base_delay: float | NotGiven = NOT_GIVEN,
    max_delay: float | NotGiven | None = NOT_GIVEN,
    jitter: float | NotGiven = NOT_GIVEN,
    deadline: float | NotGiven | None = NOT_GIVEN,
    retry_connect_timeouts: bool | NotGiven = NOT_GIVEN,
    retry_idempotent_errors: bool | NotGiven = NOT_GIVEN,
    retry_statuses: Collection[int] | NotGiven = NOT_GIVEN,
    max_retry_after: float | NotGiven = NOT_GIVEN,
    hedge_delay: float | NotGiven | None = NOT_GIVEN,
    max_hedges: int | NotGiven = NOT_GIVEN,
    budget: RetryBudget | NotGiven | None = NOT_GIVEN,
    breaker: CircuitBreaker | NotGiven | None = NOT_GIVEN,
    sleep: Callable[[float], Awaitable[Any]] | NotGiven | None = NOT_GIVEN,
    clock: Callable[[], float] | NotGiven = NOT_GIVEN,
    random: Callable[[], float] | NotGiven = NOT_GIVEN,
    verify: ssl.SSLContext | str | bool | NotGiven = NOT_GIVEN,
    cert: CertTypes | NotGiven | None = NOT_GIVEN,
    trust_env: bool | NotGiven = NOT_GIVEN,
    proxy: ProxyTypes | NotGiven | None = NOT_GIVEN,
    http1: bool | NotGiven = NOT_GIVEN,
    http2: bool | NotGiven = NOT_GIVEN,
    timeout: TimeoutTypes = 10.0,
    params: QueryParamTypes | NotGiven | None = NOT_GIVEN,
    content: RequestContent | NotGiven | None = NOT_GIVEN,
    data: RequestData | NotGiven | None = NOT_GIVEN,
    files: RequestFiles | NotGiven | None = NOT_GIVEN,
    json: Any = NOT_GIVEN,
    headers: HeaderTypes | NotGiven | None = NOT_GIVEN,
    cookies: CookieTypes | NotGiven | None = NOT_GIVEN,
    auth: AuthTypes | NotGiven | None = NOT_GIVEN,
    follow_redirects: bool | NotGiven = NOT_GIVEN,
    extensions: RequestExtensions | NotGiven | None = NOT_GIVEN,
) -> httpx.Response:
    """Send one request through a retrying transport; return the response, body read.

    Takes the retry keywords of
    [`RetryingAsyncTransport`][resilient_transport.RetryingAsyncTransport], the client
    keywords of ``httpx.request()`` (``verify``, ``cert``, ``trust_env``,
    ``proxy``, ``http1``, ``http2``, ``timeout``) and the request keywords of
    ``httpx.AsyncClient.request()`` (``params``, ``headers``, ``json``, ...).
    A keyword not given takes the transport's (or httpx's) own default;
    ``timeout`` is 10 seconds unless given. Errors propagate as they would
    from httpx itself.

    Raises:
        TypeError: A keyword is unknown or has the wrong type (before any attempt).
        ValueError: A retry keyword has a wrong value (before any attempt).
    """
    retry = RetryKeywords(
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
        sleep=sleep,
        clock=clock,
        random=random,
    )
    client = httpx.AsyncClient(
        timeout=timeout,
        **given(
            verify=verify, cert=cert, trust_env=trust_env, proxy=proxy, http1=http1, http2=http2
        ),
    )
    retry.wrap_client(client)
    async with client:
        return await client.request(
            method,
            url,
            **given(
                params=params,
                content=content,
                data=data,
                files=files,
                json=json,
                headers=headers,
                cookies=cookies,
                auth=auth,
                follow_redirects=follow_redirects,
                extensions=extensions,
            ),
        )
