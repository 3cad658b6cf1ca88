"""``monitor-wait``: how long ``wait_for_all_requests()`` takes after 64 queued events.

The events are queued while the monitor pauses to let events gather, as it
does under steady traffic; asyncio, and trio when installed.
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

from harness import Scenario
from report import median

from .monitor import terminal_events

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


def run(args: argparse.Namespace) -> dict[str, Any]:
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


SCENARIO = Scenario(
    "monitor-wait",
    ["rt-events"],
    5,
    1000,
    "latency of wait_for_all_requests() after 64 queued events",
    run,
)
