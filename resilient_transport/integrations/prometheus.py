"""Prometheus: counters for retries, hedges and outcomes, and a retry-delay histogram.

One line plugs it into a monitor or a resilient client:

```python
from resilient_transport.integrations.prometheus import instrument

instrument(client)  # or instrument(monitor, registry=my_registry)
```

The metrics (``namespace`` defaults to ``resilient_transport``):

- ``resilient_transport_retries_total``: counter, one per retry scheduled;
  labels ``method``, ``server_address``, ``error_type``.
- ``resilient_transport_give_ups_total``: counter, one per request that ended
  because a retry was refused; labels ``method``, ``server_address``, ``reason``.
- ``resilient_transport_requests_total``: counter, one per request finished;
  labels ``method``, ``server_address``, ``outcome``, ``reason``.
- ``resilient_transport_retry_delay_seconds``: histogram of the backoff slept
  before each retry; labels ``method``, ``server_address``.
- ``resilient_transport_hedges_total``: counter, one per hedge sent (a
  [`HEDGE`][EventType.HEDGE] event; the hedged request itself counts once
  in ``requests_total``); labels ``method``, ``server_address``.

``error_type`` is the exception's class (``httpx.ConnectError``) or the
retried status (``503``); ``outcome`` is ``success``, ``error``,
``timeout`` or ``cancelled``; ``reason`` says why a retry was refused
(``exhausted``, ``deadline``, ``budget``, ...) and is empty when none was.
``method`` is ``_OTHER`` for a method outside RFC 9110 and PATCH, so that
label stays small; ``server_address`` can be turned off for clients that
talk to very many hosts.

Instrument as many clients and monitors as you like: every
[`PrometheusMetrics`][] of one registry (and namespace) shares one set of
collectors, so their counts add up in the same series.

A circuit breaker's transitions: ``attach_breaker`` ([`PrometheusBreakerMetrics`][]).

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

from ._prometheus_breaker import PrometheusBreakerMetrics, attach_breaker
from ._prometheus_collectors import collectors_for

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = [
    "DEFAULT_NAMESPACE",
    "RETRY_DELAY_BUCKETS",
    "PrometheusBreakerMetrics",
    "PrometheusMetrics",
    "attach_breaker",
    "instrument",
]

_EXTRA = "prometheus"

#: The metric name prefix.
DEFAULT_NAMESPACE = "resilient_transport"

#: Histogram buckets (seconds) for retry delays: from zero-delay retries up to
#: the default backoff cap and the largest Retry-After honoured by default.
RETRY_DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0)


class PrometheusMetrics:
    """A monitor callback that counts retries, hedges and outcomes and observes retry delays.

    Create as many as you need: every [`PrometheusMetrics`][] of one registry
    and namespace shares the same collectors (created by the first), so the
    counts of several clients add up, told apart only by their labels.

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
        ValueError: The registry already holds this namespace's metrics with
            another ``server_label`` or other ``buckets``, or something else
            holds their names; another ``namespace`` avoids both.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        server_label: bool = True,
        buckets: Sequence[float] = RETRY_DELAY_BUCKETS,
    ) -> None:
        prometheus = require("prometheus_client", _EXTRA, __name__)
        if registry is None:
            registry = prometheus.REGISTRY
        collectors = collectors_for(
            prometheus, registry, namespace, server_label, tuple(map(float, buckets))
        )
        self._server_label = server_label
        self.retries = collectors.retries
        self.give_ups = collectors.give_ups
        self.requests = collectors.requests
        self.retry_delay = collectors.retry_delay
        self.hedges = collectors.hedges

    def __call__(self, event: AsyncEvent) -> None:
        """Record ``event``."""
        method = metric_method(event.method)
        where = (method, server_of(event.url)[0]) if self._server_label else (method,)
        if event.event_type is EventType.RETRY:
            self.retries.labels(*where, error_type(event) or "").inc()
            self.retry_delay.labels(*where).observe(event.delay or 0.0)
            return
        if event.event_type is EventType.HEDGE:
            self.hedges.labels(*where).inc()
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
        target: An [`EventMonitor`][resilient_transport.EventMonitor] or an
            [`AsyncResilientClient`][resilient_transport.AsyncResilientClient].
        registry: Default: the global ``prometheus_client.REGISTRY``.
        namespace: The metric name prefix.
        server_label: Label every metric with the server's host.

    Returns:
        The [`PrometheusMetrics`][] callback registered; it shares the
        collectors of every other one of the same registry and namespace.

    Raises:
        ImportError: ``prometheus_client`` is not installed.
        ValueError: The registry holds this namespace's metrics with another
            ``server_label``, or something else holds their names.
    """
    callback = PrometheusMetrics(registry, namespace=namespace, server_label=server_label)
    attach(target, callback)
    return callback
