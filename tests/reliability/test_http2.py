"""HTTP/2 over TLS against a real local server: connect retries count exactly as over HTTP/1.1.

The server is hypercorn serving a tiny ASGI app on 127.0.0.1, with a
certificate from a throwaway trustme CA that the client trusts; ALPN picks
``h2`` when the client offers it. The server is down (its socket bound but not
listening, so connects are refused) until the injected sleep brings it up.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
import trustme
from hypercorn.config import Config

from resilient_transport import EventType, GiveUpReason, RetryingAsyncTransport
from resilient_transport.testing import CountingTransport, EventRecorder, RecordingSleep

from ._rawserver import reserve_socket
from ._support import GateSleep, LockstepSleep, fd_count

pytestmark = pytest.mark.anyio

PROTOCOLS = [pytest.param("HTTP/1.1", id="http1"), pytest.param("HTTP/2", id="http2")]


class CountingApp:
    """An ASGI app answering ``200 ok``; counts requests per ``X-Request-Id``."""

    def __init__(self) -> None:
        self.served: collections.Counter[str] = collections.Counter()
        self.versions: collections.Counter[str] = collections.Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = dict(scope["headers"])
        self.served[headers.get(b"x-request-id", b"").decode()] += 1
        self.versions[scope["http_version"]] += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def certfile(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(path))
    return path


@pytest.fixture
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


class LateServer:
    """A hypercorn server on a reserved port that refuses connects until :meth:`bring_up`."""

    def __init__(self, app: CountingApp, certfile: Path, backend: str) -> None:
        self.app = app
        self.certfile = certfile
        self.backend = backend
        self.sock: socket.socket | None = reserve_socket()
        self.port = int(self.sock.getsockname()[1])
        self.shutdown = anyio.Event()
        self.task_group: anyio.abc.TaskGroup | None = None

    async def bring_up(self) -> None:
        assert self.sock is not None and self.task_group is not None
        # Listening now makes the kernel queue the very next connect, whenever
        # hypercorn gets round to accepting it.
        self.sock.listen(128)
        config = Config()
        config.bind = [f"fd://{self.sock.detach()}"]  # hypercorn owns the socket now
        self.sock = None
        config.certfile = config.keyfile = str(self.certfile)
        config.accesslog = config.errorlog = None
        config.graceful_timeout = 1.0
        app: Any = self.app  # hypercorn's own ASGI types are stricter than need be
        if self.backend == "trio":
            from hypercorn.trio import serve as trio_serve

            self.task_group.start_soon(
                lambda: trio_serve(app, config, shutdown_trigger=self.shutdown.wait)
            )
        else:
            from hypercorn.asyncio import serve as asyncio_serve

            self.task_group.start_soon(
                lambda: asyncio_serve(app, config, shutdown_trigger=self.shutdown.wait)
            )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LateServer]:
        try:
            async with anyio.create_task_group() as task_group:
                self.task_group = task_group
                try:
                    yield self
                finally:
                    self.shutdown.set()
        finally:
            if self.sock is not None:
                self.sock.close()


def _inner(protocol: str, client_ssl: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    return httpx.AsyncHTTPTransport(
        http1=protocol == "HTTP/1.1", http2=protocol == "HTTP/2", verify=client_ssl
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("k", [1, 3])
async def test_tls_server_down_then_up_succeeds_after_exactly_k_refused_attempts(
    anyio_backend: str, protocol: str, k: int, certfile: Path, client_ssl: ssl.SSLContext
) -> None:
    request_id = str(uuid.uuid4())
    fds_before = fd_count()
    app = CountingApp()
    server = LateServer(app, certfile, anyio_backend)
    with anyio.fail_after(20), EventRecorder() as recorder:
        async with server.running():
            inner = CountingTransport(_inner(protocol, client_ssl))
            sleep = GateSleep(k, server.bring_up)
            transport = RetryingAsyncTransport(
                inner, max_retries=k + 3, sleep=sleep, events=recorder.send
            )
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.get(
                    f"https://127.0.0.1:{server.port}/",
                    headers={"X-Request-Id": request_id},
                    extensions={"retry": {"request_id": request_id}},
                )
        events = recorder.events

    assert response.http_version == protocol
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.extensions["retry"].current_attempt == k
    assert inner.attempts == {request_id: k + 1}
    assert inner.failures[request_id] == [httpx.ConnectError] * k
    assert app.served == {request_id: 1}
    assert [e.event_type for e in events] == [EventType.RETRY] * k + [EventType.SUCCESS]
    assert [e.context.current_attempt for e in events] == [*range(1, k + 1), k]
    assert events[-1].attempts == k + 1
    assert fd_count() == fds_before


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_concurrent_requests_to_a_late_tls_server_each_make_exactly_k_plus_1_attempts(
    anyio_backend: str, protocol: str, certfile: Path, client_ssl: ssl.SSLContext
) -> None:
    # Over HTTP/2 the requests share one connection once it is up, and while
    # the server is down each request still makes (and is refused on) its own
    # connect: the counts are the same as over HTTP/1.1.
    requests, k = 20, 2
    fds_before = fd_count()
    app = CountingApp()
    server = LateServer(app, certfile, anyio_backend)
    ids = [str(uuid.uuid4()) for _ in range(requests)]
    responses: dict[str, httpx.Response] = {}
    with anyio.fail_after(20), EventRecorder() as recorder:
        async with server.running():
            inner = CountingTransport(_inner(protocol, client_ssl))
            sleep = LockstepSleep(requests, k, server.bring_up)
            transport = RetryingAsyncTransport(
                inner, max_retries=k + 3, sleep=sleep, events=recorder.send
            )

            async def one(client: httpx.AsyncClient, request_id: str) -> None:
                responses[request_id] = await client.get(
                    f"https://127.0.0.1:{server.port}/",
                    headers={"X-Request-Id": request_id},
                    extensions={"retry": {"request_id": request_id}},
                )

            async with (
                httpx.AsyncClient(transport=transport) as client,
                anyio.create_task_group() as task_group,
            ):
                for request_id in ids:
                    task_group.start_soon(one, client, request_id)
        events = recorder.events

    assert sorted(responses) == sorted(ids)
    assert {r.http_version for r in responses.values()} == {protocol}
    assert all(r.extensions["retry"].current_attempt == k for r in responses.values())
    assert inner.attempts == dict.fromkeys(ids, k + 1)
    assert all(inner.failures[rid] == [httpx.ConnectError] * k for rid in ids)
    assert app.served == dict.fromkeys(ids, 1)
    assert app.versions == {protocol.removeprefix("HTTP/"): requests}
    by_type = collections.Counter(e.event_type for e in events)
    assert by_type == {EventType.RETRY: requests * k, EventType.SUCCESS: requests}
    assert fd_count() == fds_before


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tls_server_down_for_good_exhausts_retries_like_http1(
    anyio_backend: str, protocol: str, certfile: Path, client_ssl: ssl.SSLContext
) -> None:
    request_id = str(uuid.uuid4())
    app = CountingApp()
    server = LateServer(app, certfile, anyio_backend)
    with anyio.fail_after(20), EventRecorder() as recorder:
        async with server.running():
            inner = CountingTransport(_inner(protocol, client_ssl))
            transport = RetryingAsyncTransport(
                inner, max_retries=3, sleep=RecordingSleep(), events=recorder.send
            )
            async with httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get(
                        f"https://127.0.0.1:{server.port}/",
                        extensions={"retry": {"request_id": request_id}},
                    )
        events = recorder.events

    assert inner.attempts == {request_id: 4}
    assert app.served == {}
    assert [e.event_type for e in events] == [EventType.RETRY] * 3 + [EventType.ERROR]
    assert events[-1].reason is GiveUpReason.EXHAUSTED
    assert events[-1].context.current_attempt == 4
