"""The command line: ``get``, its arguments and entry points, as subprocesses and in-process.

Servers are started by the tests on 127.0.0.1 only. A refused connection is
a socket bound to a port without listening on it, held for the whole test, so
no other process can take the port. In-process tests replace ``get``'s sleep,
so they never wait. The demo is tested in ``test_demo.py``.
"""

from __future__ import annotations

import base64
import errno
import http.server
import io
import os
import runpy
import socket
import socketserver
import sys
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import resilient_transport
from resilient_transport import __main__ as entry_point
from resilient_transport._cli import commands, get, main

from ._cli_support import REFUSED, lines_of, run

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

    monkeypatch.setattr(get, "_sleep", sleep)
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

    monkeypatch.setattr(get, "_sleep", sleep)
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
    writer = get._BodyWriter(text_only)
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


@pytest.mark.parametrize(
    ("url", "line"),
    [
        (
            "http://127.0.0.1:99999/",
            "error: invalid URL http://127.0.0.1:99999/: the port must be 1 to 65535, got 99999",
        ),
        (
            "127.0.0.1:65536/x",
            "error: invalid URL http://127.0.0.1:65536/x: the port must be 1 to 65535, got 65536",
        ),
        (
            "http://h.test:0/",
            "error: invalid URL http://h.test:0/: the port must be 1 to 65535, got 0",
        ),
        (
            "http://h.test:-1/",
            "error: invalid URL http://h.test:-1/: the port must be 1 to 65535, got -1",
        ),
        (
            "ftp://user:hunter2@example.test/",
            "error: invalid URL ftp://example.test/: the scheme must be http or https, got 'ftp'",
        ),
        ("http://", "error: invalid URL http://: no host"),
        ("https:///path", "error: invalid URL https:///path: no host"),
        (
            "http://bob:hunter2@h.test:8o/",
            "error: invalid URL http://h.test:8o/: Invalid port: '8o'",
        ),
        ("http://bob:hunter2@[::1", "error: invalid URL http://[::1: Invalid port: ':1'"),
        (
            "http://bob:hunter2@127.0.0.1:70000/v1?api_key=hunter2&page=2",
            "error: invalid URL http://127.0.0.1:70000/v1?api_key=REDACTED&page=2: "
            "the port must be 1 to 65535, got 70000",
        ),
    ],
)
def test_an_invalid_url_exits_2_with_one_line_naming_it_without_secrets(
    url: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get", url]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == line + "\n"
    assert "hunter2" not in err


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_get_command_on_an_out_of_range_port_exits_2_with_one_line(backend: str) -> None:
    # It used to die in a 60-line traceback on asyncio and retry on trio.
    result = run("get", "http://127.0.0.1:99999/", "--backend", backend)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: invalid URL http://127.0.0.1:99999/: the port must be 1 to 65535, got 99999\n"
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/", "https://[::1]:65535/", "h.test:65535"])
def test_ports_1_to_65535_are_accepted(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    def run_nothing(func: Any, backend: str) -> int:
        ran.append(backend)
        return 0

    monkeypatch.setattr(commands, "_run", run_nothing)  # the request itself is not made
    assert main(["get", url]) == 0
    assert ran == ["asyncio"]
    assert capsys.readouterr().err == ""


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

    monkeypatch.setattr(commands, "_run", interrupted)
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
