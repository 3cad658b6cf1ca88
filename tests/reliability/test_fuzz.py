"""Fuzzing: arbitrary inputs either work or raise TypeError/ValueError before any attempt.

Never another exception, never a hang (each example is bounded by
``anyio.fail_after``), and an error names what was wrong. Malformed
``Retry-After`` headers never crash and never cause a long sleep.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
import time
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from resilient_transport import RequestContext, RetryingAsyncTransport
from resilient_transport._retry_after import parse_retry_after
from resilient_transport.testing import FlakyTransport, RecordingSleep, ScriptedTransport
from tests._support import URL

BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])
FUZZ_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FIELDS = [field.name for field in dataclasses.fields(RequestContext)]
# The transport's keywords that set a RequestContext default.
VALUE_KEYWORDS = [
    name for name in FIELDS if name not in ("current_attempt", "request_id", "metadata")
]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.floats(min_value=0.0, max_value=100.0),
    st.text(max_size=10),
    st.binary(max_size=10),
    st.lists(st.integers(-1000, 1000), max_size=4),
    st.lists(st.lists(st.integers(), max_size=2), max_size=2),
    st.frozensets(st.integers(0, 1000), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    st.builds(object),
    st.sampled_from([float("nan"), float("inf"), -0.0, 1e-300, 1e308, 429, 503, 599, 600]),
)
field_overrides = st.dictionaries(st.sampled_from(FIELDS), leaves, max_size=4)
retry_extensions = st.one_of(
    leaves,
    field_overrides,
    st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), leaves, max_size=3),
    st.builds(RequestContext, max_retries=st.integers(0, 5), base_delay=st.floats(0, 1)),
)


def _names_one_of(exc: BaseException | None, names: list[str]) -> bool:
    assert exc is not None
    message = str(exc)
    return any(name in message for name in names)


@BACKENDS
@FUZZ_SETTINGS
@given(value=retry_extensions)
@example(value={"retry_statuses": [[503]]})
@example(value={"current_attempt": 10**30})
@example(value={"deadline": 1e-300, "base_delay": 0})
@example(value={"max_retries": -1, "metadata": {"secret": 1}})
@example(value={7: 1})
@example(value=[("max_retries", 1)])
def test_any_retry_extension_works_or_is_rejected_before_any_attempt(
    backend: str, value: object
) -> None:
    async def scenario() -> None:
        inner = FlakyTransport(failures=1)
        transport = RetryingAsyncTransport(inner, sleep=RecordingSleep())
        with anyio.fail_after(5):
            async with httpx.AsyncClient(transport=transport) as client:
                rejected: Exception | None = None
                try:
                    response = await client.get(URL, extensions={"retry": value})
                except (TypeError, ValueError) as exc:
                    rejected = exc
                except httpx.ConnectError:
                    # A context with no retry left (its own current_attempt,
                    # deadline...) lets the first failure through, as it must.
                    assert inner.calls >= 1
                    return
                else:
                    assert response.status_code == 200
                    assert inner.calls == 2
                    return
        assert inner.calls == 0
        if isinstance(value, dict) and value:
            assert _names_one_of(rejected, [repr(k) for k in value] + [*map(str, value)])
        else:
            assert '"retry"' in str(rejected)

    anyio.run(scenario, backend=backend)


@FUZZ_SETTINGS
@given(fields=field_overrides)
@example(fields={"retry_statuses": [[503]]})
@example(fields={"retry_statuses": [{}]})
@example(fields={"retry_statuses": 503})
@example(fields={"max_delay": 0.5})
@example(fields={"deadline": 0.5})
@example(fields={"jitter": float("nan")})
@example(fields={"metadata": [("a", 1)]})
def test_any_request_context_fields_build_a_sound_context_or_raise_naming_a_field(
    fields: dict[str, Any],
) -> None:
    rejected: Exception | None = None
    try:
        ctx = RequestContext(**fields)
    except (TypeError, ValueError) as exc:
        rejected = exc
    if rejected is not None:
        assert _names_one_of(rejected, list(fields))
        return
    delay = ctx.calculate_delay()
    assert math.isfinite(delay)
    assert 0.0 <= delay <= ctx.max_delay
    assert ctx.increment_attempt().current_attempt == ctx.current_attempt + 1
    assert ctx.clone() == ctx


transport_keywords = st.dictionaries(st.sampled_from(VALUE_KEYWORDS), leaves, max_size=4)
not_callable = leaves.filter(lambda value: not callable(value))


@BACKENDS
@FUZZ_SETTINGS
@given(
    keywords=st.one_of(
        transport_keywords,
        st.fixed_dictionaries(
            {}, optional={"sleep": not_callable, "clock": not_callable, "random": not_callable}
        ),
        st.fixed_dictionaries({"events": leaves}),
        st.fixed_dictionaries({"budget": leaves}),
    )
)
@example(keywords={"retry_statuses": [[503]]})
@example(keywords={"retry_statuses": "503"})
@example(keywords={"max_retries": 0})
@example(keywords={"deadline": 1e-300, "base_delay": 0})
@example(keywords={"events": object()})
def test_any_transport_keywords_work_or_raise_naming_the_keyword(
    backend: str, keywords: dict[str, Any]
) -> None:
    assume(keywords)
    inner = FlakyTransport(failures=1)
    kwargs = {"sleep": RecordingSleep(), **keywords}
    rejected: Exception | None = None
    try:
        transport = RetryingAsyncTransport(inner, **kwargs)
    except (TypeError, ValueError) as exc:
        rejected = exc
    if rejected is not None:
        assert _names_one_of(rejected, list(keywords))
        assert inner.calls == 0
        return

    async def scenario() -> None:
        with anyio.fail_after(5):
            async with httpx.AsyncClient(transport=transport) as client:
                try:
                    response = await client.get(URL)
                except httpx.ConnectError:
                    assert inner.calls >= 1  # no retry allowed: max_retries=0, a deadline
                else:
                    assert response.status_code == 200

    anyio.run(scenario, backend=backend)


@given(value=leaves)
@settings(max_examples=100, deadline=None)
def test_any_inner_transport_argument_is_an_inner_transport_or_a_type_error(value: object) -> None:
    assume(value is not None)
    with pytest.raises(TypeError, match="transport"):
        RetryingAsyncTransport(value)  # type: ignore[arg-type]


# -- Retry-After --------------------------------------------------------------

NOW = time.time()
retry_after_values = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    st.integers(-(10**40), 10**40).map(str),
    st.floats().map(repr),
    st.text(alphabet="0123456789", min_size=30, max_size=400),  # huge
    st.text(alphabet="٠١٢٣٤٥٦٧٨٩²³¹", min_size=1, max_size=5),  # digits, not ASCII
    st.floats(-1e10, 1e10).map(lambda delta: email.utils.formatdate(NOW + delta, usegmt=True)),
    st.floats(1e6, 1e9).map(lambda past: email.utils.formatdate(NOW - past, usegmt=True)),
    st.sampled_from(
        [
            "",
            " ",
            "-1",
            "+5",
            "1.5",
            "1e3",
            "0x10",
            "inf",
            "NaN",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Mon, 01 Jan 0000 00:00:00 GMT",
            "Wed, 21 Oct 2015 07:28:00 +9999",
            "Wed, 32 Oct 2015 25:61:61 GMT",
            "5, 10",
            "Ünïcödé",
            "\x00\x01",
        ]
    ),
)


@FUZZ_SETTINGS
@given(value=st.one_of(st.none(), st.text(max_size=60)), now=st.floats(0, 4e9))
def test_parse_retry_after_never_raises_and_gives_none_or_finite_non_negative_seconds(
    value: str | None, now: float
) -> None:
    seconds = parse_retry_after(value, now)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


@BACKENDS
@FUZZ_SETTINGS
@given(
    value=retry_after_values,
    max_retry_after=st.sampled_from([0.0, 0.5, 5.0, 60.0, 3600.0]),
)
def test_malformed_retry_after_never_crashes_and_never_sleeps_past_its_cap(
    backend: str, value: str | bytes, max_retry_after: float
) -> None:
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    assume(b"\r" not in raw and b"\n" not in raw)
    # Honoured up to its cap, then spread over a window as long again, at
    # most 10 s (full jitter, the default). The bound said 10 % and 1 s, the
    # spread before the outage work of issue 14; it was left behind then, and
    # held while no example drew a valid header close to its cap (rare).
    bound = max_retry_after + min(max_retry_after, 10.0)

    async def scenario() -> None:
        inner = ScriptedTransport(httpx.Response(503, headers=[(b"Retry-After", raw)]))
        sleep = RecordingSleep()
        transport = RetryingAsyncTransport(
            inner,
            retry_statuses={503},
            max_retry_after=max_retry_after,
            base_delay=0,  # a header that is ignored falls back to a zero backoff
            sleep=sleep,
        )
        with anyio.fail_after(5):
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.get(URL)
        assert response.status_code in (200, 503)
        assert len(sleep.delays) == (response.status_code == 200)
        assert all(math.isfinite(d) and 0.0 <= d <= bound for d in sleep.delays)

    anyio.run(scenario, backend=backend)
