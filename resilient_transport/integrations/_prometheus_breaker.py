"""Prometheus metrics of a circuit breaker: ``prometheus.attach_breaker`` (re-exported there)."""

from __future__ import annotations

import dataclasses
import threading
import weakref
from typing import TYPE_CHECKING

from resilient_transport._breaker import CircuitBreaker
from resilient_transport._circuit import CircuitState, CircuitTransition
from resilient_transport.integrations._common import require

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["PrometheusBreakerMetrics", "attach_breaker"]

# prometheus.DEFAULT_NAMESPACE (which imports this module).
_DEFAULT_NAMESPACE = "resilient_transport"


@dataclasses.dataclass(frozen=True)
class _Collectors:
    transitions: Counter
    state: Gauge


# registry -> namespace -> its collectors: every breaker observed in one
# registry shares them (prometheus_client refuses a second registration).
_shared: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, _Collectors]] = (
    weakref.WeakKeyDictionary()
)
_shared_lock = threading.Lock()


def _collectors_for(registry: CollectorRegistry | None, namespace: str) -> _Collectors:
    prometheus = require(
        "prometheus_client", "prometheus", "resilient_transport.integrations.prometheus"
    )
    if registry is None:
        registry = prometheus.REGISTRY
    with _shared_lock:
        by_namespace = _shared.setdefault(registry, {})
        existing = by_namespace.get(namespace)
        if existing is not None:
            return existing
        transitions = prometheus.Counter(
            "circuit_transitions",
            "Circuit breaker state changes, by origin and the state entered.",
            ("origin", "state"),
            namespace=namespace,
            registry=None,
        )
        state = prometheus.Gauge(
            "circuit_state",
            "1 for the state each origin's circuit is in, 0 for the others.",
            ("origin", "state"),
            namespace=namespace,
            registry=None,
        )
        try:
            registry.register(transitions)
            try:
                registry.register(state)
            except ValueError:
                registry.unregister(transitions)
                raise
        except ValueError as exc:
            raise ValueError(
                f"the {namespace}_circuit_* metric names are already registered in this "
                f"registry by something else ({exc}); give resilient_transport another namespace"
            ) from exc
        created = by_namespace[namespace] = _Collectors(transitions, state)
        return created


class PrometheusBreakerMetrics:
    """A breaker callback that counts transitions and shows each circuit's state.

    - ``resilient_transport_circuit_transitions_total{origin, state}``:
      counter, one per change of state, labelled with the state entered;
    - ``resilient_transport_circuit_state{origin, state}``: gauge, 1 for the
      state the origin's circuit is in and 0 for the two others (the way
      resilience4j exports it), for origins that ever changed state.

    Every one of a registry and namespace shares the same collectors.

    Args:
        registry: Default: the global ``prometheus_client.REGISTRY``.
        namespace: The metric name prefix.

    Raises:
        ImportError: ``prometheus_client`` is not installed.
        ValueError: Something else holds the metrics' names in the registry.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, namespace: str = _DEFAULT_NAMESPACE
    ) -> None:
        collectors = _collectors_for(registry, namespace)
        self.transitions = collectors.transitions
        self.state = collectors.state

    def __call__(self, change: CircuitTransition) -> None:
        """Record ``change``."""
        self.transitions.labels(change.origin, change.state.value).inc()
        for state in CircuitState:
            self.state.labels(change.origin, state.value).set(state is change.state)


def attach_breaker(
    breaker: CircuitBreaker,
    registry: CollectorRegistry | None = None,
    *,
    namespace: str = _DEFAULT_NAMESPACE,
) -> PrometheusBreakerMetrics:
    """Count the transitions of ``breaker`` in Prometheus metrics.

    Args:
        breaker: A [`CircuitBreaker`][resilient_transport.CircuitBreaker].
        registry: Default: the global ``prometheus_client.REGISTRY``.
        namespace: The metric name prefix.

    Returns:
        The [`PrometheusBreakerMetrics`][] callback subscribed.

    Raises:
        TypeError: ``breaker`` is not a ``CircuitBreaker``.
        ImportError: ``prometheus_client`` is not installed.
        ValueError: Something else holds the metrics' names in the registry.
    """
    if not isinstance(breaker, CircuitBreaker):
        raise TypeError(f"breaker must be a CircuitBreaker, got {breaker!r}")
    callback = PrometheusBreakerMetrics(registry, namespace=namespace)
    breaker.subscribe(callback)
    return callback
