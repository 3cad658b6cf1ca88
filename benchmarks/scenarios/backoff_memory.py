"""``backoff-memory``: bytes per request while 10,000 requests sleep in backoff.

Each contender runs in a fresh process (:func:`child`), once measured by RSS
and once by tracemalloc; then all the sleeping requests are cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import time
from typing import Any

from contenders import CONTENDERS, HTTPX_FAMILY, Env
from harness import Scenario, closed_port, rss, spawn_child
from report import TIMES


async def child_backoff(name: str, url: str, requests: int, trace: bool) -> dict[str, Any]:
    import tracemalloc

    counted = [0]

    def count() -> None:
        counted[0] += 1

    env = Env("backoff", url, requests, 2, count)

    async with CONTENDERS[name](env) as runtime:
        assert runtime is not None

        async def fill(n: int) -> tuple[list[asyncio.Task[int]], float]:
            target = counted[0] + n
            tasks = [asyncio.create_task(runtime.one()) for _ in range(n)]
            start = time.perf_counter()
            while counted[0] < target:
                if time.perf_counter() - start > 120:
                    raise RuntimeError(f"{name}: only {counted[0]} of {target} in backoff")
                await asyncio.sleep(0.005)
            for _ in range(20):  # let every task reach its sleep
                await asyncio.sleep(0)
            return tasks, time.perf_counter() - start

        async def cancel(tasks: list[asyncio.Task[int]]) -> float:
            start = time.perf_counter()
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            others = {repr(o) for o in outcomes if not isinstance(o, asyncio.CancelledError)}
            assert not others, f"{name}: requests ended otherwise than cancelled: {others}"
            return time.perf_counter() - start

        await cancel((await fill(200))[0])  # warm-up: pools, caches, code paths
        gc.collect()
        if trace:
            tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0] if trace else rss()
        tasks, fill_seconds = await fill(requests)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] if trace else rss()
        if trace:
            tracemalloc.stop()
        sleeping = sum(not t.done() for t in tasks)
        cancel_seconds = await cancel(tasks)
    return {
        "per_request": (after - before) / requests,
        "sleeping": sleeping,
        "fill_seconds": fill_seconds,
        "cancel_seconds": cancel_seconds,
    }


def child(args: argparse.Namespace) -> dict[str, Any]:
    """The fresh process's part: ``run.py --child backoff``."""
    (name,) = args.contenders
    return asyncio.run(child_backoff(name, args.url, args.requests, args.tracemalloc))


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    with closed_port() as url:
        for name in args.contenders:
            results[name] = {
                "rss": spawn_child("backoff", name, url, args.requests),
                "tracemalloc": spawn_child("backoff", name, url, args.requests, "--tracemalloc"),
            }
    base = results.get("httpx")
    print(
        "| contender | transport | RSS per request (bytes) | Python heap per request "
        f"(tracemalloc, bytes) | {TIMES} an in-flight bare httpx request | asleep at the "
        "measure | cancelling them all (ms) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        transport = "in-process" if name in HTTPX_FAMILY else "closed port on 127.0.0.1"
        traced = result["tracemalloc"]["per_request"]
        rel = traced / base["tracemalloc"]["per_request"] if base else math.nan
        label = "httpx (in flight, no retry layer)" if name == "httpx" else name
        print(
            f"| {label} | {transport} | {result['rss']['per_request']:,.0f} | {traced:,.0f} "
            f"| {rel:.2f}{TIMES} | {result['rss']['sleeping']:,} "
            f"| {result['rss']['cancel_seconds'] * 1e3:.0f} |"
        )
    print(
        f"\n{args.requests:,} requests start at once; each fails its first attempt and sleeps "
        "(an hour) before its first retry; memory is read once all are asleep, after 200 "
        "warm-up requests, in a fresh process per contender (RSS and tracemalloc in separate "
        "runs). Bare httpx has no retry: its row is the same number of requests parked in "
        "flight inside the transport, the cost of an httpx request for comparison."
    )
    return results


SCENARIO = Scenario(
    "backoff-memory",
    [*HTTPX_FAMILY, "aiohttp-retry", "rt-aiohttp"],
    1,
    10_000,
    "memory per request sleeping in backoff, one fresh process per contender",
    run,
)
