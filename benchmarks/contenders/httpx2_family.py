"""httpx2 (Pydantic's continuation of httpx), bare and under this library.

Skipped (the factory yields ``None``) where httpx2 is not installed. Both
run httpx2 without ``httpx2.alias_httpx()``, next to httpx in one process:
the library serves both stacks at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator
from typing import Any

from resilient_transport import RetryingAsyncTransport

from .common import Env, Runtime, client_keywords, rt_keywords


def _inner(env: Env) -> Any:
    """httpx2's inner transport for ``env``: the pool of ``common.limits``, or in-process."""
    import httpx2

    if env.mode == "inprocess":

        async def answer(request: Any) -> Any:
            await asyncio.sleep(0)  # as common._answer: one yield per request
            return httpx2.Response(200, content=b"ok")

        return httpx2.MockTransport(answer)
    size = max(100, env.concurrency)
    return httpx2.AsyncHTTPTransport(
        limits=httpx2.Limits(max_connections=size, max_keepalive_connections=size)
    )


def _runs(env: Env) -> bool:
    return env.mode in ("inprocess", "loopback") and importlib.util.find_spec("httpx2") is not None


@contextlib.asynccontextmanager
async def _client(env: Env, retrying: bool) -> AsyncIterator[Runtime | None]:
    """httpx2.AsyncClient over httpx2's transport, under this library when ``retrying``."""
    if not _runs(env):
        yield None
        return
    import httpx2

    transport = _inner(env)
    if retrying:
        transport = RetryingAsyncTransport(transport, **rt_keywords(env))
    async with httpx2.AsyncClient(transport=transport, **client_keywords(env)) as client:
        url = env.url

        async def one() -> int:
            return int((await client.get(url)).status_code)

        yield Runtime(one)


def bare_httpx2(env: Env) -> contextlib.AbstractAsyncContextManager[Runtime | None]:
    """httpx2.AsyncClient, no retries; pool limits raised to the concurrency."""
    return _client(env, retrying=False)


def rt_httpx2(env: Env) -> contextlib.AbstractAsyncContextManager[Runtime | None]:
    """RetryingAsyncTransport over httpx2's transport, in an httpx2.AsyncClient."""
    return _client(env, retrying=True)
