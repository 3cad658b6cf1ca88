"""RequestContext: immutable, validated, isolated."""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Any

import httpx
import pytest

from resilient_transport import RequestContext, RetryingAsyncTransport
from resilient_transport._context import DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY
from resilient_transport._overrides import apply_dict, with_fresh_id


def test_defaults_follow_the_contract() -> None:
    ctx = RequestContext()
    assert ctx.max_retries == 2
    assert ctx.current_attempt == 0
    assert ctx.base_delay == DEFAULT_BASE_DELAY == 1.0
    assert ctx.max_delay == DEFAULT_MAX_DELAY
    assert uuid.UUID(ctx.request_id).version == 4
    assert dict(ctx.metadata) == {}
    assert ctx.deadline is None
    assert ctx.retry_statuses == frozenset()


def test_each_context_gets_a_fresh_request_id() -> None:
    assert len({RequestContext().request_id for _ in range(100)}) == 100


def test_attribute_assignment_raises_frozen_instance_error() -> None:
    ctx = RequestContext()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.max_retries = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.current_attempt = 1  # type: ignore[misc]


def test_metadata_is_copied_and_read_only() -> None:
    source = {"tenant": "a"}
    ctx = RequestContext(metadata=source)
    source["tenant"] = "b"
    source["extra"] = "x"
    assert dict(ctx.metadata) == {"tenant": "a"}
    with pytest.raises(TypeError):
        ctx.metadata["tenant"] = "c"  # type: ignore[index]


def test_increment_attempt_returns_a_new_context_and_leaves_self_unchanged() -> None:
    ctx = RequestContext(max_retries=3, request_id="r", metadata={"k": 1})
    nxt = ctx.increment_attempt()
    assert nxt is not ctx
    assert (ctx.current_attempt, nxt.current_attempt) == (0, 1)
    assert nxt.request_id == "r"
    assert nxt.metadata == ctx.metadata
    assert nxt.max_retries == 3


def test_has_retries_left_is_current_attempt_at_most_max_retries() -> None:
    ctx = RequestContext(max_retries=2)
    seen = []
    for _ in range(4):
        seen.append((ctx.current_attempt, ctx.has_retries_left))
        ctx = ctx.increment_attempt()
    assert seen == [(0, True), (1, True), (2, True), (3, False)]


def test_zero_retries_still_allows_the_first_attempt() -> None:
    ctx = RequestContext(max_retries=0)
    assert ctx.has_retries_left
    assert not ctx.increment_attempt().has_retries_left


def test_clone_is_equal_and_independent() -> None:
    ctx = RequestContext(request_id="x", metadata={"a": 1}, retry_statuses={503})
    copy = ctx.clone()
    assert copy == ctx
    assert copy is not ctx


def test_calculate_delay_grows_exponentially_without_jitter() -> None:
    ctx = RequestContext(max_retries=10, base_delay=0.5, max_delay=3.0, jitter=0.0)
    delays = []
    for _ in range(5):
        ctx = ctx.increment_attempt()
        delays.append(ctx.calculate_delay())
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_calculate_delay_with_full_jitter_stays_under_the_ceiling() -> None:
    ctx = RequestContext(base_delay=1.0, max_delay=4.0).increment_attempt().increment_attempt()
    assert ctx.calculate_delay(random=lambda: 0.0) == 2.0
    assert ctx.calculate_delay(random=lambda: 0.5) == 1.0
    assert 0.0 <= ctx.calculate_delay(random=lambda: 0.999999) < 0.001


def test_calculate_delay_is_finite_for_huge_attempt_numbers() -> None:
    ctx = RequestContext(max_retries=10**9, current_attempt=10**9, base_delay=1.0, max_delay=7.0)
    delay = ctx.calculate_delay(random=lambda: 0.0)
    assert delay == 7.0
    assert math.isfinite(delay)


def test_zero_base_delay_means_no_delay() -> None:
    ctx = RequestContext(base_delay=0).increment_attempt()
    assert ctx.calculate_delay() == 0.0


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("max_retries", -1, ValueError, "max_retries must be >= 0, got -1"),
        ("max_retries", 1.5, TypeError, "max_retries must be an int, got 1.5"),
        ("max_retries", True, TypeError, "max_retries must be an int, got True"),
        ("max_retries", "3", TypeError, "max_retries must be an int, got '3'"),
        ("current_attempt", -2, ValueError, "current_attempt must be >= 0, got -2"),
        ("base_delay", -0.1, ValueError, "base_delay must be a finite number >= 0, got -0.1"),
        ("base_delay", math.nan, ValueError, "base_delay must be a finite number >= 0, got nan"),
        ("base_delay", math.inf, ValueError, "base_delay must be a finite number >= 0, got inf"),
        ("base_delay", "1", TypeError, "base_delay must be a number of seconds, got '1'"),
        ("max_delay", -1.0, ValueError, "max_delay must be a finite number >= 0, got -1.0"),
        ("max_delay", math.inf, ValueError, "max_delay must be a finite number >= 0, got inf"),
        ("request_id", "", ValueError, "request_id must not be empty, got ''"),
        ("request_id", 7, TypeError, "request_id must be a str, got 7"),
        ("metadata", [("a", 1)], TypeError, "metadata must be a mapping, got [('a', 1)]"),
        ("jitter", 1.5, ValueError, "jitter must be between 0 and 1, got 1.5"),
        ("jitter", None, TypeError, "jitter must be a number, got None"),
        # One rule, one wording, for zero and negative deadlines alike.
        ("deadline", 0, ValueError, "deadline must be a finite number > 0 or None, got 0"),
        ("deadline", -1, ValueError, "deadline must be a finite number > 0 or None, got -1"),
        ("deadline", math.inf, ValueError, "deadline must be a finite number > 0 or None"),
        ("deadline", "1", TypeError, "deadline must be a number of seconds or None, got '1'"),
        ("retry_connect_timeouts", 1, TypeError, "retry_connect_timeouts must be a bool, got 1"),
        ("retry_idempotent_errors", "y", TypeError, "retry_idempotent_errors must be a bool"),
        ("retry_statuses", "503", TypeError, "retry_statuses must be a collection of ints"),
        ("retry_statuses", [503, "x"], TypeError, "retry_statuses must hold ints, got 'x'"),
        ("retry_statuses", [99], ValueError, "retry_statuses must hold error statuses (400-599)"),
        # A 2xx or 3xx is no failure: retrying it would resend a served request.
        ("retry_statuses", [200], ValueError, "retry_statuses must hold error statuses"),
        ("retry_statuses", [399], ValueError, "retry_statuses must hold error statuses"),
        ("retry_statuses", [600], ValueError, "retry_statuses must hold error statuses"),
        ("metadata", {1: "a"}, TypeError, "metadata keys must be str, got 1 in {1: 'a'}"),
        ("max_retry_after", math.nan, ValueError, "max_retry_after must be a finite number"),
    ],
)
def test_invalid_values_raise_naming_the_field_and_value(
    field: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        RequestContext(**{field: value})
    assert str(info.value).startswith(message)


def test_a_cap_below_the_base_delay_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"max_delay must be >= base_delay.*max_delay=1.0.*5.0"):
        RequestContext(base_delay=5.0, max_delay=1.0)


def test_a_deadline_below_the_base_delay_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"deadline must be >= base_delay.*deadline=0.5"):
        RequestContext(base_delay=1.0, deadline=0.5)


def test_retry_statuses_accept_any_collection_of_ints() -> None:
    # Typed as a set; a list or tuple is accepted at run time, deduplicated.
    statuses = [503, 429, 503]
    assert RequestContext(retry_statuses=statuses).retry_statuses == {429, 503}  # type: ignore[arg-type]
    assert RequestContext(retry_statuses=(502,)).retry_statuses == frozenset({502})  # type: ignore[arg-type]


def test_replace_revalidates() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        dataclasses.replace(RequestContext(), max_retries=-1)


def test_merged_overrides_apply_onto_defaults_with_a_fresh_id() -> None:
    defaults = RequestContext(max_retries=5, base_delay=0.1)
    merged = apply_dict(defaults, {"max_retries": 1})
    assert (merged.max_retries, merged.base_delay) == (1, 0.1)
    assert merged.request_id != defaults.request_id
    assert apply_dict(defaults, {"request_id": "mine"}).request_id == "mine"


def test_merged_rejects_unknown_fields() -> None:
    with pytest.raises(TypeError, match="unknown RequestContext field"):
        apply_dict(RequestContext(), {"max_retires": 1})


def test_with_fresh_id_copies_every_field_but_the_id() -> None:
    ctx = RequestContext(max_retries=7, metadata={"a": 1}, retry_statuses={503}, deadline=9.0)
    copy = with_fresh_id(ctx)
    assert copy.request_id != ctx.request_id
    assert dataclasses.replace(copy, request_id=ctx.request_id) == ctx


# -- a cap nobody set does not reject a base delay that was set ----------------------------


def test_a_base_delay_above_the_default_cap_raises_the_cap_instead_of_failing() -> None:
    ctx = RequestContext(base_delay=30.0, jitter=0.0)
    assert (ctx.base_delay, ctx.max_delay) == (30.0, 30.0)
    assert ctx.increment_attempt().calculate_delay() == 30.0
    assert RequestContext(base_delay=5.0).max_delay == 20.0  # the default cap, when larger


def test_a_transport_with_a_base_delay_above_the_default_cap_is_built() -> None:
    transport = RetryingAsyncTransport(httpx.AsyncBaseTransport(), base_delay=30)
    assert (transport.defaults.base_delay, transport.defaults.max_delay) == (30, 30)
    # A cap that was set holds: the delays are capped, as every peer does.
    capped = RetryingAsyncTransport(httpx.AsyncBaseTransport(), base_delay=30, max_delay=None)
    assert capped.defaults.max_delay == 30
    explicit = RetryingAsyncTransport(httpx.AsyncBaseTransport(), max_delay=0.5)
    assert (explicit.defaults.base_delay, explicit.defaults.max_delay) == (1.0, 0.5)


def test_the_documented_defaults() -> None:
    ctx = RequestContext()
    assert (ctx.max_retries, ctx.current_attempt, ctx.base_delay) == (2, 0, 1.0)
    assert (ctx.max_delay, ctx.jitter, ctx.deadline, ctx.max_retry_after) == (
        20.0,
        1.0,
        None,
        60.0,
    )
    assert (ctx.retry_connect_timeouts, ctx.retry_idempotent_errors) == (False, False)
    assert ctx.retry_statuses == frozenset()
    assert dict(ctx.metadata) == {}
