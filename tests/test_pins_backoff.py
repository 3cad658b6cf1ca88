"""Pins of the delays that the rest of the suite left loose (issue 11, mutation run).

- ``backoff_delay``'s documented default is full jitter; its result is never
  negative, even for arguments outside the documented range.
- An injected random source outside ``[0, 1)`` is clamped, for backoff and
  for the jitter on a server's ``Retry-After``.
- An HTTP-date ``Retry-After`` is read in UTC whatever the process's time
  zone (the rest of the suite runs in UTC, where a local-time reading of an
  ``-0000`` date would pass too).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from resilient_transport import backoff_delay

# Private helpers, imported in this one place: repoint here when they move.
from resilient_transport._retry_after import parse_retry_after, retry_after_delay

# Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date, as a Unix time.
EXAMPLE = 784111777.0


# -- backoff ----------------------------------------------------------------------------


def test_backoff_delay_defaults_to_full_jitter() -> None:
    assert backoff_delay(1, 2.0, 10.0, random=lambda: 0.5) == 1.0
    assert backoff_delay(3, 1.0, 10.0, random=lambda: 0.75) == 1.0


@pytest.mark.parametrize(("base", "cap"), [(-1.0, 10.0), (1.0, -1.0), (-1.0, -1.0)])
@pytest.mark.parametrize("jitter", [0.0, 1.0])
def test_a_negative_base_or_cap_gives_no_delay_never_a_negative_one(
    base: float, cap: float, jitter: float
) -> None:
    assert backoff_delay(1, base, cap, jitter, random=lambda: 0.5) == 0.0


def test_a_random_source_above_one_is_clamped_with_partial_jitter() -> None:
    # draw 1.0 at most: the delay keeps the floor that partial jitter promises.
    assert backoff_delay(1, 4.0, 10.0, 0.5, random=lambda: 1.5) == 2.0
    assert backoff_delay(1, 4.0, 10.0, 0.5, random=lambda: 99.0) == 2.0


def test_a_random_source_above_one_adds_at_most_the_retry_after_spread() -> None:
    assert retry_after_delay(10.0, random=lambda: 1.5) == 20.0
    assert retry_after_delay(100.0, random=lambda: 5.0) == 110.0
    assert retry_after_delay(12.0, random=lambda: 0.5, jitter=0.5) == 14.5


# -- Retry-After dates, in any local time zone -------------------------------------------


@pytest.fixture(params=["EST+5", "IST-5:30", "UTC0"], ids=["utc-5", "utc+5h30", "utc"])
def local_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test with the process's local time zone set to a POSIX TZ rule."""
    if not hasattr(time, "tzset"):  # pragma: no cover - Windows
        pytest.skip("time.tzset is POSIX-only")
    zone = str(request.param)
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        yield zone
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        # "-0000": UTC, origin unknown (RFC 5322); parsed without a zone.
        ("Sun, 06 Nov 1994 08:49:47 -0000", 10.0),
        ("Sun, 06 Nov 1994 08:49:47 GMT", 10.0),
        ("Sun Nov  6 08:49:47 1994", 10.0),  # asctime form: GMT by definition
        ("Sun, 06 Nov 1994 14:19:47 +0530", 10.0),
        ("Sun, 06 Nov 1994 08:49:27 -0000", 0.0),
    ],
)
def test_an_http_date_retry_after_is_read_in_utc_whatever_the_local_zone(
    local_zone: str, value: str, seconds: float
) -> None:
    assert parse_retry_after(value, EXAMPLE) == seconds
