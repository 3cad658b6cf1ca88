"""Retry-After: parsed strictly, honoured with a little jitter, refused when too long.

The real-server version (a 503 with ``Retry-After: 1`` on 127.0.0.1) is in
``test_policy_real.py``; here the header is parsed in every form a server may
send, and the transport's use of it is checked with a scripted inner
transport and recorded sleeps.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from resilient_transport import EventType, GiveUpReason, RetryingAsyncTransport
from resilient_transport._retry_after import parse_retry_after, retry_after_delay
from resilient_transport.testing import EventRecorder, RecordingSleep, ScriptedTransport

from ._support import URL

pytestmark = pytest.mark.anyio

# Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
EXAMPLE = 784111777.0


# -- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("000000000000000000000000000000000000005", 5.0),  # leading zeros, past 32 digits
        # The three HTTP-date forms of RFC 9110, ten seconds after "now".
        ("Sun, 06 Nov 1994 08:49:47 GMT", 10.0),
        ("Sunday, 06-Nov-94 08:49:47 GMT", 10.0),
        ("Sun Nov  6 08:49:47 1994", 10.0),
        ("Sun, 06 Nov 1994 10:49:47 +0200", 10.0),  # a zone offset is honoured
        ("Sun, 06 Nov 1994 08:49:47 -0000", 10.0),
        # A date in the past means "now".
        ("Sun, 06 Nov 1994 08:49:27 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1_445_412_480.0 - EXAMPLE),
    ],
)
def test_delay_seconds_and_http_dates_are_parsed(value: str, seconds: float) -> None:
    assert parse_retry_after(value, EXAMPLE) == seconds


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "-1",
        "-0",
        "1.5",
        "1e3",
        "0x10",
        "nan",
        "inf",
        "+5",
        "5 s",
        "١٢",
        "soon",
        "Mon, 99 Foo 2015 07:28:00 GMT",
        "Wed, 21 Oct 99999 07:28:00 GMT",
    ],
)
def test_garbage_negative_and_fractional_values_are_ignored(value: str | None) -> None:
    assert parse_retry_after(value, EXAMPLE) is None


@pytest.mark.parametrize(
    "value", ["9" * 40, "1" * 5000, "Fri, 31 Dec 9999 23:59:59 GMT"], ids=["40", "5000", "9999"]
)
def test_a_huge_value_is_a_huge_finite_delay_not_an_error(value: str) -> None:
    seconds = parse_retry_after(value, EXAMPLE)
    assert seconds is not None
    assert 1e10 < seconds < 1e33


def test_the_spread_of_a_retry_after_adds_at_most_its_own_length_and_ten_seconds() -> None:
    assert retry_after_delay(2.0, lambda: 0.0) == 2.0
    assert retry_after_delay(2.0, lambda: 0.5) == 3.0
    assert retry_after_delay(2.0, lambda: 1.0) == 4.0
    assert retry_after_delay(50.0, lambda: 1.0) == 60.0
    assert retry_after_delay(0.0, lambda: 0.5) == 0.0


# -- in the transport -------------------------------------------------------------------


def busy(retry_after: str | None, status: int = 503) -> httpx.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return httpx.Response(status, headers=headers, text="busy")


async def send(
    first: httpx.Response, *, method: str = "GET", **kwargs: Any
) -> tuple[httpx.Response, int, list[float], list[Any]]:
    inner = ScriptedTransport(first, then=200)
    sleep = RecordingSleep()
    kwargs.setdefault("retry_statuses", {503, 429})
    with EventRecorder() as recorder:
        transport = RetryingAsyncTransport(inner, sleep=sleep, events=recorder.send, **kwargs)
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.request(method, URL)
        return response, inner.calls, sleep.delays, recorder.events


async def test_retry_after_seconds_replace_the_backoff_spread_over_a_window() -> None:
    response, calls, delays, events = await send(busy("3"), base_delay=0.1, random=lambda: 0.5)
    assert (response.status_code, calls) == (200, 2)
    assert delays == [pytest.approx(4.5)]  # 3 s, plus half of a 3 s window (full jitter)
    assert events[0].delay == delays[0]


@pytest.mark.parametrize(
    ("draw", "expected"),
    [
        pytest.param(1.0, 1.0, id="the spread would cross the deadline: just what was asked"),
        pytest.param(0.25, 1.25, id="the spread fits: kept"),
    ],
)
async def test_a_retry_after_that_fits_the_deadline_is_not_lost_to_its_spread(
    draw: float, expected: float
) -> None:
    response, calls, delays, events = await send(busy("1"), deadline=1.5, random=lambda: draw)
    assert (response.status_code, calls) == (200, 2)
    assert delays == [pytest.approx(expected)]
    assert events[0].delay == delays[0]


async def test_a_retry_after_past_the_deadline_gives_up_with_the_reason_deadline() -> None:
    response, calls, delays, events = await send(busy("1"), deadline=0.9, random=lambda: 0.0)
    assert (response.status_code, calls, delays) == (503, 1, [])
    assert events[-1].reason is GiveUpReason.DEADLINE


async def test_retry_after_beyond_the_backoff_cap_is_still_honoured() -> None:
    _, calls, delays, _ = await send(busy("30"), max_delay=5.0, random=lambda: 0.0)
    assert (calls, delays) == (2, [30.0])


async def test_retry_after_as_an_http_date_waits_until_that_date() -> None:
    when = formatdate(time.time() + 30, usegmt=True)
    _, calls, delays, _ = await send(busy(when), random=lambda: 0.0)
    assert calls == 2
    assert 28.0 <= delays[0] <= 30.0  # the date has a one-second resolution


async def test_retry_after_in_the_past_retries_at_once() -> None:
    _, calls, delays, _ = await send(busy("Wed, 21 Oct 2015 07:28:00 GMT"))
    assert (calls, delays) == (2, [0.0])


@pytest.mark.parametrize("value", ["soon", "-5", "2.5", "", None])
async def test_a_missing_or_unusable_retry_after_falls_back_to_the_backoff(
    value: str | None,
) -> None:
    _, calls, delays, _ = await send(busy(value), base_delay=0.25, jitter=0.0)
    assert (calls, delays) == (2, [0.25])


@pytest.mark.parametrize("value", ["61", "9" * 40, "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_a_retry_after_above_the_maximum_returns_the_response_as_is(value: str) -> None:
    response, calls, delays, events = await send(busy(value), max_retry_after=60)
    assert (response.status_code, response.text, calls, delays) == (503, "busy", 1, [])
    assert [(e.event_type, e.reason) for e in events] == [
        (EventType.SUCCESS, GiveUpReason.RETRY_AFTER_TOO_LONG)
    ]


async def test_a_retry_after_equal_to_the_maximum_is_honoured() -> None:
    _, calls, delays, _ = await send(busy("60"), max_retry_after=60, random=lambda: 0.0)
    assert (calls, delays) == (2, [60.0])


async def test_a_zero_maximum_honours_only_retry_after_zero() -> None:
    now = await send(busy("0"), max_retry_after=0)
    later = await send(busy("1"), max_retry_after=0)
    assert (now[1], later[1]) == (2, 1)
    assert later[3][-1].reason is GiveUpReason.RETRY_AFTER_TOO_LONG


async def test_a_too_long_retry_after_on_the_last_attempt_is_reported_as_exhausted() -> None:
    *_, events = await send(busy("3600"), max_retries=0)
    assert events[-1].reason is GiveUpReason.EXHAUSTED


async def test_retry_after_on_a_status_that_is_not_retried_is_ignored() -> None:
    response, calls, delays, events = await send(busy("1", status=500))
    assert (response.status_code, calls, delays) == (500, 1, [])
    assert events[-1].reason is None


async def test_retry_after_does_not_make_a_post_retryable() -> None:
    response, calls, delays, events = await send(busy("1", status=429), method="POST")
    assert (response.status_code, calls, delays) == (429, 1, [])
    assert events[-1].reason is GiveUpReason.NOT_IDEMPOTENT
