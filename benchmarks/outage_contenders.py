"""The outage scenario's contenders: every one at the same attempts and backoff.

Five attempts at most, backoff 0.5 s doubling, capped at 8 s, retrying
``503`` and ``httpx.ConnectError``, each library with its own jitter and its
own handling of ``Retry-After`` (what a user gets). Every contender sends
through the same inner transport (``httpx.AsyncHTTPTransport``, same pool
limits) wrapped in :class:`Recorder`, which notes when each attempt starts.

A factory is an async context manager yielding ``one()``: one GET, ``True``
when it ended with a ``200``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from resilient_transport import RetryBudget, RetryingAsyncTransport

ATTEMPTS = 5
BASE = 0.5
CAP = 8.0
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)
INNER = os.environ.get("RT_OUTAGE_INNER", "aiohttp")
TIMEOUT = httpx.Timeout(10.0)

One = Callable[[], Awaitable[bool]]
Factory = Callable[[str, list[float]], contextlib.AbstractAsyncContextManager[One]]


class Recorder(httpx.AsyncBaseTransport):
    """Notes the start of every attempt (``time.monotonic()``) in ``times``."""

    def __init__(self, times: list[float]) -> None:
        self._inner: httpx.AsyncBaseTransport
        if INNER == "httpx":
            self._inner = httpx.AsyncHTTPTransport(limits=LIMITS)
        else:
            from contenders import aiohttp_transport_class

            self._inner = aiohttp_transport_class()(limits=LIMITS)
        self._times = times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._times.append(time.monotonic())
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _get(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.asynccontextmanager
async def _client(transport: httpx.AsyncBaseTransport, url: str) -> AsyncIterator[One]:
    async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as client:
        yield lambda: _get(client, url)


def none(url: str, times: list[float]) -> contextlib.AbstractAsyncContextManager[One]:
    """httpx.AsyncClient, no retries."""
    return _client(Recorder(times), url)


def rt_keywords() -> dict[str, Any]:
    return {
        "max_retries": ATTEMPTS - 1,
        "base_delay": BASE,
        "max_delay": CAP,
        "retry_statuses": {503},
    }


def rt(url: str, times: list[float]) -> contextlib.AbstractAsyncContextManager[One]:
    """RetryingAsyncTransport, default jitter (full) and Retry-After handling."""
    return _client(RetryingAsyncTransport(Recorder(times), **rt_keywords()), url)


def rt_budget(url: str, times: list[float]) -> contextlib.AbstractAsyncContextManager[One]:
    """The same, with a default RetryBudget."""
    transport = RetryingAsyncTransport(Recorder(times), budget=RetryBudget(), **rt_keywords())
    return _client(transport, url)


def rt_adaptive(url: str, times: list[float]) -> contextlib.AbstractAsyncContextManager[One]:
    """The same, with an AdaptiveRetryBudget (retries paced, never refused)."""
    import resilient_transport

    budget = resilient_transport.AdaptiveRetryBudget()
    transport = RetryingAsyncTransport(Recorder(times), budget=budget, **rt_keywords())
    return _client(transport, url)


def httpx_retries(url: str, times: list[float]) -> contextlib.AbstractAsyncContextManager[One]:
    """httpx-retries' RetryTransport (its default jitter, Retry-After honoured)."""
    from httpx_retries import Retry, RetryTransport

    retry = Retry(
        total=ATTEMPTS - 1,
        backoff_factor=BASE / 2,  # its first sleep is backoff_factor * 2
        max_backoff_wait=CAP,
        status_forcelist=[503],
        retry_on_exceptions=[httpx.ConnectError],
    )
    return _client(RetryTransport(transport=Recorder(times), retry=retry), url)


@contextlib.asynccontextmanager
async def tenacity_(url: str, times: list[float]) -> AsyncIterator[One]:
    """tenacity's @retry around client.get: full-jitter exponential wait (no Retry-After)."""
    import tenacity

    async with httpx.AsyncClient(transport=Recorder(times), timeout=TIMEOUT) as client:

        @tenacity.retry(
            stop=tenacity.stop_after_attempt(ATTEMPTS),
            wait=tenacity.wait_random_exponential(multiplier=BASE, max=CAP),
            retry=tenacity.retry_if_exception_type(httpx.ConnectError)
            | tenacity.retry_if_result(lambda status: status == 503),
            retry_error_callback=lambda state: 0,
        )
        async def status() -> int:
            return (await client.get(url)).status_code

        async def one() -> bool:
            try:
                return await status() == 200
            except httpx.HTTPError:
                return False

        yield one


class _Unavailable(Exception):
    """A 503, raised so that stamina retries it."""


@contextlib.asynccontextmanager
async def stamina_(url: str, times: list[float]) -> AsyncIterator[One]:
    """stamina's @retry around client.get: exponential wait, additive jitter, no Retry-After."""
    import stamina

    stamina_logger = logging.getLogger("stamina")
    stamina_logger.addHandler(logging.NullHandler())
    stamina_logger.propagate = False
    async with httpx.AsyncClient(transport=Recorder(times), timeout=TIMEOUT) as client:

        @stamina.retry(
            on=(httpx.ConnectError, _Unavailable),
            attempts=ATTEMPTS,
            timeout=None,
            wait_initial=BASE,
            wait_max=CAP,
        )
        async def fetch() -> bool:
            response = await client.get(url)
            if response.status_code == 503:
                raise _Unavailable
            return response.status_code == 200

        async def one() -> bool:
            try:
                return await fetch()
            except (httpx.HTTPError, _Unavailable):
                return False

        yield one


#: Every contender, by the name used on the command line; "none" is the reference.
OUTAGE_CONTENDERS: dict[str, Factory] = {
    "none": none,
    "rt": rt,
    "rt-budget": rt_budget,
    "rt-adaptive": rt_adaptive,
    "httpx-retries": httpx_retries,
    "tenacity": tenacity_,
    "stamina": stamina_,
}

#: What each one is, for the table's caption.
DESCRIPTIONS = {
    "none": "no retries",
    "rt": "this library",
    "rt-budget": "this library + default `RetryBudget`",
    "rt-adaptive": "this library + `AdaptiveRetryBudget`",
    "httpx-retries": "httpx-retries",
    "tenacity": "tenacity",
    "stamina": "stamina",
}
