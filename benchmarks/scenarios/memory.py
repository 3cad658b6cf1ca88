"""``memory``: RSS and live Python blocks over many requests, a fresh process per contender.

httpx-based contenders run in-process at ``--concurrency``, aiohttp-based
ones over loopback at 64; :func:`child` is what each fresh process runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from typing import Any

from contenders import CONTENDERS, HTTPX_FAMILY, Env
from harness import Scenario, Server, drive, rss, spawn_child
from report import DASH, median


async def child_memory(name: str, url: str, requests: int, concurrency: int) -> dict[str, Any]:
    mode = "inprocess" if name in HTTPX_FAMILY else "loopback"
    env = Env(mode, url if mode == "loopback" else "http://bench.test/", concurrency)
    steps = 10
    samples = []
    async with CONTENDERS[name](env) as runtime:
        assert runtime is not None
        await drive(runtime.one, 1000, concurrency)
        gc.collect()
        samples.append((0, rss(), sys.getallocatedblocks()))
        failed = 0
        for step in range(1, steps + 1):
            failed += await drive(runtime.one, requests // steps, concurrency)
            if runtime.settle is not None:
                await runtime.settle()
            gc.collect()
            samples.append((step * (requests // steps), rss(), sys.getallocatedblocks()))
        stats = runtime.stats()
    return {"mode": mode, "samples": samples, "failed": failed, "stats": stats}


def child(args: argparse.Namespace) -> dict[str, Any]:
    """The fresh process's part: ``run.py --child memory``."""
    (name,) = args.contenders
    return asyncio.run(child_memory(name, args.url, args.requests, args.concurrency))


def run(args: argparse.Namespace) -> dict[str, Any]:
    needs_server = any(name not in HTTPX_FAMILY for name in args.contenders)
    server = Server(args.server_workers) if needs_server else None
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in args.contenders}
    try:
        for index in range(args.rounds):
            shift = index % len(args.contenders)
            for name in args.contenders[shift:] + args.contenders[:shift]:
                concurrency = args.concurrency if name in HTTPX_FAMILY else 64
                url = server.url if server else "http://bench.test/"
                results[name].append(
                    spawn_child(
                        "memory", name, url, args.requests, "--concurrency", str(concurrency)
                    )
                )
    finally:
        if server:
            server.close()
    tenth, half = args.requests // 10, args.requests // 2
    print(
        f"| contender | transport | RSS after warm-up (MiB) | after {tenth:,} | after {half:,} "
        f"| after {args.requests:,} | RSS growth {tenth:,} {DASH} {args.requests:,} "
        f"(bytes per request) | Python blocks growth {tenth:,} {DASH} {args.requests:,} |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        run = runs[-1]
        mib = [s[1] / 2**20 for s in run["samples"]]
        span = args.requests - tenth
        growth = [(r["samples"][-1][1] - r["samples"][1][1]) / span for r in runs]
        blocks = [r["samples"][-1][2] - r["samples"][1][2] for r in runs]
        transport = "in-process" if run["mode"] == "inprocess" else "loopback, concurrency 64"
        print(
            f"| {name} | {transport} | {mib[0]:.1f} | {mib[1]:.1f} | {mib[5]:.1f} | {mib[-1]:.1f} "
            f"| {median(growth):.2f} | {median(blocks):+,.0f} |"
        )
        if run["failed"]:
            print(f"\nWARNING: {name}: {run['failed']} requests failed")
    print(
        "\nEach contender runs in a fresh process: 1,000 warm-up requests, then the run, with "
        "RSS read after a gc.collect() at every tenth. Python blocks: sys.getallocatedblocks() "
        "(live objects and buffers; a leak of one object per request would add "
        f"{args.requests - tenth:,})."
    )
    return results


SCENARIO = Scenario(
    "memory",
    [*HTTPX_FAMILY, "aiohttp", "rt-aiohttp"],
    1,
    100_000,
    "RSS over many requests, one fresh process per contender",
    run,
)
