"""The contenders: one factory per client stack, all driven the same way.

Each factory is an async context manager that takes an :class:`Env` and
yields a :class:`Runtime`: ``one()`` sends one GET and returns its status
(body read), ``settle()`` (optional) is awaited at the end of every timed
round (the monitor's ``wait_for_all_requests``, so that its work is timed
too), and ``stats()`` reports counters checked after the run.

Every httpx-based contender gets the same inner transport (an in-process
``httpx.MockTransport``, or ``httpx.AsyncHTTPTransport`` with the same pool
limits), so that the only difference between them is the retry layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

# The library under test, from this checkout.
from resilient_transport import AsyncEvent, EventMonitor, RetryingAsyncTransport

#: Seconds slept between attempts in the backoff-memory scenario: long
#: enough that every request is still asleep when memory is measured.
LONG_DELAY = 3600.0


@dataclass
class Env:
    """What a scenario asks of a contender."""

    mode: str  # "inprocess", "loopback", "failure" or "backoff"
    url: str = "http://127.0.0.1/"
    concurrency: int = 1
    retries: int = 2
    #: Called once per attempt that ended (answered or failed); for checks.
    count: Callable[[], None] | None = None

    @property
    def delay(self) -> float:
        return LONG_DELAY if self.mode == "backoff" else 0.0


@dataclass
class Runtime:
    """A contender, set up: what the driver calls."""

    one: Callable[[], Awaitable[int]]
    settle: Callable[[], Awaitable[Any]] | None = None
    stats: Callable[[], dict[str, Any]] = field(default=dict)


Factory = Callable[[Env], contextlib.AbstractAsyncContextManager[Runtime | None]]


# -- inner transports -----------------------------------------------------------


async def _answer(request: httpx.Request) -> httpx.Response:
    # Every real transport yields to the event loop at least once per request;
    # this one does too, which also lets a running monitor take its events.
    await asyncio.sleep(0)
    return httpx.Response(200, content=b"ok")


async def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused (simulated)", request=request)


async def _park(request: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()  # until cancelled
    raise AssertionError("unreachable")


class _Counting(httpx.AsyncBaseTransport):
    """Calls ``count()`` after every attempt (or as it starts); used only for the checks."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, count: Callable[[], None], at_start: bool = False
    ) -> None:
        self._inner = inner
        self._count = count
        self._at_start = at_start

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._at_start:
            self._count()
            return await self._inner.handle_async_request(request)
        try:
            return await self._inner.handle_async_request(request)
        finally:
            self._count()

    async def aclose(self) -> None:
        await self._inner.aclose()


def limits(env: Env) -> httpx.Limits:
    """Pool limits for every contender: enough keep-alive connections for the concurrency."""
    if env.mode == "backoff":
        return httpx.Limits(max_connections=None, max_keepalive_connections=None)
    size = max(100, env.concurrency)
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


def httpx_inner(env: Env, *, park: bool = False) -> httpx.AsyncBaseTransport:
    inner: httpx.AsyncBaseTransport
    if env.mode == "inprocess":
        inner = httpx.MockTransport(_answer)
    elif env.mode == "backoff":
        inner = httpx.MockTransport(_park if park else _refuse)
    else:
        inner = httpx.AsyncHTTPTransport(limits=limits(env))
    return inner if env.count is None else _Counting(inner, env.count, at_start=park)


def client_keywords(env: Env) -> dict[str, Any]:
    """httpx.AsyncClient keywords: no timeouts while 10,000 requests connect at once."""
    return {"timeout": None} if env.mode == "backoff" else {}


def rt_keywords(env: Env) -> dict[str, Any]:
    """The retry settings every RetryingAsyncTransport contender uses."""
    return {
        "max_retries": env.retries,
        "base_delay": env.delay,
        "max_delay": max(env.delay, 20.0),
        "jitter": 0.0,
    }


def _needs_network(env: Env) -> bool:
    return env.mode in ("loopback", "failure")


# -- httpx-based contenders -------------------------------------------------------


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


# -- aiohttp-based contenders -----------------------------------------------------


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
    if not _needs_network(env):
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


def _rt_over(inner: httpx.AsyncBaseTransport, env: Env) -> RetryingAsyncTransport:
    if env.count is not None:
        inner = _Counting(inner, env.count)
    return RetryingAsyncTransport(inner, **rt_keywords(env))


@contextlib.asynccontextmanager
async def rt_aiohttp(env: Env) -> AsyncIterator[Runtime | None]:
    """RetryingAsyncTransport over resilient_transport.integrations.aiohttp.AiohttpTransport."""
    if env.mode == "inprocess":
        yield None
        return
    from resilient_transport.integrations.aiohttp import AiohttpTransport

    transport = _rt_over(AiohttpTransport(limits=limits(env)), env)
    async with httpx.AsyncClient(transport=transport, **client_keywords(env)) as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)


@contextlib.asynccontextmanager
async def httpx_aiohttp(env: Env) -> AsyncIterator[Runtime | None]:
    """The httpx-aiohttp package's AiohttpTransport, no retries."""
    if not _needs_network(env):
        yield None
        return
    import httpx_aiohttp as package

    inner: httpx.AsyncBaseTransport = package.AiohttpTransport(limits=limits(env))
    if env.count is not None:
        inner = _Counting(inner, env.count)
    async with httpx.AsyncClient(transport=inner, **client_keywords(env)) as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)


@contextlib.asynccontextmanager
async def rt_httpx_aiohttp(env: Env) -> AsyncIterator[Runtime | None]:
    """RetryingAsyncTransport over the httpx-aiohttp package's transport."""
    if not _needs_network(env):
        yield None
        return
    import httpx_aiohttp as package

    transport = _rt_over(package.AiohttpTransport(limits=limits(env)), env)
    async with httpx.AsyncClient(transport=transport, **client_keywords(env)) as client:
        url = env.url

        async def one() -> int:
            return (await client.get(url)).status_code

        yield Runtime(one)


#: Every contender, by the name used on the command line.
CONTENDERS: dict[str, Factory] = {
    "httpx": bare_httpx,
    "httpx-default": default_httpx,
    "rt": rt,
    "rt-events": rt_events,
    "httpx-retries": httpx_retries,
    "tenacity": tenacity_,
    "stamina": stamina_,
    "aiohttp": plain_aiohttp,
    "aiohttp-retry": aiohttp_retry,
    "rt-aiohttp": rt_aiohttp,
    "httpx-aiohttp": httpx_aiohttp,
    "rt-httpx-aiohttp": rt_httpx_aiohttp,
}

#: Contenders that retry (the others make one attempt whatever ``retries`` says).
RETRYING = frozenset(
    {
        "rt",
        "rt-events",
        "httpx-retries",
        "tenacity",
        "stamina",
        "aiohttp-retry",
        "rt-aiohttp",
        "rt-httpx-aiohttp",
    }
)
