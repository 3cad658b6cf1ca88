"""``inprocess``: the success path with no network; CPU time per request.

The inner transport is an ``httpx.MockTransport`` that yields to the event
loop once per request, so this is the cost of the layers themselves.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from contenders import HTTPX_FAMILY, Env
from harness import Entry, Scenario, timed_rounds
from report import TIMES, fmt_range, fmt_ratio, median, ratios, report_checks


def run(args: argparse.Namespace) -> dict[str, Any]:
    entries = [
        Entry(name, name, Env("inprocess", "http://bench.test/", args.concurrency))
        for name in args.contenders
    ]
    warmup = max(args.requests // 5, 100)
    live = asyncio.run(timed_rounds(entries, args, warmup))
    base = next((e for e in live if e.name == "httpx"), None)
    print(
        f"| contender | CPU µs per request | {TIMES} bare httpx (median of rounds) "
        f"| range over rounds | wall µs per request |"
    )
    print("|---|---:|---:|---:|---:|")
    for entry in live:
        cpu = [s / args.requests * 1e6 for s in entry.cpu_seconds]
        wall = [s / args.requests * 1e6 for s in entry.seconds]
        rel = ratios(entry.cpu_seconds, base.cpu_seconds) if base else []
        print(
            f"| {entry.label} | {median(cpu):.1f} | {fmt_ratio(rel)} | {fmt_range(rel)} "
            f"| {median(wall):.1f} |"
        )
    print(
        "\nCPU: the process's CPU time per round (time.process_time), which other processes "
        "on the machine do not inflate; wall: elapsed time."
    )
    report_checks(live, lambda e: args.requests * args.rounds + warmup)
    for entry in live:
        if entry.failed:
            print(f"\nWARNING: {entry.label}: {entry.failed} requests failed")
    return {e.label: {"seconds": e.seconds, "cpu_seconds": e.cpu_seconds} for e in live}


SCENARIO = Scenario("inprocess", HTTPX_FAMILY, 31, 1000, "success path, no network", run)
