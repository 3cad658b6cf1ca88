"""The retry policy against real servers on 127.0.0.1: TLS, Retry-After, leaks, disconnects.

Each test starts its own server (``tests/_server.py``) in its own event
loop, and counts what reached it: TCP connections and requests. Sleeps are
recorded, never slept.
"""

from __future__ import annotations

import ssl
import time
from email.utils import formatdate
from typing import Any

import anyio
import httpx
import pytest
import trustme

from resilient_transport import (
    DeadlineExceeded,
    EventType,
    FailureKind,
    GiveUpReason,
    RetryingAsyncTransport,
    classify_error,
)
from resilient_transport.testing import EventRecorder, RecordingSleep

from ._server import Reply, ScriptedServer, serving

pytestmark = pytest.mark.anyio

EVERY_OPTION: dict[str, Any] = {
    "retry_connect_timeouts": True,
    "retry_idempotent_errors": True,
    "retry_statuses": {429, 502, 503, 504},
}


def server_tls(ca: trustme.CA, *hostnames: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hostnames).configure_cert(context)
    return context


def client_trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def the_terminal_event(recorder: EventRecorder) -> Any:
    events = recorder.events
    assert [e.is_terminal for e in events].count(True) == 1
    assert events[-1].is_terminal
    return events[-1]


# -- TLS verification failures: one attempt, never retried -----------------------------


@pytest.mark.parametrize(
    ("certified_for", "client_trusts_the_ca"),
    [
        pytest.param("127.0.0.1", False, id="untrusted-ca"),
        pytest.param("other.test", True, id="hostname-mismatch"),
    ],
)
async def test_a_rejected_server_certificate_is_tried_once_and_never_retried(
    certified_for: str, client_trusts_the_ca: bool
) -> None:
    ca = trustme.CA()
    server = ScriptedServer(ssl_context=server_tls(ca, certified_for))
    # The default verify (certifi) does not know a CA that trustme just made.
    verify: ssl.SSLContext | bool = client_trusting(ca) if client_trusts_the_ca else True
    sleep = RecordingSleep()
    with EventRecorder() as recorder:
        async with serving(server) as url:
            transport = RetryingAsyncTransport(
                httpx.AsyncHTTPTransport(verify=verify),
                max_retries=5,
                events=recorder.send,
                sleep=sleep,
                **EVERY_OPTION,
            )
            async with httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(httpx.ConnectError) as info:
                    await client.get(f"{url}/")
        event = the_terminal_event(recorder)
    assert server.connections == 1
    assert server.requests == []
    assert sleep.delays == []
    assert classify_error(info.value) is FailureKind.CERTIFICATE
    assert (event.event_type, event.reason, event.attempts) == (
        EventType.ERROR,
        GiveUpReason.CERTIFICATE,
        1,
    )
    assert event.error is info.value


async def test_the_same_tls_server_answers_a_client_that_trusts_its_certificate() -> None:
    # The control for the test above: the server works, only trust was missing.
    ca = trustme.CA()
    server = ScriptedServer(ssl_context=server_tls(ca, "127.0.0.1"))
    async with serving(server) as url:
        transport = RetryingAsyncTransport(httpx.AsyncHTTPTransport(verify=client_trusting(ca)))
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(f"{url}/")
    assert (response.status_code, response.text) == (200, "ok")
    assert server.connections == 1


# -- Retry-After ---------------------------------------------------------------------


async def test_a_503_with_retry_after_1_is_retried_after_one_second_then_200() -> None:
    server = ScriptedServer(Reply(503, {"Retry-After": "1"}, b"busy"))
    sleep = RecordingSleep()
    with EventRecorder() as recorder:
        async with serving(server) as url:
            transport = RetryingAsyncTransport(
                retry_statuses={503}, sleep=sleep, events=recorder.send
            )
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.get(f"{url}/")
        events = recorder.events
    assert response.status_code == 200
    assert len(server.requests) == 2
    assert len(sleep.delays) == 1
    assert 1.0 <= sleep.delays[0] <= 2.0  # one second, spread over one more
    assert [(e.event_type, e.status_code) for e in events] == [
        (EventType.RETRY, 503),
        (EventType.SUCCESS, 200),
    ]
    assert events[0].delay == sleep.delays[0]
    assert events[1].reason is None


async def test_a_503_with_retry_after_as_an_http_date_waits_until_that_date() -> None:
    server = ScriptedServer(
        Reply(503, {"Retry-After": formatdate(time.time() + 3, usegmt=True)}, b"busy")
    )
    sleep = RecordingSleep()
    async with serving(server) as url:
        transport = RetryingAsyncTransport(retry_statuses={503}, sleep=sleep)
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(f"{url}/")
    assert response.status_code == 200
    assert len(server.requests) == 2
    # The date has a one-second resolution; the spread adds at most as much again.
    assert len(sleep.delays) == 1
    assert 1.5 <= sleep.delays[0] <= 6.0


async def test_a_retry_after_above_the_maximum_returns_the_503_as_is_without_retry() -> None:
    server = ScriptedServer(Reply(503, {"Retry-After": "120"}, b"come back in two minutes"))
    sleep = RecordingSleep()
    with EventRecorder() as recorder:
        async with serving(server) as url:
            transport = RetryingAsyncTransport(
                retry_statuses={503}, max_retry_after=60, sleep=sleep, events=recorder.send
            )
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.get(f"{url}/")
        event = the_terminal_event(recorder)
    assert (response.status_code, response.text) == (503, "come back in two minutes")
    assert response.headers["Retry-After"] == "120"
    assert len(server.requests) == 1
    assert sleep.delays == []
    assert (event.event_type, event.reason, event.status_code) == (
        EventType.SUCCESS,
        GiveUpReason.RETRY_AFTER_TOO_LONG,
        503,
    )


# -- retried responses are closed: no connection leaks -----------------------------------


async def test_retried_responses_are_released_so_one_connection_serves_every_attempt() -> None:
    # Two 503s then a 200, twenty times. With a pool of one connection, a
    # retried response left open would hold it, and the next attempt would
    # wait for the pool until PoolTimeout.
    server = ScriptedServer(
        then=lambda r: Reply(503, body=b"busy") if r.index % 3 < 2 else Reply()
    )
    transport = RetryingAsyncTransport(
        httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1)),
        retry_statuses={503},
        sleep=RecordingSleep(),
    )
    timeout = httpx.Timeout(5, pool=2)
    async with (
        serving(server) as url,
        httpx.AsyncClient(transport=transport, timeout=timeout) as c,
    ):
        statuses = [(await c.get(f"{url}/{i}")).status_code for i in range(20)]
    assert statuses == [200] * 20
    assert len(server.requests) == 60
    assert server.connections == 1


async def test_a_retried_response_with_a_large_body_is_closed_not_leaked() -> None:
    # A body past the drain limit is not read to the end: its connection is
    # closed instead of reused. Still never held: the pool of one never jams.
    big = b"x" * 300_000
    server = ScriptedServer(then=lambda r: Reply(503, body=big) if r.index % 2 == 0 else Reply())
    transport = RetryingAsyncTransport(
        httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1)),
        retry_statuses={503},
        sleep=RecordingSleep(),
    )
    timeout = httpx.Timeout(5, pool=2)
    async with (
        serving(server) as url,
        httpx.AsyncClient(transport=transport, timeout=timeout) as c,
    ):
        statuses = [(await c.get(f"{url}/{i}")).status_code for i in range(5)]
    assert statuses == [200] * 5
    assert len(server.requests) == 10
    assert 2 <= server.connections <= 10


# -- maybe processed: the server read the request, then closed without answering ----------


@pytest.mark.parametrize(
    ("method", "options", "attempts", "reason"),
    [
        ("GET", {"retry_idempotent_errors": True}, 2, None),
        ("PUT", {"retry_idempotent_errors": True}, 2, None),
        ("POST", {"retry_idempotent_errors": True}, 1, GiveUpReason.NOT_IDEMPOTENT),
        ("GET", {}, 1, GiveUpReason.NOT_RETRYABLE),
    ],
)
async def test_server_disconnected_without_a_response_is_retried_only_when_idempotent(
    method: str, options: dict[str, Any], attempts: int, reason: GiveUpReason | None
) -> None:
    server = ScriptedServer(Reply(action="drop"))
    with EventRecorder() as recorder:
        async with serving(server) as url:
            transport = RetryingAsyncTransport(
                sleep=RecordingSleep(), events=recorder.send, **options
            )
            async with httpx.AsyncClient(transport=transport) as client:
                if attempts == 2:
                    response = await client.request(method, f"{url}/", content=b"payload")
                    assert response.status_code == 200
                else:
                    with pytest.raises(
                        httpx.RemoteProtocolError,
                        match="Server disconnected without sending a response",
                    ):
                        await client.request(method, f"{url}/", content=b"payload")
        event = the_terminal_event(recorder)
    assert len(server.requests) == attempts
    assert [r.body for r in server.requests] == [b"payload"] * attempts
    assert event.reason is reason
    assert classify_error(recorder.events[0].error) is FailureKind.MAYBE_PROCESSED  # type: ignore[arg-type]


# -- the deadline bounds a real attempt ---------------------------------------------------


async def test_a_deadline_cuts_a_hanging_attempt_short_and_gives_up() -> None:
    server = ScriptedServer(Reply(action="hang"))
    with EventRecorder() as recorder:
        async with serving(server) as url:
            transport = RetryingAsyncTransport(
                deadline=0.3,
                base_delay=0,
                retry_idempotent_errors=True,
                sleep=RecordingSleep(),
                events=recorder.send,
            )
            async with httpx.AsyncClient(transport=transport, timeout=30) as client:
                started = anyio.current_time()
                # The read timeout clamped to the time left, or the deadline's
                # own bound on the attempt: whichever fires first.
                with anyio.fail_after(10), pytest.raises(httpx.TimeoutException):
                    await client.get(f"{url}/")
                took = anyio.current_time() - started
        event = the_terminal_event(recorder)
    # The client's own read timeout is 30 s: only the deadline can end it this soon.
    assert 0.25 <= took < 5
    assert len(server.requests) == 1
    assert (event.event_type, event.reason) == (EventType.TIMEOUT, GiveUpReason.DEADLINE)


async def test_a_deadline_ends_a_response_head_that_trickles_in() -> None:
    # One byte every 50 ms: no read ever waits long enough for a read timeout,
    # and the whole head would take about 2 s. The deadline of 0.5 s ends it.
    server = ScriptedServer(Reply(action="trickle", interval=0.05))
    with EventRecorder() as recorder:
        async with serving(server) as url:
            transport = RetryingAsyncTransport(deadline=0.5, events=recorder.send)
            async with httpx.AsyncClient(transport=transport, timeout=30) as client:
                with anyio.fail_after(30), pytest.raises(DeadlineExceeded):
                    await client.get(f"{url}/")
            head_length = len(b"HTTP/1.1 200 \r\ncontent-length: 2\r\n\r\n")
            trickled = server.trickled
        event = the_terminal_event(recorder)
    assert len(server.requests) == 1
    # The connection was closed long before the head was through.
    assert trickled < head_length
    assert (event.event_type, event.reason) == (EventType.TIMEOUT, GiveUpReason.DEADLINE)
