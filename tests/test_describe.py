"""One-line descriptions of errors, retries, outcomes and ``get``'s failures."""

from __future__ import annotations

import errno
import itertools
import socket
import ssl
import sys
from typing import Any

import httpx
import pytest

from resilient_transport import AsyncEvent, EventType, GiveUpReason, RequestContext
from resilient_transport._cli.describe import (
    describe_error,
    describe_outcome,
    describe_reason,
    describe_retry,
    failure_message,
    status_failure_message,
)

from ._cli_support import REFUSED

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup  # type: ignore[import-not-found, unused-ignore]


# -- retries and outcomes -------------------------------------------------------------


def _event(event_type: EventType, **kwargs: Any) -> AsyncEvent:
    ctx = kwargs.pop("context", RequestContext(request_id="r", max_retries=3, current_attempt=2))
    return AsyncEvent(event_type=event_type, context=ctx, timestamp=0.0, **kwargs)


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            _event(EventType.SUCCESS, attempts=1, elapsed=0.5, status_code=204),
            "HTTP 204 after 1 attempt in 0.50 s",
        ),
        (
            _event(
                EventType.ERROR,
                attempts=3,
                elapsed=1.0,
                reason=GiveUpReason.EXHAUSTED,
                error=httpx.ConnectError("boom"),
            ),
            "gave up after 3 attempts in 1.00 s (retries exhausted): ConnectError: boom",
        ),
        (
            _event(EventType.TIMEOUT, attempts=1, elapsed=2.0, error=httpx.ReadTimeout("slow")),
            "timed out after 1 attempt in 2.00 s: ReadTimeout: slow",
        ),
        (
            _event(EventType.CANCELLED, attempts=2, elapsed=0.25, reason=GiveUpReason.CANCELLED),
            "was cancelled after 2 attempts in 0.25 s (cancelled)",
        ),
    ],
)
def test_describe_outcome_says_how_and_why_a_request_ended(event: AsyncEvent, line: str) -> None:
    assert describe_outcome(event) == line


def test_every_give_up_reason_has_a_description() -> None:
    descriptions = [describe_reason(reason) for reason in GiveUpReason]
    assert all(descriptions)
    assert len(set(descriptions)) == len(descriptions)


# -- describing errors ----------------------------------------------------------------


def _chained(*chain: BaseException) -> BaseException:
    """``chain[0]`` raised from ``chain[1]`` raised from ..."""
    for outer, inner in itertools.pairwise(chain):
        outer.__cause__ = inner
    return chain[0]


def test_describe_error_shows_the_os_error_behind_httpx_message() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 9)")
    exc = _chained(httpx.ConnectError("All connection attempts failed"), OSError("x"), refused)
    assert describe_error(exc) == REFUSED


def test_describe_error_looks_inside_an_exception_group() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Error connecting")
    group = ExceptionGroup("all attempts to connect failed", [refused])
    exc = _chained(httpx.ConnectError("all attempts to connect failed"), group)
    assert describe_error(exc) == REFUSED


def test_describe_error_keeps_the_text_of_dns_and_unknown_errors() -> None:
    dns = socket.gaierror(-2, "Name or service not known")
    assert describe_error(_chained(httpx.ConnectError("x"), dns)) == (
        "ConnectError: [Errno -2] Name or service not known"
    )
    odd = OSError(99_999, "something odd")
    assert describe_error(_chained(httpx.ConnectError("x"), odd)) == (
        "ConnectError: [Errno 99999] something odd"
    )


def test_describe_error_keeps_httpx_text_for_a_tls_error() -> None:
    tls = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    exc = _chained(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] verify failed"), tls)
    assert describe_error(exc) == "ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] verify failed"


def test_describe_error_is_one_line_and_survives_cycles_and_long_chains() -> None:
    looping = httpx.ReadError("line one\nline two")
    looping.__context__ = looping
    assert describe_error(looping) == "ReadError: line one line two"
    deep: list[BaseException] = [httpx.ConnectError(f"level {i}") for i in range(20)]
    deep.append(ConnectionRefusedError(errno.ECONNREFUSED, "too deep to look at"))
    assert describe_error(_chained(*deep)) == "ConnectError: level 0"
    assert describe_error(httpx.PoolTimeout("")) == "PoolTimeout"


def test_describe_retry_names_a_retried_status() -> None:
    ctx = RequestContext(request_id="r", max_retries=3, current_attempt=1)
    event = _event(EventType.RETRY, context=ctx, status_code=503, delay=1.5)
    assert describe_retry(event) == "attempt 1 failed: HTTP 503; retry 1 of 3 in 1.50 s"


@pytest.mark.parametrize(
    ("exc", "attempts", "line"),
    [
        (
            httpx.ConnectTimeout("timed out"),
            2,
            "error: could not connect to http://h.test/p after 2 attempts: "
            "ConnectTimeout: timed out",
        ),
        (
            httpx.ReadTimeout("timed out"),
            1,
            "error: request to http://h.test/p timed out after 1 attempt: ReadTimeout: timed out",
        ),
        (
            httpx.UnsupportedProtocol("no"),
            None,
            "error: request to http://h.test/p failed: UnsupportedProtocol: no",
        ),
        (
            httpx.ReadError("GET http://u:pw-xyz@h.test/p broke (u:pw-xyz, pw-xyz)"),
            1,
            "error: request to http://h.test/p failed after 1 attempt: "
            "ReadError: GET http://h.test/p broke (***, ***)",
        ),
    ],
)
def test_failure_message_names_the_failure_and_never_the_password(
    exc: BaseException, attempts: int | None, line: str
) -> None:
    url = httpx.URL("http://u:pw-xyz@h.test/p")
    assert failure_message(exc, url, attempts, answered=False) == line


def test_failure_message_hides_a_token_given_as_user_name() -> None:
    url = httpx.URL("http://tok3n@h.test/")
    exc = httpx.ReadError("sent tok3n")
    assert failure_message(exc, url, 1, answered=True) == (
        "error: reading the response from http://h.test/ failed: ReadError: sent ***"
    )


def test_failure_message_for_a_url_without_credentials_keeps_the_error_text() -> None:
    url = httpx.URL("https://h.test:8443/p?q=1")
    exc = httpx.ReadError("GET https://h.test:8443/p?q=1 broke")
    assert failure_message(exc, url, 2, answered=False) == (
        "error: request to https://h.test:8443/p?q=1 failed after 2 attempts: "
        "ReadError: GET https://h.test:8443/p?q=1 broke"
    )


def test_status_failure_message_names_the_status_and_never_the_password() -> None:
    url = httpx.URL("http://u:pw-xyz@h.test/p")
    assert status_failure_message(url, 503, "Service Unavailable") == (
        "error: http://h.test/p answered 503 Service Unavailable (--fail)"
    )
