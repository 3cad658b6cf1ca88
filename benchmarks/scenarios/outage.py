"""``outage``: open-loop GETs through an upstream that browns out or goes down for a while.

One upstream process (``outage_server.py``, capacity 800/s, 127.0.0.1) and
``--clients`` client processes (default 1) that share nothing, sending
open-loop GETs at 300/s in all for ``--outage-seconds`` + 1.5 s: 0.5 s of
normal service, the outage, then 1 s after it. ``brownout``: the capacity
falls to 100/s and the rest is answered ``503`` with ``Retry-After: 1``;
``down``: the listening socket and every connection are closed (connecting
is refused), then the port listens again. Every contender makes 5 attempts at
most (backoff 0.5 s doubling, cap 8 s) and retries 503 and ConnectError
(``outage_contenders.py``). A request is waited for until it ends (bounded).

Per contender: the share of requests that got a 200, the attempts per
request (every attempt the client started, refused ones included), and the
requests the server received in the first second after the recovery,
relative to the no-retry contender's in the same round, and when the last
request ended, in seconds after the recovery. Medians of ``--rounds``;
the plot of requests per 100 ms goes to ``docs/img/``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import HERE, Scenario
from outage_contenders import DESCRIPTIONS, OUTAGE_CONTENDERS
from report import median

RATE = 300.0
CAPACITY = 800.0
LOW = 100.0
BEFORE = 0.5  # seconds of normal service before the outage
AFTER = 1.0  # seconds of load after it
LEAD = 1.0  # seconds between starting the client processes and the first request
TAIL = 30.0  # the longest a request is waited for after the last one is sent
BIN = 0.1
IMG = HERE.parent / "docs" / "img"


# -- the client processes ---------------------------------------------------------------


async def _drive(name: str, url: str, start: float, rate: float, seconds: float, phase: float):
    times: list[float] = []
    count = int(rate * seconds)
    async with OUTAGE_CONTENDERS[name](url, times) as one:
        results: list[bool] = []

        async def send() -> None:
            results.append(await one())

        tasks = []
        for i in range(count):
            await asyncio.sleep(max(0.0, start + (i + phase) / rate - time.monotonic()))
            tasks.append(asyncio.create_task(send()))
        _, pending = await asyncio.wait(tasks, timeout=TAIL)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return {"requests": count, "ok": sum(results), "attempts": times, "end": time.monotonic()}


def client(job: tuple[str, str, float, float, float, float]) -> dict[str, Any]:
    """What one client process runs."""
    return asyncio.run(_drive(*job))


# -- the upstream ---------------------------------------------------------------------


class Upstream:
    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(HERE / "outage_server.py"), "--capacity", str(CAPACITY)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        words = self._ask("")
        if not words.startswith("PORT"):
            self._process.kill()
            raise RuntimeError("the outage server did not start")
        self.url = f"http://127.0.0.1:{int(words.split()[1])}/"

    def _ask(self, command: str) -> str:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        if command:
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
        return self._process.stdout.readline()

    def run(self, mode: str, start: float, seconds: float) -> None:
        assert self._ask(f"RUN {mode} {start} {seconds} {LOW}").strip() == "OK"

    def log(self) -> list[tuple[float, int]]:
        return [(t, s) for t, s in json.loads(self._ask("LOG"))]

    def close(self) -> None:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()


def one_run(
    upstream: Upstream,
    pool: concurrent.futures.Executor,
    name: str,
    mode: str,
    outage: float,
    clients: int,
) -> dict[str, Any]:
    """One contender through one outage: the counts and the timelines, relative to the start."""
    start = time.monotonic() + LEAD
    seconds = BEFORE + outage + AFTER
    recovery = start + BEFORE + outage
    upstream.run(mode, start + BEFORE, outage)
    jobs = [
        (name, upstream.url, start, RATE / clients, seconds, k / clients) for k in range(clients)
    ]
    parts = list(pool.map(client, jobs))
    log = upstream.log()
    attempts = sorted(t for part in parts for t in part["attempts"])
    requests = sum(part["requests"] for part in parts)
    return {
        "requests": requests,
        "ok": sum(part["ok"] for part in parts),
        "attempts": len(attempts),
        "after": sum(1 for t, _ in log if recovery <= t < recovery + 1.0),
        "server": [(round(t - start, 4), s) for t, s in log],
        "client": [round(t - start, 4) for t in attempts],
        "last": max(part["end"] for part in parts) - start,
    }


# -- the figures ----------------------------------------------------------------------


def _suffix(args: argparse.Namespace) -> str:
    suffix = "" if args.outage_seconds == 3.0 else f"-{args.outage_seconds:g}s"
    return suffix + ("" if args.clients == 1 else f"-{args.clients}clients")


def plot(mode: str, runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> Path | None:
    """Requests per 100 ms at the server, per contender (one round); ``None``: no matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot)")
        return None
    names = list(runs)
    end = max(max(run["last"] for run in runs.values()), BEFORE + args.outage_seconds + AFTER)
    bins = int(end / BIN) + 2
    edges = [i * BIN for i in range(bins + 1)]
    figure, axes = plt.subplots(len(names), 1, sharex=True, figsize=(9, 1.5 * len(names) + 0.8))
    for axis, name in zip(axes, names, strict=True):
        run = runs[name]
        ok = [t for t, s in run["server"] if s == 200]
        busy = [t for t, s in run["server"] if s != 200]
        axis.hist([ok, busy], bins=edges, stacked=True, color=["tab:green", "tab:red"])
        axis.hist(run["client"], bins=edges, histtype="step", color="black", linewidth=0.7)
        axis.axvspan(BEFORE, BEFORE + args.outage_seconds, color="0.9", zorder=0)
        axis.axhline(CAPACITY * BIN, color="tab:blue", linestyle=":", linewidth=0.8)
        axis.set_ylim(0, CAPACITY * BIN * 1.6)
        axis.set_ylabel("per 100 ms", fontsize=7)
        share = 100 * run["ok"] / run["requests"]
        axis.set_title(f"{DESCRIPTIONS[name]}: {share:.1f} % ok", fontsize=8, loc="left")
        axis.tick_params(labelsize=7)
    axes[-1].set_xlabel("seconds from the first request", fontsize=8)
    figure.suptitle(
        f"{mode}, {args.outage_seconds:g} s (grey), {args.clients} client process(es): requests "
        "at the server (green 200, red 503), attempts started by the client (black line), "
        "capacity (dotted)",
        fontsize=8,
    )
    figure.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / f"outage-{mode}{_suffix(args)}.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


# -- the scenario ---------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    names = list(args.contenders)
    if "none" not in names:
        names.insert(0, "none")
    unknown = [n for n in names if n not in OUTAGE_CONTENDERS]
    if unknown:
        raise SystemExit(f"unknown outage contender(s): {', '.join(unknown)}")
    modes = args.outage_modes.split(",")
    print(
        f"{RATE:g} requests/s for {BEFORE + args.outage_seconds + AFTER:g} s from "
        f"{args.clients} client process(es); capacity {CAPACITY:g}/s; outage "
        f"{args.outage_seconds:g} s from {BEFORE:g} s ({LOW:g}/s in the brownout)\n"
    )
    figures: dict[str, dict[str, list[dict[str, Any]]]] = {
        m: {n: [] for n in names} for m in modes
    }
    upstream = Upstream()
    context = multiprocessing.get_context("fork")
    pool = concurrent.futures.ProcessPoolExecutor(args.clients, mp_context=context)
    try:
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for mode in modes:
                for name in order:
                    result = one_run(upstream, pool, name, mode, args.outage_seconds, args.clients)
                    figures[mode][name].append(result)
                    print(
                        f"round {r + 1} {mode:8s} {name:14s} ok {result['ok']}/"
                        f"{result['requests']}, attempts {result['attempts']}, in the "
                        f"first second after {result['after']}",
                        flush=True,
                    )
    finally:
        pool.shutdown()
        upstream.close()
    print()
    head = " | ".join(
        f"{m}: ok % | load per request | first 1 s after recovery | all done after"
        if i == 0
        else f"{m}: ok % | load | first 1 s after | all done after"
        for i, m in enumerate(modes)
    )
    print(f"| contender | {head} |")
    print("|---" + "|---:" * (4 * len(modes)) + "|")
    summary: dict[str, Any] = {}
    for name in names:
        cells = []
        for mode in modes:
            runs = figures[mode][name]
            ok = median([100 * run["ok"] / run["requests"] for run in runs])
            load = median([run["attempts"] / run["requests"] for run in runs])
            after = [
                run["after"] / max(1, ref["after"])
                for run, ref in zip(runs, figures[mode]["none"], strict=True)
            ]
            # The last request's end, in seconds after the recovery.
            done = median([run["last"] - BEFORE - args.outage_seconds for run in runs])
            cells.append(f"{ok:.1f} | {load:.2f} | {median(after):.2f} | {done:.1f} s")
            summary.setdefault(name, {})[mode] = {
                "ok_percent": ok,
                "load": load,
                "after": after,
                "done": done,
            }
        print(f"| {DESCRIPTIONS[name]} | {' | '.join(cells)} |")
    print(
        f"\nMedians of {args.rounds} round(s). Load: attempts the client started (refused "
        "connections included) per request. First 1 s after recovery: requests the server "
        "received in that second, divided by the no-retry contender's in the same round. All "
        "done after: when the last request ended, in seconds after the recovery (the load "
        "goes on for 1 s after it)."
    )
    for mode in modes:
        path = plot(mode, {n: figures[mode][n][-1] for n in names}, args)
        if path is not None:
            print(f"plot: {path.relative_to(HERE.parent)}")
    return summary


SCENARIO = Scenario(
    "outage",
    list(OUTAGE_CONTENDERS),
    3,
    int(RATE * (BEFORE + 3.0 + AFTER)),
    "open-loop 300/s through a 3 s brownout or refusal, 5 attempts",
    run,
)
