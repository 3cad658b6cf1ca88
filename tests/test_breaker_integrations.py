"""A circuit breaker's transitions in the logs, in OpenTelemetry metrics and in Prometheus."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, Counter, Gauge

from resilient_transport import CircuitBreaker
from resilient_transport.integrations import logs, opentelemetry, prometheus
from resilient_transport.testing import FakeClock

ORIGIN = "http://127.0.0.1:8080"


def cycle(breaker: CircuitBreaker, clock: FakeClock) -> None:
    """Open the circuit, let the break pass, probe successfully: three transitions."""
    for _ in range(breaker.consecutive_failures or 0):
        breaker.record(ORIGIN, breaker.admit(ORIGIN), False)
    clock.advance(5.0)
    breaker.record(ORIGIN, breaker.admit(ORIGIN), True)


def made() -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(consecutive_failures=2, clock=clock), clock


# -- logs ---------------------------------------------------------------------------


def test_each_transition_is_one_record_and_opening_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    breaker, clock = made()
    callback = logs.attach_breaker(breaker)
    with caplog.at_level(logging.DEBUG, logger=logs.DEFAULT_LOGGER):
        cycle(breaker, clock)
    records = caplog.records
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (
            logging.WARNING,
            f"circuit for {ORIGIN} opened (consecutive_failures); next probe in 5.000s",
        ),
        (logging.INFO, f"circuit for {ORIGIN} is half-open (break_over)"),
        (logging.INFO, f"circuit for {ORIGIN} closed (probe_succeeded)"),
    ]
    fields = records[0].__dict__
    assert (fields["origin"], fields["circuit_state"], fields["previous_state"]) == (
        ORIGIN,
        "open",
        "closed",
    )
    assert (fields["circuit_reason"], fields["retry_at"]) == ("consecutive_failures", 5.0)
    assert repr(callback) == "BreakerLogger('resilient_transport.events')"


def test_disabled_levels_log_nothing_and_a_logger_object_is_taken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    breaker, clock = made()
    logger = logging.getLogger("breaker.test")
    logger.setLevel(logging.ERROR)
    try:
        logs.attach_breaker(breaker, logger)
        with caplog.at_level(logging.ERROR, logger="breaker.test"):
            cycle(breaker, clock)
    finally:
        logger.setLevel(logging.NOTSET)
    assert caplog.records == []


@pytest.mark.parametrize(
    ("attach", "args", "match"),
    [
        (logs.attach_breaker, ("nope",), "breaker must be a CircuitBreaker"),
        (logs.attach_breaker, (CircuitBreaker(), 3), "logger must be a logging.Logger"),
        (opentelemetry.attach_breaker, ("nope",), "breaker must be a CircuitBreaker"),
        (prometheus.attach_breaker, ("nope",), "breaker must be a CircuitBreaker"),
    ],
)
def test_attach_breaker_refuses_wrong_arguments(
    attach: Any, args: tuple[Any, ...], match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        attach(*args)


# -- OpenTelemetry ----------------------------------------------------------------------


def otel_points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    found: list[Any] = []
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


def test_opentelemetry_counts_transitions_and_the_circuits_not_closed() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    try:
        breaker, clock = made()
        opentelemetry.attach_breaker(breaker, meter_provider=provider)
        breaker.record(ORIGIN, breaker.admit(ORIGIN), False)
        breaker.record(ORIGIN, breaker.admit(ORIGIN), False)
        where = {
            "resilient_transport.origin": ORIGIN,
            "server.address": "127.0.0.1",
            "server.port": 8080,
        }
        [open_now] = otel_points(reader, opentelemetry.OPEN_CIRCUITS)
        assert (dict(open_now.attributes), open_now.value) == (where, 1)
        clock.advance(5.0)
        breaker.record(ORIGIN, breaker.admit(ORIGIN), True)
        [open_now] = otel_points(reader, opentelemetry.OPEN_CIRCUITS)
        assert open_now.value == 0
        transitions = {
            p.attributes["resilient_transport.circuit.state"]: (
                p.value,
                p.attributes["resilient_transport.circuit.reason"],
            )
            for p in otel_points(reader, opentelemetry.CIRCUIT_TRANSITIONS)
        }
        assert transitions == {
            "open": (1, "consecutive_failures"),
            "half_open": (1, "break_over"),
            "closed": (1, "probe_succeeded"),
        }
    finally:
        provider.shutdown()


def test_an_origin_without_a_port_has_no_port_attribute() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    try:
        breaker = CircuitBreaker(consecutive_failures=1)
        opentelemetry.attach_breaker(breaker, meter_provider=provider)
        breaker.record("ftp://files.test", breaker.admit("ftp://files.test"), False)
        [point] = otel_points(reader, opentelemetry.CIRCUIT_TRANSITIONS)
        assert "server.port" not in point.attributes
    finally:
        provider.shutdown()


# -- Prometheus ------------------------------------------------------------------------


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_prometheus_counts_transitions_and_shows_each_circuits_state() -> None:
    registry = CollectorRegistry()
    breaker, clock = made()
    prometheus.attach_breaker(breaker, registry)
    other = CircuitBreaker(consecutive_failures=1)
    prometheus.attach_breaker(other, registry)  # shares the collectors
    breaker.record(ORIGIN, breaker.admit(ORIGIN), False)
    breaker.record(ORIGIN, breaker.admit(ORIGIN), False)
    state = "resilient_transport_circuit_state"
    assert sample(registry, state, origin=ORIGIN, state="open") == 1
    assert sample(registry, state, origin=ORIGIN, state="closed") == 0
    clock.advance(5.0)
    breaker.record(ORIGIN, breaker.admit(ORIGIN), True)
    other.record(ORIGIN, other.admit(ORIGIN), False)
    total = "resilient_transport_circuit_transitions_total"
    assert sample(registry, total, origin=ORIGIN, state="open") == 2
    assert sample(registry, total, origin=ORIGIN, state="half_open") == 1
    assert sample(registry, total, origin=ORIGIN, state="closed") == 1


def test_prometheus_refuses_names_taken_by_something_else() -> None:
    registry = CollectorRegistry()
    Counter("circuit_transitions", "not ours", namespace="taken", registry=registry)
    with pytest.raises(ValueError, match="taken_circuit_\\* metric names are already registered"):
        prometheus.attach_breaker(CircuitBreaker(), registry, namespace="taken")
    registry = CollectorRegistry()
    Gauge("circuit_state", "not ours", namespace="half", registry=registry)
    with pytest.raises(ValueError, match="already registered"):
        prometheus.attach_breaker(CircuitBreaker(), registry, namespace="half")
    # All or nothing: the counter registered first was taken back.
    assert registry.get_sample_value("half_circuit_transitions_total", {}) is None
    prometheus.attach_breaker(CircuitBreaker(), registry, namespace="free")


def test_the_default_registry_is_prometheus_clients_global_one() -> None:
    import prometheus_client

    breaker, clock = made()
    metrics = prometheus.attach_breaker(breaker, namespace="breaker_default_test")
    try:
        cycle(breaker, clock)
        assert (
            prometheus_client.REGISTRY.get_sample_value(
                "breaker_default_test_circuit_transitions_total",
                {"origin": ORIGIN, "state": "closed"},
            )
            == 1
        )
    finally:
        prometheus_client.REGISTRY.unregister(metrics.transitions)
        prometheus_client.REGISTRY.unregister(metrics.state)


@pytest.mark.parametrize(
    ("integration", "module"),
    [(opentelemetry, "opentelemetry.metrics"), (prometheus, "prometheus_client")],
)
def test_without_the_extra_the_error_names_it(
    monkeypatch: pytest.MonkeyPatch, integration: Any, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"pip install 'resilient-transport\["):
        integration.attach_breaker(
            CircuitBreaker(),
            **({} if integration is opentelemetry else {"registry": CollectorRegistry()}),
        )
