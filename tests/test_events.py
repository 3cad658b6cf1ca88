"""Events: one RETRY per retry, exactly one terminal event, never waiting, never raising."""

from __future__ import annotations

import math
import time
from typing import Any

import anyio
import httpcore
import httpx
import pytest

from resilient_transport import (
    AsyncEvent,
    EventType,
    GiveUpReason,
    RequestContext,
    RetryingAsyncTransport,
)
from resilient_transport._events import Emitter
from resilient_transport._redact import safe_url
from resilient_transport.testing import (
    EventRecorder,
    FlakyTransport,
    RecordingSleep,
    ScriptedTransport,
)

from ._support import URL, Outcome, run

pytestmark = pytest.mark.anyio

#: A query the events keep as it is (page is no secret).
QUERY_URL = f"{URL}?page=2"


async def send(inner: httpx.AsyncBaseTransport, **kwargs: Any) -> Outcome:
    """`run` a GET of `QUERY_URL`, request id "r1"."""
    return await run(inner, url=QUERY_URL, extensions={"retry": {"request_id": "r1"}}, **kwargs)


R, S, E, T, C = (
    EventType.RETRY,
    EventType.SUCCESS,
    EventType.ERROR,
    EventType.TIMEOUT,
    EventType.CANCELLED,
)


async def test_two_failures_then_success_emit_retry_retry_success() -> None:
    sent = await send(FlakyTransport(failures=2))
    events = sent.events
    assert isinstance(sent.result, httpx.Response)
    assert [e.event_type for e in events] == [R, R, S]
    assert [e.context.current_attempt for e in events] == [1, 2, 2]
    assert [e.attempts for e in events] == [1, 2, 3]
    assert all(isinstance(e.error, httpx.ConnectError) for e in events[:2])
    assert all(e.delay is not None and 0 <= e.delay <= 2.0 for e in events[:2])
    assert events[2].status_code == 200
    assert events[2].error is None and events[2].delay is None and events[2].reason is None
    assert {e.request_id for e in events} == {"r1"}


async def test_the_kth_retry_event_carries_current_attempt_k_and_its_exception() -> None:
    errors = [httpx.ConnectError(f"refused {i}") for i in range(3)]
    events = (await send(ScriptedTransport(*errors), max_retries=3)).events
    retries = [e for e in events if e.event_type is R]
    assert [(e.context.current_attempt, e.error) for e in retries] == [
        (1, errors[0]),
        (2, errors[1]),
        (3, errors[2]),
    ]


async def test_exhausted_retries_emit_retry_retry_error_with_current_attempt_three() -> None:
    sent = await send(FlakyTransport(failures=9), max_retries=2)
    outcome, events = sent.result, sent.events
    assert isinstance(outcome, httpx.ConnectError)
    assert [e.event_type for e in events] == [R, R, E]
    assert events[-1].context.current_attempt == 3
    assert events[-1].attempts == 3
    assert events[-1].error is outcome
    assert events[-1].reason is GiveUpReason.EXHAUSTED


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpcore.PoolTimeout("busy")],
    ids=lambda e: type(e).__name__,
)
async def test_a_timeout_emits_timeout(error: Exception) -> None:
    sent = await send(ScriptedTransport(error))
    outcome, events = sent.result, sent.events
    assert outcome is error
    assert [e.event_type for e in events] == [T]
    assert events[0].error is error
    assert events[0].reason is GiveUpReason.NOT_RETRYABLE
    assert events[0].context.current_attempt == 1


async def test_a_timeout_after_retries_is_the_terminal_timeout() -> None:
    sent = await send(ScriptedTransport(httpx.ConnectError("x"), httpx.ReadTimeout("t")))
    assert [e.event_type for e in sent.events] == [R, T]


async def test_a_non_retryable_error_emits_error() -> None:
    error = httpx.ReadError("reset")
    sent = await send(ScriptedTransport(error))
    outcome, events = sent.result, sent.events
    assert outcome is error
    assert [(e.event_type, e.reason) for e in events] == [(E, GiveUpReason.NOT_RETRYABLE)]


async def test_an_http_error_status_is_a_success_event() -> None:
    events = (await send(ScriptedTransport(503))).events
    assert [(e.event_type, e.status_code) for e in events] == [(S, 503)]


async def test_cancelled_during_an_attempt_emits_cancelled_and_no_further_attempt() -> None:
    started = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    inner = ScriptedTransport(httpx.ConnectError("x"), hang)
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(inner, events=recorder.send, sleep=RecordingSleep())
        async with (
            httpx.AsyncClient(transport=transport) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(client.get, QUERY_URL)
            await started.wait()
            tg.cancel_scope.cancel()
        events = recorder.events
    assert inner.calls == 2
    assert [e.event_type for e in events] == [R, C]
    assert events[-1].attempts == 2
    assert events[-1].context.current_attempt == 1
    assert events[-1].reason is GiveUpReason.CANCELLED
    assert isinstance(events[-1].error, anyio.get_cancelled_exc_class())


async def test_cancelled_during_backoff_emits_cancelled_and_no_further_attempt() -> None:
    inner = FlakyTransport(failures=1)
    sleep = RecordingSleep(block=True)
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(inner, events=recorder.send, sleep=sleep)
        async with (
            httpx.AsyncClient(transport=transport) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(client.get, QUERY_URL)
            while not sleep.sleeping:
                await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()
        events = recorder.events
    assert inner.calls == 1
    assert [e.event_type for e in events] == [R, C]
    assert events[-1].attempts == 1
    assert events[-1].context.current_attempt == 1


async def test_a_keyboard_interrupt_in_an_attempt_is_an_error_event_and_propagates() -> None:
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            ScriptedTransport(KeyboardInterrupt()), events=recorder.send
        )
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(KeyboardInterrupt):
                await client.get(QUERY_URL)
        assert recorder.types() == [E]


async def test_events_carry_method_url_elapsed_and_a_timestamp() -> None:
    ticks = iter([10.0, 10.5, 11.25, 12.0, 13.0])
    events = (await send(FlakyTransport(failures=1), clock=lambda: next(ticks))).events
    assert [e.method for e in events] == ["GET", "GET"]
    assert [e.url for e in events] == [QUERY_URL, QUERY_URL]
    assert [e.elapsed for e in events] == [0.5, 1.25]
    assert all(math.isfinite(e.timestamp) and e.timestamp > 1e9 for e in events)
    assert all(e.is_terminal is (e.event_type is not R) for e in events)
    assert all(e.event_type.is_terminal is e.is_terminal for e in events)


async def test_events_never_carry_credentials_or_header_values() -> None:
    secret = "Bearer s3cr3t-token"
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            FlakyTransport(failures=1), events=recorder.send, sleep=RecordingSleep()
        )
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(
                "http://alice:pa55word@service.test/x",
                headers={"Authorization": secret, "X-Api-Key": "k3y-v4lue"},
            )
        events = recorder.events
    assert len(events) == 2
    for event in events:
        text = repr(event) + event.url + str(event.data)
        for forbidden in ("pa55word", "alice", "s3cr3t", "k3y-v4lue"):
            assert forbidden not in text
        assert event.url == "http://service.test/x"


def test_safe_url_removes_only_the_userinfo() -> None:
    assert safe_url(httpx.URL("https://u:p@h.test:8443/a?b=1")) == "https://h.test:8443/a?b=1"
    assert safe_url(httpx.URL("https://h.test/a")) == "https://h.test/a"


def test_events_are_frozen() -> None:
    event = AsyncEvent(EventType.SUCCESS, RequestContext(), 0.0)
    with pytest.raises(AttributeError):
        event.attempts = 2  # type: ignore[misc]


# -- emission never waits and never raises ------------------------------------------


async def test_a_full_stream_drops_events_and_counts_them() -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](1)
    async with receive:
        transport = RetryingAsyncTransport(
            FlakyTransport(failures=2), events=send, sleep=RecordingSleep()
        )
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(QUERY_URL)
        assert response.status_code == 200
        assert transport.dropped_events == 2
        assert receive.receive_nowait().event_type is R  # the one that fit


async def test_a_closed_receiver_stops_emission_quietly() -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](10)
    receive.close()
    transport = RetryingAsyncTransport(
        FlakyTransport(failures=2), events=send, sleep=RecordingSleep()
    )
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(3):
            response = await client.get(QUERY_URL)
            assert response.status_code == 200
    assert transport.dropped_events == 0


async def test_aclose_closes_the_event_send_stream() -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](10)
    async with receive:
        transport = RetryingAsyncTransport(FlakyTransport(failures=0), events=send)
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(QUERY_URL)
        assert receive.receive_nowait().event_type is S
        with pytest.raises(anyio.EndOfStream):
            receive.receive_nowait()


async def test_a_stream_that_raises_anything_else_counts_drops_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        def send_nowait(self, item: AsyncEvent) -> None:
            raise RuntimeError("boom")

        async def aclose(self) -> None:
            pass

    transport = RetryingAsyncTransport(
        FlakyTransport(failures=1),
        events=Broken(),  # type: ignore[arg-type]  # not a stream: duck-typed on purpose
        sleep=RecordingSleep(),
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(QUERY_URL)
        await client.get(QUERY_URL)
    assert transport.dropped_events == 4
    assert len([r for r in caplog.records if r.name == "resilient_transport"]) == 1


async def test_without_a_stream_nothing_is_emitted_or_counted() -> None:
    transport = RetryingAsyncTransport(FlakyTransport(failures=1), sleep=RecordingSleep())
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(QUERY_URL)
    assert transport.dropped_events == 0


async def test_an_emitter_closed_twice_is_harmless() -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](1)
    sink = Emitter(send, time.monotonic)
    assert sink.active
    await sink.aclose()
    await sink.aclose()
    assert not sink.active
    receive.close()


async def test_an_emitter_that_is_already_closed_emits_nothing() -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](1)
    sink = Emitter(send, time.monotonic)
    await sink.aclose()
    sink.emit(
        EventType.SUCCESS,
        RequestContext(),
        httpx.Request("GET", "http://h.test/"),
        0.0,
        attempts=1,
    )
    assert sink.dropped == 0
    receive.close()


async def test_aclose_of_the_body_tracker_closes_the_wrapped_stream() -> None:
    from resilient_transport._attempt import TrackedStream

    closed: list[bool] = []

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield b"x"

        async def aclose(self) -> None:
            closed.append(True)

    tracked = TrackedStream(Body())
    assert not tracked.started
    await tracked.aclose()
    assert closed == [True]


@pytest.mark.parametrize("member", [*EventType, *GiveUpReason])
def test_a_member_hashes_as_its_value_which_it_equals(member: EventType | GiveUpReason) -> None:
    # Enum hashes the name (in Python, per dict lookup); a str enum member
    # equals its value, so it hashes as its value: both find each other.
    assert member == member.value
    assert hash(member) == hash(member.value)
    assert {member.value: "found"}[member] == "found"
    assert {member: "found"}[member.value] == "found"
