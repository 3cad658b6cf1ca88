"""A circuit breaker's OpenTelemetry metrics: ``opentelemetry.attach_breaker`` (re-exported)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resilient_transport._breaker import CircuitBreaker
from resilient_transport._circuit import CircuitState, CircuitTransition
from resilient_transport._version import __version__
from resilient_transport.integrations._common import OPENTELEMETRY_SCOPE, require, server_of

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = ["CIRCUIT_TRANSITIONS", "OPEN_CIRCUITS", "BreakerMetrics", "attach_breaker"]

#: Counter: circuit state changes, by origin and new state.
CIRCUIT_TRANSITIONS = "resilient_transport.circuit.transitions"
#: UpDownCounter: circuits not closed (open or half-open), by origin.
OPEN_CIRCUITS = "resilient_transport.circuit.open"


def _origin_attributes(origin: str) -> dict[str, Any]:
    host, port = server_of(origin)
    attributes: dict[str, Any] = {"resilient_transport.origin": origin, "server.address": host}
    if port is not None:
        attributes["server.port"] = port
    return attributes


class BreakerMetrics:
    """A breaker callback that counts transitions and the circuits not closed.

    - ``resilient_transport.circuit.transitions``: counter (``{transition}``),
      with ``resilient_transport.circuit.state`` (the state entered) and
      ``resilient_transport.circuit.reason``;
    - ``resilient_transport.circuit.open``: up-down counter (``{circuit}``) of
      the circuits open or half-open: +1 when a circuit leaves ``closed``,
      -1 when it returns.

    Both carry ``resilient_transport.origin``, ``server.address`` and
    ``server.port``.

    Args:
        meter_provider: Default: the global meter provider.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed.
    """

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        metrics = require(
            "opentelemetry.metrics",
            "opentelemetry",
            "resilient_transport.integrations.opentelemetry",
        )
        meter = metrics.get_meter(OPENTELEMETRY_SCOPE, __version__, meter_provider=meter_provider)
        self.transitions = meter.create_counter(
            CIRCUIT_TRANSITIONS,
            unit="{transition}",
            description="Circuit breaker state changes, by the state entered.",
        )
        self.open_circuits = meter.create_up_down_counter(
            OPEN_CIRCUITS,
            unit="{circuit}",
            description="Circuits open or half-open: requests to them fail fast or probe.",
        )

    def __call__(self, change: CircuitTransition) -> None:
        """Record ``change``."""
        attributes = _origin_attributes(change.origin)
        if change.previous is CircuitState.CLOSED:
            self.open_circuits.add(1, attributes)
        elif change.state is CircuitState.CLOSED:
            self.open_circuits.add(-1, attributes)
        attributes["resilient_transport.circuit.state"] = change.state.value
        attributes["resilient_transport.circuit.reason"] = change.reason
        self.transitions.add(1, attributes)


def attach_breaker(
    breaker: CircuitBreaker, *, meter_provider: MeterProvider | None = None
) -> BreakerMetrics:
    """Record the metrics of every transition of ``breaker``.

    Args:
        breaker: A [`CircuitBreaker`][resilient_transport.CircuitBreaker].
        meter_provider: Default: the global meter provider.

    Returns:
        The [`BreakerMetrics`][] callback subscribed.

    Raises:
        TypeError: ``breaker`` is not a ``CircuitBreaker``.
        ImportError: ``opentelemetry-api`` is not installed.
    """
    if not isinstance(breaker, CircuitBreaker):
        raise TypeError(f"breaker must be a CircuitBreaker, got {breaker!r}")
    callback = BreakerMetrics(meter_provider)
    breaker.subscribe(callback)
    return callback
