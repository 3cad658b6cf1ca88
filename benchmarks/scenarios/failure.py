"""``failure``: a closed port on 127.0.0.1, 2 retries, zero delay.

Every retrying contender also runs with 0 retries, which gives the CPU cost
of one extra attempt; an untimed pass counts the attempts really made.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from contenders import AIOHTTP_FAMILY, CONTENDERS, HTTPX_FAMILY, RETRYING, Env
from harness import Entry, Scenario, closed_port, drive, timed_rounds
from report import MINUS, TIMES, fmt_ratio, median, ratios, report_checks


async def count_attempts(name: str, url: str, retries: int, requests: int) -> float:
    """Attempts per request, counted by a hook that does not change the outcome."""
    counted = [0]

    def count() -> None:
        counted[0] += 1

    async with CONTENDERS[name](Env("failure", url, 1, retries, count)) as runtime:
        assert runtime is not None
        failed = await drive(runtime.one, requests, 1)
        assert failed == requests, f"{name}: a request to a closed port succeeded"
    return counted[0] / requests


def run(args: argparse.Namespace) -> dict[str, Any]:
    warmup = max(args.requests // 5, 20)
    with closed_port() as url:
        entries = []
        for name in args.contenders:
            entries.append(Entry(name, name, Env("failure", url, 1, args.retries)))
            if name in RETRYING:
                entries.append(Entry(f"{name} (0 retries)", name, Env("failure", url, 1, 0)))
        live = asyncio.run(timed_rounds(entries, args, warmup))
        attempts = {
            e.label: asyncio.run(count_attempts(e.name, url, e.env.retries, 10)) for e in live
        }
    table = {entry.label: entry for entry in live}
    base = table.get("httpx")

    def extra(label: str) -> list[float]:
        """CPU µs per extra attempt, round by round."""
        full, zero = table[label].cpu_seconds, table[f"{label} (0 retries)"].cpu_seconds
        return [
            (a - b) / args.retries / args.requests * 1e6 for a, b in zip(full, zero, strict=True)
        ]

    reference = extra("httpx-retries") if "httpx-retries (0 retries)" in table else []
    print(
        f"| contender | attempts per request | CPU µs per request | {TIMES} bare httpx "
        f"(1 attempt) | CPU µs with 0 retries | CPU µs per extra attempt "
        f"| {TIMES} httpx-retries' extra attempt | GC runs per 1,000 requests |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    results: dict[str, Any] = {}
    for entry in live:
        if entry.label.endswith("(0 retries)"):
            continue
        cpu = [s / args.requests * 1e6 for s in entry.cpu_seconds]
        rel = ratios(entry.cpu_seconds, base.cpu_seconds) if base else []
        cells = "- | - | -"
        costs: list[float] = []
        if f"{entry.label} (0 retries)" in table:
            zero = table[f"{entry.label} (0 retries)"].cpu_seconds
            costs = extra(entry.label)
            vs_reference = ratios(costs, reference) if reference else []
            cells = (
                f"{median([s / args.requests * 1e6 for s in zero]):.1f} | {median(costs):.1f} "
                f"| {fmt_ratio(vs_reference)}"
            )
        runs = median([c / args.requests * 1000 for c in entry.collections])
        print(
            f"| {entry.label} | {attempts[entry.label]:g} | {median(cpu):.1f} | {fmt_ratio(rel)} "
            f"| {cells} | {runs:.0f} |"
        )
        results[entry.label] = {
            "cpu_seconds": entry.cpu_seconds,
            "extra_attempt_us": costs,
            "attempts": attempts[entry.label],
        }
    print(
        f"\nCPU µs per extra attempt = (CPU time with {args.retries} retries {MINUS} CPU time "
        f"with 0 retries) / {args.retries}, round by round, then the median; the ratio to "
        "httpx-retries' is taken round by round too. Attempts per request are counted in a "
        "separate, untimed pass, by a hook under the retry layer. GC runs: garbage "
        "collections during the timed rounds (reference cycles left by failed requests)."
    )
    report_checks(live, lambda e: (e.env.retries + 1) * (args.requests * args.rounds + warmup))
    for entry in live:
        if entry.failed != args.requests * args.rounds:
            print(f"\nWARNING: {entry.label}: only {entry.failed} requests failed")
    return results


SCENARIO = Scenario(
    "failure",
    [*HTTPX_FAMILY, *AIOHTTP_FAMILY, "rt-httpx-aiohttp"],
    9,
    200,
    "closed port on 127.0.0.1, 2 retries, zero delay",
    run,
)
