"""httpx2 (Pydantic's continuation of httpx) without ``httpx2.alias_httpx()``.

In the main environment both stacks are installed and nothing aliases: an
application on httpx2 whose dependencies still pull in httpx. These tests
drive both transports from ``httpx2.AsyncClient`` / ``httpx2.Client`` over
httpx2's own inner transports, on real 127.0.0.1 sockets, and check that
httpx2's and httpcore2's exceptions get the safety class of httpx's. The
whole suite also runs on httpx2 alone, aliased (``.ci/pytest_on_httpx2.py``),
where these tests run too and ``httpx`` *is* httpx2. Skipped where httpx2 is
not installed (Python 3.10: httpx2 needs 3.11).
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

httpx2 = pytest.importorskip("httpx2")
httpcore2 = pytest.importorskip("httpcore2")

import trustme  # noqa: E402 - after the skip

from resilient_transport import (  # noqa: E402
    DeadlineExceeded,
    EventQueue,
    EventType,
    GiveUpReason,
    RetryingAsyncTransport,
    RetryingTransport,
)
from resilient_transport._classify import FailureKind, classify_error  # noqa: E402
from resilient_transport.testing import (  # noqa: E402
    CountingTransport,
    EventRecorder,
    FakeClock,
    RecordingSleep,
    ScriptedTransport,
)

from ._server import ScriptedServer, free_port, serving  # noqa: E402
from ._sync_server import SyncServer  # noqa: E402

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def listening_on(port: int, server: ScriptedServer) -> AsyncIterator[None]:
    """Serve ``server`` on 127.0.0.1:``port`` (a port that refused until now)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.handle)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()


# -- both transports under httpx2's clients, real sockets ----------------------------------


async def test_two_refused_connections_then_success_make_three_attempts_on_httpx2() -> None:
    port = free_port()
    server = ScriptedServer()
    inner = CountingTransport(httpx2.AsyncHTTPTransport())
    sleeps: list[float] = []
    async with anyio.create_task_group() as tg:
        started = anyio.Event()
        done = anyio.Event()

        async def serve() -> None:
            async with listening_on(port, server):
                started.set()
                await done.wait()

        async def sleep(delay: float) -> None:
            sleeps.append(delay)
            if len(sleeps) == 2:  # listen before the third attempt
                tg.start_soon(serve)
                await started.wait()

        with EventRecorder() as recorder:
            transport = RetryingAsyncTransport(inner, events=recorder.send, sleep=sleep)
            async with httpx2.AsyncClient(transport=transport) as client:
                response = await client.get(f"http://127.0.0.1:{port}/users")
            types = recorder.types()
        done.set()
    assert isinstance(response, httpx2.Response)
    assert response.status_code == 200
    assert inner.calls == 3 and len(sleeps) == 2
    assert server.served == ["GET /users"]  # the refused attempts never reached it
    assert response.extensions["retry"].current_attempt == 2
    assert types == [EventType.RETRY, EventType.RETRY, EventType.SUCCESS]


async def test_a_refused_port_is_tried_three_times_then_httpx2s_connect_error_is_raised() -> None:
    inner = CountingTransport(httpx2.AsyncHTTPTransport())
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(inner, events=recorder.send, sleep=RecordingSleep())
        async with httpx2.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx2.ConnectError) as caught:
                await client.get(f"http://127.0.0.1:{free_port()}/")
        events = recorder.events
    assert inner.calls == 3
    assert [e.event_type for e in events] == [EventType.RETRY, EventType.RETRY, EventType.ERROR]
    assert (events[-1].reason, events[-1].error) == (GiveUpReason.EXHAUSTED, caught.value)


def sync_events(queue: EventQueue) -> list[EventType]:
    types = []
    while (event := queue.receive_nowait()) is not None:
        types.append(event.event_type)
    return types


def test_the_sync_transport_tries_a_refused_port_three_times_on_httpx2() -> None:
    inner = CountingTransport(httpx2.HTTPTransport())
    queue = EventQueue(math.inf)
    transport = RetryingTransport(inner, events=queue, sleep=lambda _: None)
    with httpx2.Client(transport=transport) as client, pytest.raises(httpx2.ConnectError):
        client.get(f"http://127.0.0.1:{free_port()}/")
    assert inner.calls == 3
    assert sync_events(queue) == [EventType.RETRY, EventType.RETRY, EventType.ERROR]


def test_the_sync_transport_retries_an_httpx2_connect_error_then_reaches_the_server(
    sync_server: SyncServer,
) -> None:
    # Two scripted refusals (httpx2's own ConnectError), then httpx2's real
    # transport to the live server.
    real = httpx2.HTTPTransport()
    inner = CountingTransport(
        ScriptedTransport(httpx2.ConnectError, httpx2.ConnectError, then=real.handle_request)
    )
    queue = EventQueue(math.inf)
    transport = RetryingTransport(inner, events=queue, sleep=lambda _: None)
    with httpx2.Client(transport=transport) as client:
        response = client.get(f"{sync_server.url}/ok")
    real.close()
    assert isinstance(response, httpx2.Response)
    assert response.status_code == 200
    assert inner.calls == 3
    assert response.extensions["retry"].current_attempt == 2
    assert sync_server.requests == ["GET /ok"]
    assert sync_events(queue) == [EventType.RETRY, EventType.RETRY, EventType.SUCCESS]


async def test_a_transport_without_an_inner_one_sends_each_request_through_its_own_stack(
    local_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []
    for package in {httpx, httpx2}:  # one module when httpx is aliased to httpx2
        cls = package.AsyncHTTPTransport
        original_exit, original_close = cls.__aexit__, cls.aclose

        async def aexit(
            self: Any, *args: Any, exit_: Any = original_exit, name: str = package.__name__
        ) -> None:
            closed.append(name)
            await exit_(self, *args)

        async def aclose(
            self: Any, close: Any = original_close, name: str = package.__name__
        ) -> None:
            closed.append(name)
            await close(self)

        monkeypatch.setattr(cls, "__aexit__", aexit)
        monkeypatch.setattr(cls, "aclose", aclose)
    async with httpx2.AsyncClient(transport=RetryingAsyncTransport()) as client:
        response = await client.get(f"{local_server.url}/two")
    # With both stacks, the primary (httpx) inner transport is made up front
    # and httpx2's for the first httpx2 request; closing closes both.
    made = ["httpx", "httpx2"] if httpx is not httpx2 else ["httpx2"]
    assert sorted(closed) == made
    assert isinstance(response, httpx2.Response)
    assert response.status_code == 200
    assert local_server.served == ["GET /two"]


def test_the_sync_transport_without_an_inner_one_uses_httpx2s_for_an_httpx2_client(
    sync_server: SyncServer,
) -> None:
    with httpx2.Client(transport=RetryingTransport()) as client:
        response = client.get(f"{sync_server.url}/ok")
    assert isinstance(response, httpx2.Response)
    assert response.status_code == 200
    assert sync_server.requests == ["GET /ok"]


async def test_a_streamed_body_is_sent_through_httpx2s_transport(
    local_server: ScriptedServer,
) -> None:
    # A one-shot body is wrapped to know whether sending began; httpx2's
    # transport accepts only its own stream class, which the wrapper is too.
    async def body() -> AsyncIterator[bytes]:
        yield b"he"
        yield b"llo"

    transport = RetryingAsyncTransport(httpx2.AsyncHTTPTransport(), max_retries=2)
    async with httpx2.AsyncClient(transport=transport) as client:
        response = await client.post(f"{local_server.url}/echo", content=body())
    assert response.status_code == 200
    assert [r.body for r in local_server.requests] == [b"hello"]


def test_a_streamed_body_is_sent_through_httpx2s_sync_transport(sync_server: SyncServer) -> None:
    def body() -> Iterator[bytes]:
        yield b"hello"

    transport = RetryingTransport(httpx2.HTTPTransport(), max_retries=2)
    with httpx2.Client(transport=transport) as client:
        response = client.put(f"{sync_server.url}/echo", content=body())
    assert response.status_code == 200
    assert sync_server.requests == ["PUT /echo"]


async def test_a_rejected_certificate_is_never_retried_on_httpx2() -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = ScriptedServer(ssl_context=context)
    sleep = RecordingSleep()
    with EventRecorder() as recorder:
        async with serving(server) as url:
            transport = RetryingAsyncTransport(
                httpx2.AsyncHTTPTransport(), max_retries=5, sleep=sleep, events=recorder.send
            )
            async with httpx2.AsyncClient(transport=transport) as client:
                with pytest.raises(httpx2.ConnectError) as caught:
                    await client.get(f"{url}/")
        terminal = recorder.events[-1]
    assert server.connections == 1 and sleep.delays == []
    assert classify_error(caught.value) is FailureKind.CERTIFICATE
    assert (terminal.event_type, terminal.reason) == (EventType.ERROR, GiveUpReason.CERTIFICATE)


# -- httpx2's and httpcore2's exceptions, classified as httpx's ---------------------------

KINDS = {
    "ConnectError": FailureKind.NOT_SENT,
    "ConnectTimeout": FailureKind.NOT_SENT_TIMEOUT,
    "ReadError": FailureKind.MAYBE_PROCESSED,
    "WriteError": FailureKind.MAYBE_PROCESSED,
    "RemoteProtocolError": FailureKind.MAYBE_PROCESSED,
    "ReadTimeout": FailureKind.MAYBE_PROCESSED,
    "WriteTimeout": FailureKind.MAYBE_PROCESSED,
    "PoolTimeout": FailureKind.OTHER,
    "LocalProtocolError": FailureKind.OTHER,
    "UnsupportedProtocol": FailureKind.OTHER,
    "ProxyError": FailureKind.OTHER,
    "CloseError": FailureKind.OTHER,
}


@pytest.mark.parametrize("name", sorted(KINDS))
@pytest.mark.parametrize("package", ["httpx2", "httpcore2"])
def test_httpx2s_and_httpcore2s_errors_are_classified_as_httpxs(name: str, package: str) -> None:
    module = httpx2 if package == "httpx2" else httpcore2
    if not hasattr(module, name):  # httpcore has no ProxyError-like classes of httpx's
        assert package == "httpcore2"
        return
    kind = classify_error(getattr(module, name)("simulated"))
    assert kind is KINDS[name]
    assert kind is classify_error(getattr(httpx, name)("simulated"))


def test_the_deadline_is_an_httpx2_timeout_for_an_httpx2_request() -> None:
    clock = FakeClock()

    def slow(request: Any) -> Any:
        clock.advance(2.0)
        raise httpx2.ReadTimeout("simulated", request=request)

    transport = RetryingTransport(ScriptedTransport(then=slow), deadline=1.0, clock=clock)
    with (
        httpx2.Client(transport=transport) as client,
        pytest.raises(httpx2.TimeoutException) as caught,
    ):
        client.get("http://upstream.test/")
    assert type(caught.value) is DeadlineExceeded
    assert isinstance(caught.value.__cause__, httpx2.ReadTimeout)


async def test_an_invalid_port_is_httpx2s_invalid_url() -> None:
    inner = CountingTransport(httpx2.AsyncHTTPTransport())
    async with httpx2.AsyncClient(transport=RetryingAsyncTransport(inner)) as client:
        with pytest.raises(httpx2.InvalidURL, match="99999"):
            await client.get("http://127.0.0.1:99999/")
    assert inner.calls == 0


def test_the_library_is_an_httpx2_transport_for_isinstance_checks() -> None:
    assert isinstance(RetryingAsyncTransport(), httpx2.AsyncBaseTransport)
    assert isinstance(RetryingTransport(), httpx2.BaseTransport)
    assert issubclass(DeadlineExceeded, httpx2.TimeoutException)
    assert issubclass(DeadlineExceeded, httpx.TimeoutException)
