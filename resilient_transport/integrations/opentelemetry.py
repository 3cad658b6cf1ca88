"""OpenTelemetry metrics for retries, give-ups, outcomes and retry delays.

[`OpenTelemetryMetrics`][] is a monitor callback that records the metrics
below, plugged in with one line: ``instrument(client)`` or
``instrument(monitor)``. Spans, one per attempt, come from an inner
transport instead:
[`TracingTransport`][resilient_transport.transports.opentelemetry.TracingTransport].

The metrics (the names live in the library's own namespace, as the
conventions ask of names they do not define; the attributes are the
conventions' own):

- ``resilient_transport.retries``: counter (``{retry}``), one per retry
  scheduled (a [`RETRY`][EventType.RETRY] event).
- ``resilient_transport.give_ups``: counter (``{request}``), one per request
  that ended because a retry was refused (its terminal event has a reason).
- ``resilient_transport.requests``: counter (``{request}``), one per request
  finished (its terminal event).
- ``resilient_transport.retry.delay``: histogram (``s``), the backoff slept
  before each retry.
- ``resilient_transport.hedges``: counter (``{hedge}``), one per hedge sent
  (a [`HEDGE`][EventType.HEDGE] event); a hedged request's hedges also count
  in its ``http.request.resend_count``.

Attributes: ``http.request.method`` (``_OTHER`` for an unknown method),
``server.address``, ``server.port``, and where they apply ``error.type``
(``httpx.ConnectError``, or an error status such as ``503``),
``http.response.status_code``, ``http.request.resend_count`` (on
``requests``, when the request was resent), ``resilient_transport.outcome``
(on ``requests``: ``success``, ``error``, ``timeout``, ``cancelled``) and
``resilient_transport.reason`` (why a retry was refused, e.g. ``exhausted``).

A [`CircuitBreaker`][resilient_transport.CircuitBreaker] is observed with
``attach_breaker(breaker)`` ([`BreakerMetrics`][]): a counter of its
transitions and an up-down counter of the circuits not closed.

Needs ``pip install 'resilient-transport[opentelemetry]'`` (the API; you
bring the SDK and exporters you already use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resilient_transport._events import AsyncEvent, EventType
from resilient_transport._version import __version__
from resilient_transport.integrations._common import (
    OPENTELEMETRY_SCOPE,
    EventTarget,
    attach,
    error_type,
    metric_method,
    require,
    server_of,
)
from resilient_transport.integrations._otel_breaker import (
    CIRCUIT_TRANSITIONS,
    OPEN_CIRCUITS,
    BreakerMetrics,
    attach_breaker,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = [
    "CIRCUIT_TRANSITIONS",
    "GIVE_UPS",
    "HEDGES",
    "OPEN_CIRCUITS",
    "REQUESTS",
    "RETRIES",
    "RETRY_DELAY",
    "RETRY_DELAY_BUCKETS",
    "BreakerMetrics",
    "OpenTelemetryMetrics",
    "attach_breaker",
    "instrument",
]

_EXTRA = "opentelemetry"

#: Counter: retries scheduled.
RETRIES = "resilient_transport.retries"
#: Counter: requests that ended because a retry was refused (any reason).
GIVE_UPS = "resilient_transport.give_ups"
#: Counter: requests finished, by outcome.
REQUESTS = "resilient_transport.requests"
#: Histogram: seconds slept before each retry.
RETRY_DELAY = "resilient_transport.retry.delay"
#: Counter: hedges sent.
HEDGES = "resilient_transport.hedges"

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
        metrics = require("opentelemetry.metrics", _EXTRA, __name__)
        meter = metrics.get_meter(OPENTELEMETRY_SCOPE, __version__, meter_provider=meter_provider)
        self.retries = meter.create_counter(
            RETRIES, unit="{retry}", description="Retries scheduled by resilient_transport."
        )
        self.hedges = meter.create_counter(
            HEDGES, unit="{hedge}", description="Hedges sent by resilient_transport."
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
        if event.event_type is EventType.HEDGE:
            self.hedges.add(1, attributes)
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
        target: An [`EventMonitor`][resilient_transport.EventMonitor] or an
            [`AsyncResilientClient`][resilient_transport.AsyncResilientClient].
        meter_provider: Default: the global meter provider.

    Returns:
        The [`OpenTelemetryMetrics`][] callback registered.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed.
    """
    callback = OpenTelemetryMetrics(meter_provider)
    attach(target, callback)
    return callback
