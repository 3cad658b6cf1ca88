"""``results-memory``: the memory a running monitor keeps per request, answered and failed."""

from __future__ import annotations

import argparse
import asyncio
import gc
from typing import Any

from harness import Scenario, Server, closed_port, drive


async def kept_results(url: str, requests: int, success: bool) -> dict[str, Any]:
    """Python heap retained per request by a monitor keeping its results (default bound)."""
    import tracemalloc

    import anyio
    import httpx

    from resilient_transport import AsyncEvent, EventMonitor, RetryingAsyncTransport

    send, receive = anyio.create_memory_object_stream[AsyncEvent](1000)
    monitor = EventMonitor(receive)
    transport = RetryingAsyncTransport(max_retries=0, events=send)
    async with monitor, httpx.AsyncClient(transport=transport) as client:

        async def one() -> int:
            return (await client.get(url)).status_code

        await drive(one, 200, 1)
        await monitor.wait_for_all_requests()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        failed = await drive(one, requests, 1)
        await monitor.wait_for_all_requests()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        kept = len(monitor.results)
    assert failed == (0 if success else requests)
    return {"per_request": (after - before) / requests, "kept": kept}


def run(args: argparse.Namespace) -> dict[str, Any]:
    server = Server(args.server_workers)
    try:
        with closed_port() as refused:
            ok = asyncio.run(kept_results(server.url, args.requests, True))
            failed = asyncio.run(kept_results(refused, args.requests, False))
    finally:
        server.close()
    print(
        "| requests through rt-events, over loopback | Python heap kept per request "
        "| results kept |"
    )
    print("|---|---:|---:|")
    print(f"| answered (200) | {ok['per_request']:,.0f} B | {ok['kept']:,} |")
    print(
        f"| refused (httpx.ConnectError, 0 retries) | {failed['per_request']:,.0f} B "
        f"| {failed['kept']:,} |"
    )
    print(
        f"\n{args.requests:,} sequential requests through RetryingAsyncTransport (httpx's own "
        "inner transport) into a running EventMonitor with the default bound on results "
        "(10,000); tracemalloc, after a gc.collect(). A failed request's RequestResult.error is "
        "a copy of the exception, detached from its traceback."
    )
    return {"answered": ok, "refused": failed}


SCENARIO = Scenario(
    "results-memory",
    ["rt-events"],
    1,
    3_000,
    "memory a monitor keeps per request, answered and failed",
    run,
)
