"""The OpenTelemetry integration against the real SDK: in-memory metric reader, span exporter."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from resilient_transport import (
    AsyncEvent,
    AsyncResilientClient,
    EventMonitor,
    EventType,
    RequestContext,
    RetryingAsyncTransport,
)
from resilient_transport.integrations.opentelemetry import (
    GIVE_UPS,
    REQUESTS,
    RETRIES,
    RETRY_DELAY,
    RETRY_DELAY_BUCKETS,
    OpenTelemetryMetrics,
    instrument,
)
from resilient_transport.testing import FlakyTransport, RecordingSleep, ScriptedTransport
from resilient_transport.transports.opentelemetry import TracingTransport

from ._support import URL

pytestmark = pytest.mark.anyio


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    yield provider
    provider.shutdown()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    """Every data point of the metric called ``name``."""
    found: list[Any] = []
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


def attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """A finished span's attributes (the SDK types them as optional)."""
    assert span.attributes is not None
    return span.attributes


def spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return sorted(exporter.get_finished_spans(), key=lambda span: span.start_time or 0)


async def test_two_connect_failures_then_success_give_resend_count_2_and_two_retries(
    reader: InMemoryMetricReader,
    meter_provider: MeterProvider,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    inner = TracingTransport(FlakyTransport(failures=2), tracer_provider=tracer_provider)
    async with AsyncResilientClient(transport=inner, base_delay=0) as client:
        instrument(client, meter_provider=meter_provider)
        response = await client.get(URL)
        await client.wait_for_all_requests()
    assert response.status_code == 200

    attempts = spans(exporter)
    assert [span.name for span in attempts] == ["GET", "GET", "GET"]
    assert all(span.kind is SpanKind.CLIENT for span in attempts)
    assert [attributes(span).get("http.request.resend_count") for span in attempts] == [
        None,
        1,
        2,
    ]
    assert [span.status.status_code for span in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert [attributes(span).get("error.type") for span in attempts] == [
        f"{httpx.__name__}.ConnectError",
        f"{httpx.__name__}.ConnectError",
        None,
    ]
    last = attributes(attempts[-1])
    assert last["http.response.status_code"] == 200
    assert (last["server.address"], last["server.port"]) == ("service.test", 80)
    assert last["url.full"] == URL

    (retries,) = points(reader, RETRIES)
    assert retries.value == 2
    assert dict(retries.attributes) == {
        "http.request.method": "GET",
        "server.address": "service.test",
        "server.port": 80,
        "error.type": f"{httpx.__name__}.ConnectError",
    }
    (finished,) = points(reader, REQUESTS)
    assert finished.value == 1
    assert finished.attributes["http.request.resend_count"] == 2
    assert finished.attributes["resilient_transport.outcome"] == "success"
    assert finished.attributes["http.response.status_code"] == 200
    assert points(reader, GIVE_UPS) == []


class LateServer:
    """A 127.0.0.1 port that refuses connections until :meth:`open` is called.

    The socket is bound from the start (so the port cannot be taken) but not
    listening, so the kernel refuses every connection to it; ``open()`` makes it
    listen and answers each request with 200 "ok".
    """

    def __init__(self, task_group: anyio.abc.TaskGroup) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/items"
        self._task_group = task_group
        self._listener: anyio.abc.SocketListener | None = None

    async def open(self) -> None:
        self._sock.listen()
        self._listener = await anyio.abc.SocketListener.from_socket(self._sock)
        self._task_group.start_soon(self._listener.serve, self._answer)

    @staticmethod
    async def _answer(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            received = b""
            while b"\r\n\r\n" not in received:
                received += await stream.receive()
            await stream.send(
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            )

    async def aclose(self) -> None:
        if self._listener is not None:
            await self._listener.aclose()
        else:
            self._sock.close()


@pytest.fixture
async def late_server() -> AsyncIterator[LateServer]:
    async with anyio.create_task_group() as tg:
        server = LateServer(tg)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()
    await server.aclose()


async def test_real_refused_connections_then_success_make_three_client_spans(
    late_server: LateServer,
    reader: InMemoryMetricReader,
    meter_provider: MeterProvider,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    sleeps = 0

    async def sleep(delay: float) -> None:
        # The server comes up during the second backoff: two refused connects.
        nonlocal sleeps
        sleeps += 1
        if sleeps == 2:
            await late_server.open()

    send, receive = anyio.create_memory_object_stream[AsyncEvent](100)
    monitor = EventMonitor(receive)
    monitor.add_event_callback(None, OpenTelemetryMetrics(meter_provider))
    transport = RetryingAsyncTransport(
        TracingTransport(tracer_provider=tracer_provider), events=send, sleep=sleep
    )
    with anyio.fail_after(10):
        async with monitor, httpx.AsyncClient(transport=transport) as client:
            response = await client.get(late_server.url)
    assert response.text == "ok"
    attempts = spans(exporter)
    assert [attributes(span).get("http.request.resend_count") for span in attempts] == [
        None,
        1,
        2,
    ]
    assert [attributes(span).get("error.type") for span in attempts[:2]] == [
        f"{httpx.__name__}.ConnectError",
        f"{httpx.__name__}.ConnectError",
    ]
    assert attributes(attempts[2])["network.protocol.version"] == "1.1"
    assert attributes(attempts[2])["server.address"] == "127.0.0.1"
    (retries,) = points(reader, RETRIES)
    assert retries.value == 2


async def test_exhausted_retries_count_a_give_up_with_its_reason(
    reader: InMemoryMetricReader, meter_provider: MeterProvider
) -> None:
    async with AsyncResilientClient(
        transport=FlakyTransport(failures=5), base_delay=0, max_retries=1
    ) as client:
        instrument(client, meter_provider=meter_provider)
        with pytest.raises(httpx.ConnectError):
            await client.post(URL)
        await client.wait_for_all_requests()
    (give_up,) = points(reader, GIVE_UPS)
    assert give_up.value == 1
    assert give_up.attributes["resilient_transport.reason"] == "exhausted"
    assert give_up.attributes["http.request.method"] == "POST"
    assert give_up.attributes["error.type"] == f"{httpx.__name__}.ConnectError"
    (finished,) = points(reader, REQUESTS)
    assert finished.attributes["resilient_transport.outcome"] == "error"
    assert finished.attributes["http.request.resend_count"] == 1


async def test_the_retry_delay_histogram_records_each_backoff(
    reader: InMemoryMetricReader, meter_provider: MeterProvider
) -> None:
    sleep = RecordingSleep()
    async with AsyncResilientClient(
        transport=FlakyTransport(failures=2), base_delay=0.25, jitter=0.0, sleep=sleep
    ) as client:
        instrument(client, meter_provider=meter_provider)
        await client.get(URL)
        await client.wait_for_all_requests()
    assert sleep.delays == [0.25, 0.5]
    (histogram,) = points(reader, RETRY_DELAY)
    assert (histogram.count, histogram.sum) == (2, 0.75)
    assert tuple(histogram.explicit_bounds) == RETRY_DELAY_BUCKETS


async def test_a_retried_error_status_is_an_error_span_and_counted_by_code(
    reader: InMemoryMetricReader,
    meter_provider: MeterProvider,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    inner = TracingTransport(ScriptedTransport(503, 200), tracer_provider=tracer_provider)
    async with AsyncResilientClient(transport=inner, base_delay=0, retry_statuses={503}) as client:
        instrument(client, meter_provider=meter_provider)
        response = await client.get(URL)
        await client.wait_for_all_requests()
    assert response.status_code == 200
    first, second = spans(exporter)
    assert attributes(first)["error.type"] == "503"
    assert attributes(first)["http.response.status_code"] == 503
    assert first.status.status_code is StatusCode.ERROR
    assert attributes(second)["http.request.resend_count"] == 1
    (retries,) = points(reader, RETRIES)
    assert retries.attributes["error.type"] == "503"


class HeaderSpy(httpx.AsyncBaseTransport):
    """Notes each attempt's ``traceparent`` as it is sent (the request object is reused)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.headers["traceparent"])
        return await self.inner.handle_async_request(request)


async def test_each_attempt_carries_its_own_span_in_traceparent(
    exporter: InMemorySpanExporter, tracer_provider: TracerProvider
) -> None:
    spy = HeaderSpy(FlakyTransport(failures=1))
    tracing = TracingTransport(spy, tracer_provider=tracer_provider)
    async with httpx.AsyncClient(transport=RetryingAsyncTransport(tracing, base_delay=0)) as c:
        await c.get(URL)
    expected = [f"{span.context.span_id:016x}" for span in spans(exporter)]
    assert [header.split("-")[2] for header in spy.seen] == expected
    assert len(set(expected)) == 2


async def test_propagation_can_be_turned_off(tracer_provider: TracerProvider) -> None:
    inner = ScriptedTransport(200)
    tracing = TracingTransport(inner, tracer_provider=tracer_provider, propagate=False)
    async with httpx.AsyncClient(transport=tracing) as client:
        await client.get(URL)
    assert "traceparent" not in inner.requests[0].headers


async def test_url_full_redacts_credentials_and_signatures(
    exporter: InMemorySpanExporter, tracer_provider: TracerProvider
) -> None:
    tracing = TracingTransport(ScriptedTransport(200), tracer_provider=tracer_provider)
    async with httpx.AsyncClient(transport=tracing) as client:
        await client.get("https://bob:pw@service.test:8443/f?sig=abc&X-Goog-Signature=d&page=2")
    (span,) = spans(exporter)
    assert attributes(span)["url.full"] == (
        "https://REDACTED:REDACTED@service.test:8443/f?sig=REDACTED&X-Goog-Signature=REDACTED&page=2"
    )
    assert attributes(span)["server.port"] == 8443
    assert "http.request.resend_count" not in attributes(span)


async def test_url_full_follows_the_librarys_redaction_rule(
    exporter: InMemorySpanExporter, tracer_provider: TracerProvider
) -> None:
    # The same keys as events and logs (case-insensitive, credentials too),
    # not only the conventions' four; userinfo as the conventions ask.
    tracing = TracingTransport(ScriptedTransport(200), tracer_provider=tracer_provider)
    async with httpx.AsyncClient(transport=tracing) as client:
        await client.get("https://u:p@service.test/f?API_KEY=k&Access_Token=t&SIG=s&page=2")
        await client.get("https://service.test/f?page=2&sort=name")
    assert [attributes(span)["url.full"] for span in spans(exporter)] == [
        "https://REDACTED:REDACTED@service.test/f"
        "?API_KEY=REDACTED&Access_Token=REDACTED&SIG=REDACTED&page=2",
        "https://service.test/f?page=2&sort=name",
    ]


async def test_an_unknown_method_is_reported_as_other(
    exporter: InMemorySpanExporter, tracer_provider: TracerProvider
) -> None:
    tracing = TracingTransport(ScriptedTransport(404), tracer_provider=tracer_provider)
    async with httpx.AsyncClient(transport=tracing) as client:
        await client.request("PURGE", "https://service.test/cache")
    (span,) = spans(exporter)
    assert span.name == "HTTP"
    assert attributes(span)["http.request.method"] == "_OTHER"
    assert attributes(span)["http.request.method_original"] == "PURGE"
    assert attributes(span)["server.port"] == 443
    assert attributes(span)["error.type"] == "404"


async def test_an_error_that_quotes_a_header_value_is_recorded_without_its_text(
    exporter: InMemorySpanExporter, tracer_provider: TracerProvider
) -> None:
    # h11 quotes the offending header value when it refuses one.
    leak = httpx.LocalProtocolError("Illegal header value b'Bearer sk-live-123\\n'")
    tracing = TracingTransport(ScriptedTransport(leak), tracer_provider=tracer_provider)
    async with httpx.AsyncClient(transport=tracing) as client:
        with pytest.raises(httpx.LocalProtocolError):
            await client.get(URL, headers={"Authorization": "Bearer sk-live-123\n"})
    (span,) = spans(exporter)
    assert attributes(span)["error.type"] == f"{httpx.__name__}.LocalProtocolError"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "LocalProtocolError"
    assert span.events == ()  # no exception event: it would carry the message
    assert "sk-live" not in repr(span.to_json())


async def test_a_failed_attempt_records_its_exception(
    exporter: InMemorySpanExporter, tracer_provider: TracerProvider
) -> None:
    tracing = TracingTransport(ScriptedTransport(httpx.ReadError), tracer_provider=tracer_provider)
    async with httpx.AsyncClient(transport=tracing) as client:
        with pytest.raises(httpx.ReadError):
            await client.get(URL)
    (span,) = spans(exporter)
    assert span.status.description == "ReadError: simulated failure"
    assert [event.name for event in span.events] == ["exception"]


async def test_a_cancelled_attempt_ends_its_span_without_an_error_status(
    exporter: InMemorySpanExporter, tracer_provider: TracerProvider
) -> None:
    started = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    tracing = TracingTransport(ScriptedTransport(hang), tracer_provider=tracer_provider)
    async with httpx.AsyncClient(transport=tracing) as client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.get, URL)
                await started.wait()
                tg.cancel_scope.cancel()
    (span,) = spans(exporter)
    assert attributes(span)["error.type"] == anyio.get_cancelled_exc_class().__module__ + "." + (
        anyio.get_cancelled_exc_class().__qualname__
    )
    assert span.status.status_code is StatusCode.UNSET


async def test_the_tracing_transport_closes_what_it_wraps(tracer_provider: TracerProvider) -> None:
    inner = ScriptedTransport()
    async with TracingTransport(inner, tracer_provider=tracer_provider) as tracing:
        assert tracing.transport is inner
        assert repr(tracing).startswith("TracingTransport(")
    assert inner.closed
    inner = ScriptedTransport()
    await TracingTransport(inner, tracer_provider=tracer_provider).aclose()
    assert inner.closed


def test_the_tracing_transport_refuses_a_non_transport() -> None:
    with pytest.raises(TypeError, match=r"transport must be an httpx\.AsyncBaseTransport"):
        TracingTransport(object())  # type: ignore[arg-type]


def test_an_event_from_a_hand_made_transport_still_records_sane_attributes(
    reader: InMemoryMetricReader, meter_provider: MeterProvider
) -> None:
    record = OpenTelemetryMetrics(meter_provider)
    context = RequestContext(request_id="hand-made")
    error = ValueError("x")
    record(
        AsyncEvent(EventType.ERROR, context, 0.0, error=error, method="PURGE", url="http://[::1")
    )
    (finished,) = points(reader, REQUESTS)
    assert dict(finished.attributes) == {
        "http.request.method": "_OTHER",
        "error.type": "ValueError",
        "resilient_transport.outcome": "error",
    }


@pytest.mark.parametrize("make", [OpenTelemetryMetrics, TracingTransport])
def test_without_opentelemetry_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, make: Any
) -> None:
    for module in list(sys.modules):
        if module == "opentelemetry" or module.startswith("opentelemetry."):
            monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"pip install 'resilient-transport\[opentelemetry\]'"):
        make()
