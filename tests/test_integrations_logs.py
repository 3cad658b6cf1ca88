"""The logging integration: one structured record per event, the right level, no secrets."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httpx
import pytest

from resilient_transport import (
    AsyncEvent,
    AsyncResilientClient,
    EventMonitor,
    EventType,
    RetryingAsyncTransport,
)
from resilient_transport.integrations.logs import (
    DEFAULT_LOGGER,
    EventLogger,
    event_fields,
    instrument,
)
from resilient_transport.testing import FlakyTransport, RecordingSleep, ScriptedTransport

from ._support import URL

pytestmark = pytest.mark.anyio


async def run_logged(
    inner: httpx.AsyncBaseTransport,
    *,
    url: str = URL,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    logger: logging.Logger | str = DEFAULT_LOGGER,
    levels: dict[EventType, int] | None = None,
    **retry: Any,
) -> httpx.Response | Exception:
    """Send one request through a monitored transport whose monitor logs every event."""
    retry.setdefault("sleep", RecordingSleep())
    send, receive = anyio.create_memory_object_stream[AsyncEvent](100)
    monitor = EventMonitor(receive)
    instrument(monitor, logger, levels=levels)
    transport = RetryingAsyncTransport(inner, events=send, **retry)
    async with monitor, httpx.AsyncClient(transport=transport) as client:
        try:
            return await client.request(
                method, url, headers=headers, extensions={"retry": {"request_id": "r1"}}
            )
        except Exception as exc:
            return exc


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == DEFAULT_LOGGER]


async def test_two_connect_failures_then_success_log_two_warnings_and_an_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await run_logged(FlakyTransport(failures=2), base_delay=0.25, jitter=0.0)
    assert isinstance(response, httpx.Response)
    logged = records(caplog)
    assert [(r.levelno, r.event, r.attempt) for r in logged] == [  # type: ignore[attr-defined]
        (logging.WARNING, "retry", 1),
        (logging.WARNING, "retry", 2),
        (logging.INFO, "success", 3),
    ]
    first, second, last = logged
    assert first.request_id == "r1"  # type: ignore[attr-defined]
    assert first.error_type == f"{httpx.__name__}.ConnectError"  # type: ignore[attr-defined]
    assert (first.delay, second.delay) == (0.25, 0.5)  # type: ignore[attr-defined]
    assert first.max_retries == 2  # type: ignore[attr-defined]
    assert first.getMessage() == (
        f"retry 1/2 of GET {URL} in 0.250s after {httpx.__name__}.ConnectError: simulated failure"
        " [request r1]"
    )
    assert last.status_code == 200  # type: ignore[attr-defined]
    assert last.reason is None  # type: ignore[attr-defined]
    assert last.getMessage() == (
        f"GET {URL} -> 200 after 3 attempt(s) in {last.elapsed:.3f}s [request r1]"  # type: ignore[attr-defined]
    )


async def test_exhausted_retries_log_an_error_with_its_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await run_logged(FlakyTransport(failures=5), max_retries=1)
    assert isinstance(result, httpx.ConnectError)
    last = records(caplog)[-1]
    assert last.levelno == logging.WARNING
    assert (last.event, last.attempt, last.reason) == ("error", 2, "exhausted")  # type: ignore[attr-defined]
    assert "failed after 2 attempt(s)" in last.getMessage()
    assert "not retried: exhausted" in last.getMessage()


async def test_a_timeout_is_logged_as_timed_out(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    result = await run_logged(ScriptedTransport(httpx.ReadTimeout))
    assert isinstance(result, httpx.ReadTimeout)
    (record,) = records(caplog)
    assert record.event == "timeout"  # type: ignore[attr-defined]
    assert record.error_type == f"{httpx.__name__}.ReadTimeout"  # type: ignore[attr-defined]
    assert "timed out after 1 attempt(s)" in record.getMessage()
    assert f"{httpx.__name__}.ReadTimeout: simulated failure" in record.getMessage()


async def test_a_retried_status_is_logged_with_its_code(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    response = await run_logged(ScriptedTransport(503, 200), retry_statuses={503})
    assert isinstance(response, httpx.Response)
    retry, success = records(caplog)
    assert retry.error_type == "503"  # type: ignore[attr-defined]
    assert retry.status_code == 503  # type: ignore[attr-defined]
    assert "after status 503" in retry.getMessage()
    assert success.status_code == 200  # type: ignore[attr-defined]


async def test_a_refused_status_retry_says_why_on_the_success_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await run_logged(ScriptedTransport(503), method="POST", retry_statuses={503})
    assert isinstance(response, httpx.Response)
    (record,) = records(caplog)
    assert (record.event, record.reason) == ("success", "not_idempotent")  # type: ignore[attr-defined]
    assert record.getMessage().endswith("; not retried: not_idempotent [request r1]")


async def test_a_cancelled_request_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    in_backoff = anyio.Event()

    async def sleep_until_cancelled(delay: float) -> None:
        in_backoff.set()
        await anyio.sleep_forever()

    send, receive = anyio.create_memory_object_stream[AsyncEvent](100)
    monitor = EventMonitor(receive)
    instrument(monitor)
    transport = RetryingAsyncTransport(
        FlakyTransport(failures=1), events=send, sleep=sleep_until_cancelled
    )
    async with monitor, httpx.AsyncClient(transport=transport) as client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.get, URL)
                await in_backoff.wait()
                tg.cancel_scope.cancel()
    assert [r.event for r in records(caplog)] == ["retry", "cancelled"]  # type: ignore[attr-defined]
    cancelled = records(caplog)[-1]
    assert cancelled.levelno == logging.INFO
    assert cancelled.reason == "cancelled"  # type: ignore[attr-defined]
    assert " cancelled after 1 attempt(s)" in cancelled.getMessage()


async def test_no_header_value_and_no_password_reaches_a_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await run_logged(
        FlakyTransport(failures=1),
        url="http://alice:hunter2@service.test/private",
        headers={"Authorization": "Bearer sk-live-0123", "X-Api-Key": "key-456"},
    )
    logged = records(caplog)
    assert len(logged) == 2
    for record in logged:
        text = record.getMessage() + repr(vars(record))
        for secret in ("hunter2", "alice", "sk-live-0123", "key-456"):
            assert secret not in text
        assert record.url == "http://service.test/private"  # type: ignore[attr-defined]


async def test_an_error_that_quotes_a_header_value_is_logged_without_its_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # h11 quotes the offending header value when it refuses one.
    leak = httpx.LocalProtocolError("Illegal header value b'Bearer sk-live-123\\n'")
    result = await run_logged(ScriptedTransport(leak))
    assert result is leak  # the caller still gets the error, text and all
    (record,) = records(caplog)
    assert record.error_type == f"{httpx.__name__}.LocalProtocolError"  # type: ignore[attr-defined]
    assert "sk-live" not in record.getMessage() + repr(vars(record))
    assert f"({httpx.__name__}.LocalProtocolError)" in record.getMessage()


async def test_levels_can_be_lowered_and_disabled_levels_log_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=DEFAULT_LOGGER)
    await run_logged(FlakyTransport(failures=1), levels={EventType.RETRY: logging.DEBUG})
    assert [r.event for r in records(caplog)] == ["success"]  # type: ignore[attr-defined]


async def test_a_logger_can_be_given_by_object(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    mine = logging.getLogger("my.app.http")
    await run_logged(FlakyTransport(failures=0), logger=mine)
    assert [r.name for r in caplog.records if r.name.startswith("my.app")] == ["my.app.http"]


async def test_one_line_instruments_a_resilient_client(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with AsyncResilientClient(
        transport=FlakyTransport(failures=1), base_delay=0, max_retries=1
    ) as client:
        callback = instrument(client)
        await client.get(URL)
        await client.wait_for_all_requests()
    assert isinstance(callback, EventLogger)
    assert repr(callback) == f"EventLogger({DEFAULT_LOGGER!r})"
    assert [r.event for r in records(caplog)] == ["retry", "success"]  # type: ignore[attr-defined]


def test_event_fields_are_exactly_the_documented_ones() -> None:
    from resilient_transport import RequestContext

    event = AsyncEvent(EventType.SUCCESS, RequestContext(request_id="x"), 0.0)
    assert sorted(event_fields(event)) == sorted(
        [
            "request_id",
            "event",
            "attempt",
            "max_retries",
            "method",
            "url",
            "elapsed",
            "delay",
            "status_code",
            "reason",
            "error_type",
        ]
    )
    # Every field must be settable through `extra=`: none may shadow a LogRecord attribute.
    reserved = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
    assert not reserved & set(event_fields(event))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"logger": 42}, "logger must be a logging.Logger or a name"),
        ({"levels": {"retry": logging.INFO}}, "levels keys must be EventType members"),
        ({"levels": {EventType.RETRY: "INFO"}}, "levels values must be int levels"),
    ],
)
def test_bad_arguments_raise_type_errors_naming_them(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        EventLogger(**kwargs)


def test_instrument_refuses_a_target_without_add_event_callback() -> None:
    with pytest.raises(TypeError, match="EventMonitor or an AsyncResilientClient"):
        instrument(object())  # type: ignore[arg-type]
