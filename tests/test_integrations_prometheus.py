"""The Prometheus integration against the real prometheus_client, on a fresh registry.

Tests of the global ``prometheus_client.REGISTRY`` go through the
``default_registry`` fixture, which leaves it as it found it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import httpx
import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from resilient_transport import AsyncResilientClient
from resilient_transport.integrations.prometheus import (
    RETRY_DELAY_BUCKETS,
    PrometheusMetrics,
    instrument,
)
from resilient_transport.testing import FlakyTransport, RecordingSleep, ScriptedTransport

from ._support import URL

pytestmark = pytest.mark.anyio

WHERE = {"method": "GET", "server_address": "service.test"}


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value, 0.0 if it was never recorded."""
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_scripted_run_counts_retries_give_ups_and_outcomes() -> None:
    registry = CollectorRegistry()
    # Request 1: two connect failures, then 200. Request 2: retries exhausted.
    # Request 3: a POST answered 503 is not retried (not idempotent).
    inner = FlakyTransport(
        failures=lambda request: {"/ok": 2, "/down": 9, "/post": 0}[request.url.path],
        handler=lambda request: httpx.Response(503 if request.method == "POST" else 200),
    )
    async with AsyncResilientClient(
        transport=inner, base_delay=0, max_retries=2, retry_statuses={503}
    ) as client:
        instrument(client, registry)
        await client.get("http://service.test/ok")
        with pytest.raises(httpx.ConnectError):
            await client.get("http://service.test/down")
        await client.post("http://service.test/post")
        await client.wait_for_all_requests()

    retries = "resilient_transport_retries_total"
    assert value(registry, retries, **WHERE, error_type=f"{httpx.__name__}.ConnectError") == 4
    requests = "resilient_transport_requests_total"
    assert value(registry, requests, **WHERE, outcome="success", reason="") == 1
    assert value(registry, requests, **WHERE, outcome="error", reason="exhausted") == 1
    post = {"method": "POST", "server_address": "service.test"}
    assert value(registry, requests, **post, outcome="success", reason="not_idempotent") == 1
    give_ups = "resilient_transport_give_ups_total"
    assert value(registry, give_ups, **WHERE, reason="exhausted") == 1
    assert value(registry, give_ups, **post, reason="not_idempotent") == 1
    assert value(registry, give_ups, **WHERE, reason="") == 0
    assert value(registry, "resilient_transport_retry_delay_seconds_count", **WHERE) == 4
    assert value(registry, "resilient_transport_retry_delay_seconds_sum", **WHERE) == 0.0


async def test_the_retry_delay_histogram_observes_each_backoff() -> None:
    registry = CollectorRegistry()
    sleep = RecordingSleep()
    async with AsyncResilientClient(
        transport=FlakyTransport(failures=2), base_delay=0.25, jitter=0.0, sleep=sleep
    ) as client:
        instrument(client, registry)
        await client.get(URL)
        await client.wait_for_all_requests()
    name = "resilient_transport_retry_delay_seconds"
    assert value(registry, f"{name}_sum", **WHERE) == 0.75
    assert value(registry, f"{name}_bucket", **WHERE, le="0.25") == 1
    assert value(registry, f"{name}_bucket", **WHERE, le="0.5") == 2
    exposition = generate_latest(registry).decode()
    assert f'{name}_bucket{{le="60.0",method="GET",server_address="service.test"}}' in exposition
    assert len(RETRY_DELAY_BUCKETS) + 1 == exposition.count(f"{name}_bucket{{")


async def test_a_retried_status_is_labelled_with_its_code() -> None:
    registry = CollectorRegistry()
    async with AsyncResilientClient(
        transport=ScriptedTransport(503, 200), base_delay=0, retry_statuses={503}
    ) as client:
        instrument(client, registry)
        await client.get(URL)
        await client.wait_for_all_requests()
    assert value(registry, "resilient_transport_retries_total", **WHERE, error_type="503") == 1


async def test_the_server_label_can_be_dropped_and_the_namespace_changed() -> None:
    registry = CollectorRegistry()
    async with AsyncResilientClient(transport=FlakyTransport(failures=1), base_delay=0) as client:
        instrument(client, registry, namespace="myapp_http", server_label=False)
        await client.request("PURGE", URL)
        await client.wait_for_all_requests()
    assert (
        value(
            registry,
            "myapp_http_retries_total",
            method="_OTHER",
            error_type=(f"{httpx.__name__}.ConnectError"),
        )
        == 1
    )
    assert (
        value(registry, "myapp_http_requests_total", method="_OTHER", outcome="success", reason="")
        == 1
    )


class DefaultRegistry:
    """The global registry, and the metrics a test put in it (unregistered at the end)."""

    def __init__(self) -> None:
        self.registry: CollectorRegistry = prometheus_client.REGISTRY
        self.instrumented: list[PrometheusMetrics] = []

    def instrument(self, target: Any) -> PrometheusMetrics:
        metrics = instrument(target)  # no registry: the default one
        self.instrumented.append(metrics)
        return metrics

    def cleanup(self) -> None:
        # Every PrometheusMetrics of one registry shares its collectors.
        collectors = {id(c): c for m in self.instrumented for c in _collectors(m)}
        for collector in collectors.values():
            self.registry.unregister(collector)


def _collectors(metrics: PrometheusMetrics) -> tuple[Any, ...]:
    return (
        metrics.retries,
        metrics.give_ups,
        metrics.requests,
        metrics.retry_delay,
        metrics.hedges,
    )


@pytest.fixture
def default_registry() -> Iterator[DefaultRegistry]:
    default = DefaultRegistry()
    # Nothing of ours may be there before (a leak from another test).
    assert "resilient_transport_" not in generate_latest(default.registry).decode()
    yield default
    default.cleanup()


async def _run_clients(
    n: int, register: Any, hosts: tuple[str, ...] = ("service.test",)
) -> list[PrometheusMetrics]:
    """``n`` clients, each instrumented with ``register(client)``; each host once per client.

    Each request is refused once, then answered: one retry, one success.
    """
    instrumented = []
    for _ in range(n):
        async with AsyncResilientClient(
            transport=FlakyTransport(failures=1), base_delay=0.25, jitter=0.0
        ) as client:
            instrumented.append(register(client))
            for host in hosts:
                await client.get(f"http://{host}/items")
            await client.wait_for_all_requests()
    return instrumented


@pytest.mark.parametrize("n", [2, 3])
async def test_several_clients_on_the_default_registry_add_up(
    n: int, default_registry: DefaultRegistry
) -> None:
    instrumented = await _run_clients(n, default_registry.instrument)
    registry = default_registry.registry
    retries = "resilient_transport_retries_total"
    assert value(registry, retries, **WHERE, error_type=f"{httpx.__name__}.ConnectError") == n
    requests = "resilient_transport_requests_total"
    assert value(registry, requests, **WHERE, outcome="success", reason="") == n
    assert value(registry, "resilient_transport_retry_delay_seconds_count", **WHERE) == n
    assert value(registry, "resilient_transport_retry_delay_seconds_sum", **WHERE) == 0.25 * n
    first = instrumented[0]
    assert all(_collectors(m) == _collectors(first) for m in instrumented)


@pytest.mark.parametrize("n", [2, 3])
async def test_several_clients_on_one_custom_registry_add_up(n: int) -> None:
    registry = CollectorRegistry()
    hosts = ("a.test", "b.test")
    await _run_clients(n, lambda client: instrument(client, registry), hosts)
    for host in hosts:
        where = {"method": "GET", "server_address": host}
        retries = "resilient_transport_retries_total"
        assert value(registry, retries, **where, error_type=f"{httpx.__name__}.ConnectError") == n
        requests = "resilient_transport_requests_total"
        assert value(registry, requests, **where, outcome="success", reason="") == n
    # One series per label set, whatever the number of clients.
    exposition = generate_latest(registry).decode()
    assert exposition.count("resilient_transport_requests_total{") == len(hosts)


async def test_two_registries_count_separately() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    await _run_clients(2, lambda client: instrument(client, first))
    await _run_clients(1, lambda client: instrument(client, second))
    requests = "resilient_transport_requests_total"
    assert value(first, requests, **WHERE, outcome="success", reason="") == 2
    assert value(second, requests, **WHERE, outcome="success", reason="") == 1


def test_metrics_objects_of_one_registry_share_their_collectors() -> None:
    registry = CollectorRegistry()
    first, second = PrometheusMetrics(registry), PrometheusMetrics(registry)
    assert _collectors(first) == _collectors(second)
    assert _collectors(PrometheusMetrics(CollectorRegistry())) != _collectors(first)
    other = PrometheusMetrics(registry, namespace="other")  # its own set of names
    other.retries.labels("GET", "h", "x").inc()
    where = {"method": "GET", "server_address": "h", "error_type": "x"}
    assert value(registry, "other_retries_total", **where) == 1
    assert value(registry, "resilient_transport_retries_total", **where) == 0


def test_metrics_unregistered_by_hand_are_registered_anew(
    default_registry: DefaultRegistry,
) -> None:
    old = PrometheusMetrics()
    old.retries.labels("GET", "h", "x").inc()
    for collector in _collectors(old):
        default_registry.registry.unregister(collector)
    new = default_registry.instrument(EventMonitorStub())
    assert all(a is not b for a, b in zip(_collectors(old), _collectors(new), strict=True))
    new.retries.labels("GET", "h", "y").inc()
    registry, name = default_registry.registry, "resilient_transport_retries_total"
    where = {"method": "GET", "server_address": "h"}
    assert value(registry, name, **where, error_type="y") == 1
    assert value(registry, name, **where, error_type="x") == 0  # a fresh counter


def test_metrics_partly_unregistered_by_hand_fail_rather_than_count_nowhere() -> None:
    registry = CollectorRegistry()
    old = PrometheusMetrics(registry)
    registry.unregister(old.hedges)  # the last of them: the others are still there
    with pytest.raises(ValueError, match="already registered"):
        PrometheusMetrics(registry)


def test_the_exposition_explains_each_metric() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry)
    lines = generate_latest(registry).decode().splitlines()
    helps = [line for line in lines if line.startswith("# HELP")]
    assert sorted(helps) == [
        "# HELP resilient_transport_give_ups_total Requests that ended because a retry was "
        "refused, by reason.",
        "# HELP resilient_transport_hedges_total Hedges sent: attempts started before the one "
        "in flight had failed.",
        "# HELP resilient_transport_requests_total Requests finished, by outcome and by why a "
        "retry was refused (if one was).",
        "# HELP resilient_transport_retries_total Retries scheduled, by the error or status "
        "that caused them.",
        "# HELP resilient_transport_retry_delay_seconds Seconds slept before a retry.",
    ]


class EventMonitorStub:
    """Just what ``instrument`` needs of a monitor."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def add_event_callback(self, event_type: Any, callback: Any) -> None:
        self.callbacks.append(callback)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"server_label": False}, "server_label=True, got server_label=False: use the same"),
        ({"buckets": (1.0, 2.0)}, "got buckets=(1.0, 2.0): use the same buckets for every"),
    ],
)
def test_other_options_for_the_same_names_fail_with_a_clear_message(
    options: dict[str, Any], message: str
) -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry)
    with pytest.raises(ValueError, match="resilient_transport") as caught:
        PrometheusMetrics(registry, **options)
    assert message in str(caught.value)
    assert str(caught.value).endswith("registry, or another namespace")  # the way out


def test_names_taken_by_someone_else_fail_with_a_clear_message() -> None:
    registry = CollectorRegistry()
    Counter("resilient_transport_requests", "not ours", registry=registry)
    with pytest.raises(ValueError, match="already registered") as caught:
        PrometheusMetrics(registry)
    assert str(caught.value).startswith("the resilient_transport_* metric names are already")
    assert "give resilient_transport another namespace" in str(caught.value)
    # Nothing half-registered was left behind: another namespace works.
    PrometheusMetrics(registry, namespace="mine")
    assert value(registry, "resilient_transport_retries_total") == 0
    exposition = generate_latest(registry).decode()
    assert "resilient_transport_retries_total" not in exposition
    assert "resilient_transport_give_ups" not in exposition


def test_the_default_registry_is_prometheus_clients_global_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import prometheus_client

    registry = CollectorRegistry()
    monkeypatch.setattr(prometheus_client, "REGISTRY", registry)
    metrics = PrometheusMetrics()
    metrics.retries.labels("GET", "h", "x").inc()
    assert (
        value(
            registry,
            "resilient_transport_retries_total",
            method="GET",
            server_address="h",
            error_type="x",
        )
        == 1
    )


def test_without_prometheus_client_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pip install 'resilient-transport\[prometheus\]'") as e:
        PrometheusMetrics(CollectorRegistry())
    assert "resilient_transport.integrations.prometheus" in str(e.value)
