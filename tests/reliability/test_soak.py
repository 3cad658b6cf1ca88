"""Soak: 100,000 requests through the transport and a monitor; memory stays flat.

The inner transport is in-process (no sockets): what is measured is the
retry layer, the events and the monitor. One request in ten fails its first
attempt with a connect error, so that the retry path and RETRY events are
soaked too.

Memory is measured three ways after a warm-up that fills the monitor's
results store to its bound:

- ``sys.getallocatedblocks()`` (live small objects; exact and cheap) over
  70,000 requests: a leak of one object per request would add 70,000 blocks;
  the tolerance is 1,000 (interpreter caches and free lists settle).
- ``tracemalloc``'s current traced size over two windows of 5,000 requests
  each: retained bytes must not grow by 64 KiB, which catches a leak of 13
  bytes per request. (tracemalloc slows allocation about fourfold, hence the
  short windows.)
- RSS, for the report: allowed to grow by 8 MiB at most (the allocator keeps
  arenas; a real leak of the smallest object per request would add several).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import tracemalloc
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from resilient_transport import AsyncEvent, EventMonitor, RetryingAsyncTransport

pytestmark = pytest.mark.anyio

WARM_UP, STEADY, WINDOW = 20_000, 70_000, 5_000
TOTAL = WARM_UP + STEADY + 2 * WINDOW  # 100,000
WORKERS = 50
MAX_RESULTS = 1_000
BLOCKS_TOLERANCE = 1_000
TRACED_TOLERANCE = 64 * 1024
RSS_TOLERANCE = 8 * 1024 * 1024

FIGURES: dict[str, dict[str, Any]] = {}


class _Inner(httpx.AsyncBaseTransport):
    """Answers ``200 ok``; fails the first attempt of every tenth request."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        # A real transport would wait for the network here: let the monitor run.
        await anyio.lowlevel.checkpoint()
        if request.url.path.endswith("0") and request.extensions["retry"].current_attempt == 0:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, content=b"ok")


async def _no_sleep(delay: float) -> None:
    # Not RecordingSleep: its list of delays would grow with every retry.
    await anyio.lowlevel.checkpoint()


def _rss() -> int:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_hundred_thousand_requests_keep_memory_flat_and_results_bounded(
    anyio_backend: str,
) -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](1000)
    inner = _Inner()
    transport = RetryingAsyncTransport(inner, sleep=_no_sleep, events=send)
    monitor = EventMonitor(receive, max_results=MAX_RESULTS)
    done = 0

    async def run(count: int) -> None:
        nonlocal done
        first = done

        async def worker(offset: int) -> None:
            for index in range(first + offset, first + count, WORKERS):
                request = httpx.Request("GET", f"http://service.test/{index}")
                response = await transport.handle_async_request(request)
                assert response.status_code == 200
                await response.aclose()

        async with anyio.create_task_group() as task_group:
            for offset in range(WORKERS):
                task_group.start_soon(worker, offset)
        done += count
        await monitor.wait_for_all_requests()
        gc.collect()

    started = time.perf_counter()
    with anyio.fail_after(120):
        async with monitor, transport:
            await run(WARM_UP)
            assert len(monitor.results) == MAX_RESULTS
            blocks_before, rss_before = sys.getallocatedblocks(), _rss()

            await run(STEADY)
            blocks_after, rss_after = sys.getallocatedblocks(), _rss()

            tracemalloc.start()
            try:
                await run(WINDOW)
                traced_first = tracemalloc.get_traced_memory()[0]
                await run(WINDOW)
                traced_second = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
            results = len(monitor.results)
    elapsed = time.perf_counter() - started

    emitted = TOTAL + TOTAL // 10  # a terminal event each, and a RETRY for each tenth
    assert done == TOTAL
    assert inner.calls == TOTAL + TOTAL // 10
    assert monitor.events_processed + transport.dropped_events == emitted
    assert results == MAX_RESULTS
    assert blocks_after - blocks_before < BLOCKS_TOLERANCE
    assert traced_second - traced_first < TRACED_TOLERANCE
    assert rss_after - rss_before < RSS_TOLERANCE

    FIGURES[anyio_backend] = {
        "requests": TOTAL,
        "seconds": round(elapsed, 2),
        "events_processed": monitor.events_processed,
        "dropped_events": transport.dropped_events,
        "results_kept": results,
        "blocks": [blocks_before, blocks_after],
        "rss_mib": [round(rss_before / 2**20, 2), round(rss_after / 2**20, 2)],
        "traced_kib": [round(traced_first / 1024, 1), round(traced_second / 1024, 1)],
    }
    print(f"\nsoak figures ({anyio_backend}): {json.dumps(FIGURES[anyio_backend])}")
