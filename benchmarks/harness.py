"""The harness every scenario uses: the server, the closed port, driving requests, rounds.

Contenders run interleaved in rounds (the order rotates every round) so that
noise from the machine hits all of them alike. Only 127.0.0.1 is ever
contacted, and every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from contenders import CONTENDERS, Env, Runtime

HERE = Path(__file__).resolve().parent


@dataclass
class Scenario:
    """A scenario as the runner knows it: its defaults and the function that runs it."""

    name: str
    contenders: list[str]
    rounds: int
    requests: int
    doc: str
    run: Callable[[argparse.Namespace], dict[str, Any]]


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


# -- fresh processes ------------------------------------------------------------------


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


def spawn_child(kind: str, name: str, url: str, requests: int, *extra: str) -> dict[str, Any]:
    command = [sys.executable, str(HERE / "run.py"), "--child", kind, "--contenders", name]
    command += ["--url", url, "--requests", str(requests), *extra]
    out = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if out.returncode:
        raise RuntimeError(f"{name}: the child process failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))
