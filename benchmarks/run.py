#!/usr/bin/env python
"""Benchmarks: resilient_transport against bare httpx, its retry libraries and aiohttp.

    python benchmarks/run.py --scenario S [--contenders a,b,c] [--rounds N] [--requests N]

Scenarios (``--list`` prints them with their default contenders):

- ``inprocess``: the success path with no network (``httpx.MockTransport``
  inner, one yield to the event loop per request); CPU time per request.
- ``loopback``: the success path against a minimal HTTP server in a separate
  process on 127.0.0.1, at ``--concurrency`` (1 and 64 in the docs);
  requests per second, and the CPU the server and the client used.
- ``failure``: a closed port on 127.0.0.1, 2 retries, zero delay; every
  retrying contender runs with 2 retries and with 0, which gives the cost of
  one extra attempt.
- ``monitor``: events per second through an ``EventMonitor`` with one sync
  callback.
- ``monitor-wait``: how long ``wait_for_all_requests()`` takes to return
  after 64 events were queued while the monitor paused to let events gather.
- ``memory``: RSS over 100,000 requests, each contender in a fresh process.
- ``backoff-memory``: bytes per request while 10,000 concurrent requests
  sleep in backoff, each contender in a fresh process.
- ``results-memory``: the memory a running monitor keeps per request,
  answered and failed.

Contenders run interleaved in rounds (the order rotates every round) so that
noise from the machine hits all of them alike. Tables give medians over the
rounds; a ratio is computed within each round, then the median taken. Only
127.0.0.1 is ever contacted, and every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # this checkout's library, then contenders.py

import psutil  # noqa: E402
from contenders import CONTENDERS, RETRYING, Env, Runtime  # noqa: E402

TIMES, DASH, MINUS = "\u00d7", "\u2013", "\u2212"  # for the Markdown tables
HTTPX_FAMILY = ["httpx", "rt", "rt-events", "httpx-retries", "tenacity", "stamina"]
AIOHTTP_FAMILY = ["aiohttp", "aiohttp-retry", "rt-aiohttp"]
PACKAGES = [
    "resilient-transport",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "aiohttp",
    "aiohttp-retry",
    "httpx-aiohttp",
    "httpx-retries",
    "tenacity",
    "stamina",
    "psutil",
]


@dataclass
class Scenario:
    contenders: list[str]
    rounds: int
    requests: int
    doc: str


SCENARIOS: dict[str, Scenario] = {
    "inprocess": Scenario(HTTPX_FAMILY, 31, 1000, "success path, no network"),
    "loopback": Scenario(
        [*HTTPX_FAMILY, "httpx-default", *AIOHTTP_FAMILY, "httpx-aiohttp"],
        5,
        1000,
        "success path, server on 127.0.0.1 in another process",
    ),
    "failure": Scenario(
        [*HTTPX_FAMILY, *AIOHTTP_FAMILY, "rt-httpx-aiohttp"],
        9,
        200,
        "closed port on 127.0.0.1, 2 retries, zero delay",
    ),
    "monitor": Scenario(
        ["drain", "monitor", "monitor-async"], 7, 100_000, "events per second through the monitor"
    ),
    "monitor-wait": Scenario(
        ["rt-events"],
        5,
        1000,
        "latency of wait_for_all_requests() after 64 queued events",
    ),
    "memory": Scenario(
        [*HTTPX_FAMILY, "aiohttp", "rt-aiohttp"],
        1,
        100_000,
        "RSS over many requests, one fresh process per contender",
    ),
    "results-memory": Scenario(
        ["rt-events"],
        1,
        3_000,
        "memory a monitor keeps per request, answered and failed",
    ),
    "backoff-memory": Scenario(
        [*HTTPX_FAMILY, "aiohttp-retry", "rt-aiohttp"],
        1,
        10_000,
        "memory per request sleeping in backoff, one fresh process per contender",
    ),
}


# -- the machine ------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(terse=True),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "packages": versions,
    }


def print_machine(info: dict[str, Any]) -> None:
    print(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['python']}, {info['platform']}; "
        f"load average at start {info['load']}"
    )
    print("Packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))


# -- the server and the closed port ---------------------------------------------------


class Server:
    """The loopback server, in its own process(es); measures their CPU."""

    def __init__(self, workers: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(HERE / "server.py"), "--workers", str(workers)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        words = self._process.stdout.readline().split()
        if not words or words[0] != "PORT":
            self._process.kill()
            raise RuntimeError("the benchmark server did not start")
        self.url = f"http://127.0.0.1:{int(words[1])}/"
        self._procs = [psutil.Process(int(pid)) for pid in words[3:]]

    def cpu_seconds(self) -> float:
        return sum(sum(proc.cpu_times()[:2]) for proc in self._procs)

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    """A URL on 127.0.0.1 whose port is bound but not listening: connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        sock.close()


# -- driving requests and rounds ------------------------------------------------------


async def drive(one: Callable[[], Awaitable[int]], requests: int, concurrency: int) -> int:
    """Send ``requests`` requests, ``concurrency`` at a time; return how many failed."""
    remaining = requests
    failed = 0

    async def worker() -> None:
        nonlocal remaining, failed
        while remaining > 0:
            remaining -= 1
            try:
                if await one() != 200:
                    failed += 1
            except Exception:
                failed += 1

    if concurrency == 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failed


@dataclass
class Entry:
    """One contender (in one configuration) and its figures, round by round."""

    label: str
    name: str
    env: Env
    runtime: Runtime | None = None
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)  # CPU seconds, per round
    collections: list[int] = field(default_factory=list)  # garbage collector runs, per round
    failed: int = 0
    stats: dict[str, Any] = field(default_factory=dict)


async def timed_rounds(
    entries: list[Entry], args: argparse.Namespace, warmup: int, server: Server | None = None
) -> list[Entry]:
    """Set every entry up, warm it up, then run the interleaved rounds; return those that ran."""
    async with contextlib.AsyncExitStack() as stack:
        live = []
        for entry in entries:
            entry.runtime = await stack.enter_async_context(CONTENDERS[entry.name](entry.env))
            if entry.runtime is not None:
                live.append(entry)
        concurrency = live[0].env.concurrency if live else 1
        for entry in live:
            assert entry.runtime is not None
            await drive(entry.runtime.one, warmup, concurrency)
            if entry.runtime.settle is not None:
                await entry.runtime.settle()
        collections = [0]

        def count_collections(phase: str, info: dict[str, Any]) -> None:
            if phase == "stop":
                collections[0] += 1

        gc.callbacks.append(count_collections)
        try:
            for index in range(args.rounds):
                shift = index % len(live)
                for entry in live[shift:] + live[:shift]:
                    runtime = entry.runtime
                    assert runtime is not None
                    gc.collect()
                    collections[0] = 0
                    server_before = server.cpu_seconds() if server else 0.0
                    cpu_before = time.process_time()
                    start = time.perf_counter()
                    entry.failed += await drive(runtime.one, args.requests, concurrency)
                    if runtime.settle is not None:
                        await runtime.settle()
                    elapsed = time.perf_counter() - start
                    entry.seconds.append(elapsed)
                    entry.cpu_seconds.append(time.process_time() - cpu_before)
                    entry.collections.append(collections[0])
                    if server:
                        entry.server_cpu.append(server.cpu_seconds() - server_before)
        finally:
            gc.callbacks.remove(count_collections)
        if args.profile:
            await profile(live[0], args, concurrency)
        for entry in live:
            assert entry.runtime is not None
            entry.stats = entry.runtime.stats()
    return live


async def profile(entry: Entry, args: argparse.Namespace, concurrency: int) -> None:
    """Profile one more round of the first contender; write the report to ``args.profile``."""
    assert entry.runtime is not None
    try:
        from pyinstrument import Profiler
    except ImportError:  # pragma: no cover - the stdlib's, then
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        await drive(entry.runtime.one, args.requests, concurrency)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)
        args.profile.write_text(out.getvalue())
        return
    sampler = Profiler(interval=0.0005)
    sampler.start()
    await drive(entry.runtime.one, args.requests, concurrency)
    sampler.stop()
    args.profile.write_text(sampler.output_text(unicode=True, color=False, show_all=True))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Round-by-round ratios ``a[i] / b[i]``."""
    return [x / y for x, y in zip(a, b, strict=True)]


def fmt_ratio(values: Sequence[float]) -> str:
    return f"{median(values):.3f}{TIMES}" if values else "-"


def fmt_range(values: Sequence[float]) -> str:
    return f"{min(values):.3f}{DASH}{max(values):.3f}" if values else "-"


def report_checks(live: list[Entry], expected_events: Callable[[Entry], int]) -> None:
    for entry in live:
        if "events" in entry.stats:
            want, got = expected_events(entry), entry.stats["events"]
            dropped = entry.stats["dropped"]
            flag = "" if got == want and not dropped else " WARNING: events were lost"
            print(
                f"\n{entry.label}: {got:,} events reached the monitor's callback "
                f"(expected {want:,}), {dropped} dropped.{flag}"
            )


# -- the timed scenarios ----------------------------------------------------------------


def scenario_inprocess(args: argparse.Namespace) -> dict[str, Any]:
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


def server_share(entry: Entry) -> float:
    """The share of one core the server used while ``entry`` ran, over all its rounds."""
    return sum(entry.server_cpu) / sum(entry.seconds)


def scenario_loopback(args: argparse.Namespace) -> dict[str, Any]:
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
    report_checks(live, lambda e: args.requests * args.rounds + warmup)
    for entry in live:
        if entry.failed:
            print(f"\nWARNING: {entry.label}: {entry.failed} requests failed")
    return {
        e.label: {"seconds": e.seconds, "cpu_seconds": e.cpu_seconds, "server_cpu": e.server_cpu}
        for e in live
    }


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


def scenario_failure(args: argparse.Namespace) -> dict[str, Any]:
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


# -- the monitor ------------------------------------------------------------------------


def terminal_events(count: int) -> list[Any]:
    from resilient_transport import AsyncEvent, EventType, RequestContext

    return [
        AsyncEvent(
            EventType.SUCCESS,
            RequestContext(),
            time.time(),
            method="GET",
            url="http://127.0.0.1:8000/",
            elapsed=0.001,
            status_code=200,
        )
        for _ in range(count)
    ]


async def monitor_round(kind: str, events: list[Any]) -> float:
    """Seconds to push ``events`` through a 1,000-event stream into the consumer ``kind``."""
    import anyio
    import anyio.lowlevel

    from resilient_transport import EventMonitor

    send, receive = anyio.create_memory_object_stream[Any](1000)
    seen = [0]

    def on_event(event: Any) -> None:
        seen[0] += 1

    async def on_event_async(event: Any) -> None:
        seen[0] += 1

    async def produce() -> None:
        for event in events:
            while True:
                try:
                    send.send_nowait(event)
                    break
                except anyio.WouldBlock:
                    await anyio.lowlevel.checkpoint()

    if kind == "drain":
        # The cheapest consumer there is: take each event, call the callback.
        done = anyio.Event()

        async def consume() -> None:
            while seen[0] < len(events):
                try:
                    event = receive.receive_nowait()
                except anyio.WouldBlock:
                    event = await receive.receive()
                on_event(event)
            done.set()

        async with anyio.create_task_group() as group:
            group.start_soon(consume)
            await anyio.lowlevel.checkpoint()
            start = time.process_time()
            await produce()
            await done.wait()
            elapsed = time.process_time() - start
        receive.close()
    else:
        monitor = EventMonitor(receive)
        monitor.add_event_callback(None, on_event_async if kind == "monitor-async" else on_event)
        async with monitor:
            start = time.process_time()
            await produce()
            await monitor.wait_for_all_requests()
            elapsed = time.process_time() - start
    send.close()
    assert seen[0] == len(events), (kind, seen[0])
    return elapsed


def scenario_monitor(args: argparse.Namespace) -> dict[str, Any]:
    events = terminal_events(args.requests)
    results: dict[str, list[float]] = {kind: [] for kind in args.contenders}
    for index in range(args.rounds + 1):  # round 0 warms up
        shift = index % len(args.contenders)
        for kind in args.contenders[shift:] + args.contenders[:shift]:
            gc.collect()
            elapsed = asyncio.run(monitor_round(kind, events))
            if index:
                results[kind].append(elapsed)
    base = results.get("drain")
    print(f"| consumer | events/s | CPU µs per event | {TIMES} drain (time) |")
    print("|---|---:|---:|---:|")
    for kind, seconds in results.items():
        rate = [args.requests / s for s in seconds]
        rel = ratios(seconds, base) if base else []
        print(
            f"| {kind} | {median(rate):,.0f} | {median(seconds) / args.requests * 1e6:.2f} "
            f"| {fmt_ratio(rel)} |"
        )
    print(
        f"\n{args.requests:,} terminal SUCCESS events of distinct requests, sent by a producer "
        "task through a 1,000-event memory stream. monitor: an EventMonitor with one sync "
        "callback for every event type (results kept, default bound); monitor-async: the same "
        "with an async callback; drain: a bare loop that takes each event and calls the "
        "callback, keeping nothing (the floor). Rates from CPU time."
    )
    return results


# -- waiting on the monitor ------------------------------------------------------------

#: Events queued before each wait in the monitor-wait scenario.
WAIT_QUEUED = 64


async def wait_round(samples: int) -> list[float]:
    """Seconds each ``wait_for_all_requests()`` takes, 64 events queued while the loop pauses."""
    import anyio
    import anyio.lowlevel

    from resilient_transport import EventMonitor

    first, *queued = terminal_events(WAIT_QUEUED + 1)
    send, receive = anyio.create_memory_object_stream[Any](1000)
    monitor = EventMonitor(receive)  # a 1,000-event buffer: the loop lets events gather
    monitor.add_event_callback(None, lambda event: None)
    latencies: list[float] = []
    async with monitor:
        for _ in range(samples):
            processed = monitor.events_processed
            send.send_nowait(first)
            # Once the loop has taken it and found the stream empty, it pauses
            # to let events gather: the 64 events queue up during that pause.
            for _ in range(100_000):
                if monitor.events_processed > processed:
                    break
                await anyio.lowlevel.checkpoint()
            else:
                raise RuntimeError("the monitor did not take the event")
            for event in queued:
                send.send_nowait(event)
            start = time.perf_counter()
            await monitor.wait_for_all_requests()
            latencies.append(time.perf_counter() - start)
    send.close()
    return latencies


def scenario_monitor_wait(args: argparse.Namespace) -> dict[str, Any]:
    import importlib.util

    import anyio

    backends = ["asyncio"] + (["trio"] if importlib.util.find_spec("trio") else [])
    results: dict[str, list[float]] = {backend: [] for backend in backends}
    for index in range(args.rounds + 1):  # round 0 warms up
        for backend in backends:
            gc.collect()
            latencies = anyio.run(wait_round, args.requests, backend=backend)
            if index:
                results[backend].extend(latencies)
    print("| backend | median | 90th percentile | max |")
    print("|---|---:|---:|---:|")
    for backend, latencies in results.items():
        ordered = sorted(latencies)
        p90 = ordered[int(len(ordered) * 0.9)]
        print(
            f"| {backend} | {median(ordered) * 1e3:.3f} ms | {p90 * 1e3:.3f} ms "
            f"| {ordered[-1] * 1e3:.3f} ms |"
        )
    print(
        f"\n{args.rounds} rounds of {args.requests:,} waits (wall clock). Before each wait, "
        f"{WAIT_QUEUED} terminal SUCCESS events are queued in a 1,000-event stream while the "
        "EventMonitor (one sync callback) pauses to let events gather, as under steady traffic."
    )
    return results


# -- memory: one fresh process per contender ---------------------------------------------


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


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


def run_child(args: argparse.Namespace) -> None:
    (name,) = args.contenders
    if args.child == "memory":
        result = asyncio.run(child_memory(name, args.url, args.requests, args.concurrency))
    else:
        result = asyncio.run(child_backoff(name, args.url, args.requests, args.tracemalloc))
    print(json.dumps(result))


def spawn_child(kind: str, name: str, url: str, requests: int, *extra: str) -> dict[str, Any]:
    command = [sys.executable, str(HERE / "run.py"), "--child", kind, "--contenders", name]
    command += ["--url", url, "--requests", str(requests), *extra]
    out = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if out.returncode:
        raise RuntimeError(f"{name}: the child process failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def scenario_memory(args: argparse.Namespace) -> dict[str, Any]:
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


def scenario_backoff(args: argparse.Namespace) -> dict[str, Any]:
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


async def kept_results(url: str, requests: int, success: bool) -> dict[str, Any]:
    """Python heap retained per request by a monitor keeping its results (default bound)."""
    import tracemalloc

    import anyio
    import httpx

    from resilient_transport import AsyncEvent, EventMonitor, RetryingAsyncTransport

    send, receive = anyio.create_memory_object_stream[AsyncEvent](1000)
    monitor = EventMonitor(receive)
    transport = RetryingAsyncTransport(max_retries=0, events=send)
    async with monitor, httpx.AsyncClient(transport=transport) as client:

        async def one() -> int:
            return (await client.get(url)).status_code

        await drive(one, 200, 1)
        await monitor.wait_for_all_requests()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        failed = await drive(one, requests, 1)
        await monitor.wait_for_all_requests()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        kept = len(monitor.results)
    assert failed == (0 if success else requests)
    return {"per_request": (after - before) / requests, "kept": kept}


def scenario_results_memory(args: argparse.Namespace) -> dict[str, Any]:
    server = Server(args.server_workers)
    try:
        with closed_port() as refused:
            ok = asyncio.run(kept_results(server.url, args.requests, True))
            failed = asyncio.run(kept_results(refused, args.requests, False))
    finally:
        server.close()
    print(
        "| requests through rt-events, over loopback | Python heap kept per request "
        "| results kept |"
    )
    print("|---|---:|---:|")
    print(f"| answered (200) | {ok['per_request']:,.0f} B | {ok['kept']:,} |")
    print(
        f"| refused (httpx.ConnectError, 0 retries) | {failed['per_request']:,.0f} B "
        f"| {failed['kept']:,} |"
    )
    print(
        f"\n{args.requests:,} sequential requests through RetryingAsyncTransport (httpx's own "
        "inner transport) into a running EventMonitor with the default bound on results "
        "(10,000); tracemalloc, after a gc.collect(). A failed request's RequestResult.error is "
        "a copy of the exception, detached from its traceback."
    )
    return {"answered": ok, "refused": failed}


RUNNERS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "inprocess": scenario_inprocess,
    "loopback": scenario_loopback,
    "failure": scenario_failure,
    "monitor": scenario_monitor,
    "monitor-wait": scenario_monitor_wait,
    "memory": scenario_memory,
    "backoff-memory": scenario_backoff,
    "results-memory": scenario_results_memory,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="resilient_transport benchmarks", epilog="See benchmarks/README.md."
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--contenders", help="comma-separated; default: the scenario's")
    parser.add_argument("--rounds", type=int, help="default: the scenario's")
    parser.add_argument("--requests", type=int, help="per contender per round")
    parser.add_argument("--concurrency", type=int, default=1, help="inprocess, loopback")
    parser.add_argument("--retries", type=int, default=2, help="failure (default 2)")
    parser.add_argument("--server-workers", type=int, default=1, help="loopback server processes")
    parser.add_argument("--profile", type=Path, help="profile the first contender into FILE")
    parser.add_argument("--json", type=Path, help="also write the raw figures to FILE")
    parser.add_argument("--list", action="store_true", help="list scenarios and contenders")
    parser.add_argument("--child", choices=["memory", "backoff"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        args.contenders = args.contenders.split(",")
        run_child(args)
        return
    if args.list or not args.scenario:
        for name, scenario in SCENARIOS.items():
            print(
                f"{name:15s} {scenario.doc}\n{'':15s} contenders: {','.join(scenario.contenders)}"
            )
        print(f"\nall contenders: {', '.join(CONTENDERS)}")
        return
    scenario = SCENARIOS[args.scenario]
    args.contenders = args.contenders.split(",") if args.contenders else scenario.contenders
    unknown = [n for n in args.contenders if n not in CONTENDERS and args.scenario != "monitor"]
    if unknown:
        parser.error(f"unknown contender(s): {', '.join(unknown)}")
    args.rounds = args.rounds or scenario.rounds
    args.requests = args.requests or scenario.requests
    info = machine()
    print(
        f"Command: python benchmarks/run.py {shlex.join(sys.argv[1:] if argv is None else argv)}"
    )
    print_machine(info)
    print(
        f"Scenario {args.scenario} ({scenario.doc}): {args.rounds} round(s) of "
        f"{args.requests:,} per contender, concurrency {args.concurrency}\n"
    )
    figures = RUNNERS[args.scenario](args)
    if args.json:
        settings = {k: str(v) for k, v in vars(args).items()}
        payload = {"machine": info, "args": settings, "figures": figures}
        args.json.write_text(json.dumps(payload, indent=1, default=str))


if __name__ == "__main__":
    main()
