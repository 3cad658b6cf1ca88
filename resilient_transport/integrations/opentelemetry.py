"""OpenTelemetry: metrics for retries and give-ups, and a client span per attempt.

Two pieces, each one line:

- :class:`OpenTelemetryMetrics` is a monitor callback that records the
  metrics below: ``instrument(client)`` or ``instrument(monitor)``.
- :class:`TracingTransport` is an *inner* transport wrapper that makes one
  HTTP client span per attempt, as the HTTP semantic conventions ask: a resent
  attempt's span carries ``http.request.resend_count``. Put it under the
  retry layer: ``RetryingAsyncTransport(TracingTransport(...))``, or
  ``AsyncResilientClient(transport=TracingTransport(...))``.

The metrics (the names live in the library's own namespace, as the
conventions ask of names they do not define; the attributes are the
conventions' own):

- ``resilient_transport.retries``: counter (``{retry}``), one per retry
  scheduled (a ``RETRY`` event).
- ``resilient_transport.give_ups``: counter (``{request}``), one per request
  that ended because a retry was refused (its terminal event has a reason).
- ``resilient_transport.requests``: counter (``{request}``), one per request
  finished (its terminal event).
- ``resilient_transport.retry.delay``: histogram (``s``), the backoff slept
  before each retry.

Attributes: ``http.request.method`` (``_OTHER`` for an unknown method),
``server.address``, ``server.port``, and where they apply ``error.type``
(``httpx.ConnectError``, or an error status such as ``503``),
``http.response.status_code``, ``http.request.resend_count`` (on
``requests``, when the request was resent), ``resilient_transport.outcome``
(on ``requests``: ``success``, ``error``, ``timeout``, ``cancelled``) and
``resilient_transport.reason`` (why a retry was refused, e.g. ``exhausted``).

Needs ``pip install 'resilient-transport[opentelemetry]'`` (the API; you
bring the SDK and exporters you already use).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from resilient_transport._context import RequestContext
from resilient_transport._events import AsyncEvent, EventType
from resilient_transport._redact import safe_url
from resilient_transport._version import __version__
from resilient_transport.integrations._common import (
    EventTarget,
    attach,
    error_text,
    error_type,
    metric_method,
    qualified_name,
    require,
    server_of,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "GIVE_UPS",
    "REQUESTS",
    "RETRIES",
    "RETRY_DELAY",
    "RETRY_DELAY_BUCKETS",
    "OpenTelemetryMetrics",
    "TracingTransport",
    "instrument",
]

_EXTRA = "opentelemetry"
_SCOPE = "resilient_transport"

#: Counter: retries scheduled.
RETRIES = "resilient_transport.retries"
#: Counter: requests that ended because a retry was refused (any reason).
GIVE_UPS = "resilient_transport.give_ups"
#: Counter: requests finished, by outcome.
REQUESTS = "resilient_transport.requests"
#: Histogram: seconds slept before each retry.
RETRY_DELAY = "resilient_transport.retry.delay"

#: Bucket boundaries (seconds) advised for the retry-delay histogram: from
#: zero-delay retries up to the default cap and the largest Retry-After honoured.
RETRY_DELAY_BUCKETS = (
    0.0,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    60.0,
)

# How url.full shows removed credentials, as the HTTP conventions ask.
_REDACTED_USERINFO = "REDACTED:REDACTED"


def _base_attributes(event: AsyncEvent) -> dict[str, Any]:
    host, port = server_of(event.url)
    attributes: dict[str, Any] = {"http.request.method": metric_method(event.method)}
    if host:
        attributes["server.address"] = host
    if port is not None:
        attributes["server.port"] = port
    return attributes


class OpenTelemetryMetrics:
    """A monitor callback that records retries, give-ups, outcomes and retry delays.

    Args:
        meter_provider: Where the instruments come from; default: the global
            provider (``opentelemetry.metrics.get_meter_provider()``).

    Raises:
        ImportError: ``opentelemetry-api`` is not installed (the message says
            ``pip install 'resilient-transport[opentelemetry]'``).
    """

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        metrics = require("opentelemetry.metrics", _EXTRA)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
        self.retries = meter.create_counter(
            RETRIES, unit="{retry}", description="Retries scheduled by resilient_transport."
        )
        self.give_ups = meter.create_counter(
            GIVE_UPS,
            unit="{request}",
            description="Requests that ended because a retry was refused.",
        )
        self.requests = meter.create_counter(
            REQUESTS, unit="{request}", description="Requests finished, by outcome."
        )
        description = "Seconds slept before a retry."
        try:
            self.retry_delay = meter.create_histogram(
                RETRY_DELAY,
                unit="s",
                description=description,
                explicit_bucket_boundaries_advisory=RETRY_DELAY_BUCKETS,
            )
        except TypeError:  # pragma: no cover - opentelemetry-api < 1.23 has no advisory
            self.retry_delay = meter.create_histogram(
                RETRY_DELAY, unit="s", description=description
            )

    def __call__(self, event: AsyncEvent) -> None:
        """Record ``event``."""
        attributes = _base_attributes(event)
        kind = error_type(event)
        if kind is not None:
            attributes["error.type"] = kind
        if event.event_type is EventType.RETRY:
            self.retries.add(1, attributes)
            self.retry_delay.record(event.delay or 0.0, attributes)
            return
        if event.status_code is not None:
            attributes["http.response.status_code"] = event.status_code
        if event.attempts > 1:
            attributes["http.request.resend_count"] = event.attempts - 1
        if event.reason is not None:
            attributes["resilient_transport.reason"] = event.reason.value
            self.give_ups.add(1, attributes)
        attributes["resilient_transport.outcome"] = event.event_type.value
        self.requests.add(1, attributes)


def instrument(
    target: EventTarget, *, meter_provider: MeterProvider | None = None
) -> OpenTelemetryMetrics:
    """Record the metrics of every event of a monitor or a resilient client.

    Args:
        target: An :class:`~resilient_transport.EventMonitor` or an
            :class:`~resilient_transport.AsyncResilientClient`.
        meter_provider: Default: the global meter provider.

    Returns:
        The :class:`OpenTelemetryMetrics` callback registered.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed.
    """
    callback = OpenTelemetryMetrics(meter_provider)
    attach(target, callback)
    return callback


class TracingTransport(httpx.AsyncBaseTransport):
    """An inner transport wrapper: one OpenTelemetry HTTP client span per attempt.

    Place it *under* the retry layer, so that it sees every attempt:

    ```python
    RetryingAsyncTransport(TracingTransport(httpx.AsyncHTTPTransport()))
    ```

    Each span follows the HTTP client span conventions: named after the
    method, kind ``CLIENT``, with ``http.request.method``, ``server.address``,
    ``server.port``, ``url.full`` (redacted as every URL the library shows,
    see :func:`resilient_transport.redact_url`, with credentials as
    ``REDACTED:REDACTED`` as the conventions ask), ``http.response.status_code``
    or ``error.type``, status ``ERROR`` for a failed attempt or a status of
    400 and above, and
    ``http.request.resend_count`` on every attempt after the first. The
    span ends when the response headers have arrived.

    Args:
        transport: The transport that sends; ``None`` means ``httpx.AsyncHTTPTransport()``.
        tracer_provider: Default: the global tracer provider.
        propagate: Inject the trace context (``traceparent``...) into each
            attempt's headers, so the server's span joins this trace.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed.
        TypeError: ``transport`` is not an ``httpx.AsyncBaseTransport``.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        tracer_provider: TracerProvider | None = None,
        propagate: bool = True,
    ) -> None:
        trace = require("opentelemetry.trace", _EXTRA)
        self._inject = require("opentelemetry.propagate", _EXTRA).inject if propagate else None
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError(
                f"transport must be an httpx.AsyncBaseTransport or None, got {transport!r}"
            )
        self._transport = httpx.AsyncHTTPTransport() if transport is None else transport
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
        self._client_kind = trace.SpanKind.CLIENT
        self._error = trace.Status(trace.StatusCode.ERROR)
        self._status = trace.Status

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """The wrapped transport."""
        return self._transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one attempt inside its own client span."""
        url = request.url
        method = metric_method(request.method)
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "server.address": url.host,
            "server.port": server_of(str(url))[1] if url.port is None else url.port,
            "url.full": safe_url(url, _REDACTED_USERINFO),
        }
        if method == "_OTHER":
            attributes["http.request.method_original"] = request.method
        ctx = request.extensions.get("retry")
        if isinstance(ctx, RequestContext) and ctx.current_attempt:
            attributes["http.request.resend_count"] = ctx.current_attempt
        name = "HTTP" if method == "_OTHER" else method
        with self._tracer.start_as_current_span(
            name,
            kind=self._client_kind,
            attributes=attributes,
            # Done below instead: OpenTelemetry's own recording puts the
            # error's text in the span, and some errors quote a header value.
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if self._inject is not None:
                self._inject(request.headers)
            try:
                response = await self._transport.handle_async_request(request)
            except BaseException as exc:
                span.set_attribute("error.type", qualified_name(type(exc)))
                if isinstance(exc, Exception):  # not a cancellation: as OpenTelemetry does
                    text = error_text(exc)
                    error_name = type(exc).__name__
                    description = f"{error_name}: {text}" if text else error_name
                    span.set_status(self._status(self._error.status_code, description))
                    if text:
                        span.record_exception(exc)
                raise
            status = response.status_code
            span.set_attribute("http.response.status_code", status)
            version = response.extensions.get("http_version")
            if isinstance(version, bytes) and version.startswith(b"HTTP/"):
                span.set_attribute("network.protocol.version", version[5:].decode("ascii"))
            if status >= 400:
                span.set_attribute("error.type", str(status))
                span.set_status(self._error)
            return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()

    async def __aenter__(self) -> TracingTransport:
        await self._transport.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self._transport.__aexit__(exc_type, exc_value, traceback)

    def __repr__(self) -> str:
        return f"TracingTransport({self._transport!r})"
