"""Secrets never leak, and retries never change host.

Every request carries secrets: an ``Authorization`` bearer token, a cookie,
an API key header, ``user:password`` in its URL and secrets in its query
string (``API_Key=...&sig=...``). Whatever the library
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
    DEFAULT_REDACTED_QUERY_KEYS,
    AsyncEvent,
    AsyncResilientClient,
    EventMonitor,
    RequestContext,
    RetryingAsyncTransport,
    redact_url,
    redacted_query_keys,
    set_redacted_query_keys,
)
from resilient_transport.integrations.logs import instrument as log_events
from resilient_transport.integrations.opentelemetry import OpenTelemetryMetrics
from resilient_transport.integrations.prometheus import PrometheusMetrics
from resilient_transport.testing import (
    CountingTransport,
    FlakyTransport,
    RecordingSleep,
    ScriptedTransport,
)
from resilient_transport.transports.opentelemetry import TracingTransport

from ._rawserver import port_of, serving
from ._support import GateSleep

pytestmark = pytest.mark.anyio

TOKEN = "s3cr3t-t0ken-value"
COOKIE = "c00kie-s3ssion"
API_KEY = "k3y-of-the-api"
USER, PASSWORD = "alice-user", "pa55w0rd-secret"
# httpx sends a URL's credentials as "Authorization: Basic <this>".
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
# Secrets in the query string; the keys' case differs from the rule's.
QUERY_KEY, QUERY_SIG = "qu3ry-api-k3y", "qu3ry-s1gnature"
SECRETS = (TOKEN, COOKIE, API_KEY, USER, PASSWORD, BASIC, QUERY_KEY, QUERY_SIG)
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
    return f"http://{userinfo}{where}/orders?page=1&API_Key={QUERY_KEY}&Sig={QUERY_SIG}"


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


# -- secrets in the query string ------------------------------------------------

SECRET_QUERY_URL = "http://127.0.0.1:{port}/v1?api_key=SECRETKEY&page=2&sig=SIGVALUE"
REDACTED_QUERY_URL = "http://127.0.0.1:{port}/v1?api_key=REDACTED&page=2&sig=REDACTED"


@pytest.fixture
def restore_redacted_keys() -> Iterator[None]:
    """Put the process-wide set of redacted query keys back as it was."""
    before = redacted_query_keys()
    yield
    set_redacted_query_keys(before)


async def test_secret_query_values_are_redacted_in_events_logs_and_spans(
    observers: Observers,
) -> None:
    with serving("ok", up=False) as (server, thread):
        port = port_of(server)
        send, receive = anyio.create_memory_object_stream[AsyncEvent](100)
        monitor = EventMonitor(receive)
        observers.attach(monitor)
        transport = RetryingAsyncTransport(
            observers.traced(httpx.AsyncHTTPTransport()),
            sleep=GateSleep(1, thread.bring_up),
            events=send,
        )
        with anyio.fail_after(10):
            async with monitor, httpx.AsyncClient(transport=transport) as client:
                response = await client.get(SECRET_QUERY_URL.format(port=port))
        assert response.status_code == 200
        assert server.received  # the secrets were sent, as given

    expected = REDACTED_QUERY_URL.format(port=port)
    assert [e.url for e in observers.events] == [expected, expected]
    assert {r.url for r in monitor.results.values()} == {expected}
    retry_line = next(
        r.getMessage() for r in observers.caplog.records if r.name.endswith(".events")
    )
    assert f"of GET {expected} in" in retry_line
    full_urls = [
        (span.attributes or {})["url.full"] for span in observers.spans.get_finished_spans()
    ]
    assert full_urls == [expected, expected]
    texts = observers.texts(monitor)
    for where, items in texts.items():
        for text in items:
            assert "SECRETKEY" not in text, where
            assert "SIGVALUE" not in text, where


def test_the_get_command_prints_no_secret_query_value() -> None:
    import subprocess

    with serving("ok", up=False) as (down, _), serving("ok") as (up, _):
        runs = [
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "resilient_transport",
                    "get",
                    SECRET_QUERY_URL.format(port=port_of(s)),
                    *("--max-retries", "1", "--base-delay", "0", "--fail"),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            for s in (down, up)
        ]
        down_url = REDACTED_QUERY_URL.format(port=port_of(down))
    refused, served = runs
    assert refused.returncode == 1
    assert f"could not connect to {down_url} after 2 attempts" in refused.stderr
    assert served.returncode == 0
    for text in (refused.stderr, served.stderr):
        assert "SECRETKEY" not in text
        assert "SIGVALUE" not in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param(
            "https://h.test/v1?api_key=SECRETKEY&sig=SIGVALUE",
            "https://h.test/v1?api_key=REDACTED&sig=REDACTED",
            id="the issue's URL",
        ),
        pytest.param(
            "https://h.test/?API_KEY=a&Token=b&x-goog-signature=c&awsaccesskeyid=d&SIGNATURE=e",
            "https://h.test/?API_KEY=REDACTED&Token=REDACTED&x-goog-signature=REDACTED"
            "&awsaccesskeyid=REDACTED&SIGNATURE=REDACTED",
            id="keys matched case-insensitively",
        ),
        pytest.param(
            "https://h.test/?token=abc%2Fdef%3D%3D&q=a%20b",
            "https://h.test/?token=REDACTED&q=a%20b",
            id="percent-encoded value",
        ),
        pytest.param(
            "https://h.test/?api%5Fkey=abc&Access%5FToken=def",
            "https://h.test/?api%5Fkey=REDACTED&Access%5FToken=REDACTED",
            id="percent-encoded key",
        ),
        pytest.param(
            "https://h.test/?sig=a&page=1&sig=b&SIG=c",
            "https://h.test/?sig=REDACTED&page=1&sig=REDACTED&SIG=REDACTED",
            id="repeated keys",
        ),
        pytest.param(
            "https://h.test/?token&secret=&page=1",
            "https://h.test/?token&secret=&page=1",
            id="key without value: nothing to hide",
        ),
        pytest.param(
            "https://h.test/a?q=a+b&tokens=x&key_id=1&monkey=2&page=%7E&sort=",
            "https://h.test/a?q=a+b&tokens=x&key_id=1&monkey=2&page=%7E&sort=",
            id="other parameters left intact",
        ),
        pytest.param(
            "https://h.test/maps?key=AIzaSECRET&X-Amz-Security-Token=t&X-Amz-Signature=s",
            "https://h.test/maps?key=REDACTED&X-Amz-Security-Token=REDACTED"
            "&X-Amz-Signature=REDACTED",
            id="key and AWS SigV4",
        ),
        pytest.param(
            "https://u:p@h.test:8443/a?b=1",
            "https://h.test:8443/a?b=1",
            id="userinfo removed",
        ),
        pytest.param(
            "https://u%40x:p%3Aw@h.test/a/@me?password=pw#frag?token=x",
            "https://h.test/a/@me?password=REDACTED#frag?token=x",
            id="userinfo, @ in the path, fragment untouched",
        ),
        pytest.param("https://h.test/users/@me", "https://h.test/users/@me", id="@ in the path"),
    ],
)
@pytest.mark.parametrize("as_url", [True, False], ids=["httpx.URL", "str"])
def test_the_redaction_rule(url: str, shown: str, as_url: bool) -> None:
    assert redact_url(httpx.URL(url) if as_url else url) == shown


def test_redact_url_of_an_unparsable_string_still_drops_the_secrets() -> None:
    assert redact_url("http://bob:pw@[::1?token=t0k") == "http://[::1?token=REDACTED"
    assert redact_url("//bob:pw@h.test/?sig=s") == "//h.test/?sig=REDACTED"
    assert redact_url("/relative?sig=s&a=1") == "/relative?sig=REDACTED&a=1"


def test_a_url_without_query_or_userinfo_is_returned_as_it_is() -> None:
    text = "https://h.test:8443/v1/orders/42"
    assert redact_url(text) is text  # the fast path copies nothing
    assert redact_url(httpx.URL(text)) == text


def test_the_default_keys_cover_the_conventions_and_common_credentials() -> None:
    assert redacted_query_keys() == DEFAULT_REDACTED_QUERY_KEYS
    conventions = {"AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"}
    credentials = {"api_key", "token", "access_token", "client_secret", "password", "key"}
    assert conventions | credentials <= DEFAULT_REDACTED_QUERY_KEYS
    assert isinstance(DEFAULT_REDACTED_QUERY_KEYS, frozenset)


async def test_the_keys_can_be_extended_and_apply_to_every_output(
    observers: Observers, restore_redacted_keys: None
) -> None:
    previous = set_redacted_query_keys(DEFAULT_REDACTED_QUERY_KEYS | {"Session_ID"})
    assert previous == DEFAULT_REDACTED_QUERY_KEYS
    assert redacted_query_keys() == DEFAULT_REDACTED_QUERY_KEYS | {"Session_ID"}
    send, receive = anyio.create_memory_object_stream[AsyncEvent](100)
    monitor = EventMonitor(receive)
    observers.attach(monitor)
    transport = RetryingAsyncTransport(
        observers.traced(FlakyTransport(failures=1)), sleep=RecordingSleep(), events=send
    )
    async with monitor, httpx.AsyncClient(transport=transport) as client:
        await client.get("http://service.test/?session_id=S3SS10N&token=T0K&page=2")
    expected = "http://service.test/?session_id=REDACTED&token=REDACTED&page=2"
    assert [e.url for e in observers.events] == [expected, expected]
    spans = observers.spans.get_finished_spans()
    assert [(span.attributes or {})["url.full"] for span in spans] == [expected, expected]
    ours = [r for r in observers.caplog.records if r.name.startswith("resilient_transport")]
    assert any(expected in record.getMessage() for record in ours)
    assert not any("S3SS10N" in record.getMessage() for record in ours)


def test_the_keys_can_be_replaced_and_restored(restore_redacted_keys: None) -> None:
    url = "https://h.test/?key=k&sig=s&custom=c"
    set_redacted_query_keys(["custom"])  # "key" is no secret for this application
    assert redact_url(url) == "https://h.test/?key=k&sig=s&custom=REDACTED"
    set_redacted_query_keys(())  # nothing redacted in queries; userinfo still is
    assert redact_url("https://u:p@h.test/?sig=s") == "https://h.test/?sig=s"
    set_redacted_query_keys(DEFAULT_REDACTED_QUERY_KEYS)
    assert redact_url(url) == "https://h.test/?key=REDACTED&sig=REDACTED&custom=c"


@pytest.mark.parametrize(
    ("keys", "error", "message"),
    [
        ("token", TypeError, "keys must be an iterable of str, not a str: 'token'"),
        (42, TypeError, "keys must be an iterable of str, got 42"),
        (["token", 3], TypeError, "keys must contain only str, got 3"),
        (["token", ""], ValueError, "keys must not contain an empty string, got ''"),
    ],
)
def test_bad_keys_are_refused_and_change_nothing(
    keys: Any, error: type[Exception], message: str, restore_redacted_keys: None
) -> None:
    with pytest.raises(error) as caught:
        set_redacted_query_keys(keys)
    assert str(caught.value) == message
    assert redacted_query_keys() == DEFAULT_REDACTED_QUERY_KEYS


def test_redact_url_refuses_what_is_not_a_url() -> None:
    with pytest.raises(TypeError, match=r"^url must be an httpx.URL or a str, got b'http://h/'$"):
        redact_url(b"http://h/")  # type: ignore[arg-type]


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
