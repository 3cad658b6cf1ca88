"""The httpx-based contenders: bare httpx, this library, and the Python retry libraries."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from resilient_transport import AsyncEvent, EventMonitor, RetryingAsyncTransport

from .common import Env, Runtime, client_keywords, httpx_inner, rt_keywords


@contextlib.asynccontextmanager
async def bare_httpx(env: Env) -> AsyncIterator[Runtime | None]:
    """httpx.AsyncClient, no retries; pool limits raised to the concurrency."""
    async with httpx.AsyncClient(
        transport=httpx_inner(env, park=True), **client_keywords(env)
    ) as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)


@contextlib.asynccontextmanager
async def default_httpx(env: Env) -> AsyncIterator[Runtime | None]:
    """httpx.AsyncClient() with every default (20 keep-alive connections)."""
    if env.mode != "loopback":
        yield None
        return
    async with httpx.AsyncClient() as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)


@contextlib.asynccontextmanager
async def rt(env: Env) -> AsyncIterator[Runtime | None]:
    """RetryingAsyncTransport, no event stream."""
    transport = RetryingAsyncTransport(httpx_inner(env), **rt_keywords(env))
    async with httpx.AsyncClient(transport=transport, **client_keywords(env)) as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)


@contextlib.asynccontextmanager
async def rt_events(env: Env) -> AsyncIterator[Runtime | None]:
    """RetryingAsyncTransport, events flowing to a running EventMonitor with one sync callback.

    ``settle()`` waits until the monitor has processed every event sent, so
    that the monitor's work is inside each timed round.
    """
    import anyio

    send, receive = anyio.create_memory_object_stream[AsyncEvent](1000)
    monitor = EventMonitor(receive)
    seen = [0]

    def on_event(event: AsyncEvent) -> None:  # the one sync callback
        seen[0] += 1

    monitor.add_event_callback(None, on_event)
    transport = RetryingAsyncTransport(httpx_inner(env), events=send, **rt_keywords(env))

    def stats() -> dict[str, Any]:
        return {
            "events": seen[0],
            "dropped": transport.dropped_events,
            "processed": monitor.events_processed,
        }

    async with monitor, httpx.AsyncClient(transport=transport, **client_keywords(env)) as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one, settle=monitor.wait_for_all_requests, stats=stats)


@contextlib.asynccontextmanager
async def httpx_retries(env: Env) -> AsyncIterator[Runtime | None]:
    """httpx-retries' RetryTransport."""
    from httpx_retries import Retry, RetryTransport

    retry = Retry(
        total=env.retries,
        backoff_factor=env.delay / 2,  # its first sleep is backoff_factor * 2
        backoff_jitter=0.0,
        max_backoff_wait=max(env.delay, 1.0),
    )
    transport = RetryTransport(transport=httpx_inner(env), retry=retry)
    async with httpx.AsyncClient(transport=transport, **client_keywords(env)) as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)


@contextlib.asynccontextmanager
async def tenacity_(env: Env) -> AsyncIterator[Runtime | None]:
    """tenacity's @retry around client.get (connect errors, no wait)."""
    import tenacity

    async with httpx.AsyncClient(transport=httpx_inner(env), **client_keywords(env)) as client:
        url = env.url

        @tenacity.retry(
            stop=tenacity.stop_after_attempt(env.retries + 1),
            wait=tenacity.wait_fixed(env.delay) if env.delay else tenacity.wait_none(),
            retry=tenacity.retry_if_exception_type(httpx.ConnectError),
            reraise=True,
        )
        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)


@contextlib.asynccontextmanager
async def stamina_(env: Env) -> AsyncIterator[Runtime | None]:
    """stamina's @retry around client.get (connect errors, no wait)."""
    import stamina

    # stamina logs every retry at WARNING through the stdlib by default; keep
    # that cost (it is what users get) but not the output.
    stamina_logger = logging.getLogger("stamina")
    stamina_logger.addHandler(logging.NullHandler())
    stamina_logger.propagate = False

    async with httpx.AsyncClient(transport=httpx_inner(env), **client_keywords(env)) as client:
        url = env.url

        @stamina.retry(
            on=httpx.ConnectError,
            attempts=env.retries + 1,
            timeout=None,
            wait_initial=env.delay,
            wait_max=env.delay,
            wait_jitter=0.0,
        )
        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)
