"""Pins of RequestContext that the rest of the suite left loose (issue 11, mutation run).

- The documented defaults of every setting, on a bare context and on a
  transport built without keywords.
- ``retry_statuses`` is validated whatever collection it comes in (a
  frozenset too): ints only, 400 to 599 inclusive.
- A user's subclass keeps its class and counts attempts one at a time, in
  the transport and through ``copy.replace``; sent again, it counts from 0.
- A request's own settings: a cap named in a dict holds, a context merged
  from a dict can be sent again, a cap the transport was given holds even at
  the default's value; refused requests (``current_attempt``, an unknown
  key) get messages that show the value and the best hint.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import httpx
import pytest

from resilient_transport import RequestContext, RetryingAsyncTransport
from resilient_transport.testing import FlakyTransport, RecordingSleep, ScriptedTransport

pytestmark = pytest.mark.anyio

URL = "http://service.test/resource"

DOCUMENTED_DEFAULTS: dict[str, Any] = {
    "max_retries": 2,
    "current_attempt": 0,
    "base_delay": 1.0,
    "max_delay": 20.0,
    "jitter": 1.0,
    "deadline": None,
    "retry_connect_timeouts": False,
    "retry_idempotent_errors": False,
    "retry_statuses": frozenset(),
    "max_retry_after": 60.0,
}


def settings_of(ctx: RequestContext) -> dict[str, Any]:
    return {name: getattr(ctx, name) for name in DOCUMENTED_DEFAULTS}


# -- defaults ---------------------------------------------------------------------------


def test_a_bare_context_has_the_documented_defaults() -> None:
    ctx = RequestContext()
    assert settings_of(ctx) == DOCUMENTED_DEFAULTS
    assert dict(ctx.metadata) == {}


def test_a_transport_without_keywords_has_the_documented_defaults() -> None:
    transport = RetryingAsyncTransport(ScriptedTransport())
    assert settings_of(transport.defaults) == DOCUMENTED_DEFAULTS
    assert transport.defaults.request_id == "defaults"  # a placeholder, fresh per request
    assert transport.budget is None


async def test_a_request_without_a_context_gets_the_documented_defaults() -> None:
    transport = RetryingAsyncTransport(ScriptedTransport())
    response = await transport.handle_async_request(httpx.Request("GET", URL))
    assert settings_of(response.extensions["retry"]) == DOCUMENTED_DEFAULTS


# -- retry_statuses ---------------------------------------------------------------------


@pytest.mark.parametrize("statuses", [{400}, {599}, frozenset({400, 599}), [429, 503], (500,)])
def test_the_error_statuses_at_both_bounds_are_accepted(statuses: Any) -> None:
    ctx = RequestContext(retry_statuses=statuses)
    assert ctx.retry_statuses == frozenset(statuses)
    assert type(ctx.retry_statuses) is frozenset


@pytest.mark.parametrize("collection", [set, frozenset, list])
@pytest.mark.parametrize("status", [200, 304, 399, 600, 0, -503])
def test_a_status_outside_400_to_599_is_refused_in_any_collection(
    collection: Any, status: int
) -> None:
    with pytest.raises(ValueError, match=r"retry_statuses must hold error statuses \(400-599\)"):
        RequestContext(retry_statuses=collection({503, status}))


@pytest.mark.parametrize("element", ["503", 503.0, True, None])
def test_a_frozenset_of_non_ints_is_refused(element: Any) -> None:
    with pytest.raises(TypeError, match="retry_statuses must hold ints"):
        RequestContext(retry_statuses=frozenset({element}))


def test_a_frozenset_with_a_wrong_status_is_refused_by_the_transport_too() -> None:
    with pytest.raises(ValueError, match="retry_statuses"):
        RetryingAsyncTransport(ScriptedTransport(), retry_statuses=frozenset({302}))


async def test_a_wrong_status_in_a_request_dicts_frozenset_is_refused_before_sending() -> None:
    inner = ScriptedTransport()
    transport = RetryingAsyncTransport(inner)
    request = httpx.Request("GET", URL, extensions={"retry": {"retry_statuses": frozenset({200})}})
    with pytest.raises(ValueError, match="retry_statuses"):
        await transport.handle_async_request(request)
    assert inner.calls == 0


# -- a subclass -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Tagged(RequestContext):
    """A user's subclass with a field of its own."""

    tag: str = "untagged"


def test_a_subclass_counts_one_attempt_at_a_time_and_keeps_its_fields() -> None:
    ctx = Tagged(max_retries=5, tag="users")
    once = ctx.increment_attempt()
    twice = once.increment_attempt()
    assert type(twice) is Tagged
    assert (ctx.current_attempt, once.current_attempt, twice.current_attempt) == (0, 1, 2)
    assert (twice.tag, twice.max_retries, twice.request_id) == ("users", 5, ctx.request_id)


async def test_a_subclass_sent_with_a_request_counts_every_retry() -> None:
    inner = FlakyTransport(failures=2)
    transport = RetryingAsyncTransport(inner, base_delay=0.01, sleep=RecordingSleep())
    ctx = Tagged(max_retries=3, tag="users")
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL, extensions={"retry": ctx})
    assert response.status_code == 200
    attempts = [c.current_attempt for c in inner.contexts if c is not None]
    assert attempts == [0, 1, 2]
    assert all(type(c) is Tagged for c in inner.contexts)
    final = response.extensions["retry"]
    assert type(final) is Tagged
    assert (final.current_attempt, final.tag, final.base_delay) == (2, "users", 0.01)


def test_a_subclass_copied_with_replace_keeps_its_class_and_values() -> None:
    ctx = Tagged(max_retries=3, tag="users")
    copy = ctx.__replace__(base_delay=0.5)
    assert type(copy) is Tagged
    assert (copy.max_retries, copy.base_delay, copy.tag) == (3, 0.5, "users")
    assert copy.request_id == ctx.request_id
    assert ctx.clone() == ctx


async def test_a_subclass_taken_from_a_retried_response_starts_counting_afresh() -> None:
    inner = ScriptedTransport(httpx.ConnectError, 200, httpx.ConnectError, 200)
    transport = RetryingAsyncTransport(inner, base_delay=0.01, sleep=RecordingSleep())
    async with httpx.AsyncClient(transport=transport) as client:
        first = await client.get(URL, extensions={"retry": Tagged(tag="users")})
        spent = first.extensions["retry"]
        assert (type(spent), spent.current_attempt) == (Tagged, 1)
        again = await client.get(URL, extensions={"retry": spent})
    attempts = [c.current_attempt for c in inner.contexts if c is not None]
    assert attempts == [0, 1, 0, 1]
    assert again.extensions["retry"].current_attempt == 1


# -- a request's own settings, as a dict or a context ------------------------------------


async def send(transport: RetryingAsyncTransport, retry: object) -> RequestContext:
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL, extensions={"retry": retry})
    ctx = response.extensions["retry"]
    assert isinstance(ctx, RequestContext)
    return ctx


async def test_a_cap_named_in_a_request_dict_holds_over_the_transports() -> None:
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(FlakyTransport(failures=3), sleep=sleep, jitter=0.0)
    ctx = await send(transport, {"max_retries": 3, "base_delay": 2.0, "max_delay": 3.0})
    assert (ctx.base_delay, ctx.max_delay) == (2.0, 3.0)
    assert sleep.delays == [2.0, 3.0, 3.0]


async def test_a_cap_named_in_a_request_dict_holds_over_a_cap_the_transport_was_given() -> None:
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(
        FlakyTransport(failures=2), sleep=sleep, jitter=0.0, max_delay=10.0
    )
    ctx = await send(transport, {"base_delay": 2.0, "max_delay": 3.0})
    assert ctx.max_delay == 3.0
    assert sleep.delays == [2.0, 3.0]


async def test_a_context_merged_from_a_dict_can_be_sent_again_as_it_is() -> None:
    sleep = RecordingSleep()
    inner = ScriptedTransport(httpx.ConnectError, 200, httpx.ConnectError, 200)
    transport = RetryingAsyncTransport(inner, sleep=sleep, jitter=0.0)
    first = await send(transport, {"max_retries": 4, "base_delay": 0.5})
    again = await send(transport, first)
    assert (again.max_retries, again.base_delay, again.current_attempt) == (4, 0.5, 1)
    assert again.request_id == first.request_id
    assert sleep.delays == [0.5, 0.5]


@pytest.mark.parametrize(
    "retry", [{"current_attempt": 3}, RequestContext(current_attempt=3)], ids=["dict", "context"]
)
async def test_a_request_naming_current_attempt_is_refused_showing_the_value(
    retry: object,
) -> None:
    inner = ScriptedTransport()
    message = (
        "current_attempt is counted by the transport from 0 and cannot be set per request, got 3"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        await send(RetryingAsyncTransport(inner), retry)
    assert inner.calls == 0


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("max_retires", "; did you mean 'max_retries'?"),  # a close match, not a substring
        ("id", "; did you mean 'request_id'?"),  # a substring, not a close match
        ("zzz", ""),
    ],
)
async def test_an_unknown_request_dict_key_is_refused_with_the_best_hint(
    key: str, hint: str
) -> None:
    inner = ScriptedTransport()
    with pytest.raises(TypeError) as info:
        await send(RetryingAsyncTransport(inner), {key: 1})
    assert str(info.value) == f"unknown RequestContext field {key!r} in {{{key!r}: 1}}{hint}"
    assert inner.calls == 0


def test_an_unhashable_status_is_refused_naming_the_field() -> None:
    with pytest.raises(TypeError) as info:
        RequestContext(retry_statuses=[[503]])  # type: ignore[arg-type]
    assert str(info.value) == "retry_statuses must hold ints, got [[503]]"


@pytest.mark.parametrize("empty", [set(), [], (), frozenset()], ids=["set", "list", "tuple", "fs"])
def test_an_empty_collection_of_statuses_becomes_an_empty_frozenset(empty: Any) -> None:
    ctx = RequestContext(retry_statuses=empty)
    assert ctx.retry_statuses == frozenset()
    assert type(ctx.retry_statuses) is frozenset


@pytest.mark.parametrize("value", [None, 0, 503, "503"])
def test_statuses_that_are_not_a_collection_of_ints_are_refused(value: Any) -> None:
    with pytest.raises(TypeError, match="retry_statuses must be a collection of ints"):
        RequestContext(retry_statuses=value)


# -- a cap the transport was given holds, even at the default's value -----------------------


async def test_a_cap_given_to_the_transport_at_the_default_value_still_holds() -> None:
    sleep = RecordingSleep()
    transport = RetryingAsyncTransport(
        FlakyTransport(failures=1), max_delay=20.0, jitter=0.0, sleep=sleep
    )
    ctx = await send(transport, RequestContext(base_delay=30.0))
    assert (ctx.base_delay, ctx.max_delay) == (30.0, 20.0)
    assert sleep.delays == [20.0]


def test_a_cap_given_at_the_default_value_below_the_base_delay_is_refused() -> None:
    with pytest.raises(ValueError, match=r"max_delay=20\.0 and base_delay=30\.0"):
        RetryingAsyncTransport(ScriptedTransport(), base_delay=30.0, max_delay=20.0)


def test_a_cap_not_given_follows_a_larger_base_delay() -> None:
    transport = RetryingAsyncTransport(ScriptedTransport(), base_delay=30.0)
    assert transport.defaults.max_delay == 30.0
