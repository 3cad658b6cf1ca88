"""Real sockets on 127.0.0.1: a server that comes up late, crashes, or never answers."""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest

from resilient_transport import EventType, GiveUpReason, RetryingAsyncTransport
from resilient_transport._classify import MAYBE_PROCESSED_ERRORS
from resilient_transport.testing import CountingTransport, EventRecorder, RecordingSleep

from ._rawserver import RawHttpServer, port_of, serving
from ._support import GateSleep, fd_count

pytestmark = pytest.mark.anyio


async def _get(client: httpx.AsyncClient, port: int, request_id: str) -> httpx.Response:
    return await client.get(
        f"http://127.0.0.1:{port}/",
        headers={"X-Request-Id": request_id},
        extensions={"retry": {"request_id": request_id}},
    )


@pytest.mark.parametrize("k", [1, 4])
async def test_server_down_then_up_succeeds_after_exactly_k_refused_attempts(k: int) -> None:
    request_id = str(uuid.uuid4())
    with serving("ok", up=False) as (server, thread), EventRecorder() as recorder:
        inner = CountingTransport(httpx.AsyncHTTPTransport())
        sleep = GateSleep(k, thread.bring_up)
        transport = RetryingAsyncTransport(
            inner, max_retries=k + 3, base_delay=0.5, sleep=sleep, events=recorder.send
        )
        with anyio.fail_after(10):
            async with httpx.AsyncClient(transport=transport) as client:
                response = await _get(client, port_of(server), request_id)

        assert response.status_code == 200
        assert response.text == "ok"
        assert response.extensions["retry"].current_attempt == k
        assert inner.attempts[request_id] == k + 1
        assert inner.failures[request_id] == [httpx.ConnectError] * k
        assert len(sleep.delays) == k
        assert server.served == {request_id: 1}
        events = recorder.events
        assert [e.event_type for e in events] == [EventType.RETRY] * k + [EventType.SUCCESS]
        assert [e.context.current_attempt for e in events[:k]] == list(range(1, k + 1))
        assert events[-1].attempts == k + 1
        assert events[-1].status_code == 200


async def test_server_down_for_good_exhausts_retries_and_raises_the_connect_error() -> None:
    request_id = str(uuid.uuid4())
    with serving("ok", up=False) as (server, _), EventRecorder() as recorder:
        inner = CountingTransport(httpx.AsyncHTTPTransport())
        transport = RetryingAsyncTransport(
            inner, max_retries=3, sleep=RecordingSleep(), events=recorder.send
        )
        with anyio.fail_after(10):
            async with httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(httpx.ConnectError):
                    await _get(client, port_of(server), request_id)

        assert inner.attempts[request_id] == 4
        assert server.received == {}
        assert recorder.types() == [EventType.RETRY] * 3 + [EventType.ERROR]
        assert recorder.events[-1].reason is GiveUpReason.EXHAUSTED
        assert recorder.events[-1].context.current_attempt == 4


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_server_crashing_after_reading_the_request_is_not_retried_by_default(
    method: str,
) -> None:
    request_id = str(uuid.uuid4())
    with serving("reset") as (server, _), EventRecorder() as recorder:
        inner = CountingTransport(httpx.AsyncHTTPTransport())
        transport = RetryingAsyncTransport(
            inner, max_retries=5, sleep=RecordingSleep(), events=recorder.send
        )
        with anyio.fail_after(10):
            async with httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(MAYBE_PROCESSED_ERRORS) as caught:
                    await client.request(
                        method,
                        f"http://127.0.0.1:{port_of(server)}/",
                        headers={"X-Request-Id": request_id},
                        content=b"payload",
                        extensions={"retry": {"request_id": request_id}},
                    )

        assert isinstance(caught.value, httpx.TransportError)
        assert inner.attempts[request_id] == 1
        assert server.received == {request_id: 1}
        assert server.served == {}
        assert recorder.types() == [EventType.ERROR]
        assert recorder.events[0].reason is GiveUpReason.NOT_RETRYABLE
        assert recorder.events[0].error is caught.value


async def test_server_crash_on_a_post_is_not_retried_even_with_idempotent_retries_on() -> None:
    request_id = str(uuid.uuid4())
    with serving("reset") as (server, _), EventRecorder() as recorder:
        inner = CountingTransport(httpx.AsyncHTTPTransport())
        transport = RetryingAsyncTransport(
            inner,
            max_retries=5,
            retry_idempotent_errors=True,
            sleep=RecordingSleep(),
            events=recorder.send,
        )
        with anyio.fail_after(10):
            async with httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(MAYBE_PROCESSED_ERRORS):
                    await client.post(
                        f"http://127.0.0.1:{port_of(server)}/",
                        headers={"X-Request-Id": request_id},
                        content=b"charge the card",
                        extensions={"retry": {"request_id": request_id}},
                    )

        assert inner.attempts[request_id] == 1
        assert server.received == {request_id: 1}
        assert recorder.events[-1].reason is GiveUpReason.NOT_IDEMPOTENT


async def test_server_that_never_answers_times_out_once_with_a_timeout_event() -> None:
    request_id = str(uuid.uuid4())
    with serving("hang") as (server, _), EventRecorder() as recorder:
        inner = CountingTransport(httpx.AsyncHTTPTransport())
        transport = RetryingAsyncTransport(
            inner,
            max_retries=5,
            retry_connect_timeouts=True,  # a read timeout is still not retried
            sleep=RecordingSleep(),
            events=recorder.send,
        )
        with anyio.fail_after(10):
            async with httpx.AsyncClient(
                transport=transport, timeout=httpx.Timeout(5.0, read=0.2)
            ) as client:
                with pytest.raises(httpx.ReadTimeout):
                    await _get(client, port_of(server), request_id)

        assert inner.attempts[request_id] == 1
        assert server.received == {request_id: 1}
        assert recorder.types() == [EventType.TIMEOUT]
        assert recorder.events[0].attempts == 1
        assert recorder.events[0].context.current_attempt == 1


async def test_request_cancelled_during_an_attempt_is_not_retried_and_leaks_no_socket() -> None:
    request_id = str(uuid.uuid4())
    fds_before = fd_count()
    with serving("hang") as (server, _), EventRecorder() as recorder:
        inner = CountingTransport(httpx.AsyncHTTPTransport())
        transport = RetryingAsyncTransport(
            inner,
            max_retries=5,
            retry_idempotent_errors=True,  # even so: a cancellation is never retried
            sleep=RecordingSleep(),
            events=recorder.send,
        )
        with anyio.fail_after(10):
            async with (
                httpx.AsyncClient(transport=transport) as client,
                anyio.create_task_group() as task_group,
            ):
                task_group.start_soon(_get, client, port_of(server), request_id)
                # The server thread cannot set an anyio.Event: poll it.
                while not server.received:  # noqa: ASYNC110
                    await anyio.sleep(0.005)
                task_group.cancel_scope.cancel()

        assert inner.attempts[request_id] == 1
        assert inner.failures[request_id] == [anyio.get_cancelled_exc_class()]
        assert server.received == {request_id: 1}
        assert recorder.types() == [EventType.CANCELLED]
        assert recorder.events[0].reason is GiveUpReason.CANCELLED
    assert fd_count() == fds_before


@contextlib.contextmanager
def _accept_queue_full(server: RawHttpServer) -> Iterator[None]:
    """Make a down server's port listen with a full accept queue, until it comes up.

    With a backlog of 0 the kernel queues one connection and then drops every
    SYN: a client's connect neither succeeds nor is refused, it times out: a
    real ``ConnectTimeout`` on 127.0.0.1.
    """
    sock = server._reserved
    assert sock is not None
    sock.listen(0)
    fillers = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(2)]
    try:
        for filler in fillers:
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port_of(server)))
        time.sleep(0.02)  # let the handshakes fill the queue
        yield
    finally:
        for filler in fillers:
            filler.close()


CONNECT_TIMEOUT = httpx.Timeout(5.0, connect=0.1)


async def test_connect_timeout_on_a_full_accept_queue_is_not_retried_by_default() -> None:
    request_id = str(uuid.uuid4())
    with serving("ok", up=False) as (server, _), EventRecorder() as recorder:
        with _accept_queue_full(server), anyio.fail_after(10):
            inner = CountingTransport(httpx.AsyncHTTPTransport())
            transport = RetryingAsyncTransport(
                inner, max_retries=3, sleep=RecordingSleep(), events=recorder.send
            )
            async with httpx.AsyncClient(transport=transport, timeout=CONNECT_TIMEOUT) as client:
                with pytest.raises(httpx.ConnectTimeout):
                    await _get(client, port_of(server), request_id)

        assert inner.attempts[request_id] == 1
        assert recorder.types() == [EventType.TIMEOUT]
        assert recorder.events[0].reason is GiveUpReason.NOT_RETRYABLE


async def test_connect_timeouts_when_enabled_are_retried_until_the_server_accepts() -> None:
    request_id, k = str(uuid.uuid4()), 2
    with serving("ok", up=False) as (server, thread), EventRecorder() as recorder:
        with _accept_queue_full(server), anyio.fail_after(10):
            inner = CountingTransport(httpx.AsyncHTTPTransport())
            transport = RetryingAsyncTransport(
                inner,
                max_retries=k + 2,
                retry_connect_timeouts=True,
                sleep=GateSleep(k, thread.bring_up),
                events=recorder.send,
            )
            async with httpx.AsyncClient(transport=transport, timeout=CONNECT_TIMEOUT) as client:
                response = await _get(client, port_of(server), request_id)

        assert response.status_code == 200
        assert response.extensions["retry"].current_attempt == k
        assert inner.failures[request_id] == [httpx.ConnectTimeout] * k
        assert server.served[request_id] == 1
        assert recorder.types() == [EventType.RETRY] * k + [EventType.SUCCESS]


async def test_streamed_body_is_sent_once_and_whole_after_refused_connects() -> None:
    # A one-shot body survives failed connects: nothing of it was read, so
    # the attempt that connects sends all of it, and only that attempt.
    request_id, k = str(uuid.uuid4()), 3
    chunks = [b"alpha-", b"beta-", b"gamma"]
    produced: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            produced.append(chunk)
            yield chunk

    with serving("ok", up=False) as (server, thread), EventRecorder() as recorder:
        inner = CountingTransport(httpx.AsyncHTTPTransport())
        transport = RetryingAsyncTransport(
            inner, max_retries=k, sleep=GateSleep(k, thread.bring_up), events=recorder.send
        )
        with anyio.fail_after(10):
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.post(
                    f"http://127.0.0.1:{port_of(server)}/",
                    content=body(),
                    headers={
                        "X-Request-Id": request_id,
                        "Content-Length": str(sum(map(len, chunks))),
                    },
                    extensions={"retry": {"request_id": request_id}},
                )

        assert response.status_code == 200
        assert inner.attempts[request_id] == k + 1
        assert produced == chunks
        assert server.bodies[request_id] == [b"".join(chunks)]
        assert server.served[request_id] == 1
        assert recorder.types() == [EventType.RETRY] * k + [EventType.SUCCESS]
