"""Secrets never leak, and retries never change host.

Every request carries secrets: an ``Authorization`` bearer token, a cookie,
an API key header, and ``user:password`` in its URL. Whatever the library
renders — events, monitor results, log lines of the ``resilient_transport``
loggers (the logging integration's included), Prometheus and OpenTelemetry
metrics, OpenTelemetry spans, the command line's output, and the exceptions
the library raises itself — must contain none of them. An exception raised
by httpx is the caller's, passed through unchanged as the contract demands;
the library must still not render it anywhere.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import prometheus_client
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from resilient_transport import (
    AsyncEvent,
    AsyncResilientClient,
    EventMonitor,
    RequestContext,
    RetryingAsyncTransport,
)
from resilient_transport.integrations.logging import instrument as log_events
from resilient_transport.integrations.opentelemetry import OpenTelemetryMetrics, TracingTransport
from resilient_transport.integrations.prometheus import PrometheusMetrics
from resilient_transport.testing import (
    CountingTransport,
    FlakyTransport,
    RecordingSleep,
    ScriptedTransport,
)

from ._rawserver import port_of, serving
from ._support import GateSleep

pytestmark = pytest.mark.anyio

TOKEN = "s3cr3t-t0ken-value"
COOKIE = "c00kie-s3ssion"
API_KEY = "k3y-of-the-api"
USER, PASSWORD = "alice-user", "pa55w0rd-secret"
# httpx sends a URL's credentials as "Authorization: Basic <this>".
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (TOKEN, COOKIE, API_KEY, USER, PASSWORD, BASIC)
# An Authorization header of the request's own is replaced by the Basic one
# when the URL has credentials: the token then travels in a custom header.
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "X-Auth-Token": TOKEN,
    "Cookie": f"session={COOKIE}",
    "X-Api-Key": API_KEY,
}


def _url(host: str = "service.test", port: int | None = None, *, credentials: bool = True) -> str:
    where = host if port is None else f"{host}:{port}"
    userinfo = f"{USER}:{PASSWORD}@" if credentials else ""
    return f"http://{userinfo}{where}/orders?page=1"


def _assert_clean(texts: dict[str, list[str]]) -> None:
    leaks: dict[str, list[str]] = collections.defaultdict(list)
    for where, items in texts.items():
        for text in items:
            for secret in SECRETS:
                at = text.find(secret)
                if at >= 0:  # show where it is, not the whole text
                    leaks[where].append(text[max(0, at - 60) : at + len(secret) + 20])
    assert dict(leaks) == {}
    assert sum(map(len, texts.values())) > 0


def _event_texts(event: AsyncEvent, *, with_error: bool = True) -> list[str]:
    texts = [repr(event) if with_error else ""]
    for field in dataclasses.fields(event):
        if field.name != "error" or with_error:
            texts.append(repr(getattr(event, field.name)))
    texts.append(repr(event.context))
    return texts


class Observers:
    """Everything that renders events: a monitor with every integration attached."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        caplog.set_level(logging.DEBUG)
        self.registry = prometheus_client.CollectorRegistry()
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)
        self.spans = InMemorySpanExporter()
        self.tracer = TracerProvider(shutdown_on_exit=False)
        self.tracer.add_span_processor(SimpleSpanProcessor(self.spans))
        self.events: list[AsyncEvent] = []

    def attach(self, monitor: EventMonitor) -> None:
        log_events(monitor)
        monitor.add_event_callback(None, PrometheusMetrics(self.registry))
        monitor.add_event_callback(None, OpenTelemetryMetrics(self.meters))
        monitor.add_event_callback(None, self.events.append)

        def broken(event: AsyncEvent) -> None:
            raise RuntimeError("a callback that fails")

        monitor.add_event_callback(None, broken)  # its failure is logged by the monitor

    def traced(self, inner: httpx.AsyncBaseTransport) -> TracingTransport:
        return TracingTransport(inner, tracer_provider=self.tracer, propagate=False)

    def texts(self, monitor: EventMonitor, *, error_events: bool = True) -> dict[str, list[str]]:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        # httpx's own logger is not the library's (it shows the user name).
        records = [r for r in self.caplog.records if r.name.startswith("resilient_transport")]
        metrics = self.reader.get_metrics_data()
        texts = {
            "events": [t for e in self.events for t in _event_texts(e, with_error=error_events)],
            "results": [
                repr(dataclasses.replace(r, error=None)) for r in monitor.results.values()
            ],
            "log lines": [formatter.format(record) for record in records],
            "log extras": [repr(vars(record)) for record in records],
            "prometheus": [prometheus_client.generate_latest(self.registry).decode()],
            "opentelemetry metrics": [metrics.to_json() if metrics is not None else ""],
            "opentelemetry spans": [span.to_json() for span in self.spans.get_finished_spans()],
        }
        assert self.events, "no event was observed"
        assert records, "nothing was logged"
        return texts

    def close(self) -> None:
        self.meters.shutdown()
        self.tracer.shutdown()


@pytest.fixture
def observers(caplog: pytest.LogCaptureFixture) -> Iterator[Observers]:
    observers = Observers(caplog)
    yield observers
    observers.close()


def _503(retry_after: str) -> httpx.Response:
    return httpx.Response(
        503,
        headers={"Retry-After": retry_after, "Location": "http://elsewhere.test/"},
        text=f"echo: Bearer {TOKEN}",  # a body is never rendered either
    )


SCENARIOS: dict[str, Callable[[], tuple[httpx.AsyncBaseTransport, dict[str, Any]]]] = {
    "two connect errors then success": lambda: (FlakyTransport(failures=2), {}),
    "connect errors exhausted": lambda: (FlakyTransport(failures=9), {"max_retries": 2}),
    "503 retried then success": lambda: (
        ScriptedTransport(_503("0")),
        {"retry_statuses": {503}},
    ),
    "503 with a Retry-After too long": lambda: (
        ScriptedTransport(_503("86400")),
        {"retry_statuses": {503}},
    ),
    "read error, not retried": lambda: (ScriptedTransport(httpx.ReadError), {}),
    "read timeout": lambda: (ScriptedTransport(httpx.ReadTimeout), {}),
}


@pytest.mark.parametrize("credentials", [True, False], ids=["user:password@", "no-userinfo"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_nothing_rendered_contains_a_header_value_or_url_credentials(
    scenario: str, credentials: bool, observers: Observers
) -> None:
    inner, options = SCENARIOS[scenario]()
    send, receive = anyio.create_memory_object_stream[AsyncEvent](100)
    monitor = EventMonitor(receive)
    observers.attach(monitor)
    transport = RetryingAsyncTransport(
        observers.traced(inner), sleep=RecordingSleep(), events=send, **options
    )
    raised: list[BaseException] = []
    with anyio.fail_after(10):
        async with monitor, httpx.AsyncClient(transport=transport) as client:
            try:
                response = await client.get(_url(credentials=credentials), headers=HEADERS)
                assert response.request.headers["authorization"] == (
                    f"Basic {BASIC}" if credentials else f"Bearer {TOKEN}"
                )
            except httpx.HTTPError as exc:
                raised.append(exc)
            else:
                assert response.status_code in (200, 503)

    texts = observers.texts(monitor)
    # An error the library lets through is httpx's own, unchanged; for these
    # errors it carries no secret either.
    texts["exceptions"] = [f"{e!r} {e}" for e in raised]
    _assert_clean(texts)


async def test_a_request_cancelled_in_backoff_renders_no_secret(observers: Observers) -> None:
    send, receive = anyio.create_memory_object_stream[AsyncEvent](100)
    monitor = EventMonitor(receive)
    observers.attach(monitor)
    sleep = RecordingSleep(block=True)
    transport = RetryingAsyncTransport(
        observers.traced(FlakyTransport(failures=1)), sleep=sleep, events=send
    )
    with anyio.fail_after(10):
        async with (
            monitor,
            httpx.AsyncClient(transport=transport) as client,
            anyio.create_task_group() as task_group,
        ):
            task_group.start_soon(lambda: client.get(_url(), headers=HEADERS))
            while not sleep.sleeping:
                await anyio.wait_all_tasks_blocked()
            task_group.cancel_scope.cancel()

    texts = observers.texts(monitor)
    assert [e.event_type.value for e in observers.events] == ["retry", "cancelled"]
    _assert_clean(texts)


async def test_real_sockets_refused_then_served_render_no_secret(observers: Observers) -> None:
    with serving("ok", up=False) as (server, thread):
        send, receive = anyio.create_memory_object_stream[AsyncEvent](100)
        monitor = EventMonitor(receive)
        observers.attach(monitor)
        transport = RetryingAsyncTransport(
            observers.traced(httpx.AsyncHTTPTransport()),
            max_retries=3,
            sleep=GateSleep(2, thread.bring_up),
            events=send,
        )
        with anyio.fail_after(10):
            async with monitor, httpx.AsyncClient(transport=transport) as client:
                response = await client.get(_url("127.0.0.1", port_of(server)), headers=HEADERS)
        assert response.status_code == 200
        assert sum(server.served.values()) == 1

    texts = observers.texts(monitor)
    assert [e.event_type.value for e in observers.events] == ["retry", "retry", "success"]
    _assert_clean(texts)


async def test_a_header_value_quoted_by_an_httpx_error_is_never_rendered(
    observers: Observers,
) -> None:
    # A token read from a file with its newline: h11 refuses to send it and
    # httpx's LocalProtocolError quotes the value. The caller gets that error
    # unchanged; the library must not log it, count it or trace it.
    headers = {"X-Api-Key": f"{API_KEY}\n"}
    with serving("ok") as (server, _):
        send, receive = anyio.create_memory_object_stream[AsyncEvent](100)
        monitor = EventMonitor(receive)
        observers.attach(monitor)
        transport = RetryingAsyncTransport(
            observers.traced(httpx.AsyncHTTPTransport()), sleep=RecordingSleep(), events=send
        )
        with anyio.fail_after(10):
            async with monitor, httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(httpx.LocalProtocolError) as caught:
                    await client.get(_url("127.0.0.1", port_of(server)), headers=headers)
        assert server.received == {}

    assert API_KEY in str(caught.value)  # httpx's message, passed through unchanged
    (event,) = observers.events
    assert event.error is caught.value
    _assert_clean(observers.texts(monitor, error_events=False))


async def test_errors_the_library_raises_itself_quote_no_secret() -> None:
    transport = RetryingAsyncTransport(FlakyTransport(failures=0), sleep=RecordingSleep())
    messages = []
    async with httpx.AsyncClient(transport=transport) as client:
        for bad in ({"max_retries": -1}, {"base_delay": "soon"}, {"nope": 1}, 42):
            with pytest.raises((TypeError, ValueError)) as caught:
                await client.get(_url(), headers=HEADERS, extensions={"retry": bad})
            messages.append(f"{caught.value!r} {caught.value}")
    messages.append(repr(transport))
    _assert_clean({"library errors": messages})


def test_the_get_command_prints_no_url_credentials() -> None:
    import subprocess

    with serving("ok", up=False) as (down, _), serving("ok") as (up, _):
        runs = [
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "resilient_transport",
                    "get",
                    _url("127.0.0.1", port_of(s)),
                    *("--max-retries", "1", "--base-delay", "0"),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            for s in (down, up)
        ]
    refused, served = runs
    assert refused.returncode == 1
    assert "could not connect" in refused.stderr
    assert served.returncode == 0
    assert served.stdout == "ok"
    _assert_clean({"cli": [refused.stdout, refused.stderr, served.stdout, served.stderr]})


# -- a retry never changes host --------------------------------------------------

HOST_SCENARIOS: dict[str, Callable[[], tuple[httpx.AsyncBaseTransport, dict[str, Any]]]] = {
    "connect errors": lambda: (FlakyTransport(failures=2), {"max_retries": 3}),
    "503 pointing elsewhere": lambda: (
        ScriptedTransport(_503("0"), _503("0")),
        {"retry_statuses": {503}},
    ),
    "maybe processed errors": lambda: (
        ScriptedTransport(httpx.ReadError, httpx.RemoteProtocolError),
        {"retry_idempotent_errors": True},
    ),
}


@pytest.mark.parametrize("scenario", sorted(HOST_SCENARIOS))
async def test_every_attempt_goes_to_the_original_url(scenario: str) -> None:
    inner, options = HOST_SCENARIOS[scenario]()
    counting = CountingTransport(inner)
    transport = RetryingAsyncTransport(counting, sleep=RecordingSleep(), **options)
    url = httpx.URL("http://api.service.test:8443/v1/orders?id=7")
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(url, headers=HEADERS)

    assert response.status_code == 200
    assert len(counting.urls) == 3
    assert set(counting.urls) == {url}
    assert {r.headers["host"] for r in inner.requests} == {"api.service.test:8443"}  # type: ignore[attr-defined]


async def test_retries_stay_with_the_mounted_transport_of_the_request_host() -> None:
    flaky_a = FlakyTransport(failures=2)
    other_b = FlakyTransport(failures=0)
    async with AsyncResilientClient(
        mounts={"http://a.test": flaky_a, "http://b.test": other_b},
        sleep=RecordingSleep(),
    ) as client:
        response = await client.get(
            "http://a.test/x", extensions={"retry": RequestContext(request_id="a")}
        )
        results = await client.wait_for_all_requests()

    assert response.status_code == 200
    assert flaky_a.calls == 3
    assert other_b.calls == 0
    assert {r.url.host for r in flaky_a.requests} == {"a.test"}
    assert results["a"].attempts == 3
    assert collections.Counter(r.url.host for r in flaky_a.requests) == {"a.test": 3}
    assert json.dumps(results["a"].url) == '"http://a.test/x"'
