"""Pins of the transport that the rest of the suite left loose (issue 11, mutation run).

- ``response.extensions["retry"]`` after giving up on a retried status.
- The request leaves with the extensions and the stream it came with, after
  a retried request too.
- The event of a request interrupted by something other than an exception
  or a cancellation: its type, attempts, error and reason.
- The retried response's body: read to its end when its Content-Length is
  at most the drain limit (exactly the limit included), not read when it is
  larger, and read no further than the limit when it is longer than it said.
- The messages of the refused ``"retry"`` extensions, and the repr.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from resilient_transport import (
    EventType,
    GiveUpReason,
    RequestContext,
    RetryingAsyncTransport,
)
from resilient_transport.testing import EventRecorder, RecordingSleep, ScriptedTransport

pytestmark = pytest.mark.anyio

URL = "http://service.test/resource"
# The documented drain limit: a retried body of at most this many bytes is read.
DRAIN_LIMIT = 65_536


class Interrupt(BaseException):
    """Neither an Exception nor a cancellation: as KeyboardInterrupt or SystemExit are."""


# -- the final context of a response -----------------------------------------------------


async def test_giving_up_on_retried_statuses_leaves_the_final_context_on_the_response() -> None:
    inner = ScriptedTransport(then=503)
    transport = RetryingAsyncTransport(inner, retry_statuses={503}, sleep=RecordingSleep())
    ctx = RequestContext(request_id="busy")
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL, extensions={"retry": ctx})
    assert (response.status_code, inner.calls) == (503, 3)
    final = response.extensions["retry"]
    assert isinstance(final, RequestContext)
    assert (final.request_id, final.current_attempt, final.max_retries) == ("busy", 2, 2)


@pytest.mark.parametrize(
    ("method", "retry_after", "calls", "attempt"),
    [
        ("POST", None, 1, 0),  # not idempotent: given up at once
        ("GET", "3600", 1, 0),  # Retry-After longer than max_retry_after
    ],
)
async def test_a_retried_status_given_up_on_at_once_carries_the_first_context(
    method: str, retry_after: str | None, calls: int, attempt: int
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    inner = ScriptedTransport(httpx.Response(503, headers=headers), then=200)
    transport = RetryingAsyncTransport(inner, retry_statuses={503}, sleep=RecordingSleep())
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.request(method, URL)
    assert (response.status_code, inner.calls) == (503, calls)
    assert response.extensions["retry"].current_attempt == attempt


# -- the request leaves as it came -------------------------------------------------------


async def sent_by_the_transport(*outcomes: Any, **kwargs: Any) -> tuple[httpx.Request, Any]:
    """Send a request with a streamed body and extensions of the caller's own."""

    async def body() -> AsyncIterator[bytes]:
        yield b"payload"

    request = httpx.Request("PUT", URL, content=body(), extensions={"trace": "mine"})
    extensions, stream = request.extensions, request.stream
    transport = RetryingAsyncTransport(
        ScriptedTransport(*outcomes), sleep=RecordingSleep(), **kwargs
    )
    result: Any
    try:
        result = await transport.handle_async_request(request)
    except httpx.HTTPError as exc:
        result = exc
    assert request.extensions is extensions
    assert request.stream is stream
    return request, result


async def test_the_request_keeps_its_extensions_and_stream_after_a_retried_error() -> None:
    request, response = await sent_by_the_transport(httpx.ConnectError, 200)
    assert response.status_code == 200
    assert request.extensions == {"trace": "mine"}


async def test_the_request_keeps_its_extensions_and_stream_after_a_retried_status() -> None:
    request, response = await sent_by_the_transport(503, 200, retry_statuses={503})
    assert response.status_code == 200
    assert request.extensions == {"trace": "mine"}


async def test_the_request_keeps_its_extensions_and_stream_after_giving_up() -> None:
    request, error = await sent_by_the_transport(
        httpx.ConnectError, httpx.ConnectError, max_retries=1
    )
    assert isinstance(error, httpx.ConnectError)
    assert request.extensions == {"trace": "mine"}


async def test_the_request_keeps_its_extensions_and_stream_after_a_first_success() -> None:
    request, response = await sent_by_the_transport(200)
    assert response.status_code == 200
    assert request.extensions == {"trace": "mine"}


# -- an interrupted request --------------------------------------------------------------


async def test_an_interruption_in_an_attempt_is_an_error_event_with_its_fields() -> None:
    interrupt = Interrupt()
    inner = ScriptedTransport(httpx.ConnectError, interrupt)
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(inner, events=recorder.send, sleep=RecordingSleep())
        with pytest.raises(Interrupt) as info:
            await transport.handle_async_request(httpx.Request("GET", URL))
        events = recorder.events
    assert info.value is interrupt
    assert inner.calls == 2
    assert [e.event_type for e in events] == [EventType.RETRY, EventType.ERROR]
    last = events[-1]
    assert (last.attempts, last.context.current_attempt) == (2, 1)
    assert last.error is interrupt
    assert last.reason is GiveUpReason.NOT_RETRYABLE


class InterruptedSleep(RecordingSleep):
    """Records the delay, then is interrupted."""

    def __init__(self, interrupt: BaseException) -> None:
        super().__init__()
        self.interrupt = interrupt

    async def __call__(self, delay: float) -> None:
        await super().__call__(delay)
        raise self.interrupt


async def test_an_interruption_in_a_backoff_is_an_error_event_with_its_fields() -> None:
    interrupt = Interrupt()
    inner = ScriptedTransport(httpx.ConnectError)
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner, events=recorder.send, sleep=InterruptedSleep(interrupt)
        )
        with pytest.raises(Interrupt) as info:
            await transport.handle_async_request(httpx.Request("GET", URL))
        events = recorder.events
    assert info.value is interrupt
    assert inner.calls == 1
    assert [e.event_type for e in events] == [EventType.RETRY, EventType.ERROR]
    last = events[-1]
    assert (last.attempts, last.context.current_attempt) == (1, 1)
    assert last.error is interrupt
    assert last.reason is GiveUpReason.NOT_RETRYABLE


# -- the retried response's body -------------------------------------------------------


class Body(httpx.AsyncByteStream):
    """A response body that records how far it was read and whether it was closed."""

    def __init__(self, size: int, chunk: int = 4096) -> None:
        self.size, self.chunk = size, chunk
        self.read = 0
        self.to_the_end = False
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.read < self.size:
            part = min(self.chunk, self.size - self.read)
            self.read += part
            yield b"x" * part
        self.to_the_end = True

    async def aclose(self) -> None:
        self.closed = True


async def retried_once(body: Body, length: int) -> None:
    busy = httpx.Response(503, headers={"Content-Length": str(length)}, stream=body)
    inner = ScriptedTransport(busy, then=200)
    transport = RetryingAsyncTransport(inner, retry_statuses={503}, sleep=RecordingSleep())
    response = await transport.handle_async_request(httpx.Request("GET", URL))
    assert (response.status_code, inner.calls) == (200, 2)
    assert body.closed


async def test_a_retried_body_of_exactly_the_drain_limit_is_read_to_its_end() -> None:
    body = Body(DRAIN_LIMIT)
    await retried_once(body, DRAIN_LIMIT)
    assert body.read == DRAIN_LIMIT
    assert body.to_the_end


async def test_a_retried_body_one_byte_over_the_drain_limit_is_not_read() -> None:
    body = Body(DRAIN_LIMIT + 1)
    await retried_once(body, DRAIN_LIMIT + 1)
    assert body.read == 0


async def test_a_retried_body_longer_than_it_said_is_read_no_further_than_the_limit() -> None:
    body = Body(100 * 1000, chunk=1000)
    await retried_once(body, 10)
    assert body.read == 66 * 1000  # the first chunk past the limit ends the reading
    assert not body.to_the_end


# -- refused extensions and the repr ------------------------------------------------------


async def test_a_retry_extension_of_the_wrong_type_is_refused_with_the_whole_message() -> None:
    transport = RetryingAsyncTransport(ScriptedTransport())
    request = httpx.Request("GET", URL, extensions={"retry": 5})
    with pytest.raises(TypeError) as info:
        await transport.handle_async_request(request)
    assert str(info.value) == (
        'the "retry" request extension must be a RequestContext, a dict of '
        "RequestContext fields, or None; got 5"
    )


def test_the_repr_names_the_transport_class_its_inner_transport_and_defaults() -> None:
    class Mine(RetryingAsyncTransport):
        pass

    inner = ScriptedTransport()
    transport = RetryingAsyncTransport(inner, max_retries=4)
    assert repr(transport) == (
        f"RetryingAsyncTransport({inner!r}, defaults={transport.defaults!r})"
    )
    assert repr(Mine(inner)).startswith("Mine(")


# -- lifecycle and failures of observability -----------------------------------------------


class ExitRecorder(ScriptedTransport):
    """Records what its ``__aexit__`` was given."""

    def __init__(self) -> None:
        super().__init__()
        self.exited: list[tuple[Any, ...]] = []

    async def __aexit__(self, *args: Any) -> None:
        self.exited.append(args)


async def test_leaving_the_transport_hands_the_exception_to_the_inner_transport() -> None:
    inner = ExitRecorder()
    error = ValueError("in the block")
    with pytest.raises(ValueError, match="in the block"):
        async with RetryingAsyncTransport(inner):
            raise error
    ((exc_type, exc_value, traceback),) = inner.exited
    assert (exc_type, exc_value, traceback) == (ValueError, error, error.__traceback__)


async def test_leaving_the_transport_cleanly_hands_no_exception_to_the_inner_transport() -> None:
    inner = ExitRecorder()
    async with RetryingAsyncTransport(inner) as transport:
        assert transport.transport is inner
    assert inner.exited == [(None, None, None)]


async def test_an_event_that_cannot_be_built_is_dropped_and_counted() -> None:
    # The injected clock fails on every other call: each request's start time
    # is read, the elapsed time of its event is not.
    calls = 0

    def clock() -> float:
        nonlocal calls
        calls += 1
        if calls % 2 == 0:
            raise RuntimeError("clock failure")
        return 100.0

    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(ScriptedTransport(), events=recorder.send, clock=clock)
        for _ in range(2):
            response = await transport.handle_async_request(httpx.Request("GET", URL))
            assert response.status_code == 200
        assert recorder.events == []
    assert transport.dropped_events == 2
