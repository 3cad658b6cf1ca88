"""The command line: ``demo`` and ``get``, as subprocesses and in-process.

Servers are started by the tests on 127.0.0.1 only. A refused connection is
a socket bound to a port without listening on it, held for the whole test, so
no other process can take the port. In-process tests replace ``get``'s sleep,
so they never wait; the demo runs for real time, scaled down in-process.
"""

from __future__ import annotations

import base64
import errno
import http.server
import io
import itertools
import os
import re
import runpy
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import resilient_transport
from resilient_transport import AsyncEvent, EventType, GiveUpReason, RequestContext, _cli, _demo
from resilient_transport import __main__ as entry_point
from resilient_transport._cli import describe_error, describe_retry, failure_message, main
from resilient_transport._demo import (
    DEFAULT_SCENARIO,
    LateServer,
    describe_outcome,
    format_table,
)
from resilient_transport._monitor import RequestResult

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

ROOT = Path(__file__).resolve().parents[1]
REFUSED = f"ConnectError: [Errno {errno.ECONNREFUSED}] {os.strerror(errno.ECONNREFUSED)}"
# A real-time bound on every subprocess; the demo itself must take under 10 s.
SUBPROCESS_TIMEOUT = 60.0
# The in-process demo runs five times faster than the real one.
FAST = 0.2


# -- servers --------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/hello":
            self._reply(200, b"hello\n")
        elif self.path == "/missing":
            self._reply(404, b"no such page\n")
        elif self.path == "/binary":
            self._reply(200, bytes(range(256)))
        elif self.path == "/auth":
            self._reply(200, f"authorization: {self.headers.get('Authorization')}".encode())
        else:  # /truncated: promises 100 bytes, sends 10, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN: a DNS query, not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class LateHTTPServer:
    """Bound on 127.0.0.1 at once (connections refused), listening on :meth:`activate`."""

    def __init__(self) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self.server.server_bind()
        self.port: int = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def activate(self) -> None:
        self.server.server_activate()
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(5)
        self.server.server_close()


@pytest.fixture
def late_server() -> Iterator[LateHTTPServer]:
    server = LateHTTPServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def server_url(late_server: LateHTTPServer) -> str:
    """A plain server on 127.0.0.1, up from the start."""
    late_server.activate()
    return late_server.url


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL on 127.0.0.1 whose every connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # `get` honours proxy variables; a test's requests must reach 127.0.0.1.
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture
def backend(anyio_backend: str) -> str:
    """Each in-process command runs once on asyncio and once on trio."""
    return anyio_backend


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return subprocess.run(
        [sys.executable, "-m", "resilient_transport", *args],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        cwd=ROOT,
        env=env,
        check=False,
    )


def lines_of(text: str) -> list[str]:
    return text.strip("\n").splitlines()


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
    monkeypatch.setattr(_demo, "DEFAULT_SCENARIO", DEFAULT_SCENARIO.scaled(FAST))
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

    monkeypatch.setattr(_demo, "DEFAULT_SCENARIO", DEFAULT_SCENARIO.scaled(FAST))
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


def _event(event_type: EventType, **kwargs: Any) -> AsyncEvent:
    ctx = kwargs.pop("context", RequestContext(request_id="r", max_retries=3, current_attempt=2))
    return AsyncEvent(event_type=event_type, context=ctx, timestamp=0.0, **kwargs)


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            _event(EventType.SUCCESS, attempts=1, elapsed=0.5, status_code=204),
            "HTTP 204 after 1 attempt in 0.50 s",
        ),
        (
            _event(
                EventType.ERROR,
                attempts=3,
                elapsed=1.0,
                reason=GiveUpReason.EXHAUSTED,
                error=httpx.ConnectError("boom"),
            ),
            "gave up after 3 attempts in 1.00 s (retries exhausted): ConnectError: boom",
        ),
        (
            _event(EventType.TIMEOUT, attempts=1, elapsed=2.0, error=httpx.ReadTimeout("slow")),
            "timed out after 1 attempt in 2.00 s: ReadTimeout: slow",
        ),
        (
            _event(EventType.CANCELLED, attempts=2, elapsed=0.25, reason=GiveUpReason.CANCELLED),
            "was cancelled after 2 attempts in 0.25 s (cancelled)",
        ),
    ],
)
def test_describe_outcome_says_how_and_why_a_request_ended(event: AsyncEvent, line: str) -> None:
    assert describe_outcome(event) == line


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


# -- get: as a subprocess ----------------------------------------------------------


def test_get_command_prints_body_on_stdout_and_status_on_stderr(server_url: str) -> None:
    result = run("get", server_url + "/hello")
    assert result.returncode == 0
    assert result.stdout == "hello\n"
    assert result.stderr == "HTTP/1.1 200 OK\n"


def test_get_command_on_a_refused_port_exits_1_with_one_line_and_no_credentials(
    refused_url: str,
) -> None:
    url = refused_url.replace("http://", "http://alice:s3cret@")
    result = run("get", url, "--max-retries", "2", "--base-delay", "0")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = lines_of(result.stderr)
    assert lines == [
        f"attempt 1 failed: {REFUSED}; retry 1 of 2 in 0.00 s",
        f"attempt 2 failed: {REFUSED}; retry 2 of 2 in 0.00 s",
        f"error: could not connect to {refused_url} after 3 attempts: {REFUSED}",
    ]
    assert "s3cret" not in result.stderr
    assert "alice" not in result.stderr


def test_get_command_with_bad_arguments_exits_2() -> None:
    result = run("get", "http://127.0.0.1/", "--max-retries", "-1")
    assert result.returncode == 2
    assert "--max-retries: must be >= 0, got -1" in result.stderr
    assert "Traceback" not in result.stderr


# -- get: in-process ----------------------------------------------------------------


def test_get_prints_the_body_bytes_exactly(
    backend: str, server_url: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["get", server_url + "/binary", "--backend", backend]) == 0
    out, err = capsysbinary.readouterr()
    assert out == bytes(range(256))
    assert err == b"HTTP/1.1 200 OK\n"


def test_get_retries_until_the_server_listens_and_shows_each_retry(
    backend: str,
    late_server: LateHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 2:
            late_server.activate()  # the third attempt finds the server up
        await anyio.lowlevel.checkpoint()

    monkeypatch.setattr(_cli, "_sleep", sleep)
    url = late_server.url + "/hello"
    argv = ["get", url, "--max-retries", "5", "--base-delay", "0.5", "--backend", backend]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert len(delays) == 2
    assert out == "hello\n"
    assert lines_of(err) == [
        f"attempt 1 failed: {REFUSED}; retry 1 of 5 in {delays[0]:.2f} s",
        f"attempt 2 failed: {REFUSED}; retry 2 of 5 in {delays[1]:.2f} s",
        "HTTP/1.1 200 OK",
    ]
    assert 0 <= delays[0] <= 0.5
    assert 0 <= delays[1] <= 1.0


def test_get_gives_up_after_max_retries_with_one_line(
    backend: str,
    refused_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def sleep(delay: float) -> None:
        await anyio.lowlevel.checkpoint()

    monkeypatch.setattr(_cli, "_sleep", sleep)
    url = refused_url.replace("http://", "http://bob:hunter2@")
    assert main(["get", url, "--max-retries", "1", "--backend", backend]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert lines_of(err)[-1] == (
        f"error: could not connect to {refused_url} after 2 attempts: {REFUSED}"
    )
    assert len(lines_of(err)) == 2
    assert "hunter2" not in err


def test_get_with_no_retries_says_one_attempt(
    backend: str, refused_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", refused_url, "--max-retries", "0", "--backend", backend]) == 1
    assert lines_of(capsys.readouterr().err) == [
        f"error: could not connect to {refused_url} after 1 attempt: {REFUSED}"
    ]


def test_get_sends_url_credentials_without_printing_them(
    backend: str, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server_url.replace("http://", "http://alice:s3cret@") + "/auth"
    assert main(["get", url, "--backend", backend]) == 0
    out, err = capsys.readouterr()
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert out == f"authorization: {expected}"
    assert "s3cret" not in err


def test_get_exits_0_on_an_http_error_status_and_22_with_fail(
    backend: str, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server_url + "/missing"
    assert main(["get", url, "--backend", backend]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("no such page\n", "HTTP/1.1 404 Not Found\n")
    assert main(["get", url, "--fail", "--backend", backend]) == 22
    out, err = capsys.readouterr()
    assert out == "no such page\n"  # the body is still shown
    assert lines_of(err) == [
        "HTTP/1.1 404 Not Found",
        f"error: {url} answered 404 Not Found (--fail)",
    ]


def test_get_with_fail_exits_0_on_success(
    backend: str, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", server_url + "/hello", "--fail", "--backend", backend]) == 0
    assert capsys.readouterr().out == "hello\n"


def test_get_exits_1_when_the_body_is_cut_short(
    backend: str, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server_url + "/truncated"
    assert main(["get", url, "--backend", backend]) == 1
    out, err = capsys.readouterr()
    lines = lines_of(err)
    assert lines[0] == "HTTP/1.1 200 OK"
    assert lines[1].startswith(
        f"error: reading the response from {url} failed: RemoteProtocolError: "
    )
    assert len(lines) == 2
    assert out.startswith("0123456789")  # what arrived was passed on


def test_get_adds_http_to_a_url_without_scheme(
    backend: str, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", server_url.removeprefix("http://") + "/hello", "--backend", backend]) == 0
    assert capsys.readouterr().out == "hello\n"


def test_get_to_a_text_only_stdout_decodes_the_body(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text_only = io.StringIO()
    monkeypatch.setattr(sys, "stdout", text_only)
    assert main(["get", server_url + "/hello"]) == 0
    assert text_only.getvalue() == "hello\n"


def test_body_writer_keeps_a_character_split_over_two_chunks() -> None:
    text_only = io.StringIO()
    writer = _cli._BodyWriter(text_only)
    for chunk in ("é€".encode()[:1], "é€".encode()[1:3], "é€".encode()[3:]):
        writer.write(chunk)
    writer.close()
    assert text_only.getvalue() == "é€"


class _BrokenBuffer(io.BytesIO):
    def write(self, data: Any) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


class _ClosedPipe(io.TextIOWrapper):
    """A stdout whose reader has gone away; ``fileno`` is the given descriptor or none."""

    def __init__(self, fd: int | None) -> None:
        super().__init__(_BrokenBuffer())
        self._fd = fd

    def fileno(self) -> int:
        if self._fd is None:
            raise io.UnsupportedOperation("fileno")
        return self._fd


def test_get_into_a_closed_pipe_exits_1_quietly_and_points_stdout_at_devnull(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    read_end, write_end = os.pipe()
    try:
        monkeypatch.setattr(sys, "stdout", _ClosedPipe(write_end))
        assert main(["get", server_url + "/hello"]) == 1
        assert os.path.samestat(os.fstat(write_end), os.stat(os.devnull))
    finally:
        os.close(read_end)
        os.close(write_end)
    assert capsys.readouterr().err == "HTTP/1.1 200 OK\n"  # and no error line


def test_get_into_a_closed_pipe_without_descriptor_exits_1(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe(None))
    assert main(["get", server_url + "/hello"]) == 1
    assert capsys.readouterr().err == "HTTP/1.1 200 OK\n"


# -- arguments, help, entry points --------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["get"], "the following arguments are required: URL"),
        (["get", "ftp://user:hunter2@example.test/"], "expected an http:// or https:// URL"),
        (["get", "http://"], "expected an http:// or https:// URL with a host"),
        (["get", "http://[::1"], "invalid URL"),
        (["get", "x", "--max-retries", "-1"], "must be >= 0, got -1"),
        (["get", "x", "--max-retries", "two"], "expected a whole number, got 'two'"),
        (["get", "x", "--base-delay", "soon"], "expected a number of seconds, got 'soon'"),
        (["get", "x", "--base-delay", "nan"], "must be a finite number >= 0, got 'nan'"),
        (["get", "x", "--base-delay", "-1"], "must be a finite number >= 0, got '-1'"),
        (["get", "x", "--timeout", "0"], "must be a finite number > 0, got '0'"),
        (["demo", "--backend", "curio"], "invalid choice: 'curio'"),
        (["fetch"], "invalid choice: 'fetch'"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "hunter2" not in err


def test_trio_backend_without_trio_installed_exits_2_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "trio", None)  # makes `import trio` fail
    assert main(["demo", "--backend", "trio"]) == 2
    assert "--backend trio needs the trio package: pip install trio" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["get", "demo"])
def test_help_documents_the_command_and_exits_0(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--backend {asyncio,trio}" in out
    if command == "get":
        assert "exit status:" in out
        assert "0    an HTTP response arrived, whatever its status" in out
        for option in ("--max-retries N", "--base-delay S", "--timeout S", "--fail"):
            assert option in out


@pytest.mark.parametrize(
    ("argv0", "prog"),
    [
        ("/somewhere/resilient_transport/__main__.py", "python -m resilient_transport"),
        ("/venv/bin/resilient-transport", "resilient-transport"),
    ],
)
def test_version_names_the_program_as_it_was_started(
    argv0: str, prog: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", [argv0])
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"{prog} {resilient_transport.__version__}\n"


def test_interrupt_exits_130_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "_run", interrupted)
    assert main(["get", "http://127.0.0.1:1/"]) == 130
    assert capsys.readouterr().err == "error: interrupted\n"


def test_python_m_runs_main_and_exits_with_its_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["resilient_transport", "--version"])
    monkeypatch.delitem(sys.modules, "resilient_transport.__main__", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("resilient_transport", run_name="__main__")
    assert exit_info.value.code == 0
    assert resilient_transport.__version__ in capsys.readouterr().out


def test_console_script_target_is_main() -> None:
    assert entry_point.main is main


# -- describing errors ----------------------------------------------------------------


def _chained(*chain: BaseException) -> BaseException:
    """``chain[0]`` raised from ``chain[1]`` raised from ..."""
    for outer, inner in itertools.pairwise(chain):
        outer.__cause__ = inner
    return chain[0]


def test_describe_error_shows_the_os_error_behind_httpx_message() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 9)")
    exc = _chained(httpx.ConnectError("All connection attempts failed"), OSError("x"), refused)
    assert describe_error(exc) == REFUSED


def test_describe_error_looks_inside_an_exception_group() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Error connecting")
    group = ExceptionGroup("all attempts to connect failed", [refused])
    exc = _chained(httpx.ConnectError("all attempts to connect failed"), group)
    assert describe_error(exc) == REFUSED


def test_describe_error_keeps_the_text_of_dns_and_unknown_errors() -> None:
    dns = socket.gaierror(-2, "Name or service not known")
    assert describe_error(_chained(httpx.ConnectError("x"), dns)) == (
        "ConnectError: [Errno -2] Name or service not known"
    )
    odd = OSError(99_999, "something odd")
    assert describe_error(_chained(httpx.ConnectError("x"), odd)) == (
        "ConnectError: [Errno 99999] something odd"
    )


def test_describe_error_keeps_httpx_text_for_a_tls_error() -> None:
    tls = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    exc = _chained(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] verify failed"), tls)
    assert describe_error(exc) == "ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] verify failed"


def test_describe_error_is_one_line_and_survives_cycles_and_long_chains() -> None:
    looping = httpx.ReadError("line one\nline two")
    looping.__context__ = looping
    assert describe_error(looping) == "ReadError: line one line two"
    deep = [httpx.ConnectError(f"level {i}") for i in range(20)]
    deep.append(ConnectionRefusedError(errno.ECONNREFUSED, "too deep to look at"))
    assert describe_error(_chained(*deep)) == "ConnectError: level 0"
    assert describe_error(httpx.PoolTimeout("")) == "PoolTimeout"


def test_describe_retry_names_a_retried_status() -> None:
    ctx = RequestContext(request_id="r", max_retries=3, current_attempt=1)
    event = _event(EventType.RETRY, context=ctx, status_code=503, delay=1.5)
    assert describe_retry(event) == "attempt 1 failed: HTTP 503; retry 1 of 3 in 1.50 s"


@pytest.mark.parametrize(
    ("exc", "attempts", "line"),
    [
        (
            httpx.ConnectTimeout("timed out"),
            2,
            "error: could not connect to http://h.test/p after 2 attempts: "
            "ConnectTimeout: timed out",
        ),
        (
            httpx.ReadTimeout("timed out"),
            1,
            "error: request to http://h.test/p timed out after 1 attempt: ReadTimeout: timed out",
        ),
        (
            httpx.UnsupportedProtocol("no"),
            None,
            "error: request to http://h.test/p failed: UnsupportedProtocol: no",
        ),
        (
            httpx.ReadError("GET http://u:pw-xyz@h.test/p broke (u:pw-xyz, pw-xyz)"),
            1,
            "error: request to http://h.test/p failed after 1 attempt: "
            "ReadError: GET http://h.test/p broke (***, ***)",
        ),
    ],
)
def test_failure_message_names_the_failure_and_never_the_password(
    exc: BaseException, attempts: int | None, line: str
) -> None:
    url = httpx.URL("http://u:pw-xyz@h.test/p")
    assert failure_message(exc, url, attempts, answered=False) == line


def test_failure_message_hides_a_token_given_as_user_name() -> None:
    url = httpx.URL("http://tok3n@h.test/")
    exc = httpx.ReadError("sent tok3n")
    assert failure_message(exc, url, 1, answered=True) == (
        "error: reading the response from http://h.test/ failed: ReadError: sent ***"
    )
