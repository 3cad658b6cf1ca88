#!/usr/bin/env python
"""Where the retry layer's time and memory go on the success path, piece by piece.

    python benchmarks/breakdown.py [--rounds 15] [--requests 20000]

Part 1 calls ``transport.handle_async_request()`` directly (no httpx client,
so that nothing else dilutes the figures) over an in-process inner transport
that answers ``200`` at once, and prints the CPU time per request of:

- the inner transport alone;
- a pass-through wrapper transport (the price of any extra layer);
- ``RetryingAsyncTransport`` with no event stream;
- the same, emitting into a stream nobody reads (drained between rounds);
- the same, with a running ``EventMonitor`` and one sync callback.

Each request yields to the event loop once, as a real transport does (that
is when a monitor runs).

Part 2 lists, with tracemalloc, the memory each request retains in the
library's code after the request is done (the test keeps every request
object alive, as a caller holding its response would).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import linecache
import math
import statistics
import time
import tracemalloc

from measured import use_library

use_library()  # the measured library (this checkout's, or $RT_BENCH_TREE) first on sys.path

import anyio  # noqa: E402
import httpx  # noqa: E402

from resilient_transport import AsyncEvent, EventMonitor, RetryingAsyncTransport  # noqa: E402

URL = "http://bench.test/path"


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"ok")


class PassThrough(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)


async def timing(args: argparse.Namespace) -> None:
    inner = httpx.MockTransport(answer)
    unread_send, unread_receive = anyio.create_memory_object_stream[AsyncEvent](math.inf)
    send, receive = anyio.create_memory_object_stream[AsyncEvent](1000)
    monitor = EventMonitor(receive)
    monitor.add_event_callback(None, lambda event: None)
    variants: dict[str, tuple[httpx.AsyncBaseTransport, bool]] = {
        "inner transport alone": (inner, False),
        "pass-through wrapper": (PassThrough(inner), False),
        "RetryingAsyncTransport, no events": (RetryingAsyncTransport(inner), False),
        "+ events into an unread stream": (
            RetryingAsyncTransport(inner, events=unread_send),
            False,
        ),
        "+ a running monitor with one sync callback reading them": (
            RetryingAsyncTransport(inner, events=send),
            True,
        ),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    async with monitor:
        for index in range(args.rounds + 1):  # round 0 warms up
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                transport, monitored = variants[name]
                requests = [httpx.Request("GET", URL) for _ in range(args.requests)]
                gc.collect()
                start = time.process_time()
                for request in requests:
                    await transport.handle_async_request(request)
                    # Every request yields to the event loop once, as any real
                    # transport does; that is when the monitor runs.
                    await asyncio.sleep(0)
                if monitored:
                    await monitor.wait_for_all_requests()
                elapsed = time.process_time() - start
                while True:  # outside the timing: empty the unread stream
                    try:
                        unread_receive.receive_nowait()
                    except anyio.WouldBlock:
                        break
                if index:
                    results[name].append(elapsed / args.requests * 1e9)
    unread_send.close()
    unread_receive.close()
    base = statistics.median(results[names[0]])
    print("| transport-level variant | CPU ns per request | added to the one above |")
    print("|---|---:|---:|")
    previous = base
    for name in names:
        value = statistics.median(results[name])
        print(f"| {name} | {value:,.0f} | {value - previous:+,.0f} |")
        previous = value
    print(
        "\nEvery request yields to the event loop once (asyncio.sleep(0)), as a real "
        "transport does; the last row's difference is the monitor's whole cost (waking up, "
        "taking the event, calling the callback, keeping the result)."
    )


async def retained(args: argparse.Namespace) -> None:
    transport = RetryingAsyncTransport(httpx.MockTransport(answer))
    count = 20_000
    requests = [httpx.Request("GET", URL) for _ in range(count + 1000)]
    for request in requests[:1000]:
        await transport.handle_async_request(request)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for request in requests[1000:]:
        await transport.handle_async_request(request)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    only = [tracemalloc.Filter(True, "*resilient_transport*")]
    stats = after.filter_traces(only).compare_to(before.filter_traces(only), "lineno")
    print("\n| retained per request (tracemalloc) | blocks | bytes | where |")
    print("|---|---:|---:|---|")
    for stat in stats:
        if stat.count_diff / count < 0.01:
            continue
        frame = stat.traceback[0]
        where = f"{frame.filename.split('resilient_transport/')[-1]}:{frame.lineno}"
        code = linecache.getline(frame.filename, frame.lineno).strip()
        print(
            f"| `{code[:60]}` | {stat.count_diff / count:.2f} | {stat.size_diff / count:,.0f} "
            f"| {where} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    print(
        f"Command: python benchmarks/breakdown.py --rounds {args.rounds} "
        f"--requests {args.requests}\n"
    )
    asyncio.run(timing(args))
    asyncio.run(retained(args))


if __name__ == "__main__":
    main()
