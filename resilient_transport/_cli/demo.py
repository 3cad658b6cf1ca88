"""The demo: concurrent requests ride out a real outage of a server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import anyio

from resilient_transport import (
    AsyncEvent,
    AsyncResilientClient,
    EventType,
    RequestContext,
    RequestResult,
)
from resilient_transport._stack import httpx

from .demo_server import LateServer
from .describe import describe_error, describe_event, describe_reason

__all__ = ["DEFAULT_SCENARIO", "DemoRequest", "Scenario", "run_demo"]


@dataclasses.dataclass(frozen=True, slots=True)
class DemoRequest:
    """One request of the demo, with the retry settings of its own context."""

    request_id: str
    method: str
    path: str
    max_retries: int
    base_delay: float
    max_delay: float
    jitter: float
    note: str
    payload: Mapping[str, Any] | None = None

    def context(self) -> RequestContext:
        """The ``RequestContext`` the request is sent with."""
        return RequestContext(
            request_id=self.request_id,
            max_retries=self.max_retries,
            base_delay=self.base_delay,
            max_delay=self.max_delay,
            jitter=self.jitter,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario:
    """What the demo does: an outage of ``outage`` seconds, and the requests sent into it.

    Attributes:
        outage: Seconds during which the server refuses connections.
        requests: Sent all at once when the demo starts.
        timeout: httpx timeout of each attempt, in seconds.
    """

    outage: float
    requests: tuple[DemoRequest, ...]
    timeout: float = 5.0

    def scaled(self, factor: float) -> Scenario:
        """The same story, every duration multiplied by ``factor`` (0.1: ten times faster)."""
        return dataclasses.replace(
            self,
            outage=self.outage * factor,
            requests=tuple(
                dataclasses.replace(
                    r, base_delay=r.base_delay * factor, max_delay=r.max_delay * factor
                )
                for r in self.requests
            ),
        )


#: The demo. Why each request ends as it does, whatever the jitter draws:
#: ``users`` sleeps 0.25, 0.5, 1 s: its 4th attempt comes at 1.75 s, after the
#: server is up (1.5 s), and a 5th, at 3.75 s, would cover a slow start.
#: ``orders`` sleeps at least half of 0.2, 0.4, 0.8, 0.8, ... s: 1.5 s after
#: 5 retries, 2.7 s after its 8. ``payments`` has one retry after at most
#: 0.3 s: it always gives up.
DEFAULT_SCENARIO = Scenario(
    outage=1.5,
    requests=(
        DemoRequest(
            "users",
            "GET",
            "/users",
            max_retries=4,
            base_delay=0.25,
            max_delay=2.0,
            jitter=0.0,
            note="exponential backoff without jitter",
        ),
        DemoRequest(
            "orders",
            "POST",
            "/orders",
            max_retries=8,
            base_delay=0.2,
            max_delay=0.8,
            jitter=0.5,
            note="a POST: nothing was sent, so resending is safe",
            payload={"item": "book", "quantity": 1},
        ),
        DemoRequest(
            "payments",
            "GET",
            "/payments",
            max_retries=1,
            base_delay=0.3,
            max_delay=0.3,
            jitter=1.0,
            note="too few retries for the outage: bound to give up",
        ),
    ),
)


def format_table(scenario: Scenario, results: Mapping[str, RequestResult]) -> list[str]:
    """The closing table: one row per request of ``scenario``, from the monitor's results."""
    rows: list[tuple[str, ...]] = [
        ("request", "method", "max_retries", "attempts", "total time", "outcome", "status")
    ]
    for request in scenario.requests:
        result = results.get(request.request_id)
        if result is None:  # its terminal event never reached the monitor
            unknown = ("-", "-", "unknown", "-")
            rows.append((request.request_id, request.method, str(request.max_retries), *unknown))
            continue
        outcome = result.outcome.value
        if result.reason is not None:
            outcome += f" ({describe_reason(result.reason)})"
        rows.append(
            (
                request.request_id,
                request.method,
                str(request.max_retries),
                str(result.attempts),
                f"{result.total_time:.2f} s",
                outcome,
                "-" if result.status_code is None else str(result.status_code),
            )
        )
    return _align(rows)


def _align(rows: Sequence[Sequence[str]]) -> list[str]:
    """Lay ``rows`` out in left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


async def _send(client: httpx.AsyncClient, base_url: str, request: DemoRequest) -> None:
    # Giving up raises the last error; the monitor has already reported it.
    with contextlib.suppress(httpx.HTTPError):
        await client.request(
            request.method,
            base_url + request.path,
            json=request.payload,
            extensions={"retry": request.context()},
        )


async def run_demo(
    scenario: Scenario | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the demo; return the exit status (0 when it ran, 1 if its server failed).

    Args:
        scenario: What to run; default ``DEFAULT_SCENARIO``.
        out: Where the story and the table go; default ``sys.stdout``.
        err: Where an error goes; default ``sys.stderr``.
    """
    scenario = DEFAULT_SCENARIO if scenario is None else scenario
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    start = time.time()
    server = LateServer()
    try:
        return await _run(scenario, server, start, out, err)
    finally:
        server.close()


async def _run(
    scenario: Scenario, server: LateServer, start: float, out: TextIO, err: TextIO
) -> int:
    width = max(len("server"), *(len(r.request_id) for r in scenario.requests))
    address = f"127.0.0.1:{server.port}"

    def line(at: float, who: str, text: str) -> None:
        print(f"[{at:5.2f}s] {who:<{width}}  {text}", file=out, flush=True)

    def on_event(event: AsyncEvent) -> None:
        line(event.timestamp - start, event.request_id, describe_event(event))

    print(
        f"resilient_transport demo: {len(scenario.requests)} requests at once to a server on\n"
        f"{address} that refuses connections for its first {scenario.outage:g} s.\n"
        "Each request has its own RequestContext:\n",
        file=out,
    )
    settings = [
        (
            r.request_id.ljust(width),
            r.method,
            r.path,
            f"max_retries={r.max_retries}",
            f"base_delay={r.base_delay:g} s",
            f"jitter={r.jitter:g}",
            r.note,
        )
        for r in scenario.requests
    ]
    for row in _align(settings):
        print(f"  {row}", file=out)
    print(file=out)
    line(0.0, "server", f"{address} reserved, not listening: connections are refused")

    failure: list[OSError] = []

    async with AsyncResilientClient(timeout=scenario.timeout, trust_env=False) as client:
        client.add_event_callback(None, on_event)
        async with anyio.create_task_group() as server_group:

            async def serve() -> None:
                try:
                    await server.serve(
                        scenario.outage,
                        lambda: line(time.time() - start, "server", f"listening on {address}"),
                    )
                except OSError as exc:
                    failure.append(exc)
                    server_group.cancel_scope.cancel()

            server_group.start_soon(serve)
            async with anyio.create_task_group() as requests:
                for request in scenario.requests:
                    requests.start_soon(_send, client, server.base_url, request)
            server_group.cancel_scope.cancel()
        results = await client.wait_for_all_requests()

    if failure:
        print(
            f"error: the demo server could not listen on {address}: {describe_error(failure[0])}",
            file=err,
            flush=True,
        )
        return 1
    print(file=out)
    for row in format_table(scenario, results):
        print(f"  {row}", file=out)
    ids = [r.request_id for r in scenario.requests]
    answered = [i for i in ids if i in results and results[i].outcome is EventType.SUCCESS]
    ended = [i for i in ids if i not in answered]
    print(
        f"\n{len(answered)} of {len(ids)} requests got an answer despite the outage "
        f"({', '.join(answered) or 'none'}); did not: {', '.join(ended) or 'none'}.\n"
        f"Every retry above was a real connection refused by {address}. "
        f"Done in {time.time() - start:.2f} s.",
        file=out,
        flush=True,
    )
    return 0
