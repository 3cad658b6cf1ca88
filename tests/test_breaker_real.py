"""The circuit breaker over real 127.0.0.1 sockets: a dead port, the break, the probe, the books.

Connection attempts are counted by a `CountingTransport` around a real
httpx transport; the break is passed by advancing a fake clock, never by
sleeping.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from resilient_transport import (
    AsyncEvent,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    EventType,
    GiveUpReason,
    RetryingAsyncTransport,
    RetryingTransport,
)
from resilient_transport.testing import CountingTransport, EventRecorder, FakeClock, RecordingSleep

from ._server import ScriptedServer, echo, free_port

pytestmark = pytest.mark.anyio

OPEN, CLOSED = CircuitState.OPEN, CircuitState.CLOSED


@contextlib.asynccontextmanager
async def listening(port: int) -> AsyncIterator[ScriptedServer]:
    """The suite's scripted server, on ``port`` of 127.0.0.1 (the origin that was down)."""
    server = ScriptedServer(then=echo)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.handle)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


async def get(client: httpx.AsyncClient, url: str) -> httpx.Response | BaseException:
    try:
        return await client.get(url)
    except httpx.TransportError as exc:
        return exc


async def test_a_dead_port_opens_the_circuit_then_nothing_is_sent_until_the_probe_closes_it() -> (
    None
):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock)
    inner = CountingTransport(httpx.AsyncHTTPTransport())
    transport = RetryingAsyncTransport(inner, breaker=breaker, max_retries=0)
    async with httpx.AsyncClient(transport=transport) as client:
        outcomes = [await get(client, url) for _ in range(5)]
        assert all(isinstance(o, httpx.ConnectError) for o in outcomes)
        assert breaker.state(url) is OPEN and inner.calls == 5
        # The break: 50 requests, not one connection attempt.
        clock.advance(4.9)
        for _ in range(50):
            refused = await get(client, url)
            assert isinstance(refused, CircuitOpenError)
            assert refused.origin == f"http://127.0.0.1:{port}"
        assert inner.calls == 5 and breaker.refused == 50
        assert f"http://127.0.0.1:{port}" in str(refused)
        # After it, with the port still dead, the probe fails: another break.
        clock.advance(0.1)
        assert isinstance(await get(client, url), httpx.ConnectError)
        assert inner.calls == 6 and breaker.state(url) is OPEN
        assert isinstance(await get(client, url), CircuitOpenError)
        # The server comes back; after the next break the probe closes it.
        async with listening(port) as server:
            clock.advance(5.0)
            first = await get(client, url)
            assert isinstance(first, httpx.Response) and first.status_code == 200
            assert breaker.state(url) is CLOSED
            for _ in range(10):
                response = await get(client, url)
                assert isinstance(response, httpx.Response) and response.status_code == 200
            assert inner.calls == 17 and len(server.requests) == 11


async def test_one_breaker_shared_by_two_transports_protects_both() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    breaker = CircuitBreaker(consecutive_failures=3, clock=FakeClock())
    first = CountingTransport(httpx.AsyncHTTPTransport())
    second = CountingTransport(httpx.AsyncHTTPTransport())
    async with (
        httpx.AsyncClient(transport=RetryingAsyncTransport(first, breaker=breaker)) as a,
        httpx.AsyncClient(transport=RetryingAsyncTransport(second, breaker=breaker)) as b,
    ):
        # max_retries=2: the first request's three attempts open the circuit.
        assert isinstance(await get(a, url), httpx.ConnectError)
        assert isinstance(await get(b, url), CircuitOpenError)
        assert (first.calls, second.calls) == (3, 0)


async def test_64_concurrent_requests_balance_the_books_exactly() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    breaker = CircuitBreaker(clock=FakeClock())
    inner = CountingTransport(httpx.AsyncHTTPTransport())
    results: list[httpx.Response | BaseException] = []
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner, breaker=breaker, events=recorder.send, base_delay=0.0, sleep=RecordingSleep()
        )
        async with httpx.AsyncClient(transport=transport) as client:

            async def one() -> None:
                results.append(await get(client, url))

            async with anyio.create_task_group() as tg:
                for _ in range(64):
                    tg.start_soon(one)
        events: list[AsyncEvent] = recorder.events
    terminal = [e for e in events if e.is_terminal]
    refused = [r for r in results if isinstance(r, CircuitOpenError)]
    assert len(results) == 64 and breaker.state(url) is OPEN
    assert len(terminal) == 64 and len({e.request_id for e in terminal}) == 64
    # Every attempt the breaker let go reached the network; every refusal
    # is a fast failure; the events count the same attempts.
    assert inner.calls == breaker.admitted
    assert len(refused) == breaker.refused > 0
    assert sum(e.attempts for e in terminal) == inner.calls
    # A retry follows every attempt sent, but the last of a request that did
    # not end refused.
    retries = sum(e.event_type is EventType.RETRY for e in events)
    assert retries == inner.calls - 64 + len(refused)
    assert all(
        e.reason is GiveUpReason.CIRCUIT_OPEN
        for e in terminal
        if isinstance(e.error, CircuitOpenError)
    )


# -- the synchronous twin --------------------------------------------------------------


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@contextlib.contextmanager
def sync_listening(port: int) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Ok)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def sync_get(client: httpx.Client, url: str) -> httpx.Response | BaseException:
    try:
        return client.get(url)
    except httpx.TransportError as exc:
        return exc


def test_the_sync_transport_opens_refuses_probes_and_closes_over_real_sockets() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    clock = FakeClock()
    breaker = CircuitBreaker(clock=clock)
    inner = CountingTransport(httpx.HTTPTransport())
    transport = RetryingTransport(inner, breaker=breaker, base_delay=0.0, sleep=lambda _: None)
    results: list[httpx.Response | BaseException] = []
    lock = threading.Lock()
    with httpx.Client(transport=transport) as client:

        def work() -> None:
            for _ in range(4):
                outcome = sync_get(client, url)
                with lock:
                    results.append(outcome)

        threads = [threading.Thread(target=work) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert breaker.state(url) is OPEN and len(results) == 64
        assert inner.calls == breaker.admitted
        assert sum(isinstance(r, CircuitOpenError) for r in results) == breaker.refused
        sent = inner.calls
        for _ in range(20):
            assert isinstance(sync_get(client, url), CircuitOpenError)
        assert inner.calls == sent
        with sync_listening(port):
            clock.advance(5.0)
            for _ in range(5):
                response = sync_get(client, url)
                assert isinstance(response, httpx.Response) and response.status_code == 200
        assert breaker.state(url) is CLOSED and inner.calls == sent + 5
