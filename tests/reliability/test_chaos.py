"""Chaos: hundreds of requests against a server process that keeps going down and up.

The books must balance exactly: every request has one outcome, every success
was served exactly once, no refused connect was ever served, attempts are
retries + 1, one terminal event per request and one RETRY per retry, and no
file descriptor outlives the client.
"""

from __future__ import annotations

import collections
import json
import math
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from resilient_transport import (
    AsyncEvent,
    EventMonitor,
    EventType,
    GiveUpReason,
    RetryingAsyncTransport,
)
from resilient_transport._classify import MAYBE_PROCESSED_ERRORS
from resilient_transport.testing import CountingTransport

from ._support import fd_count

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).with_name("_rawserver.py")
WORKERS, PER_WORKER = 300, 2  # 300 concurrent requests, twice over
REQUESTS = WORKERS * PER_WORKER
MAX_RETRIES = 10_000  # far more than the test needs: it must never run out
UP_SECONDS, DOWN_SECONDS = 0.03, 0.02

#: Figures of the last run per backend, for the report (-s shows them).
FIGURES: dict[str, dict[str, Any]] = {}


async def _read_line(stream: BufferedByteReceiveStream) -> str:
    return (await stream.receive_until(b"\n", 10_000_000)).decode()


async def _chaos(backend: str, process: anyio.abc.Process) -> None:
    assert process.stdout is not None and process.stdin is not None
    stdout = BufferedByteReceiveStream(process.stdout)
    port = int(await _read_line(stdout))
    url = f"http://127.0.0.1:{port}/"

    fds_before = fd_count()
    inner = CountingTransport(
        httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0)
        )
    )
    outcomes: dict[str, object] = {}
    # The events go through a monitor (unbounded stream: nothing dropped),
    # which also records every one of them.
    send, receive = anyio.create_memory_object_stream[AsyncEvent](math.inf)
    monitor = EventMonitor(receive, max_results=REQUESTS)
    events: list[AsyncEvent] = []
    monitor.add_event_callback(None, events.append)
    async with monitor:
        transport = RetryingAsyncTransport(
            inner, max_retries=MAX_RETRIES, base_delay=0, events=send
        )

        async def worker(client: httpx.AsyncClient, request_ids: list[str]) -> None:
            for request_id in request_ids:
                try:
                    response = await client.get(
                        url,
                        headers={"X-Request-Id": request_id},
                        extensions={"retry": {"request_id": request_id}},
                    )
                except Exception as exc:
                    outcome: object = exc
                else:
                    outcome = response
                assert request_id not in outcomes
                outcomes[request_id] = outcome

        ids = [str(uuid.uuid4()) for _ in range(REQUESTS)]
        async with (
            httpx.AsyncClient(transport=transport, timeout=10.0) as client,
            anyio.create_task_group() as task_group,
        ):
            for start in range(0, REQUESTS, PER_WORKER):
                task_group.start_soon(worker, client, ids[start : start + PER_WORKER])
            # The server starts down; once a connect has been refused, it may
            # start flapping (so faults happen however fast this machine is).
            with anyio.fail_after(10):
                while not any(httpx.ConnectError in f for f in inner.failures.values()):
                    await anyio.lowlevel.checkpoint()
            await process.stdin.send(b"go\n")
        results = await monitor.wait_for_all_requests()
    fds_after = fd_count()

    await process.stdin.aclose()
    report = json.loads(await _read_line(stdout))
    served: dict[str, int] = report["served"]
    received: dict[str, int] = report["received"]

    # Every request has exactly one outcome.
    assert sorted(outcomes) == sorted(ids)
    successes = {rid for rid, o in outcomes.items() if isinstance(o, httpx.Response)}
    errors = {rid: o for rid, o in outcomes.items() if not isinstance(o, httpx.Response)}

    # The server's books: each success served exactly once, nothing else served,
    # and nothing it read went unanswered.
    assert served == dict.fromkeys(successes, 1)
    assert received == served

    events_by_request: dict[str, list[Any]] = collections.defaultdict(list)
    for event in events:
        events_by_request[event.request_id].append(event)
    assert sorted(events_by_request) == sorted(ids)
    assert transport.dropped_events == 0

    refused = 0
    for request_id in ids:
        attempts = inner.attempts[request_id]
        failures = inner.failures[request_id]
        request_events = events_by_request[request_id]
        *retries, terminal = request_events
        outcome = outcomes[request_id]
        result = results[request_id]
        assert result.attempts == attempts
        assert result.outcome is terminal.event_type
        assert [e.event_type for e in retries] == [EventType.RETRY] * (attempts - 1)
        assert [e.context.current_attempt for e in retries] == list(range(1, attempts))
        assert terminal.attempts == attempts
        if request_id in successes:
            assert isinstance(outcome, httpx.Response)
            assert outcome.status_code == 200
            assert outcome.extensions["retry"].current_attempt == attempts - 1
            # Only the last attempt got through; every earlier one was refused.
            assert inner.answered[request_id] == 1
            assert failures == [httpx.ConnectError] * (attempts - 1)
            assert terminal.event_type is EventType.SUCCESS
            assert terminal.context.current_attempt == attempts - 1
        else:
            # A connection the kernel had queued when the listener closed is
            # reset: the request may have left, so it is not retried by default.
            assert isinstance(outcome, MAYBE_PROCESSED_ERRORS)
            assert failures[:-1] == [httpx.ConnectError] * (attempts - 1)
            assert failures[-1] is type(outcome)
            assert inner.answered[request_id] == 0
            assert terminal.event_type is EventType.ERROR
            assert terminal.reason is GiveUpReason.NOT_RETRYABLE
            assert terminal.error is outcome
            assert terminal.context.current_attempt == attempts
        refused += failures.count(httpx.ConnectError)

    total_attempts = inner.calls
    total_retries = sum(len(v) - 1 for v in events_by_request.values())
    assert total_attempts == REQUESTS + total_retries
    assert fds_after == fds_before
    # The faults really happened: the server flapped while requests ran.
    assert refused > 0
    assert report["cycles"] >= 2

    FIGURES[backend] = {
        "requests": REQUESTS,
        "concurrent": WORKERS,
        "server_cycles": report["cycles"],
        "connections_accepted": report["accepted"],
        "attempts": total_attempts,
        "refused_connects": refused,
        "retries": total_retries,
        "successes": len(successes),
        "errors": dict(collections.Counter(type(e).__name__ for e in errors.values())),
        "events": dict(collections.Counter(e.event_type.value for e in events)),
        "served": sum(served.values()),
        "max_attempts_one_request": max(inner.attempts.values()),
        "fds": (fds_before, fds_after),
    }


async def test_flapping_server_process_keeps_the_books_exactly_balanced(
    anyio_backend: str,
) -> None:
    command = [sys.executable, str(SERVER), "flap", str(UP_SECONDS), str(DOWN_SECONDS)]
    with anyio.fail_after(60):
        async with await anyio.open_process(command) as process:
            try:
                await _chaos(anyio_backend, process)
            except BaseException:
                process.kill()
                raise
            assert await process.wait() == 0
    print(f"\nchaos figures ({anyio_backend}): {json.dumps(FIGURES[anyio_backend])}")
