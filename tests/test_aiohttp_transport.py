"""The aiohttp-backed inner transport: what reaches the retry layer, over real sockets.

Every test talks to a server it starts itself on 127.0.0.1 (or to a port
there that nothing listens on). aiohttp runs on asyncio only, so these tests
run on asyncio; one test checks the clear error on trio.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib
import json
import socket
import ssl
import struct
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import anyio
import httpx
import pytest
import trio
import trustme

from resilient_transport import (
    AsyncEvent,
    EventType,
    FailureKind,
    RetryingAsyncTransport,
    classify_error,
)
from resilient_transport.testing import CountingTransport, EventRecorder
from resilient_transport.transports._aiohttp_compat import httpx_error, httpx_error_type
from resilient_transport.transports.aiohttp import AiohttpTransport

pytestmark = pytest.mark.anyio

TIMEOUT = 5.0  # bound on every test that waits for the network


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param(
            "trio",
            id="trio",
            marks=pytest.mark.skip(reason="aiohttp runs on asyncio only (see the trio test)"),
        ),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- a small HTTP/1.1 server on 127.0.0.1 -----------------------------------------

Reply = Callable[["Received"], Awaitable[bytes | None]]


class Received:
    """One request as the server read it."""

    def __init__(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


def response(status: int, body: bytes = b"", *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status} Status", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Server:
    """Answers each request with ``reply(request)``; ``None`` means: do what the path says.

    Paths: ``/hang`` never answers; ``/reset`` resets the connection once the
    request is read; ``/cut`` closes it 5 bytes into a 100-byte body; ``/big``
    streams 1 MiB in 64 KiB pieces.
    """

    def __init__(self, reply: Reply | None = None) -> None:
        self.requests: list[Received] = []
        self.arrived = asyncio.Event()  # set by the first request
        self._reply = reply
        self._handlers: set[asyncio.Task[None]] = set()

    async def _read(self, reader: asyncio.StreamReader) -> Received | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if line]
        request = Received(method, path, headers, b"")  # type: ignore[arg-type]
        if request.header("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await reader.readexactly(size + 2)
                if not size:
                    break
                body += chunk[:-2]
            request.body = body
        else:
            request.body = await reader.readexactly(int(request.header("content-length") or 0))
        return request

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while (request := await self._read(reader)) is not None:
                self.requests.append(request)
                self.arrived.set()
                reply = await self._reply(request) if self._reply else None
                if reply is not None:
                    writer.write(reply)
                elif request.path == "/hang":
                    await asyncio.Event().wait()
                elif request.path == "/reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                elif request.path == "/cut":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly five")
                    await writer.drain()
                    return
                elif request.path == "/big":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n")
                    for _ in range(16):
                        writer.write(b"x" * 65536)
                        await writer.drain()
                else:
                    writer.write(response(200, b"ok"))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    @asynccontextmanager
    async def running(
        self, sock: socket.socket | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> AsyncIterator[str]:
        """Serve on ``sock`` (or a fresh port); yield the base URL."""
        if sock is None:
            server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)
        else:
            sock.listen()
            server = await asyncio.start_server(self._serve, sock=sock, ssl=ssl_context)
        port = server.sockets[0].getsockname()[1]
        scheme = "https" if ssl_context else "http"
        try:
            yield f"{scheme}://127.0.0.1:{port}"
        finally:
            server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await server.wait_closed()


def refusing_socket() -> socket.socket:
    """A socket bound on 127.0.0.1, not listening: connecting to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


async def no_sleep(delay: float) -> None:
    await asyncio.sleep(0)


def stack(**kwargs: Any) -> tuple[CountingTransport, RetryingAsyncTransport]:
    inner = CountingTransport(AiohttpTransport(**kwargs.pop("transport", {})))
    return inner, RetryingAsyncTransport(inner, sleep=kwargs.pop("sleep", no_sleep), **kwargs)


# -- the retry-count tests ------------------------------------------------------------


async def test_a_success_is_one_attempt() -> None:
    server = Server()
    inner, transport = stack()
    async with server.running() as base, httpx.AsyncClient(transport=transport) as client:
        response = await client.get(f"{base}/ok", timeout=TIMEOUT)
    assert (response.status_code, response.text) == (200, "ok")
    assert inner.calls == 1 and len(server.requests) == 1
    assert response.extensions["retry"].current_attempt == 0
    assert response.http_version == "HTTP/1.1"


async def test_two_refused_connections_then_success_make_three_attempts() -> None:
    sock = refusing_socket()
    server = Server()
    sleeps: list[float] = []
    async with AsyncExitStack() as stack_:
        stack_.callback(sock.close)

        async def listen_before_the_third_attempt(delay: float) -> None:
            sleeps.append(delay)
            if len(sleeps) == 2:
                await stack_.enter_async_context(server.running(sock))

        inner, transport = stack(sleep=listen_before_the_third_attempt, base_delay=0)
        async with httpx.AsyncClient(transport=transport) as client:
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/ok"
            response = await client.get(url, timeout=TIMEOUT)
    assert response.status_code == 200
    assert inner.calls == 3 and len(sleeps) == 2
    assert len(server.requests) == 1  # the two refused attempts never reached it
    assert response.extensions["retry"].current_attempt == 2


async def test_persistent_refusal_makes_three_attempts_then_raises_connect_error() -> None:
    sock = refusing_socket()
    inner = CountingTransport(AiohttpTransport())
    try:
        with EventRecorder() as recorder:
            transport = RetryingAsyncTransport(
                inner, max_retries=2, sleep=no_sleep, events=recorder.send
            )
            async with httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(httpx.ConnectError) as caught:
                    await client.get(f"http://127.0.0.1:{sock.getsockname()[1]}/", timeout=TIMEOUT)
            types = recorder.types()
    finally:
        sock.close()
    assert type(caught.value) is httpx.ConnectError  # not ConnectTimeout (httpx-aiohttp's bug)
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    assert inner.calls == 3
    assert types == [EventType.RETRY, EventType.RETRY, EventType.ERROR]


async def test_a_read_timeout_is_a_read_timeout_and_is_not_retried() -> None:
    server = Server()
    inner, transport = stack()
    async with server.running() as base, httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{base}/hang", timeout=httpx.Timeout(TIMEOUT, read=0.2))
    assert inner.calls == 1 and len(server.requests) == 1


async def test_a_reset_after_the_request_is_not_retried_nor_resent_by_aiohttp() -> None:
    server = Server()
    inner, transport = stack()
    async with server.running() as base, httpx.AsyncClient(transport=transport) as client:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)) as caught:
            await client.get(f"{base}/reset", timeout=TIMEOUT)
    assert classify_error(caught.value) is FailureKind.MAYBE_PROCESSED
    # One attempt, and the server saw the GET once: aiohttp's own silent
    # resend of an idempotent request is off.
    assert inner.calls == 1 and len(server.requests) == 1


async def test_a_reset_is_retried_when_idempotent_errors_are_opted_in() -> None:
    server = Server()
    inner, transport = stack(retry_idempotent_errors=True, max_retries=2)
    async with server.running() as base, httpx.AsyncClient(transport=transport) as client:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            await client.get(f"{base}/reset", timeout=TIMEOUT)
    assert inner.calls == 3 and len(server.requests) == 3


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def test_an_untrusted_certificate_is_one_attempt_and_a_connect_error(
    certificate_authority: trustme.CA,
) -> None:
    server = Server()
    inner, transport = stack(max_retries=2)  # trusts httpx's CA bundle, not this CA
    async with (
        server.running(ssl_context=server_tls(certificate_authority)) as base,
        httpx.AsyncClient(transport=transport) as client,
    ):
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(f"{base}/ok", timeout=TIMEOUT)
    assert classify_error(caught.value) is FailureKind.CERTIFICATE
    chain, seen = [], caught.value.__cause__
    while seen is not None:
        chain.append(seen)
        seen = seen.__cause__
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in chain)
    assert inner.calls == 1 and server.requests == []


async def test_a_trusted_certificate_works(certificate_authority: trustme.CA) -> None:
    server = Server()
    client_context = ssl.create_default_context()
    certificate_authority.configure_trust(client_context)
    inner, transport = stack(transport={"verify": client_context})
    async with (
        server.running(ssl_context=server_tls(certificate_authority)) as base,
        httpx.AsyncClient(transport=transport) as client,
    ):
        response = await client.get(f"{base}/ok", timeout=TIMEOUT)
    assert (response.status_code, response.text, inner.calls) == (200, "ok", 1)


# -- the error mapping, class by class -----------------------------------------------


def _key() -> Any:
    return aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, False, True, None, None, None)


REFUSED = ConnectionRefusedError(111, "Connection refused")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            aiohttp.ClientConnectorError(_key(), REFUSED), httpx.ConnectError, id="refused"
        ),
        pytest.param(
            aiohttp.ClientConnectorDNSError(_key(), OSError("no such host")),
            httpx.ConnectError,
            id="dns",
        ),
        pytest.param(
            aiohttp.ConnectionTimeoutError("t"), httpx.ConnectTimeout, id="connect-timeout"
        ),
        pytest.param(aiohttp.SocketTimeoutError("t"), httpx.ReadTimeout, id="read-timeout"),
        pytest.param(aiohttp.ServerTimeoutError("t"), httpx.ReadTimeout, id="server-timeout"),
        pytest.param(
            aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError, id="disconnected"
        ),
        pytest.param(aiohttp.ClientConnectionResetError("x"), httpx.WriteError, id="write-reset"),
        pytest.param(aiohttp.ClientOSError(104, "reset by peer"), httpx.ReadError, id="os-error"),
        pytest.param(aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError, id="payload"),
        pytest.param(
            aiohttp.NonHttpUrlClientError("ftp://x"), httpx.UnsupportedProtocol, id="not-http"
        ),
        pytest.param(asyncio.TimeoutError(), httpx.TimeoutException, id="bare-timeout"),
        pytest.param(ConnectionResetError(), httpx.ReadError, id="bare-reset"),
        pytest.param(aiohttp.ClientError("?"), httpx.TransportError, id="other"),
    ],
)
def test_every_aiohttp_error_maps_to_its_httpx_type(
    error: Exception, expected: type[httpx.TransportError]
) -> None:
    assert httpx_error_type(error) is expected


# -- bodies, headers, and httpx's own jobs -------------------------------------------


async def test_a_large_body_is_streamed_in_pieces() -> None:
    server = Server()
    transport = AiohttpTransport()
    async with (
        server.running() as base,
        httpx.AsyncClient(transport=transport) as client,
        client.stream("GET", f"{base}/big", timeout=TIMEOUT) as streamed,
    ):
        chunks = [chunk async for chunk in streamed.aiter_raw()]
    assert sum(map(len, chunks)) == 1_048_576 and len(chunks) > 1


async def test_request_bodies_bytes_and_streamed_arrive_whole_without_added_headers() -> None:
    async def echo(request: Received) -> bytes:
        names = sorted(k.lower() for k, _ in request.headers)
        return response(200, json.dumps({"body": request.body.decode(), "names": names}).encode())

    async def pieces() -> AsyncIterator[bytes]:
        yield b"stre"
        yield b"amed"

    server = Server(echo)
    async with server.running() as base, httpx.AsyncClient(transport=AiohttpTransport()) as client:
        sent = (await client.post(f"{base}/", content=b"bytes", timeout=TIMEOUT)).json()
        streamed = (await client.post(f"{base}/", content=pieces(), timeout=TIMEOUT)).json()
        client.headers.pop("user-agent")
        bare = (await client.get(f"{base}/", timeout=TIMEOUT)).json()
    assert sent["body"] == "bytes" and "content-type" not in sent["names"]
    assert streamed["body"] == "streamed" and "transfer-encoding" in streamed["names"]
    assert "user-agent" not in bare["names"]  # removed by the caller, not re-added by aiohttp
    assert str(server.requests[0].header("user-agent")).startswith(f"python-{httpx.__name__}/")


async def test_decompression_and_redirects_stay_httpx_jobs() -> None:
    async def reply(request: Received) -> bytes:
        if request.path == "/gzip":
            return response(200, gzip.compress(b"unzipped"), "Content-Encoding: gzip")
        return response(302, b"", "Location: /gzip")

    server = Server(reply)
    async with server.running() as base, httpx.AsyncClient(transport=AiohttpTransport()) as client:
        redirect = await client.get(f"{base}/go", timeout=TIMEOUT)
        followed = await client.get(f"{base}/go", follow_redirects=True, timeout=TIMEOUT)
    assert redirect.status_code == 302  # aiohttp did not follow it
    assert followed.text == "unzipped" and followed.headers["content-encoding"] == "gzip"


# -- lifecycle and arguments -----------------------------------------------------------


async def test_a_session_passed_in_is_used_and_left_open() -> None:
    server = Server()
    async with server.running() as base, aiohttp.ClientSession() as session:
        transport = AiohttpTransport(session)
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await client.get(f"{base}/ok", timeout=TIMEOUT)).text == "ok"
        assert not session.closed
        with pytest.raises(RuntimeError, match="closed"):
            await transport.handle_async_request(httpx.Request("GET", f"{base}/ok"))


async def test_a_closed_transport_refuses_requests() -> None:
    transport = AiohttpTransport()
    await transport.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", "http://127.0.0.1:1/"))


def test_bad_arguments_raise_naming_them() -> None:
    with pytest.raises(TypeError, match=r"session must be an aiohttp\.ClientSession"):
        AiohttpTransport(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="verify must be"):
        AiohttpTransport(verify="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="limits must be"):
        AiohttpTransport(limits=10)  # type: ignore[arg-type]


async def test_session_and_session_settings_do_not_mix() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="with session= configure your session"):
            AiohttpTransport(session, verify=False)


def test_on_trio_it_raises_a_clear_error() -> None:
    async def main() -> None:
        transport = AiohttpTransport()
        async with httpx.AsyncClient(transport=RetryingAsyncTransport(transport)) as client:
            with pytest.raises(RuntimeError, match="asyncio only"):
                await client.get("http://127.0.0.1:1/")

    trio.run(main)


def test_without_aiohttp_the_import_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # what an absent package looks like
    monkeypatch.delitem(sys.modules, "resilient_transport.transports.aiohttp")
    with pytest.raises(ImportError, match=r"pip install 'resilient-transport\[aiohttp\]'"):
        importlib.import_module("resilient_transport.transports.aiohttp")


async def test_events_through_the_stack_carry_the_mapped_error() -> None:
    sock = refusing_socket()
    try:
        with EventRecorder() as recorder:
            transport = RetryingAsyncTransport(
                AiohttpTransport(), max_retries=1, sleep=no_sleep, events=recorder.send
            )
            async with httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get(f"http://127.0.0.1:{sock.getsockname()[1]}/", timeout=TIMEOUT)
            events: list[AsyncEvent] = recorder.events
    finally:
        sock.close()
    assert [e.event_type for e in events] == [EventType.RETRY, EventType.ERROR]
    assert all(type(e.error) is httpx.ConnectError for e in events)


async def test_cookies_are_the_clients_alone() -> None:
    async def reply(request: Received) -> bytes:
        if request.path == "/set":
            return response(200, b"", "Set-Cookie: session=abc; Path=/")
        return response(200, str(request.header("cookie")).encode())

    server = Server(reply)
    async with server.running() as base, httpx.AsyncClient(transport=AiohttpTransport()) as client:
        await client.get(f"{base}/set", timeout=TIMEOUT)
        sent = (await client.get(f"{base}/echo", timeout=TIMEOUT)).text
        client.cookies.clear()
        after_clearing = (await client.get(f"{base}/echo", timeout=TIMEOUT)).text
    assert sent == "session=abc"  # once, from httpx's jar
    assert after_clearing == "None"  # aiohttp kept no copy of its own


async def test_a_cancelled_request_stops_at_once_and_the_transport_goes_on() -> None:
    server = Server()
    transport = AiohttpTransport()
    async with server.running() as base, httpx.AsyncClient(transport=transport) as client:
        task = asyncio.create_task(client.get(f"{base}/hang", timeout=TIMEOUT))
        with anyio.fail_after(TIMEOUT):
            await server.arrived.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        response = await client.get(f"{base}/ok", timeout=TIMEOUT)
    assert response.text == "ok"
    assert [r.path for r in server.requests] == ["/hang", "/ok"]


async def test_a_body_cut_short_is_a_remote_protocol_error_when_read() -> None:
    server = Server()
    async with (
        server.running() as base,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
        client.stream("GET", f"{base}/cut", timeout=TIMEOUT) as streamed,
    ):
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await streamed.aread()
    assert isinstance(caught.value.__cause__, aiohttp.ClientPayloadError)
    assert classify_error(caught.value) is FailureKind.MAYBE_PROCESSED


async def test_a_malformed_response_is_a_remote_protocol_error_and_not_retried() -> None:
    async def garbage(request: Received) -> bytes:
        return b"NOT HTTP AT ALL\r\n\r\n"

    server = Server(garbage)
    inner, transport = stack(retry_idempotent_errors=False)
    async with server.running() as base, httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{base}/", timeout=TIMEOUT)
    assert inner.calls == 1


async def test_header_bytes_aiohttp_cannot_send_as_they_are_are_refused() -> None:
    server = Server()
    async with server.running() as base, httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.LocalProtocolError, match="UTF-8 only"):
            await client.get(f"{base}/", headers={"x-latin-1": b"caf\xe9"}, timeout=TIMEOUT)  # type: ignore[arg-type]
    assert server.requests == []


def test_a_pinned_certificate_mismatch_is_a_certificate_failure() -> None:
    mismatch = aiohttp.ServerFingerprintMismatch(b"expected", b"got", "127.0.0.1", 443)
    request = httpx.Request("GET", "https://127.0.0.1/")
    error = httpx_error(mismatch, request)
    assert type(error) is httpx.ConnectError
    assert classify_error(error) is FailureKind.CERTIFICATE


NO_INFO: Any = None  # what these exceptions carry does not matter to the mapping


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            aiohttp.ClientHttpProxyError(NO_INFO, (), status=407), httpx.ProxyError, id="proxy"
        ),
        pytest.param(
            aiohttp.ClientResponseError(NO_INFO, (), status=400),
            httpx.RemoteProtocolError,
            id="bad-response",
        ),
    ],
)
def test_response_level_aiohttp_errors_map_too(
    error: Exception, expected: type[httpx.TransportError]
) -> None:
    assert httpx_error_type(error) is expected


async def test_a_request_with_no_timeouts_waits_without_limit_and_timeouts_are_cached() -> None:
    server = Server()
    transport = AiohttpTransport()
    async with server.running() as base:
        response = await transport.handle_async_request(httpx.Request("GET", f"{base}/ok"))
        await response.aread()
        await response.aclose()
        first = transport._timeout({"connect": 1.0, "read": 2.0, "pool": 3.0})
        assert transport._timeout({"connect": 1.0, "read": 2.0, "pool": 3.0}) is first
        for n in range(100):  # a bounded cache
            transport._timeout({"connect": float(n), "read": None, "pool": None})
        assert len(transport._timeouts) <= 64
        await transport.aclose()
    assert response.content == b"ok"
    assert (first.sock_connect, first.sock_read, first.connect, first.total) == (
        1.0,
        2.0,
        4.0,
        None,
    )


async def test_many_distinct_urls_keep_the_url_cache_bounded() -> None:
    server = Server()
    transport = AiohttpTransport()
    async with server.running() as base, httpx.AsyncClient(transport=transport) as client:
        for n in range(300):
            assert (await client.get(f"{base}/ok?n={n}", timeout=TIMEOUT)).text == "ok"
        assert 0 < len(transport._urls) <= 256
    assert len(server.requests) == 300


async def test_the_body_iterator_is_its_own_async_iterator_and_the_repr_says_whose_session() -> (
    None
):
    server = Server()
    transport = AiohttpTransport()
    async with server.running() as base:
        response = await transport.handle_async_request(httpx.Request("GET", f"{base}/ok"))
        assert isinstance(response.stream, httpx.AsyncByteStream)
        chunks = aiter(response.stream)
        assert aiter(chunks) is chunks
        assert [chunk async for chunk in chunks] == [b"ok"]
        await response.aclose()
        await transport.aclose()
    assert repr(transport) == "AiohttpTransport(own session)"
    async with aiohttp.ClientSession() as session:
        assert repr(AiohttpTransport(session)).startswith("AiohttpTransport(session=<aiohttp")
