"""A request overrides only the settings it names; the rest are the transport's.

Counted with scripted inner transports and recorded (never slept) sleeps, on
asyncio and trio.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from typing import Any

import httpx
import pytest

from resilient_transport import AsyncEvent, EventType, RequestContext, RetryingAsyncTransport
from resilient_transport._overrides import apply_context, apply_dict
from resilient_transport.testing import (
    EventRecorder,
    FlakyTransport,
    RecordingSleep,
    ScriptedTransport,
)

from ._support import URL

pytestmark = pytest.mark.anyio


async def send(
    transport: RetryingAsyncTransport, retry: Any = None
) -> tuple[httpx.Response, RequestContext]:
    async with httpx.AsyncClient(transport=transport) as client:
        extensions = {} if retry is None else {"retry": retry}
        response = await client.get(URL, extensions=extensions)
    ctx = response.extensions["retry"]
    assert isinstance(ctx, RequestContext)
    return response, ctx


async def test_the_readme_example_keeps_the_transports_base_delay() -> None:
    # The README's first example: a context naming max_retries and the id.
    inner = FlakyTransport(failures=2)
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(inner, base_delay=0.01, sleep=sleep)
    response, ctx = await send(transport, RequestContext(max_retries=3, request_id="users"))
    assert (response.status_code, inner.calls, ctx.current_attempt) == (200, 3, 2)
    assert (ctx.max_retries, ctx.base_delay, ctx.request_id) == (3, 0.01, "users")
    # Full jitter below 0.01 then 0.02: never the 1.0 s of RequestContext's default.
    assert len(sleep.delays) == 2
    assert all(delay <= 0.02 for delay in sleep.delays)


@pytest.mark.parametrize(
    "retry",
    [
        RequestContext(max_retries=4, request_id="users"),
        {"max_retries": 4, "request_id": "users"},
    ],
    ids=["context", "dict"],
)
async def test_a_request_overrides_only_what_it_names(retry: Any) -> None:
    transport = RetryingAsyncTransport(
        FlakyTransport(failures=0),
        base_delay=0.01,
        max_delay=0.5,
        jitter=0.25,
        deadline=9.0,
        retry_statuses={503},
        retry_idempotent_errors=True,
        max_retry_after=3.0,
    )
    _, ctx = await send(transport, retry)
    assert (ctx.max_retries, ctx.request_id) == (4, "users")
    assert (ctx.base_delay, ctx.max_delay, ctx.jitter, ctx.deadline) == (0.01, 0.5, 0.25, 9.0)
    assert ctx.retry_statuses == {503}
    assert (ctx.retry_idempotent_errors, ctx.max_retry_after) == (True, 3.0)


async def test_a_setting_named_with_the_class_default_value_still_overrides() -> None:
    transport = RetryingAsyncTransport(FlakyTransport(failures=0), base_delay=0.01, jitter=0.0)
    _, ctx = await send(transport, RequestContext(base_delay=1.0, jitter=1.0))
    assert (ctx.base_delay, ctx.jitter) == (1.0, 1.0)


async def test_events_carry_the_context_that_applied() -> None:
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(
            FlakyTransport(failures=1),
            base_delay=0.01,
            sleep=RecordingSleep(),
            events=recorder.send,
        )
        await send(transport, RequestContext(max_retries=5, request_id="x"))
        await transport.aclose()
        events: list[AsyncEvent] = recorder.events
    assert [e.event_type for e in events] == [EventType.RETRY, EventType.SUCCESS]
    assert [(e.context.base_delay, e.context.max_retries) for e in events] == [(0.01, 5)] * 2


async def test_a_context_from_an_earlier_response_can_be_sent_again_as_it_is() -> None:
    refused = httpx.ConnectError
    inner = ScriptedTransport(refused, refused, 200, refused, refused, refused, 200)
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(inner, base_delay=0.01, sleep=sleep)
    _, first = await send(transport, RequestContext(max_retries=3, request_id="again"))
    assert (inner.calls, first.current_attempt) == (3, 2)
    _, second = await send(transport, first)
    # The attempts start from 0 again: all three retries are there to use.
    assert (inner.calls, second.current_attempt, len(sleep.delays)) == (7, 3, 5)
    assert (second.max_retries, second.base_delay, second.request_id) == (3, 0.01, "again")


@pytest.mark.parametrize(
    "retry", [RequestContext(current_attempt=1), {"current_attempt": 1}], ids=["context", "dict"]
)
async def test_a_request_may_not_set_current_attempt(retry: Any) -> None:
    inner = FlakyTransport(failures=0)
    with pytest.raises(ValueError, match="current_attempt is counted by the transport"):
        await send(RetryingAsyncTransport(inner), retry)
    assert inner.calls == 0


async def test_a_copy_made_with_dataclasses_replace_keeps_the_transports_settings() -> None:
    transport = RetryingAsyncTransport(FlakyTransport(failures=0), base_delay=0.01)
    partial = RequestContext(request_id="a")
    _, ctx = await send(transport, dataclasses.replace(partial, max_retries=4))
    assert (ctx.max_retries, ctx.base_delay, ctx.request_id) == (4, 0.01, "a")


async def test_clone_and_copy_replace_keep_exactly_what_was_named() -> None:
    transport = RetryingAsyncTransport(FlakyTransport(failures=0), base_delay=0.01)
    named = RequestContext(base_delay=1.0, request_id="b")
    _, cloned = await send(transport, named.clone())
    assert cloned.base_delay == 1.0
    # copy.replace (Python 3.13) calls __replace__: it knows what changed.
    replaced = named.__replace__(max_retries=2)
    if sys.version_info >= (3, 13):
        replaced = copy.replace(named, max_retries=2)  # type: ignore[attr-defined,unused-ignore]
    _, ctx = await send(transport, replaced)
    assert (ctx.base_delay, ctx.max_retries) == (1.0, 2)
    _, unnamed = await send(transport, RequestContext(request_id="c").__replace__(jitter=0.5))
    assert (unnamed.base_delay, unnamed.jitter) == (0.01, 0.5)


async def test_a_cap_nobody_set_follows_a_larger_base_delay_from_the_request() -> None:
    transport = RetryingAsyncTransport(FlakyTransport(failures=0))
    _, ctx = await send(transport, RequestContext(base_delay=30.0))
    assert (ctx.base_delay, ctx.max_delay) == (30.0, 30.0)
    _, ctx = await send(transport, {"base_delay": 45.0})
    assert (ctx.base_delay, ctx.max_delay) == (45.0, 45.0)


async def test_a_cap_the_transport_set_holds_under_a_larger_requested_base_delay() -> None:
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(
        FlakyTransport(failures=1), max_delay=5.0, jitter=0.0, sleep=sleep
    )
    _, ctx = await send(transport, RequestContext(base_delay=30.0))
    assert (ctx.base_delay, ctx.max_delay, sleep.delays) == (30.0, 5.0, [5.0])
    _, ctx = await send(transport, {"base_delay": 30.0})
    assert (ctx.max_delay, sleep.delays) == (5.0, [5.0, 5.0])


@dataclasses.dataclass(frozen=True)
class CountingContext(RequestContext):
    """A user's subclass that counts the contexts its retries make."""

    made: list[int] = dataclasses.field(default_factory=list, compare=False)

    def increment_attempt(self) -> RequestContext:
        self.made.append(self.current_attempt + 1)
        return super().increment_attempt()


async def test_a_context_subclass_keeps_its_class_and_takes_the_transports_settings() -> None:
    transport = RetryingAsyncTransport(
        FlakyTransport(failures=2), base_delay=0.01, sleep=RecordingSleep()
    )
    retry = CountingContext(max_retries=3)
    _, ctx = await send(transport, retry)
    assert isinstance(ctx, CountingContext)
    assert (ctx.current_attempt, ctx.max_retries, ctx.base_delay) == (2, 3, 0.01)
    assert retry.made == [1, 2]


async def test_an_unknown_dict_key_is_quoted_cleanly_with_the_close_match() -> None:
    inner = FlakyTransport(failures=0)
    with pytest.raises(TypeError) as info:
        await send(RetryingAsyncTransport(inner), {"retries": 3})
    assert str(info.value) == (
        "unknown RequestContext field 'retries' in {'retries': 3}; did you mean 'max_retries'?"
    )
    assert inner.calls == 0


def test_an_unknown_key_with_no_close_match_gets_no_suggestion() -> None:
    with pytest.raises(TypeError) as info:
        apply_dict(RequestContext(), {"zzz": 1})
    assert str(info.value) == "unknown RequestContext field 'zzz' in {'zzz': 1}"


def test_a_context_remembers_positional_fields_as_named() -> None:
    transport = RetryingAsyncTransport(httpx.AsyncBaseTransport(), base_delay=0.01)
    ctx = apply_context(transport.defaults, RequestContext(5, jitter=0.5))
    assert (ctx.max_retries, ctx.base_delay, ctx.jitter) == (5, 0.01, 0.5)


async def test_the_transports_defaults_are_not_mutated_by_requests() -> None:
    transport = RetryingAsyncTransport(FlakyTransport(failures=0), base_delay=0.01)
    before = transport.defaults.clone()
    await send(transport, RequestContext(max_retries=9, base_delay=3.0))
    await send(transport, {"jitter": 0.1})
    assert transport.defaults == before
    assert (transport.defaults.max_retries, transport.defaults.jitter) == (2, 1.0)


def test_copy_replace_of_a_subclass_keeps_its_class() -> None:
    ctx = CountingContext(max_retries=3).__replace__(base_delay=0.5)
    assert isinstance(ctx, CountingContext)
    assert (ctx.max_retries, ctx.base_delay) == (3, 0.5)
