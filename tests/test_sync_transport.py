"""RetryingTransport: the async transport's attempt-count matrix, for httpx.Client.

Counted three ways, as for the async transport: respx routes (its default
mocker patches httpcore's sync pool too), counting inner transports from
``resilient_transport.testing``, and real sockets on 127.0.0.1.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
import pytest
import respx

from resilient_transport import (
    DeadlineExceeded,
    GiveUpReason,
    RequestContext,
    RetryingAsyncTransport,
    RetryingTransport,
)
from resilient_transport.testing import (
    CountingTransport,
    FakeClock,
    FlakyTransport,
    RecordingSleep,
    ScriptedTransport,
    set_instant_sleep,
)

from ._server import free_port
from ._support import URL
from ._sync_server import SyncServer


def refused() -> httpx.ConnectError:
    return httpx.ConnectError("[Errno 111] Connection refused")


def make_client(inner: httpx.BaseTransport | None = None, **kwargs: Any) -> httpx.Client:
    kwargs.setdefault("sleep", RecordingSleep().sync)
    return httpx.Client(transport=RetryingTransport(inner, **kwargs))


# -- counted by respx routes ------------------------------------------------------


def test_success_makes_one_attempt_and_no_retry_respx() -> None:
    with respx.mock() as router:
        route = router.get(URL).mock(return_value=httpx.Response(200, text="hi"))
        with make_client() as client:
            response = client.get(URL)
    assert route.call_count == 1
    assert response.text == "hi"
    assert response.extensions["retry"].current_attempt == 0


@pytest.mark.parametrize("failures", [1, 2])
def test_connect_errors_then_success_make_one_attempt_more_each_respx(failures: int) -> None:
    with respx.mock() as router:
        side_effect: list[Exception | httpx.Response] = [
            *(refused() for _ in range(failures)),
            httpx.Response(200),
        ]
        route = router.get(URL).mock(side_effect=side_effect)
        with make_client(max_retries=2) as client:
            response = client.get(URL)
    assert route.call_count == failures + 1
    assert response.status_code == 200
    assert response.extensions["retry"].current_attempt == failures


def test_persistent_connect_error_makes_three_attempts_then_raises_respx() -> None:
    with respx.mock() as router:
        route = router.get(URL).mock(side_effect=refused())
        client = make_client(max_retries=2)
        with client, pytest.raises(httpx.ConnectError, match=r"\[Errno 111\] Connection refused"):
            client.get(URL)
    assert route.call_count == 3


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=lambda e: type(e).__name__,
)
def test_other_errors_make_exactly_one_attempt_respx(outcome: Exception) -> None:
    with respx.mock() as router:
        route = router.get(URL).mock(side_effect=outcome)
        with make_client(max_retries=5) as client, pytest.raises(type(outcome)):
            client.get(URL)
    assert route.call_count == 1


@pytest.mark.parametrize("status", [404, 500, 503])
def test_http_errors_are_responses_and_make_exactly_one_attempt_respx(status: int) -> None:
    with respx.mock() as router:
        route = router.get(URL).mock(return_value=httpx.Response(status))
        with make_client(max_retries=5) as client:
            response = client.get(URL)
    assert route.call_count == 1
    assert response.status_code == status


# -- counted by a counting inner transport ------------------------------------------


def test_two_connect_errors_then_success_makes_three_attempts() -> None:
    inner = FlakyTransport(failures=2)
    sleep = RecordingSleep()
    with make_client(inner, max_retries=2, sleep=sleep.sync) as client:
        response = client.get(URL)
    assert inner.calls == 3
    assert response.status_code == 200
    assert response.extensions["retry"].current_attempt == 2
    assert len(sleep.delays) == 2
    assert inner.closed


def test_persistent_connect_error_reraises_the_last_exception_unchanged() -> None:
    errors = [httpx.ConnectError(f"refused #{i}") for i in range(3)]
    inner = ScriptedTransport(*errors)
    with make_client(inner, max_retries=2) as client, pytest.raises(httpx.ConnectError) as info:
        client.get(URL)
    assert inner.calls == 3
    assert info.value is errors[-1]
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_raw_httpcore_connect_error_is_retried_and_propagates_as_itself() -> None:
    inner = ScriptedTransport(*[httpcore.ConnectError("raw refusal")] * 3)
    client = make_client(inner, max_retries=2)
    with client, pytest.raises(httpcore.ConnectError, match="raw refusal") as info:
        client.get(URL)
    assert inner.calls == 3
    assert type(info.value) is httpcore.ConnectError


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.ReadTimeout("t"),
        httpx.ConnectTimeout("t"),
        httpx.ReadError("r"),
        httpx.RemoteProtocolError("p"),
        httpcore.ReadTimeout("t"),
        httpcore.ReadError("r"),
        ValueError("not a transport error"),
        KeyboardInterrupt(),
        404,
        500,
        503,
    ],
    ids=lambda o: str(o) if isinstance(o, int) else f"{type(o).__module__}.{type(o).__name__}",
)
def test_everything_but_connect_errors_makes_exactly_one_attempt(outcome: Any) -> None:
    inner = ScriptedTransport(outcome, then=200)
    with make_client(inner, max_retries=5) as client:
        if isinstance(outcome, int):
            assert client.get(URL).status_code == outcome
        else:
            with pytest.raises(type(outcome)) as info:
                client.get(URL)
            assert info.value is outcome
    assert inner.calls == 1


def test_a_handler_answers_and_an_async_handler_is_refused() -> None:
    async def not_here(request: httpx.Request) -> httpx.Response:
        raise AssertionError  # pragma: no cover - never awaited

    with make_client(FlakyTransport(failures=0, handler=lambda r: httpx.Response(201))) as client:
        assert client.get(URL).status_code == 201
    client = make_client(ScriptedTransport(not_here))
    with client, pytest.raises(TypeError, match="returned an awaitable"):
        client.get(URL)


# -- real sockets on 127.0.0.1 --------------------------------------------------------


@pytest.fixture
def counting() -> CountingTransport:
    return CountingTransport(httpx.HTTPTransport())


def test_a_live_server_answers_in_one_attempt(
    sync_server: SyncServer, counting: CountingTransport
) -> None:
    with make_client(counting) as client:
        response = client.get(f"{sync_server.url}/hello")
    assert (counting.calls, response.text, sync_server.connections) == (1, "GET /hello", 1)
    assert counting.closed


@pytest.mark.parametrize("status", [404, 500, 503])
def test_error_statuses_from_a_live_server_make_one_attempt(
    sync_server: SyncServer, counting: CountingTransport, status: int
) -> None:
    with make_client(counting, max_retries=5) as client:
        assert client.get(f"{sync_server.url}/status/{status}").status_code == status
    assert counting.calls == 1 and sync_server.requests == [f"GET /status/{status}"]


@pytest.mark.parametrize(
    ("path", "error", "timeout"),
    [
        ("/hang", httpx.ReadTimeout, 0.2),
        ("/reset", httpx.ReadError, 5.0),
        ("/garbage", httpx.RemoteProtocolError, 5.0),
    ],
)
def test_failures_after_sending_make_one_real_attempt(
    sync_server: SyncServer,
    counting: CountingTransport,
    path: str,
    error: type[Exception],
    timeout: float,
) -> None:
    with make_client(counting, max_retries=5) as client, pytest.raises(error):
        client.get(f"{sync_server.url}{path}", timeout=timeout)
    assert counting.calls == 1 and sync_server.connections == 1


def test_a_closed_port_gets_three_real_connection_attempts_then_connect_error(
    counting: CountingTransport,
) -> None:
    with make_client(counting, max_retries=2) as client, pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{free_port()}/")
    assert counting.calls == 3
    assert list(counting.failures.values()) == [[httpx.ConnectError] * 3]


def test_a_streamed_body_is_resent_after_connect_errors_and_a_retried_status_drained(
    sync_server: SyncServer,
) -> None:
    def body() -> Iterator[bytes]:
        yield b"chunk"

    counting = CountingTransport(httpx.HTTPTransport())
    with make_client(counting, retry_statuses={503}) as client:
        response = client.get(f"{sync_server.url}/status/503")
        assert (response.status_code, counting.calls) == (503, 3)
        sent = client.post(f"{sync_server.url}/echo", content=body())
    assert sent.text == "POST /echo"
    assert sync_server.connections == 1  # drained: the connection went back to the pool


def test_a_one_shot_body_already_sent_is_not_sent_again() -> None:
    def body() -> Iterator[bytes]:
        yield b"chunk"

    def consume(request: httpx.Request) -> httpx.Response:
        b"".join(request.stream)  # type: ignore[arg-type]
        raise httpx.ConnectError("after reading", request=request)

    inner = ScriptedTransport(consume)
    with make_client(inner) as client, pytest.raises(httpx.ConnectError):
        client.post(URL, content=body())
    assert inner.calls == 1


# -- overrides, deadline, sleep -------------------------------------------------------


def test_overrides_are_merged_as_for_the_async_transport() -> None:
    inner = FlakyTransport(failures=4)
    sleep = RecordingSleep()
    with make_client(inner, base_delay=0.01, jitter=0.0, sleep=sleep.sync) as client:
        ctx = RequestContext(max_retries=4, request_id="users")
        response = client.get(URL, extensions={"retry": ctx})
        with pytest.raises(httpx.ConnectError):
            client.get(URL, extensions={"retry": {"max_retries": 0, "request_id": "once"}})
        with pytest.raises(TypeError, match='"retry" request extension'):
            client.get(URL, extensions={"retry": 3})
    assert response.extensions["retry"].request_id == "users"
    assert sleep.delays == [0.01, 0.02, 0.04, 0.08]
    assert (inner.attempts["users"], inner.attempts["once"]) == (5, 1)


def test_a_deadline_clamps_each_phase_and_a_late_timeout_is_deadline_exceeded() -> None:
    clock = FakeClock()
    seen: list[Any] = []

    def slow(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        clock.advance(3.0)
        raise httpx.ReadTimeout("timed out", request=request)

    transport = RetryingTransport(
        ScriptedTransport(slow), deadline=2.5, clock=clock, sleep=clock.sync_sleep
    )
    client = httpx.Client(transport=transport, timeout=10.0)
    with client, pytest.raises(DeadlineExceeded, match=r"deadline of 2\.5 s") as info:
        client.get(URL)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert seen == [{"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}]


def test_a_timeout_before_the_deadline_stays_itself_and_no_attempt_starts_after_it() -> None:
    clock = FakeClock()
    script = ScriptedTransport(httpx.ReadTimeout("early"), then=200)
    early = RetryingTransport(script, deadline=5.0, clock=clock, sleep=clock.sync_sleep)
    with httpx.Client(transport=early) as client, pytest.raises(httpx.ReadTimeout):
        client.get(URL)

    def overslept(delay: float) -> None:
        clock.advance(10.0)

    late = RetryingTransport(
        FlakyTransport(failures=1), deadline=5.0, base_delay=0.1, clock=clock, sleep=overslept
    )
    with httpx.Client(transport=late) as client, pytest.raises(DeadlineExceeded):
        client.get(URL)
    ok = RetryingTransport(FlakyTransport(failures=1), deadline=5.0, sleep=clock.sync_sleep)
    with httpx.Client(transport=ok) as client:
        assert client.get(URL).status_code == 200


def test_the_default_sleep_is_instant_under_set_instant_sleep() -> None:
    with (
        set_instant_sleep(),
        httpx.Client(
            transport=RetryingTransport(FlakyTransport(failures=2), base_delay=60.0)
        ) as client,
    ):
        assert client.get(URL).status_code == 200


def test_the_default_sleep_sleeps_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    with httpx.Client(transport=RetryingTransport(FlakyTransport(1), jitter=0.0)) as client:
        client.get(URL)
    assert slept == [1.0]


# -- construction and lifecycle ---------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_retries": 2.0},
        {"base_delay": math.inf},
        {"base_delay": 2.0, "max_delay": 0.5},
        {"jitter": 2},
        {"deadline": -1.0},
        {"retry_statuses": [700]},
        {"max_retry_after": -3},
        {"budget": 10},
        {"sleep": 0},
        {"clock": None},
        {"random": 0.5},
    ],
    ids=repr,
)
def test_invalid_values_raise_the_same_messages_as_the_async_transport(
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises((TypeError, ValueError)) as sync_info:
        RetryingTransport(httpx.BaseTransport(), **kwargs)
    with pytest.raises((TypeError, ValueError)) as async_info:
        RetryingAsyncTransport(httpx.AsyncBaseTransport(), **kwargs)
    assert type(sync_info.value) is type(async_info.value)
    assert str(sync_info.value) == str(async_info.value)


def test_wrong_inner_transport_events_and_async_sleeps_are_refused() -> None:
    with pytest.raises(TypeError, match=r"transport must be an httpx\.BaseTransport or None"):
        RetryingTransport(httpx.AsyncHTTPTransport())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"events must be a resilient_transport\.EventQueue"):
        RetryingTransport(events=[])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pass its \.sync method"):
        RetryingTransport(sleep=RecordingSleep())
    with pytest.raises(TypeError, match="sleep must be a plain function"):
        RetryingTransport(sleep=FakeClock().sleep)


def test_the_transport_exposes_its_state_and_closes_its_inner_transport() -> None:
    transport = RetryingTransport()
    assert type(transport.transport) is httpx.HTTPTransport
    assert transport.budget is None and transport.dropped_events == 0
    assert transport.defaults.max_retries == 2
    assert repr(transport).startswith(f"RetryingTransport(<{httpx.__name__}.HTTPTransport")
    transport.close()
    inner = FlakyTransport(failures=0)
    with RetryingTransport(inner) as entered:
        assert isinstance(entered, RetryingTransport) and not inner.closed
    assert inner.closed
    assert issubclass(RetryingTransport, httpx.BaseTransport)


def test_a_port_outside_1_to_65535_is_refused_before_any_attempt() -> None:
    inner = FlakyTransport(failures=0)
    with make_client(inner) as client, pytest.raises(httpx.InvalidURL, match="Invalid port"):
        client.get("http://service.test:65536/")
    assert inner.calls == 0


def test_a_retry_status_given_up_returns_the_response_with_its_reason() -> None:
    inner = ScriptedTransport(503, 503, 503)
    with make_client(inner, retry_statuses={503}) as client:
        response = client.get(URL)
    assert response.status_code == 503 and inner.calls == 3
    assert response.extensions["retry"].current_attempt == 2
    assert GiveUpReason.EXHAUSTED.value == "exhausted"


class Chunks(httpx.SyncByteStream):
    """A response body in chunks, that may fail midway; it records being closed."""

    def __init__(self, *chunks: bytes, error: Exception | None = None) -> None:
        self.chunks, self.error, self.closed = chunks, error, False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("length", "stream"),
    [
        ("2", Chunks(b"ok")),  # read to its end
        ("2", Chunks(b"x" * 70_000)),  # longer than it said: given up on
        ("2", Chunks(b"o", error=httpx.ReadError("gone"))),  # failed midway
        ("", Chunks(b"unknown length")),  # not read
    ],
)
def test_a_retried_response_is_drained_then_closed(length: str, stream: Chunks) -> None:
    from resilient_transport._attempt import drain_sync

    headers = {"content-length": length} if length else {}
    drain_sync(httpx.Response(503, headers=headers, stream=stream))
    assert stream.closed


def test_a_list_body_is_drained_and_a_tracked_body_closes_what_it_wraps() -> None:
    from resilient_transport._attempt import SyncTrackedStream, drain_sync

    class ListBody(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"ab"])

    drain_sync(httpx.Response(503, headers={"content-length": "2"}, stream=ListBody()))
    inner = Chunks(b"body")
    tracked = SyncTrackedStream(inner)
    assert list(tracked) == [b"body"] and tracked.started
    tracked.close()
    assert inner.closed
