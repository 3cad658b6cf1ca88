"""Properties that hold for any input hypothesis can find.

The async properties run each example in a fresh event loop with
``anyio.run(..., backend=...)``, once per backend.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, cast

import anyio
import httpcore
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilient_transport import (
    EventType,
    RequestContext,
    RetryingAsyncTransport,
    backoff_delay,
)
from resilient_transport._retry_after import retry_after_delay
from resilient_transport.testing import (
    EventRecorder,
    FlakyTransport,
    Outcome,
    RecordingSleep,
    ScriptedTransport,
)
from tests._support import URL

BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])
ASYNC_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PURE_SETTINGS = settings(max_examples=300, deadline=None)


# -- attempts for any script --------------------------------------------------


@BACKENDS
@ASYNC_SETTINGS
@given(failures=st.integers(0, 15), max_retries=st.integers(0, 12))
def test_attempts_are_min_of_failures_and_max_retries_plus_one(
    backend: str, failures: int, max_retries: int
) -> None:
    async def scenario() -> None:
        inner = FlakyTransport(failures=failures)
        sleep = RecordingSleep()
        with EventRecorder() as recorder:
            transport = RetryingAsyncTransport(
                inner, max_retries=max_retries, sleep=sleep, events=recorder.send
            )
            async with httpx.AsyncClient(transport=transport) as client:
                if failures <= max_retries:
                    response = await client.get(URL)
                    assert response.status_code == 200
                    assert response.extensions["retry"].current_attempt == failures
                else:
                    with pytest.raises(httpx.ConnectError):
                        await client.get(URL)
            types = recorder.types()

        attempts = min(failures, max_retries) + 1
        assert inner.calls == attempts
        assert len(sleep.delays) == attempts - 1
        terminal = EventType.SUCCESS if failures <= max_retries else EventType.ERROR
        assert types == [EventType.RETRY] * (attempts - 1) + [terminal]

    anyio.run(scenario, backend=backend)


# Each step of a script: what one attempt meets.
STEPS: dict[str, object] = {
    "connect": httpx.ConnectError,
    "raw_connect": httpcore.ConnectError,
    "connect_timeout": httpx.ConnectTimeout,
    "read_error": httpx.ReadError,
    "read_timeout": httpx.ReadTimeout,
    "disconnected": httpx.RemoteProtocolError,
    "bug": RuntimeError,
    "500": 500,
    "503": 503,
    "404": 404,
}
NOT_SENT = {"connect", "raw_connect"}
MAYBE_PROCESSED = {"read_error", "read_timeout", "disconnected"}
TIMEOUTS = {"connect_timeout", "read_timeout"}


@dataclasses.dataclass(frozen=True)
class Expected:
    attempts: int
    status: int | None  # the response's status, or None when an error is raised
    error: object | None
    terminal: EventType


def _model(
    script: list[str],
    *,
    method: str,
    max_retries: int,
    connect_timeouts: bool,
    idempotent_errors: bool,
    statuses: frozenset[int],
) -> Expected:
    """What the contract says happens, written independently of the library."""
    idempotent = method in {"GET", "PUT", "DELETE"}
    steps = [*script, "200"]
    for index, step in enumerate(steps):
        attempts = index + 1
        outcome = STEPS.get(step, 200)
        if isinstance(outcome, int):
            retryable = outcome in statuses and idempotent
        else:
            retryable = (
                step in NOT_SENT
                or (step == "connect_timeout" and connect_timeouts)
                or (step in MAYBE_PROCESSED and idempotent_errors and idempotent)
            )
        if retryable and index < max_retries:
            continue
        if isinstance(outcome, int):
            return Expected(attempts, outcome, None, EventType.SUCCESS)
        terminal = EventType.TIMEOUT if step in TIMEOUTS else EventType.ERROR
        return Expected(attempts, None, outcome, terminal)
    raise AssertionError("unreachable: the script ends with a 200")  # pragma: no cover


@BACKENDS
@ASYNC_SETTINGS
@given(
    script=st.lists(st.sampled_from(sorted(STEPS)), max_size=8),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    max_retries=st.integers(0, 6),
    connect_timeouts=st.booleans(),
    idempotent_errors=st.booleans(),
    statuses=st.frozensets(st.sampled_from([500, 503])),
)
def test_any_script_of_failures_gives_the_attempts_and_outcome_the_policy_says(
    backend: str,
    script: list[str],
    method: str,
    max_retries: int,
    connect_timeouts: bool,
    idempotent_errors: bool,
    statuses: frozenset[int],
) -> None:
    expected = _model(
        script,
        method=method,
        max_retries=max_retries,
        connect_timeouts=connect_timeouts,
        idempotent_errors=idempotent_errors,
        statuses=statuses,
    )

    async def scenario() -> None:
        inner = ScriptedTransport(*(cast(Outcome, STEPS[step]) for step in script))
        with EventRecorder() as recorder:
            transport = RetryingAsyncTransport(
                inner,
                max_retries=max_retries,
                retry_connect_timeouts=connect_timeouts,
                retry_idempotent_errors=idempotent_errors,
                retry_statuses=statuses,
                sleep=RecordingSleep(),
                events=recorder.send,
            )
            async with httpx.AsyncClient(transport=transport) as client:
                if expected.error is None:
                    response = await client.request(method, URL)
                    assert response.status_code == expected.status
                    assert response.extensions["retry"].current_attempt == expected.attempts - 1
                else:
                    with pytest.raises(expected.error) as caught:  # type: ignore[call-overload]
                        await client.request(method, URL)
                    assert type(caught.value) is expected.error
            events = recorder.events

        assert inner.calls == expected.attempts
        assert [e.event_type for e in events] == [EventType.RETRY] * (expected.attempts - 1) + [
            expected.terminal
        ]
        assert [e.context.current_attempt for e in events[:-1]] == list(
            range(1, expected.attempts)
        )
        assert events[-1].attempts == expected.attempts

    anyio.run(scenario, backend=backend)


# -- backoff ------------------------------------------------------------------

seconds = st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False)
randoms = st.one_of(
    st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    st.sampled_from([0.0, 0.5, 0.9999999999999999]),
)


@PURE_SETTINGS
@given(
    attempt=st.one_of(st.integers(-5, 5000), st.integers(min_value=0, max_value=10**30)),
    base=seconds,
    cap=seconds,
    jitter=st.floats(min_value=0.0, max_value=1.0),
    draw=randoms,
)
def test_backoff_delay_is_finite_non_negative_and_capped_for_any_input(
    attempt: int, base: float, cap: float, jitter: float, draw: float
) -> None:
    delay = backoff_delay(attempt, base, cap, jitter, lambda: draw)
    assert math.isfinite(delay)
    assert 0.0 <= delay <= cap


@PURE_SETTINGS
@given(attempt=st.integers(1, 60), base=st.floats(0.001, 10.0), cap=st.floats(0.001, 1e6))
def test_backoff_without_jitter_is_the_capped_exponential_schedule(
    attempt: int, base: float, cap: float
) -> None:
    expected = min(cap, base * 2.0 ** (attempt - 1))
    assert backoff_delay(attempt, base, cap, 0.0) == pytest.approx(expected, rel=1e-12)


@PURE_SETTINGS
@given(
    current_attempt=st.one_of(st.integers(0, 2000), st.integers(0, 10**40)),
    base=st.floats(0.0, 1e6),
    extra=st.floats(0.0, 1e9),
    jitter=st.floats(0.0, 1.0),
    draw=randoms,
)
def test_context_delay_is_finite_non_negative_and_within_max_delay(
    current_attempt: int, base: float, extra: float, jitter: float, draw: float
) -> None:
    ctx = RequestContext(
        current_attempt=current_attempt,
        base_delay=base,
        max_delay=base + extra,
        jitter=jitter,
    )
    delay = ctx.calculate_delay(lambda: draw)
    assert math.isfinite(delay)
    assert 0.0 <= delay <= ctx.max_delay


@PURE_SETTINGS
@given(seconds=st.floats(0.0, 1e15), draw=randoms, jitter=st.floats(0.0, 1.0))
def test_retry_after_delay_never_comes_back_early_and_adds_at_most_its_window(
    seconds: float, draw: float, jitter: float
) -> None:
    # The window: jitter times the time asked, at most 10 s (issue 14's
    # spread; it was at most 10 % and 1 s before).
    delay = retry_after_delay(seconds, lambda: draw, jitter)
    assert math.isfinite(delay)
    assert seconds <= delay <= seconds + min(seconds, 10.0) * jitter


# -- contexts stay frozen and isolated ----------------------------------------

Op = Callable[[RequestContext], RequestContext]
OPS: dict[str, Op] = {
    "increment": RequestContext.increment_attempt,
    "clone": RequestContext.clone,
}
FIELDS = [field.name for field in dataclasses.fields(RequestContext)]


@PURE_SETTINGS
@given(
    ops=st.lists(st.sampled_from(sorted(OPS)), max_size=30),
    metadata=st.dictionaries(st.text(max_size=5), st.integers(), max_size=5),
    max_retries=st.integers(0, 50),
)
def test_contexts_stay_frozen_and_isolated_through_any_sequence_of_operations(
    ops: list[str], metadata: dict[str, int], max_retries: int
) -> None:
    caller_dict = dict(metadata)
    first = RequestContext(max_retries=max_retries, metadata=caller_dict, request_id="r")
    snapshots: list[tuple[RequestContext, dict[str, Any]]] = [(first, _fields(first))]
    ctx = first
    increments = 0
    for name in ops:
        new = OPS[name](ctx)
        assert new is not ctx
        increments += name == "increment"
        assert new.current_attempt == increments
        assert new.request_id == "r"
        assert new.has_retries_left == (increments <= max_retries)
        snapshots.append((new, _fields(new)))
        ctx = new

    # The caller's dict changing, and attempts to change any context, leave
    # every context exactly as it was made.
    caller_dict["injected"] = 1
    caller_dict.clear()
    for ctx, fields in snapshots:
        for name in FIELDS:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(ctx, name, getattr(ctx, name))
        with pytest.raises(TypeError):
            ctx.metadata["injected"] = 1  # type: ignore[index]
        assert _fields(ctx) == fields
        assert dict(ctx.metadata) == metadata


def _fields(ctx: RequestContext) -> dict[str, Any]:
    return {name: getattr(ctx, name) for name in FIELDS if name != "metadata"} | {
        "metadata": dict(ctx.metadata)
    }
