"""The demo: its command, its scenario, its table and its late-coming server.

The server is started on 127.0.0.1 only. The demo runs for real time, scaled
down in-process.
"""

from __future__ import annotations

import errno
import os
import re
import time
from typing import Any

import anyio
import httpx
import pytest

from resilient_transport import EventType, RequestResult
from resilient_transport._cli import demo, main
from resilient_transport._cli.demo import DEFAULT_SCENARIO, format_table
from resilient_transport._cli.demo_server import LateServer

from ._cli_support import REFUSED, lines_of, run

# The in-process demo runs five times faster than the real one.
FAST = 0.2


@pytest.fixture
def backend(anyio_backend: str) -> str:
    """Each in-process command runs once on asyncio and once on trio."""
    return anyio_backend


# -- the demo -------------------------------------------------------------------


def table_rows(output: str) -> dict[str, list[str]]:
    """The demo's closing table: request id -> cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["request", "method"])
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells
    return rows


def check_demo_story(output: str) -> None:
    """What every run of the demo must show, whatever the timings and jitter."""
    rows = table_rows(output)
    assert list(rows) == ["users", "orders", "payments"]
    for request_id, cells in rows.items():
        attempts, total = cells[3], cells[4]
        retries = re.findall(rf"\] {request_id} +attempt \d+ failed: {re.escape(REFUSED)}", output)
        # attempts = retries + 1, and each retry was printed as it happened
        assert int(attempts) == len(retries) + 1
        assert total.endswith(" s")
    assert rows["payments"][3:] == ["2", rows["payments"][4], "error (retries exhausted)", "-"]
    assert rows["users"][5:] == ["success", "200"]
    assert rows["orders"][5:] == ["success", "201"]
    assert 2 <= int(rows["users"][3]) <= 5
    assert 2 <= int(rows["orders"][3]) <= 9
    assert re.search(
        r"\] payments +gave up after 2 attempts in [\d.]+ s \(retries exhausted\)", output
    )
    # The one that gives up does so while the server is still down.
    assert output.index("payments  gave up") < output.index("server    listening on 127.0.0.1:")
    assert re.search(r"\] users +HTTP 200 after \d attempts", output)
    assert (
        "2 of 3 requests got an answer despite the outage (users, orders); did not: payments"
        in (output)
    )


def test_demo_command_shows_retries_and_a_table_and_exits_0_in_under_10_seconds() -> None:
    started = time.monotonic()
    result = run("demo")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert elapsed < 10.0
    check_demo_story(result.stdout)
    assert "refuses connections for its first 1.5 s" in result.stdout


def test_demo_in_process_tells_the_same_story_on_each_backend(
    backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "DEFAULT_SCENARIO", DEFAULT_SCENARIO.scaled(FAST))
    assert main(["demo", "--backend", backend]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    check_demo_story(out)
    assert "refuses connections for its first 0.3 s" in out


def test_demo_exits_1_with_one_line_when_its_server_cannot_listen(
    backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def cannot_listen(**kwargs: Any) -> None:
        raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))

    monkeypatch.setattr(demo, "DEFAULT_SCENARIO", DEFAULT_SCENARIO.scaled(FAST))
    monkeypatch.setattr(anyio, "create_tcp_listener", cannot_listen)
    assert main(["demo", "--backend", backend]) == 1
    out, err = capsys.readouterr()
    assert lines_of(err) == [
        f"error: the demo server could not listen on 127.0.0.1:{_port_in(out)}: "
        f"OSError: [Errno {errno.EADDRINUSE}] {os.strerror(errno.EADDRINUSE)}"
    ]
    assert "request   method" not in out  # no table for a demo that did not run


def _port_in(output: str) -> str:
    match = re.search(r"127\.0\.0\.1:(\d+)", output)
    assert match is not None
    return match.group(1)


def test_scaled_scenario_multiplies_every_duration() -> None:
    fast = DEFAULT_SCENARIO.scaled(0.5)
    assert fast.outage == DEFAULT_SCENARIO.outage * 0.5
    for slow, quick in zip(DEFAULT_SCENARIO.requests, fast.requests, strict=True):
        assert quick.base_delay == slow.base_delay * 0.5
        assert quick.max_delay == slow.max_delay * 0.5
        assert (quick.max_retries, quick.jitter) == (slow.max_retries, slow.jitter)
    assert fast.timeout == DEFAULT_SCENARIO.timeout


def test_demo_request_context_carries_its_retry_settings() -> None:
    request = DEFAULT_SCENARIO.requests[0]
    ctx = request.context()
    assert (ctx.request_id, ctx.max_retries, ctx.base_delay, ctx.jitter) == (
        "users",
        4,
        0.25,
        0.0,
    )


def test_format_table_marks_a_request_without_result_unknown() -> None:
    users = RequestResult("users", attempts=3, total_time=1.234, outcome=EventType.SUCCESS)
    rows = format_table(DEFAULT_SCENARIO, {"users": users})
    assert [re.split(r"\s{2,}", row) for row in rows] == [
        ["request", "method", "max_retries", "attempts", "total time", "outcome", "status"],
        ["users", "GET", "4", "3", "1.23 s", "success", "-"],
        ["orders", "POST", "8", "-", "-", "unknown", "-"],
        ["payments", "GET", "1", "-", "-", "unknown", "-"],
    ]
    # aligned: every row's second column starts at the same place
    assert len({len(re.match(r"\S+\s+", row).group()) for row in rows}) == 1  # type: ignore[union-attr]


# -- the demo server --------------------------------------------------------------


@pytest.mark.anyio
async def test_late_server_refuses_connections_until_it_serves_then_answers() -> None:
    server = LateServer()
    try:
        with pytest.raises(OSError, match=r"refused|failed"):
            await anyio.connect_tcp("127.0.0.1", server.port)
        listening = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, 0, listening.set)
            await listening.wait()
            async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
                got = await client.get("/users")
                posted = await client.post("/orders", json={"n": 1})
            tg.cancel_scope.cancel()
    finally:
        server.close()
    assert (got.status_code, got.json()) == (200, {"method": "GET", "path": "/users"})
    assert (posted.status_code, posted.json()) == (201, {"method": "POST", "path": "/orders"})
    assert got.headers["connection"] == "close"
    assert server.served == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NONSENSE\r\n\r\n",  # no target, no version
        b"POST / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n",  # too large
        b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",  # body cut short
        b"GET / HTTP/1.1\r\nHost: x\r\n",  # head cut short
    ],
)
async def test_late_server_hangs_up_on_a_malformed_or_cut_request(request_bytes: bytes) -> None:
    server = LateServer()
    try:
        listening = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, 0, listening.set)
            await listening.wait()
            answer = await _exchange_and_close(server.port, request_bytes)
            tg.cancel_scope.cancel()
    finally:
        server.close()
    assert answer == b""
    assert server.served == 0


async def _exchange_and_close(port: int, request: bytes) -> bytes:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request)
        await stream.send_eof()  # the client is done: a cut request stays cut
        received = b""
        with anyio.fail_after(5):
            while True:
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return received
