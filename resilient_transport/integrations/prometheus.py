"""Prometheus: counters for retries and outcomes, and a retry-delay histogram.

One line plugs it into a monitor or a resilient client::

    from resilient_transport.integrations.prometheus import instrument

    instrument(client)  # or instrument(monitor, registry=my_registry)

The metrics (``namespace`` defaults to ``resilient_transport``):

- ``resilient_transport_retries_total``: counter, one per retry scheduled;
  labels ``method``, ``server_address``, ``error_type``.
- ``resilient_transport_give_ups_total``: counter, one per request that ended
  because a retry was refused; labels ``method``, ``server_address``, ``reason``.
- ``resilient_transport_requests_total``: counter, one per request finished;
  labels ``method``, ``server_address``, ``outcome``, ``reason``.
- ``resilient_transport_retry_delay_seconds``: histogram of the backoff slept
  before each retry; labels ``method``, ``server_address``.

``error_type`` is the exception's class (``httpx.ConnectError``) or the
retried status (``503``); ``outcome`` is ``success``, ``error``,
``timeout`` or ``cancelled``; ``reason`` says why a retry was refused
(``exhausted``, ``deadline``, ``budget``, ...) and is empty when none was.
``method`` is ``_OTHER`` for a method outside RFC 9110 and PATCH, so that
label stays small; ``server_address`` can be turned off for clients that
talk to very many hosts.

Needs ``pip install 'resilient-transport[prometheus]'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from resilient_transport._events import AsyncEvent, EventType
from resilient_transport.integrations._common import (
    EventTarget,
    attach,
    error_type,
    metric_method,
    require,
    server_of,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["DEFAULT_NAMESPACE", "RETRY_DELAY_BUCKETS", "PrometheusMetrics", "instrument"]

_EXTRA = "prometheus"

#: The metric name prefix.
DEFAULT_NAMESPACE = "resilient_transport"

#: Histogram buckets (seconds) for retry delays: from zero-delay retries up to
#: the default backoff cap and the largest Retry-After honoured by default.
RETRY_DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0)


class PrometheusMetrics:
    """A monitor callback that counts retries and outcomes and observes retry delays.

    Create one per registry: registering the same metric names twice in one
    registry is an error in ``prometheus_client``.

    Args:
        registry: Where the metrics are registered; default: the global
            ``prometheus_client.REGISTRY``.
        namespace: The metric name prefix.
        server_label: Label every metric with the server's host. Turn it off
            for a client that talks to an unbounded number of hosts.
        buckets: Upper bounds of the retry-delay histogram, in seconds.

    Raises:
        ImportError: ``prometheus_client`` is not installed (the message says
            ``pip install 'resilient-transport[prometheus]'``).
        ValueError: The metrics are already registered in ``registry``.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        server_label: bool = True,
        buckets: Sequence[float] = RETRY_DELAY_BUCKETS,
    ) -> None:
        prometheus = require("prometheus_client", _EXTRA)
        if registry is None:
            registry = prometheus.REGISTRY
        self._server_label = server_label
        where = ("method", "server_address") if server_label else ("method",)
        self.retries = prometheus.Counter(
            "retries",
            "Retries scheduled, by the error or status that caused them.",
            (*where, "error_type"),
            namespace=namespace,
            registry=registry,
        )
        self.give_ups = prometheus.Counter(
            "give_ups",
            "Requests that ended because a retry was refused, by reason.",
            (*where, "reason"),
            namespace=namespace,
            registry=registry,
        )
        self.requests = prometheus.Counter(
            "requests",
            "Requests finished, by outcome and by why a retry was refused (if one was).",
            (*where, "outcome", "reason"),
            namespace=namespace,
            registry=registry,
        )
        self.retry_delay = prometheus.Histogram(
            "retry_delay_seconds",
            "Seconds slept before a retry.",
            where,
            namespace=namespace,
            registry=registry,
            buckets=tuple(buckets),
        )

    def __call__(self, event: AsyncEvent) -> None:
        """Record ``event``."""
        method = metric_method(event.method)
        where = (method, server_of(event.url)[0]) if self._server_label else (method,)
        if event.event_type is EventType.RETRY:
            self.retries.labels(*where, error_type(event) or "").inc()
            self.retry_delay.labels(*where).observe(event.delay or 0.0)
            return
        reason = "" if event.reason is None else event.reason.value
        if reason:
            self.give_ups.labels(*where, reason).inc()
        self.requests.labels(*where, event.event_type.value, reason).inc()


def instrument(
    target: EventTarget,
    registry: CollectorRegistry | None = None,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    server_label: bool = True,
) -> PrometheusMetrics:
    """Count the events of a monitor or a resilient client in Prometheus metrics.

    Args:
        target: An :class:`~resilient_transport.EventMonitor` or an
            :class:`~resilient_transport.AsyncResilientClient`.
        registry: Default: the global ``prometheus_client.REGISTRY``.
        namespace: The metric name prefix.
        server_label: Label every metric with the server's host.

    Returns:
        The :class:`PrometheusMetrics` callback registered.

    Raises:
        ImportError: ``prometheus_client`` is not installed.
    """
    callback = PrometheusMetrics(registry, namespace=namespace, server_label=server_label)
    attach(target, callback)
    return callback
