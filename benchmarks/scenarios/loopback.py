"""``loopback``: the success path against ``server.py`` on 127.0.0.1, in another process.

Requests per second at ``--concurrency``, with the CPU the server and the
client used.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from contenders import AIOHTTP_FAMILY, HTTPX2_FAMILY, HTTPX_FAMILY, Env
from harness import Entry, Scenario, Server, timed_rounds
from report import TIMES, fmt_range, fmt_ratio, median, ratios, report_checks


def server_share(entry: Entry) -> float:
    """The share of one core the server used while ``entry`` ran, over all its rounds."""
    return sum(entry.server_cpu) / sum(entry.seconds)


def run(args: argparse.Namespace) -> dict[str, Any]:
    server = Server(args.server_workers)
    try:
        entries = [
            Entry(name, name, Env("loopback", server.url, args.concurrency))
            for name in args.contenders
        ]
        warmup = max(args.requests // 5, args.concurrency * 4)
        live = asyncio.run(timed_rounds(entries, args, warmup, server))
    finally:
        server.close()
    base = next((e for e in live if e.name == "httpx"), None)
    fast = next((e for e in live if e.name == "aiohttp"), None)
    print(
        f"| contender | requests/s | {TIMES} bare httpx | range over rounds "
        f"| {TIMES} plain aiohttp | range over rounds | server CPU | client CPU µs per request |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for entry in live:
        rps = [args.requests / s for s in entry.seconds]
        vs_base = ratios(base.seconds, entry.seconds) if base else []
        vs_fast = ratios(fast.seconds, entry.seconds) if fast else []
        cpu = [s / args.requests * 1e6 for s in entry.cpu_seconds]
        print(
            f"| {entry.label} | {median(rps):,.0f} | {fmt_ratio(vs_base)} | {fmt_range(vs_base)} "
            f"| {fmt_ratio(vs_fast)} | {fmt_range(vs_fast)} | {server_share(entry):.0%} "
            f"| {median(cpu):.0f} |"
        )
    peak = max(server_share(e) for e in live)
    print(
        f"\nThe server: {args.server_workers} process(es) on 127.0.0.1; its CPU is the share of "
        "one core it used while the contender ran (its CPU time over all rounds / their "
        f"duration; at most {peak:.0%}). Client CPU: the benchmark process's CPU time per request."
    )
    bare2 = next((e for e in live if e.name == "httpx2"), None)
    over2 = next((e for e in live if e.name == "rt-httpx2"), None)
    if bare2 is not None and over2 is not None:
        vs_bare2 = ratios(bare2.seconds, over2.seconds)
        print(
            f"\nThis library over httpx2 ({over2.label}) runs at {fmt_ratio(vs_bare2)} of bare "
            f"httpx2's requests/s (rounds: {fmt_range(vs_bare2)})."
        )
    report_checks(live, lambda e: args.requests * args.rounds + warmup)
    for entry in live:
        if entry.failed:
            print(f"\nWARNING: {entry.label}: {entry.failed} requests failed")
    return {
        e.label: {"seconds": e.seconds, "cpu_seconds": e.cpu_seconds, "server_cpu": e.server_cpu}
        for e in live
    }


SCENARIO = Scenario(
    "loopback",
    [*HTTPX_FAMILY, "httpx-default", *AIOHTTP_FAMILY, "httpx-aiohttp", *HTTPX2_FAMILY],
    5,
    1000,
    "success path, server on 127.0.0.1 in another process",
    run,
)
