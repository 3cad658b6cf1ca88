"""What every contender shares: the environment, the runtime, the inner transports.

A contender is an async context manager that takes an :class:`Env` and
yields a :class:`Runtime` (or ``None`` when it does not apply to the
scenario): ``one()`` sends one GET and returns its status (body read),
``settle()`` (optional) is awaited at the end of every timed round (the
monitor's ``wait_for_all_requests``, so that its work is timed too), and
``stats()`` reports counters checked after the run.

Every httpx-based contender gets the same inner transport (an in-process
``httpx.MockTransport``, or ``httpx.AsyncHTTPTransport`` with the same pool
limits), so that the only difference between them is the retry layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

# The library under test, from the tree measured.use_library() put first.
from resilient_transport import RetryingAsyncTransport

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


class Counting(httpx.AsyncBaseTransport):
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
    return inner if env.count is None else Counting(inner, env.count, at_start=park)


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


def needs_network(env: Env) -> bool:
    return env.mode in ("loopback", "failure")


def rt_over(inner: httpx.AsyncBaseTransport, env: Env) -> RetryingAsyncTransport:
    """RetryingAsyncTransport over ``inner``, counting attempts when the scenario asks."""
    if env.count is not None:
        inner = Counting(inner, env.count)
    return RetryingAsyncTransport(inner, **rt_keywords(env))


#: Where resilient_transport's aiohttp-backed transport lives, newest first:
#: issue 11 moved it from ``integrations`` to ``transports``.
AIOHTTP_TRANSPORT_MODULES = (
    "resilient_transport.transports.aiohttp",
    "resilient_transport.integrations.aiohttp",
)


def aiohttp_transport_class() -> type[httpx.AsyncBaseTransport]:
    """resilient_transport's ``AiohttpTransport``, wherever the measured tree has it.

    The one place the benchmarks import it from, so that ``benchmarks/ab.py``
    can run the same benchmarks on trees from both sides of the move. Only a
    missing module of the library moves on to the next location: a missing
    aiohttp is raised as it is.
    """
    for name in AIOHTTP_TRANSPORT_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is None or not name.startswith(error.name):
                raise
            continue
        transport: type[httpx.AsyncBaseTransport] = module.AiohttpTransport
        return transport
    raise ModuleNotFoundError(f"no AiohttpTransport in {' or '.join(AIOHTTP_TRANSPORT_MODULES)}")
