"""Request and response bodies: a partly sent streamed body is never resent, and a
retried response is closed before the next attempt (no connection leak; the
real-server version is in ``test_policy_real.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import httpx
import pytest

from resilient_transport import GiveUpReason, RetryingAsyncTransport
from resilient_transport.testing import RecordingSleep, ScriptedTransport

from ._support import EVERY_OPTION, run

pytestmark = pytest.mark.anyio


async def two_chunks() -> AsyncIterator[bytes]:
    yield b"part-1;"
    yield b"part-2;"


# -- a streamed body partly sent is never resent ------------------------------------------


async def test_a_partly_sent_streamed_body_is_not_resent_after_a_maybe_processed_error() -> None:
    sent: list[bytes] = []
    held: list[AsyncIterator[bytes]] = []

    async def send_one_chunk_then_break(request: httpx.Request) -> httpx.Response:
        chunks = request.stream.__aiter__()  # type: ignore[union-attr]
        held.append(chunks)
        sent.append(await chunks.__anext__())
        raise httpx.WriteError("[Errno 32] Broken pipe", request=request)

    async def body() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"chunk-{i};".encode()

    inner = ScriptedTransport(then=send_one_chunk_then_break)
    outcome = await run(inner, method="PUT", content=body(), max_retries=5, **EVERY_OPTION)
    assert isinstance(outcome.result, httpx.WriteError)
    assert inner.calls == 1
    assert sent == [b"chunk-0;"]
    assert outcome.terminal.reason is GiveUpReason.BODY_SENT
    # The rest of the body was never sent; finish it here, so nothing is left
    # suspended when the generators are collected.
    assert [chunk async for chunk in held[0]] == [b"chunk-1;", b"chunk-2;"]


async def test_a_streamed_body_not_yet_started_is_sent_whole_after_a_connect_timeout() -> None:
    received: list[bytes] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        received.append(await request.aread())
        return httpx.Response(200)

    async def body() -> AsyncIterator[bytes]:
        yield b"a;"
        yield b"b;"

    inner = ScriptedTransport(httpx.ConnectTimeout, then=answer)
    outcome = await run(inner, method="POST", content=body(), retry_connect_timeouts=True)
    assert inner.calls == 2
    assert received == [b"a;b;"]
    assert outcome.terminal.reason is None


async def test_a_bytes_body_is_resent_after_a_maybe_processed_error_when_idempotent() -> None:
    received: list[bytes] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        received.append(await request.aread())
        if len(received) == 1:
            raise httpx.ReadError("reset after the body", request=request)
        return httpx.Response(204)

    inner = ScriptedTransport(then=answer)
    outcome = await run(inner, method="PUT", content=b"whole", retry_idempotent_errors=True)
    assert isinstance(outcome.result, httpx.Response)
    assert outcome.result.status_code == 204
    assert received == [b"whole", b"whole"]


async def test_a_streamed_body_the_inner_transport_buffered_is_resent_whole() -> None:
    # request.aread() keeps the body in the request: a retry can send it again.
    received: list[bytes] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        received.append(await request.aread())
        if len(received) == 1:
            raise httpx.ReadError("reset after the body", request=request)
        return httpx.Response(200)

    inner = ScriptedTransport(then=answer)
    outcome = await run(inner, method="PUT", content=two_chunks(), retry_idempotent_errors=True)
    assert inner.calls == 2
    assert received == [b"part-1;part-2;"] * 2
    assert outcome.terminal.reason is None


# -- a retried response is closed before the next attempt ---------------------------------


class LoggedStream(httpx.AsyncByteStream):
    def __init__(self, log: list[str], name: str, chunks: list[bytes] | None = None) -> None:
        self.log, self.name = log, name
        self.chunks = [b"busy"] if chunks is None else chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.log.append(f"read {self.name}")
        for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        self.log.append(f"closed {self.name}")


async def test_each_retried_response_is_read_and_closed_before_the_next_attempt() -> None:
    log: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        name = str(sum(entry.startswith("attempt") for entry in log))
        log.append(f"attempt {name}")
        if name == "2":
            return httpx.Response(200, headers={"content-length": "2"}, content=b"ok")
        stream = LoggedStream(log, name)
        return httpx.Response(503, headers={"content-length": "4"}, stream=stream)

    outcome = await run(ScriptedTransport(then=answer), retry_statuses={503})
    assert isinstance(outcome.result, httpx.Response)
    assert outcome.result.status_code == 200
    assert log == [
        "attempt 0",
        "read 0",
        "closed 0",
        "attempt 1",
        "read 1",
        "closed 1",
        "attempt 2",
    ]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-content-length"),
        pytest.param({"content-length": "1000000"}, id="large"),
    ],
)
async def test_a_retried_response_of_unknown_or_large_size_is_closed_unread(
    headers: dict[str, str],
) -> None:
    log: list[str] = []
    script = [httpx.Response(503, headers=headers, stream=LoggedStream(log, "0"))]
    outcome = await run(ScriptedTransport(*script, then=200), retry_statuses={503})
    assert isinstance(outcome.result, httpx.Response)
    assert outcome.result.status_code == 200
    assert log == ["closed 0"]


async def test_a_retried_response_longer_than_it_said_is_cut_short_and_closed() -> None:
    log: list[str] = []
    endless = LoggedStream(log, "0", chunks=[b"x" * 65_536] * 4)
    script = [httpx.Response(503, headers={"content-length": "4"}, stream=endless)]
    with anyio.fail_after(5):
        outcome = await run(ScriptedTransport(*script, then=200), retry_statuses={503})
    assert isinstance(outcome.result, httpx.Response)
    assert log == ["read 0", "closed 0"]


async def test_a_retried_response_that_breaks_while_read_is_still_closed_and_retried() -> None:
    log: list[str] = []

    class Broken(LoggedStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            self.log.append("read 0")
            raise httpx.ReadError("reset while reading the 503")
            yield b""  # pragma: no cover

    script = [httpx.Response(503, headers={"content-length": "4"}, stream=Broken(log, "0"))]
    inner = ScriptedTransport(*script, then=200)
    outcome = await run(inner, retry_statuses={503})
    assert isinstance(outcome.result, httpx.Response)
    assert outcome.result.status_code == 200
    assert log == ["read 0", "closed 0"]
    assert inner.calls == 2


async def test_a_retried_response_whose_stream_is_a_plain_iterator_is_read_and_closed() -> None:
    log: list[str] = []

    class PlainIterator(httpx.AsyncByteStream):
        """An async iterator that is not a generator: it has no aclose() of its own."""

        def __init__(self) -> None:
            self.chunks = [b"bu", b"sy"]

        def __aiter__(self) -> PlainIterator:
            return self

        async def __anext__(self) -> bytes:
            if not self.chunks:
                raise StopAsyncIteration
            log.append(f"read {self.chunks[0].decode()}")
            return self.chunks.pop(0)

        async def aclose(self) -> None:
            log.append("closed")

    script = [httpx.Response(503, headers={"content-length": "4"}, stream=PlainIterator())]
    outcome = await run(ScriptedTransport(*script, then=200), retry_statuses={503})
    assert isinstance(outcome.result, httpx.Response)
    assert outcome.result.status_code == 200
    assert log == ["read bu", "read sy", "closed"]


# -- the request leaves with the stream it came with ---------------------------------------


async def test_a_streamed_request_gets_its_own_stream_back_after_retries() -> None:
    inner = ScriptedTransport(httpx.ConnectError, httpx.ConnectError, 200)
    transport = RetryingAsyncTransport(inner, sleep=RecordingSleep())
    async with httpx.AsyncClient(transport=transport) as client:
        request = client.build_request("PUT", "http://service.test/", content=two_chunks())
        stream = request.stream
        response = await client.send(request)
    assert (response.status_code, inner.calls) == (200, 3)
    assert request.stream is stream


@pytest.mark.parametrize("retry_statuses", [frozenset(), frozenset({503})])
async def test_a_multipart_request_gets_its_own_stream_back(
    retry_statuses: frozenset[int],
) -> None:
    inner = ScriptedTransport(503, then=200)
    transport = RetryingAsyncTransport(
        inner, retry_statuses=retry_statuses, sleep=RecordingSleep()
    )
    async with httpx.AsyncClient(transport=transport) as client:
        request = client.build_request(
            "PUT", "http://service.test/", files={"file": ("a.txt", b"data")}
        )
        stream = request.stream
        response = await client.send(request)
    assert response.status_code == (200 if retry_statuses else 503)
    assert request.stream is stream


def wrapping_depth(stream: object) -> int:
    """How many wrappers of the library's lie around the caller's stream."""
    depth = 0
    while hasattr(stream, "_stream"):
        stream = stream._stream
        depth += 1
    return depth


async def test_each_redirect_hop_starts_from_the_callers_stream_not_a_wrapper() -> None:
    seen: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(wrapping_depth(request.stream))
        if request.url.path == "/a":
            return httpx.Response(307, headers={"location": "/b"})
        return httpx.Response(200)

    transport = RetryingAsyncTransport(ScriptedTransport(then=answer), sleep=RecordingSleep())
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        request = client.build_request(
            "PUT", "http://service.test/a", files={"file": ("a.txt", b"data")}
        )
        stream = request.stream
        response = await client.send(request)
    assert response.status_code == 200
    assert seen == [1, 1]  # one wrapper per hop, never a wrapper of a wrapper
    assert request.stream is stream
