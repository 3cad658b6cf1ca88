"""Pins of the synchronous transport that the mutation run found loose.

The async transport's pins (``test_pins_transport``) have these twins here:

- A one-shot request body not yet sent is resent after a connect error.
- The deadline: an attempt with under a second left is still made; none is
  made once the deadline is reached (``DeadlineExceeded``, carrying its
  request and its message); a timeout raised as the deadline is reached, or
  within the slack before it, becomes ``DeadlineExceeded``.
- Giving up because the next sleep would cross the deadline, because the
  budget is spent, or because a one-shot body was sent, leaves the context
  on the response and in the terminal event (async transport).
- A dict override's applied context names the transport's settings too:
  sent again as it is, it applies the same settings.
- The retried response's body: read to its end when its Content-Length is
  at most the drain limit (exactly the limit included), not read when it is
  larger, and read no further than the limit when it is longer than it said.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from resilient_transport import (
    DeadlineExceeded,
    EventType,
    GiveUpReason,
    RequestContext,
    RetryBudget,
    RetryingAsyncTransport,
    RetryingTransport,
)
from resilient_transport.testing import (
    EventRecorder,
    FakeClock,
    RecordingSleep,
    ScriptedTransport,
)

URL = "http://service.test/resource"
# The documented drain limit: a retried body of at most this many bytes is read.
DRAIN_LIMIT = 65_536


# -- a one-shot body -----------------------------------------------------------------


def test_a_one_shot_body_not_yet_sent_is_resent_after_a_connect_error() -> None:
    inner = ScriptedTransport(httpx.ConnectError("refused"), then=200)
    transport = RetryingTransport(inner, sleep=RecordingSleep().sync)
    request = httpx.Request("POST", URL, content=iter([b"one-shot"]))
    response = transport.handle_request(request)
    assert (response.status_code, inner.calls) == (200, 2)


# -- the deadline --------------------------------------------------------------------


def test_an_attempt_with_under_a_second_left_is_still_made() -> None:
    inner = ScriptedTransport()
    transport = RetryingTransport(inner, deadline=0.5, clock=FakeClock())
    response = transport.handle_request(httpx.Request("GET", URL))
    assert (response.status_code, inner.calls) == (200, 1)


def test_no_attempt_is_made_once_the_deadline_is_reached() -> None:
    clock = FakeClock()

    def overslept(delay: float) -> None:
        clock.advance(1.0)  # wakes exactly at the deadline

    inner = ScriptedTransport(httpx.ConnectError("refused"), then=200)
    transport = RetryingTransport(
        inner, deadline=1.0, base_delay=0.25, jitter=0.0, clock=clock, sleep=overslept
    )
    request = httpx.Request("GET", URL)
    with pytest.raises(DeadlineExceeded) as info:
        transport.handle_request(request)
    assert inner.calls == 1
    assert info.value.request is request
    assert str(info.value) == "the request's deadline of 1 s passed before a response arrived"


@pytest.mark.parametrize("at", [1.0, 0.995], ids=["at-the-deadline", "within-the-slack"])
def test_a_timeout_raised_as_the_deadline_is_reached_is_deadline_exceeded(at: float) -> None:
    clock = FakeClock()

    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(at)
        raise httpx.ReadTimeout("timed out", request=request)

    transport = RetryingTransport(
        ScriptedTransport(slow), deadline=1.0, clock=clock, sleep=clock.sync_sleep
    )
    request = httpx.Request("GET", URL)
    with pytest.raises(DeadlineExceeded, match=r"deadline of 1 s") as info:
        transport.handle_request(request)
    assert info.value.request is request
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


# -- the retried response's body -----------------------------------------------------


class Body(httpx.SyncByteStream):
    """A response body that records how far it was read and whether it was closed."""

    def __init__(self, size: int, chunk: int = 4096) -> None:
        self.size, self.chunk = size, chunk
        self.read = 0
        self.to_the_end = False
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        while self.read < self.size:
            part = min(self.chunk, self.size - self.read)
            self.read += part
            yield b"x" * part
        self.to_the_end = True

    def close(self) -> None:
        self.closed = True


def retried_once(body: Body, length: int) -> None:
    busy = httpx.Response(503, headers={"Content-Length": str(length)}, stream=body)
    inner = ScriptedTransport(busy, then=200)
    transport = RetryingTransport(inner, retry_statuses={503}, sleep=RecordingSleep().sync)
    response = transport.handle_request(httpx.Request("GET", URL))
    assert (response.status_code, inner.calls) == (200, 2)
    assert body.closed


def test_a_retried_body_of_exactly_the_drain_limit_is_read_to_its_end() -> None:
    body = Body(DRAIN_LIMIT)
    retried_once(body, DRAIN_LIMIT)
    assert body.read == DRAIN_LIMIT
    assert body.to_the_end


def test_a_retried_body_one_byte_over_the_drain_limit_is_not_read() -> None:
    body = Body(DRAIN_LIMIT + 1)
    retried_once(body, DRAIN_LIMIT + 1)
    assert body.read == 0


def test_a_retried_body_longer_than_it_said_is_read_no_further_than_the_limit() -> None:
    body = Body(100 * 1000, chunk=1000)
    retried_once(body, 10)
    assert body.read == 66 * 1000  # the first chunk past the limit ends the reading
    assert not body.to_the_end


# -- the context of a request given up on by the schedule (async) ---------------------

GIVE_UPS = [GiveUpReason.DEADLINE, GiveUpReason.BUDGET]


def give_up_settings(reason: GiveUpReason) -> dict[str, Any]:
    if reason is GiveUpReason.DEADLINE:
        # The first retry's sleep (1 s, no jitter) would reach the 1 s deadline.
        return {"deadline": 1.0, "base_delay": 1.0, "jitter": 0.0}
    # One failure spends a one-token bucket that has no floor.
    return {"budget": RetryBudget(1.0, 0.1, min_retries_per_second=0)}


@pytest.mark.anyio
@pytest.mark.parametrize("reason", GIVE_UPS)
async def test_a_retried_status_given_up_by_the_schedule_keeps_its_context(
    reason: GiveUpReason,
) -> None:
    settings = give_up_settings(reason)
    inner = ScriptedTransport(503)
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner,
            retry_statuses={503},
            events=recorder.send,
            clock=FakeClock(),
            sleep=RecordingSleep(),
            **settings,
        )
        response = await transport.handle_async_request(httpx.Request("GET", URL))
        events = recorder.events
    assert (response.status_code, inner.calls) == (503, 1)
    context = response.extensions["retry"]
    assert context.current_attempt == 0
    assert [(e.event_type, e.reason) for e in events] == [(EventType.SUCCESS, reason)]
    assert events[0].context == context


@pytest.mark.anyio
@pytest.mark.parametrize("reason", GIVE_UPS)
async def test_an_error_given_up_by_the_schedule_is_reported_with_its_context(
    reason: GiveUpReason,
) -> None:
    settings = give_up_settings(reason)
    inner = ScriptedTransport(httpx.ConnectError("refused"))
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner, events=recorder.send, clock=FakeClock(), sleep=RecordingSleep(), **settings
        )
        request = httpx.Request("GET", URL, extensions={"retry": {"request_id": "given-up"}})
        with pytest.raises(httpx.ConnectError):
            await transport.handle_async_request(request)
        events = recorder.events
    assert inner.calls == 1
    assert [e.reason for e in events] == [reason]
    assert events[0].context.request_id == "given-up"
    assert events[0].context.current_attempt == 1


@pytest.mark.anyio
async def test_a_retried_status_after_a_one_shot_body_was_sent_keeps_its_context() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"one-shot"

    async def busy(request: httpx.Request) -> httpx.Response:
        async for _ in request.stream:  # type: ignore[union-attr]
            pass
        return httpx.Response(503)

    inner = ScriptedTransport(busy)
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            inner, retry_statuses={503}, events=recorder.send, sleep=RecordingSleep()
        )
        request = httpx.Request("PUT", URL, content=body())
        response = await transport.handle_async_request(request)
        events = recorder.events
    assert (response.status_code, inner.calls) == (503, 1)
    context = response.extensions["retry"]
    assert context.current_attempt == 0
    assert [(e.reason, e.context) for e in events] == [(GiveUpReason.BODY_SENT, context)]


# -- a dict override's applied context ---------------------------------------------


def test_a_dict_overrides_applied_context_names_the_transports_settings_too() -> None:
    first = RetryingTransport(ScriptedTransport(), base_delay=0.01)
    request = httpx.Request("GET", URL, extensions={"retry": {"max_retries": 4}})
    applied = first.handle_request(request).extensions["retry"]
    assert isinstance(applied, RequestContext)
    assert applied.named_fields == {"base_delay", "max_retries"}
    inner = ScriptedTransport(httpx.ConnectError("refused"), then=200)
    sleep = RecordingSleep()
    again = RetryingTransport(inner, jitter=0.0, sleep=sleep.sync)  # base_delay 1 s here
    again.handle_request(httpx.Request("GET", URL, extensions={"retry": applied}))
    assert sleep.delays == [0.01]
