#!/usr/bin/env python
"""Bare httpx at high concurrency: how the pool settings change its throughput.

    python benchmarks/httpx_pool.py [--concurrency 64] [--requests 1000] [--rounds 3]

Sends the same GET from ``--concurrency`` tasks to the loopback server of
``run.py`` with several ``httpx.AsyncClient`` configurations, interleaved in
rounds, and prints requests per second and the client's CPU time per request
(medians). With ``--profile FILE`` it also writes a cProfile report of the
default client, sorted by internal time, which shows where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from measured import use_library

use_library()  # the measured library (this checkout's, or $RT_BENCH_TREE) first on sys.path

import httpx  # noqa: E402
from harness import Server, drive  # noqa: E402

# (label, limits, clients, in flight per client or None)
CONFIGURATIONS: list[tuple[str, httpx.Limits, int, int | None]] = [
    ("httpx.AsyncClient() defaults (100 connections, 20 kept alive)", httpx.Limits(), 1, None),
    (
        "max_connections=100, max_keepalive_connections=100",
        httpx.Limits(max_connections=100, max_keepalive_connections=100),
        1,
        None,
    ),
    (
        "max_connections=32, max_keepalive_connections=32",
        httpx.Limits(max_connections=32, max_keepalive_connections=32),
        1,
        None,
    ),
    (
        "max_connections=8, max_keepalive_connections=8",
        httpx.Limits(max_connections=8, max_keepalive_connections=8),
        1,
        None,
    ),
    ("defaults, at most 4 requests in flight (asyncio.Semaphore)", httpx.Limits(), 1, 4),
    (
        "8 clients, each max_connections=8",
        httpx.Limits(max_connections=8, max_keepalive_connections=8),
        8,
        None,
    ),
]


def sender(
    clients: list[httpx.AsyncClient], url: str, in_flight: int | None
) -> Callable[[], Awaitable[int]]:
    turn = [0]
    gate = asyncio.Semaphore(in_flight) if in_flight else None

    async def one() -> int:
        turn[0] += 1
        client = clients[turn[0] % len(clients)]
        if gate is None:
            return (await client.get(url)).status_code
        async with gate:
            return (await client.get(url)).status_code

    return one


async def main(args: argparse.Namespace) -> None:
    server = Server(1)
    try:
        setups = []
        for label, limits, count, in_flight in CONFIGURATIONS:
            clients = [httpx.AsyncClient(limits=limits) for _ in range(count)]
            one = sender(clients, server.url, in_flight)
            await drive(one, max(args.requests // 5, args.concurrency * 4), args.concurrency)
            setups.append((label, clients, one, [], []))
        for index in range(args.rounds):
            shift = index % len(setups)
            for _, _, one, rates, cpus in setups[shift:] + setups[:shift]:
                start, cpu = time.perf_counter(), time.process_time()
                await drive(one, args.requests, args.concurrency)
                rates.append(args.requests / (time.perf_counter() - start))
                cpus.append((time.process_time() - cpu) / args.requests * 1e6)
        print("| bare httpx configuration | requests/s | client CPU µs per request |")
        print("|---|---:|---:|")
        for label, _, _, rates, cpus in setups:
            print(
                f"| {label} | {statistics.median(rates):,.0f} | {statistics.median(cpus):,.0f} |"
            )
        if args.profile:
            _, _, one, _, _ = setups[0]
            profiler = cProfile.Profile()
            profiler.enable()
            await drive(one, args.requests // 2, args.concurrency)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
            args.profile.write_text(out.getvalue())
        for _, clients, _, _, _ in setups:
            for client in clients:
                await client.aclose()
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path)
    arguments = parser.parse_args()
    print(
        f"Command: python benchmarks/httpx_pool.py --concurrency {arguments.concurrency} "
        f"--requests {arguments.requests} --rounds {arguments.rounds}\n"
    )
    asyncio.run(main(arguments))
