#!/usr/bin/env python
"""Where the fast path's instructions go: aiohttp, the bridge, httpx's client, the retries.

    python benchmarks/fastpath.py [--requests 1000] [--seeds 3]   # the table (needs valgrind)

The fast path is ``httpx.AsyncClient(transport=RetryingAsyncTransport(
AiohttpTransport()))``. Its throughput at concurrency 64 is bounded by the
client's CPU, so what it costs per request, layer by layer, says how close
to plain aiohttp it can get. Each layer below runs at concurrency 64 against
``server.py`` on 127.0.0.1 (its own process, not counted), under callgrind,
``WARMUP + N`` and ``WARMUP`` requests with the same ``PYTHONHASHSEED``; the
difference divided by N is one request's instructions, averaged over the
seeds. Instruction counts do not move with the machine's load, where a
timing on a shared two-core machine moves by several per cent.

- ``loop``: the harness alone (a task per request, one pass of the event loop).
- ``aiohttp``: ``session.get(url)`` and ``response.read()``.
- ``request``: building an ``httpx.Request`` from the URL text (and one pass of the loop).
- ``adapter``: ``AiohttpTransport.handle_async_request()`` on such a request,
  then ``response.aread()``: the bridge and aiohttp, without httpx's client.
- ``client-no-io``: ``httpx.AsyncClient`` over a transport that answers at
  once (one pass of the loop, no I/O): httpx's client alone.
- ``client``: ``httpx.AsyncClient`` over ``AiohttpTransport``.
- ``full``: the fast path, ``RetryingAsyncTransport`` between the two.

Results: docs/benchmarks.md ("The fast path").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from instr import callgrind, instructions  # noqa: E402
from measured import use_library  # noqa: E402

use_library()  # the measured library (this checkout's, or $RT_BENCH_TREE) first on sys.path

LAYERS = ["loop", "aiohttp", "request", "adapter", "client-no-io", "client", "full"]
WARMUP = 300
CONCURRENCY = 64


async def _run(layer: str, url: str, n: int) -> None:
    import aiohttp
    import httpx
    from harness import drive

    from resilient_transport import RetryingAsyncTransport
    from resilient_transport.transports.aiohttp import AiohttpTransport

    one: Callable[[], Awaitable[int]]
    close: Callable[[], Awaitable[object]] | None = None

    class NoIO(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(0)
            return httpx.Response(200, content=b"ok")

    if layer == "loop":

        async def one() -> int:
            await asyncio.sleep(0)
            return 200

    elif layer == "aiohttp":
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        close = session.close

        async def one() -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

    elif layer == "request":

        async def one() -> int:
            httpx.Request("GET", url)
            await asyncio.sleep(0)
            return 200

    elif layer == "adapter":
        adapter = AiohttpTransport()
        close = adapter.aclose

        async def one() -> int:
            response = await adapter.handle_async_request(httpx.Request("GET", url))
            await response.aread()
            return response.status_code

    else:
        inner: httpx.AsyncBaseTransport = NoIO() if layer == "client-no-io" else AiohttpTransport()
        if layer == "full":
            inner = RetryingAsyncTransport(inner)
        client = httpx.AsyncClient(transport=inner)
        close = client.aclose

        async def one() -> int:
            return (await client.get(url)).status_code

    await drive(one, WARMUP, CONCURRENCY)
    await drive(one, n, CONCURRENCY)
    if close is not None:
        await close()


def collected(layer: str, url: str, n: int, seed: int) -> int:
    return instructions(callgrind(__file__, ["--run", layer, url, str(n)], seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layers", nargs="*", default=LAYERS)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--run", nargs=3, metavar=("LAYER", "URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        asyncio.run(_run(args.run[0], args.run[1], int(args.run[2])))
        return
    from harness import Server

    server = Server(1)
    per: dict[str, int] = {}
    try:
        print("| layer | instructions per request |")
        print("|---|---:|")
        for layer in args.layers:
            total = 0
            for seed in range(args.seeds):
                more = collected(layer, server.url, args.requests, seed)
                total += (more - collected(layer, server.url, 0, seed)) // args.requests
            per[layer] = total // args.seeds
            print(f"| {layer} | {per[layer]:,} |", flush=True)
    finally:
        server.close()
    if set(LAYERS) <= per.keys():
        loop, plain = per["loop"], per["aiohttp"]
        bridge = per["adapter"] - per["request"] - plain + loop
        client = per["client-no-io"] - loop
        print(
            f"\naiohttp's own request: {plain - loop:,}; the bridge (AiohttpTransport, the httpx "
            f"Response and its body): {bridge:,}; httpx.AsyncClient itself: {client:,}; the "
            f"retry layer: {per['full'] - per['client']:,}.\nThe fast path costs "
            f"{per['full'] / plain:.2f}x plain aiohttp's instructions ({plain / per['full']:.3f}x "
            f"its throughput, when the client's CPU is the limit). With a bridge that cost "
            f"nothing, it would be at most {plain / (plain + client):.3f}x."
        )


if __name__ == "__main__":
    main()
