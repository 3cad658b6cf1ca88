"""The safety classes: every failure kind x method x option, counted, and the docs table.

``EXPECTED`` below is the policy as issue 4 states it, written out cell by
cell. The transport is held to it twice: here, one request per cell over a
counting inner transport (with the terminal event's reason), and through
``docs/retry_table.py``, whose observation of the transport must equal
``EXPECTED`` and whose rendering must equal the tables committed in
``docs/retries.md``. So the docs cannot drift from the code, nor the code
from the declared policy.
"""

from __future__ import annotations

import ssl
from types import ModuleType
from typing import Any

import anyio
import httpcore
import httpx
import pytest

from resilient_transport import (
    IDEMPOTENT_METHODS,
    CircuitOpenError,
    EventType,
    FailureKind,
    GiveUpReason,
    RetryingAsyncTransport,
    classify_error,
)
from resilient_transport._classify import (
    MAYBE_PROCESSED_ERRORS,
    NOT_SENT_ERRORS,
    NOT_SENT_TIMEOUTS,
    DeadlineExceeded,
    is_idempotent,
)
from resilient_transport._stack import STACKS, TimeoutException, TransportError
from resilient_transport.testing import EventRecorder, RecordingSleep, ScriptedTransport

from ._retry_table import table

pytestmark = pytest.mark.anyio


# The cells: "all" = every method is retried, "idem" = only idempotent requests
# (GET HEAD OPTIONS PUT DELETE TRACE, and POST + Idempotency-Key), "none".
OPTION_SETS = ("default", "retry_connect_timeouts", "retry_idempotent_errors", "retry_statuses")
# fmt: off
EXPECTED: dict[str, tuple[str, str, str, str, str]] = {
    #                          default  timeouts  idempotent  statuses  all three
    "ConnectError":           ("all",  "all",    "all",      "all",    "all"),
    "httpcore.ConnectError":  ("all",  "all",    "all",      "all",    "all"),
    "ConnectTimeout":         ("none", "all",    "none",     "none",   "all"),
    "ReadError":              ("none", "none",   "idem",     "none",   "idem"),
    "WriteError":             ("none", "none",   "idem",     "none",   "idem"),
    "RemoteProtocolError":    ("none", "none",   "idem",     "none",   "idem"),
    "ReadTimeout":            ("none", "none",   "idem",     "none",   "idem"),
    "WriteTimeout":           ("none", "none",   "idem",     "none",   "idem"),
    "PoolTimeout":            ("none", "none",   "none",     "none",   "none"),
    "LocalProtocolError":     ("none", "none",   "none",     "none",   "none"),
    "other exception":        ("none", "none",   "none",     "none",   "none"),
    "certificate":            ("none", "none",   "none",     "none",   "none"),
    "429":                    ("none", "none",   "none",     "idem",   "idem"),
    "502":                    ("none", "none",   "none",     "idem",   "idem"),
    "503":                    ("none", "none",   "none",     "idem",   "idem"),
    "504":                    ("none", "none",   "none",     "idem",   "idem"),
    "500":                    ("none", "none",   "none",     "none",   "none"),
}
# fmt: on
STATUS_ROWS = {"429", "502", "503", "504", "500"}
TIMEOUT_ROWS = {"ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout"}
IDEMPOTENT_COLUMNS = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", "POST + Idempotency-Key"}


def expected_retried(row: str, options: str, column: str) -> bool:
    cell = EXPECTED[row][list(table.OPTIONS).index(options)]
    return cell == "all" or (cell == "idem" and column in IDEMPOTENT_COLUMNS)


def expected_reason(row: str, options: str, column: str) -> GiveUpReason | None:
    """Why the request was not retried (again), when every attempt fails alike."""
    if expected_retried(row, options, column):
        return GiveUpReason.EXHAUSTED
    cell = EXPECTED[row][list(table.OPTIONS).index(options)]
    if row == "certificate":
        return GiveUpReason.CERTIFICATE
    if cell == "idem":  # allowed by the option, refused for this method
        return GiveUpReason.NOT_IDEMPOTENT
    # A response not listed in retry_statuses is an answer, nothing was refused.
    return None if row in STATUS_ROWS else GiveUpReason.NOT_RETRYABLE


def test_the_declared_policy_covers_every_row_and_option_set_of_the_docs() -> None:
    assert list(EXPECTED) == list(table.ROWS)
    assert list(table.OPTIONS) == [*OPTION_SETS, "all three"]
    assert set(table.METHODS) - {"POST", "PATCH"} == IDEMPOTENT_COLUMNS


@pytest.mark.parametrize("options", list(table.OPTIONS))
@pytest.mark.parametrize("row", list(EXPECTED))
async def test_every_failure_kind_and_method_is_retried_exactly_as_declared(
    row: str, options: str
) -> None:
    answer = table.ROWS[row].answer
    mismatches = []
    for column in table.METHODS:
        inner = ScriptedTransport(then=answer)
        with EventRecorder() as recorder:
            transport = RetryingAsyncTransport(
                inner,
                max_retries=1,
                sleep=RecordingSleep(),
                events=recorder.send,
                **table.OPTIONS[options],
            )
            method, headers = table.request_arguments(column)
            async with httpx.AsyncClient(transport=transport) as client:
                try:
                    response: Any = await client.request(method, table.URL, headers=headers)
                except Exception as exc:
                    response = exc
            events = recorder.events
        retried = expected_retried(row, options, column)
        terminal = events[-1]
        if row in STATUS_ROWS:
            kind = EventType.SUCCESS
        elif row in TIMEOUT_ROWS:
            kind = EventType.TIMEOUT
        else:
            kind = EventType.ERROR
        observed = (inner.calls, terminal.event_type, terminal.reason, len(events))
        wanted = (2 if retried else 1, kind, expected_reason(row, options, column), inner.calls)
        if observed != wanted:
            mismatches.append((column, observed, wanted))
        if isinstance(response, BaseException):
            # The last attempt's own exception propagates, unchanged.
            assert response is terminal.error
            assert type(response) is type(events[0].error)
    assert mismatches == []


# -- the docs table is the observed behaviour, and the observed behaviour is EXPECTED ----


async def test_the_docs_script_observes_exactly_the_declared_policy() -> None:
    observed = await table.observe()
    wanted = {
        row: {
            options: {c: expected_retried(row, options, c) for c in table.METHODS}
            for options in table.OPTIONS
        }
        for row in EXPECTED
    }
    assert observed == wanted


async def test_the_committed_docs_tables_are_what_the_script_generates() -> None:
    document = table.DOC.read_text(encoding="utf-8")
    generated = table.render(await table.observe())
    assert table.splice(document, generated) == document, (
        "docs/retries.md is stale: run python docs/retry_table.py"
    )
    assert generated in document


def test_the_docs_script_refuses_a_document_without_markers() -> None:
    with pytest.raises(ValueError, match="lacks the markers"):
        table.splice("no table here", "x")


# -- classify_error and is_idempotent, one exception at a time -------------------------


def certificate_chain(*middle: type[BaseException]) -> httpx.ConnectError:
    """httpx.ConnectError <- *middle <- ssl.SSLCertVerificationError, as raised."""
    error: BaseException = ssl.SSLCertVerificationError(1, "certificate verify failed")
    for wrapper in (*middle, httpx.ConnectError):
        try:
            raise wrapper("certificate verify failed") from error
        except BaseException as exc:
            error = exc
    assert isinstance(error, httpx.ConnectError)
    return error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ConnectError("refused"), FailureKind.NOT_SENT),
        (httpcore.ConnectError("refused"), FailureKind.NOT_SENT),
        (httpx.ConnectTimeout("t"), FailureKind.NOT_SENT_TIMEOUT),
        (httpcore.ConnectTimeout("t"), FailureKind.NOT_SENT_TIMEOUT),
        (httpx.ReadError("reset"), FailureKind.MAYBE_PROCESSED),
        (httpx.WriteError("pipe"), FailureKind.MAYBE_PROCESSED),
        (httpx.RemoteProtocolError("disconnected"), FailureKind.MAYBE_PROCESSED),
        (httpx.ReadTimeout("t"), FailureKind.MAYBE_PROCESSED),
        (httpx.WriteTimeout("t"), FailureKind.MAYBE_PROCESSED),
        (httpcore.ReadError("reset"), FailureKind.MAYBE_PROCESSED),
        (httpcore.WriteError("pipe"), FailureKind.MAYBE_PROCESSED),
        (httpcore.RemoteProtocolError("disconnected"), FailureKind.MAYBE_PROCESSED),
        (httpcore.ReadTimeout("t"), FailureKind.MAYBE_PROCESSED),
        (httpcore.WriteTimeout("t"), FailureKind.MAYBE_PROCESSED),
        (httpx.PoolTimeout("t"), FailureKind.OTHER),
        (httpcore.PoolTimeout("t"), FailureKind.OTHER),
        (httpx.LocalProtocolError("bad header"), FailureKind.OTHER),
        (httpcore.LocalProtocolError("bad header"), FailureKind.OTHER),
        (httpx.ProxyError("proxy said no"), FailureKind.OTHER),
        (httpx.UnsupportedProtocol("ftp"), FailureKind.OTHER),
        (httpx.CloseError("close"), FailureKind.OTHER),
        (RuntimeError("a bug"), FailureKind.OTHER),
        (ssl.SSLCertVerificationError(1, "bare"), FailureKind.CERTIFICATE),
    ],
    ids=lambda v: f"{type(v).__module__}.{type(v).__name__}" if isinstance(v, Exception) else "",
)
def test_each_exception_has_its_safety_class(error: BaseException, kind: FailureKind) -> None:
    assert classify_error(error) is kind


@pytest.mark.parametrize(
    "package", [stack[0] for stack in STACKS], ids=[stack[0].__name__ for stack in STACKS]
)
def test_every_httpx_transport_error_is_classified_on_purpose(package: ModuleType) -> None:
    # A new httpx (or httpx2) exception must not slip into a class by
    # accident: each one is either named in a safety class or knowingly left
    # as OTHER.
    knowingly_other = {
        getattr(package, name)
        for name in (
            "TransportError",
            "TimeoutException",
            "NetworkError",
            "ProtocolError",
            "PoolTimeout",
            "CloseError",
            "ProxyError",
            "UnsupportedProtocol",
            "LocalProtocolError",
            # httpx2's server-sent events: a response that is not an event
            # stream, found while reading the body, after the attempt.
            "SSEError",
        )
        if hasattr(package, name)
    }
    # The transport's own: a deadline that passed during an attempt (its
    # base is every installed stack's TimeoutException at once).
    # The circuit breaker's refusal: never sent, never retried (its base is
    # every installed stack's TransportError at once).
    own = {DeadlineExceeded, TimeoutException, CircuitOpenError, TransportError}
    declared = {*NOT_SENT_ERRORS, *NOT_SENT_TIMEOUTS, *MAYBE_PROCESSED_ERRORS}
    pending = [package.TransportError]
    seen: set[type[BaseException]] = set()
    while pending:
        cls = pending.pop()
        seen.add(cls)
        pending.extend(cls.__subclasses__())
    assert seen - declared - knowingly_other - own == set()
    assert knowingly_other & declared == set()


@pytest.mark.parametrize(
    "middle",
    [
        pytest.param((httpcore.ConnectError,), id="asyncio: httpx<-httpcore<-ssl"),
        pytest.param((anyio.BrokenResourceError, httpcore.ConnectError), id="trio-like"),
    ],
)
def test_a_connect_error_caused_by_certificate_verification_is_a_certificate_failure(
    middle: tuple[type[BaseException], ...],
) -> None:
    assert classify_error(certificate_chain(*middle)) is FailureKind.CERTIFICATE


def test_a_raw_httpcore_connect_error_from_a_certificate_failure_is_one_too() -> None:
    with pytest.raises(httpcore.ConnectError) as info:
        raise httpcore.ConnectError("verify failed") from ssl.SSLCertVerificationError(1, "x")
    assert classify_error(info.value) is FailureKind.CERTIFICATE


def test_an_implicitly_chained_certificate_failure_is_found_too() -> None:
    def handshake() -> None:
        try:
            raise ssl.SSLCertVerificationError(1, "verify failed")
        except ssl.SSLError:
            raise httpx.ConnectError("handshake failed") from None

    with pytest.raises(httpx.ConnectError) as info:
        handshake()
    # "from None" hides the context from tracebacks, not from the policy.
    assert classify_error(info.value) is FailureKind.CERTIFICATE


def test_another_tls_error_behind_a_connect_error_stays_retryable() -> None:
    with pytest.raises(httpx.ConnectError) as info:
        raise httpx.ConnectError("wrong version number") from ssl.SSLError(1, "WRONG_VERSION")
    assert classify_error(info.value) is FailureKind.NOT_SENT


def test_a_cyclic_or_very_deep_cause_chain_ends_the_search() -> None:
    a, b = httpx.ConnectError("a"), httpx.ConnectError("b")
    a.__cause__, b.__cause__ = b, a
    assert classify_error(a) is FailureKind.NOT_SENT
    deep: BaseException = ssl.SSLCertVerificationError(1, "too deep to look at")
    for _ in range(20):
        wrapper = RuntimeError("layer")
        wrapper.__cause__ = deep
        deep = wrapper
    top = httpx.ConnectError("top")
    top.__cause__ = deep
    assert classify_error(top) is FailureKind.NOT_SENT


@pytest.mark.parametrize(
    ("method", "headers", "idempotent"),
    [
        *((m, {}, True) for m in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE")),
        ("get", {}, True),
        ("POST", {}, False),
        ("PATCH", {}, False),
        ("CONNECT", {}, False),
        ("PROPFIND", {}, False),
        ("POST", {"Idempotency-Key": "8e03978e"}, True),
        ("PATCH", {"idempotency-key": "8e03978e"}, True),
    ],
)
def test_is_idempotent_follows_rfc_9110_and_the_idempotency_key_header(
    method: str, headers: dict[str, str], idempotent: bool
) -> None:
    assert is_idempotent(httpx.Request(method, "http://x.test/", headers=headers)) is idempotent


def test_the_idempotent_methods_are_exactly_rfc_9110s() -> None:
    assert {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"} == IDEMPOTENT_METHODS


def test_a_connect_timeout_caused_by_a_rejected_certificate_is_a_certificate_failure() -> None:
    error = httpx.ConnectTimeout("handshake timed out")
    error.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    assert classify_error(error) is FailureKind.CERTIFICATE
