"""The aiohttp-based contenders: aiohttp itself, aiohttp-retry, and httpx over aiohttp."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from .common import (
    Counting,
    Env,
    Runtime,
    aiohttp_transport_class,
    client_keywords,
    limits,
    needs_network,
    rt_over,
)


def _aiohttp_session(env: Env, counter: Callable[[], None] | None = None) -> Any:
    import aiohttp

    trace_configs = []
    if counter is not None:
        trace = aiohttp.TraceConfig()

        async def on_end(*_: Any) -> None:
            counter()

        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_end)
        trace_configs.append(trace)
    limit = 0 if env.mode == "backoff" else max(100, env.concurrency)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit), trace_configs=trace_configs
    )


@contextlib.asynccontextmanager
async def plain_aiohttp(env: Env) -> AsyncIterator[Runtime | None]:
    """aiohttp.ClientSession, no retries."""
    if not needs_network(env):
        yield None
        return
    async with _aiohttp_session(env, env.count) as session:
        url = env.url

        async def one() -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

        yield Runtime(one)


@contextlib.asynccontextmanager
async def aiohttp_retry(env: Env) -> AsyncIterator[Runtime | None]:
    """aiohttp-retry's RetryClient over a ClientSession (connect errors, no wait)."""
    if env.mode == "inprocess":
        yield None
        return
    import aiohttp
    from aiohttp_retry import ExponentialRetry, RetryClient

    counter = env.count

    class Options(ExponentialRetry):
        def get_timeout(self, attempt: int, response: Any = None) -> float:
            if env.mode == "backoff" and counter is not None:
                counter()  # called once per failed attempt, just before sleeping
            return super().get_timeout(attempt, response)

    options = Options(
        attempts=env.retries + 1,
        start_timeout=env.delay,
        max_timeout=max(env.delay, 1.0),
        factor=1.0,
        exceptions={aiohttp.ClientConnectorError},
    )
    async with _aiohttp_session(env, None if env.mode == "backoff" else counter) as session:
        client = RetryClient(client_session=session, retry_options=options)
        url = env.url

        async def one() -> int:
            async with client.get(url) as response:
                await response.read()
                return response.status

        yield Runtime(one)


@contextlib.asynccontextmanager
async def rt_aiohttp(env: Env) -> AsyncIterator[Runtime | None]:
    """RetryingAsyncTransport over resilient_transport's own AiohttpTransport."""
    if env.mode == "inprocess":
        yield None
        return
    transport = rt_over(aiohttp_transport_class()(limits=limits(env)), env)
    async with httpx.AsyncClient(transport=transport, **client_keywords(env)) as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)


@contextlib.asynccontextmanager
async def httpx_aiohttp(env: Env) -> AsyncIterator[Runtime | None]:
    """The httpx-aiohttp package's AiohttpTransport, no retries."""
    if not needs_network(env):
        yield None
        return
    import httpx_aiohttp as package

    inner: httpx.AsyncBaseTransport = package.AiohttpTransport(limits=limits(env))
    if env.count is not None:
        inner = Counting(inner, env.count)
    async with httpx.AsyncClient(transport=inner, **client_keywords(env)) as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)


@contextlib.asynccontextmanager
async def rt_httpx_aiohttp(env: Env) -> AsyncIterator[Runtime | None]:
    """RetryingAsyncTransport over the httpx-aiohttp package's transport."""
    if not needs_network(env):
        yield None
        return
    import httpx_aiohttp as package

    transport = rt_over(package.AiohttpTransport(limits=limits(env)), env)
    async with httpx.AsyncClient(transport=transport, **client_keywords(env)) as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)
