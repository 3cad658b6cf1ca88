"""``monitor``: events per second through an ``EventMonitor`` with one sync callback.

Its "contenders" are consumers: ``drain`` (the floor), ``monitor`` and
``monitor-async``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any

from harness import Scenario
from report import TIMES, fmt_ratio, median, ratios


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


def run(args: argparse.Namespace) -> dict[str, Any]:
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


SCENARIO = Scenario(
    "monitor",
    ["drain", "monitor", "monitor-async"],
    7,
    100_000,
    "events per second through the monitor",
    run,
)
